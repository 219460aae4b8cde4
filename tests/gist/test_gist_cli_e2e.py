"""send -> secret gist -> receive --gist through our real CLI, the real gh and the loopback gist server."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from support.machines import git_repo, make_machine, write_demo_session

from sync_ai_sessions.transports.gist_encoding import MARKER

pytestmark = pytest.mark.realgh


def test_send_and_receive_through_a_gist(server, env, tmp_path):
    gh_env = {k: v for k, v in env.items() if k not in ("HOME", "PATH", "GH_CONFIG_DIR")}
    a = make_machine(tmp_path, "A", **gh_env, GH_CONFIG_DIR=str(tmp_path / "ghA"))
    b = make_machine(tmp_path, "B", **gh_env, GH_CONFIG_DIR=str(tmp_path / "ghB"))
    ra = git_repo(a.root / "src" / "proj", "git@github.com:octo/secret-proj.git")
    rb = git_repo(b.root / "dev" / "proj", "https://github.com/octo/secret-proj")
    write_demo_session(a, ra, "s1", sidecar="private notes")

    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra))
    assert rc == 0, doc
    gid = doc["gist"]
    assert doc["receive"] == f"sync-ai-sessions receive --gist {gid}"
    assert server.gists[gid].public is False and server.gists[gid].description == MARKER
    # the wire carries nothing readable about the repo, the machine or the session
    wire = b"".join(r.body + r.path.encode() for r in server.requests)
    for needle in (b"secret-proj", b"octo", str(ra).encode(), b"private notes", b"s1.jsonl", b"demo"):
        assert needle not in wire

    rc, doc = b.run_json("receive", "--gist", gid, "--cwd", str(rb), "--delete")
    assert rc == 0, doc
    assert [i["action"] for i in doc["imported"]] == ["new"]
    assert gid not in server.gists  # --delete removed it

    rc, doc = b.run_json("receive", "--gist", gid, "--cwd", str(rb))
    assert rc == 3 and doc["error"]["code"] == "no_gist" and "not found" in doc["error"]["message"]


def test_send_logged_out_fails_with_the_fix(server, env, tmp_path):
    gh_env = {k: v for k, v in env.items() if k not in ("HOME", "PATH", "GH_ENTERPRISE_TOKEN")}
    a = make_machine(tmp_path, "A", **gh_env)
    ra = git_repo(a.root / "proj", "git@github.com:o/r.git")
    write_demo_session(a, ra, "s1")
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra))
    assert rc == 5 and doc["error"]["code"] == "gh_logged_out"
    assert doc["error"]["message"].endswith(f"run `gh auth login --hostname {server.host}`")
    assert not [r for r in server.requests if r.method == "POST"]


def _timed_run(m, *args: str, env: dict[str, str]) -> tuple[int, float | None, float, str]:
    """Run our CLI; (exit code, seconds to the first line on stderr, seconds to exit, stderr)."""
    e = dict(m.env, **env)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sync_ai_sessions", *args], env=e, cwd=m.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = None
    lines = []
    assert proc.stderr is not None
    for line in proc.stderr:
        if first is None and line.strip():
            first = time.monotonic() - t0
        lines.append(line)
    proc.wait(60)
    return proc.returncode, first, time.monotonic() - t0, "".join(lines)


def test_offline_fails_fast_and_honestly(env, tmp_path):
    """Nothing listens (connection refused) / the name does not resolve: the first notice within 2 s,
    the command's end within 15 s, with the --to FILE alternative. Real retry delays (1, 2, 3, 3 s)."""
    gh_env = {k: v for k, v in env.items() if k not in ("HOME", "PATH", "SYNC_AI_SESSIONS_GH_BACKOFF")}
    a = make_machine(tmp_path, "A", **gh_env)
    ra = git_repo(a.root / "proj", "git@github.com:o/r.git")
    write_demo_session(a, ra, "s1")
    out: dict[str, tuple] = {}

    def run(name: str, *args: str, host: str) -> None:
        out[name] = _timed_run(a, *args, env={"GH_HOST": host})

    jobs = [threading.Thread(target=run, args=("send", "send", "--tool", "demo", "--cwd", str(ra)),
                             kwargs={"host": "localhost:1"}),
            threading.Thread(target=run, args=("doctor", "doctor", "--cwd", str(ra)),
                             kwargs={"host": "nonexistent.invalid"})]
    # Python's own start-up (well under 0.5 s on a quiet machine, seconds on a loaded one) is not ours
    t0 = time.monotonic()
    a.run("--version")
    slack = time.monotonic() - t0
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(60)
    rc, first, took, err = out["send"]
    assert rc == 8, err
    assert first is not None and first < 2.0 + slack, (first, slack, err)
    assert took < 15.0 + slack, (took, slack, err)
    assert "cannot reach localhost:1" in err and "retrying 1/4" in err
    assert err.strip().splitlines()[-1].startswith("error: cannot reach") and "--to FILE" in err
    rc, first, took, err = out["doctor"]
    assert first is not None and first < 2.0 + slack and took < 15.0 + slack, (first, took, slack, err)
    assert "cannot reach nonexistent.invalid" in err and "--to FILE" in err


def test_a_handoff_over_the_ceiling_is_refused_before_any_upload(server, env, tmp_path):
    gh_env = {k: v for k, v in env.items() if k not in ("HOME", "PATH")}
    a = make_machine(tmp_path, "A", **gh_env)
    ra = git_repo(a.root / "proj", "git@github.com:o/r.git")
    write_demo_session(a, ra, "s1", sidecar=os.urandom(30_000).hex())
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--max-gist-mb", "0.01")
    assert rc == 2 and doc["error"]["code"] == "too_large", doc
    assert "--to FILE" in doc["error"]["message"] and "0 MB ceiling" not in doc["error"]["message"]
    assert not [r for r in server.requests if r.method != "GET"]
    assert not list((a.home / ".sync-ai-sessions").rglob("payload.bin"))  # nothing kept either
    p = a.run("send", "--help")
    assert "--max-gist-mb" in p.stdout and "suspended" in p.stdout


def test_a_send_killed_half_way_resumes_and_uploads_only_the_missing_parts(server, env, tmp_path):
    """SIGKILL (the process group: us and gh) while the 2nd of 4 gists is being created; the next identical
    send says it continues, creates only the 3rd and the handoff gist, and the handoff is whole."""
    gh_env = {k: v for k, v in env.items() if k not in ("HOME", "PATH", "GH_CONFIG_DIR")}
    a = make_machine(tmp_path, "A", **gh_env, GH_CONFIG_DIR=str(tmp_path / "ghA"))
    b = make_machine(tmp_path, "B", **gh_env, GH_CONFIG_DIR=str(tmp_path / "ghB"))
    ra = git_repo(a.root / "src" / "proj", "git@github.com:o/r.git")
    rb = git_repo(b.root / "proj", "https://github.com/o/r")
    write_demo_session(a, ra, "s1", sidecar=base64.b64encode(os.urandom(24_000_000)).decode())
    server.add_fault("POST", r"/gists$", "stall-after", after=1)  # the 2nd create is made, its answer stalls
    proc = subprocess.Popen([sys.executable, "-m", "sync_ai_sessions", "send", "--tool", "demo", "--cwd", str(ra),
                             "--json"], env=a.env, cwd=a.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while len(server.gists) < 2 and time.monotonic() < deadline:  # the 2nd is made; its answer is stalling
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert len(server.gists) == 2  # the first part gist, and the second one whose answer never came
    posts_before = len([r for r in server.requests if r.method == "POST"])

    p = a.run("send", "--tool", "demo", "--cwd", str(ra), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["resumed"] is True and doc["gists_reused"] == 2
    posts = [r for r in server.requests if r.method == "POST"][posts_before:]
    assert len(posts) == 2 and all(r.status == 201 for r in posts)  # only the missing ones
    assert len(server.gists) == 4 == len(doc["gists"])  # nothing duplicated
    assert not list((a.home / ".sync-ai-sessions").rglob("payload.bin"))  # the kept copy is gone
    assert server.violations == []

    rc, got = b.run_json("receive", "--gist", doc["gist"], "--cwd", str(rb))
    assert rc == 0, got
    assert [i["action"] for i in got["imported"]] == ["new"]


def test_send_resume_continues_after_the_sessions_changed(server, env, tmp_path):
    gh_env = {k: v for k, v in env.items() if k not in ("HOME", "PATH")}
    a = make_machine(tmp_path, "A", **gh_env)
    ra = git_repo(a.root / "proj", "git@github.com:o/r.git")
    session = write_demo_session(a, ra, "s1", sidecar=base64.b64encode(os.urandom(8_000_000)).decode())
    server.add_fault("POST", r"/gists$", "drop", times=1000, after=1)  # 2 gists: the network goes after one
    p = a.run("send", "--tool", "demo", "--cwd", str(ra))
    assert p.returncode == 8, p.stderr
    assert "hint: what is uploaded is kept: run the same send again (or `send --resume`) to continue" in p.stderr
    server.faults.clear()
    with open(session, "a") as fh:  # the user went on working: an identical send is no longer possible
        fh.write(json.dumps({"cwd": str(ra), "sessionId": "s1", "type": "user", "text": "more"}) + "\n")
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--resume")
    assert rc == 0, doc
    assert doc["resumed"] is True and doc["gists_reused"] == 1 and len(server.gists) == 2
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--resume")
    assert rc == 2 and doc["error"]["code"] == "nothing_to_resume"
