"""send -> file -> receive through the real CLI (the demo adapter), with the contract's JSON and exit codes."""

from __future__ import annotations

import json
import os

import pytest
from support.machines import PASSPHRASE, git_repo, make_machine, two_machines, write_demo_session

from sync_ai_sessions.adapters import tool_names


@pytest.fixture
def two(tmp_path):
    return two_machines(tmp_path, "dev/Proj B_2", "https://github.com/O/r")


def tree(home):
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def test_round_trip_through_a_file(two, tmp_path):
    a, b, ra, rb = two
    write_demo_session(a, ra, "s1", sidecar=f"notes about {ra}/x")
    (ra / "sub").mkdir()
    write_demo_session(a, ra / "sub", "s2")
    write_demo_session(a, a.root / "elsewhere", "other")  # another project: not sent
    out = tmp_path / "h.sais"
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra / "sub"), "--to", str(out))
    assert rc == 0, doc
    assert doc["ok"] and doc["tool"] == "demo" and doc["file"] == str(out)
    assert sorted(s["id"] for s in doc["sessions"]) == ["s1", "s2"]
    rc, doc = b.run_json("receive", "--from", str(out), "--cwd", str(rb))
    assert rc == 0, doc
    assert {i["id"]: i["action"] for i in doc["imported"]} == {"s1": "new", "s2": "new"}
    assert all("demo-tool --resume" in i["resume"] and str(rb) in i["resume"] for i in doc["imported"])
    s1 = b.home / ".sais-demo/sessions" / (str(rb).replace("/", "-").replace(" ", "-").replace("_", "-"))
    assert json.loads((s1 / "s1.jsonl").read_text())["cwd"] == str(rb)
    assert (s1 / "s1" / "notes.txt").read_text() == f"notes about {rb}/x"
    sub = next(p for p in (b.home / ".sais-demo/sessions").iterdir() if p.name.endswith("-sub"))
    rec = json.loads((sub / "s2.jsonl").read_text())
    assert rec["cwd"] == str(rb / "sub") and rec["file"] == f"{rb}/sub/src/app.py"
    for data in tree(b.home / ".sais-demo").values():
        assert str(ra).encode() not in data
    # nothing left behind but the journal: no staging, no lock files
    assert sorted(p.name for p in (b.home / ".sync-ai-sessions").iterdir()) == ["journal"]
    # receiving the same handoff again is a no-op: nothing written, nothing journalled
    before = tree(b.home)
    rc, doc = b.run_json("receive", "--from", str(out), "--cwd", str(rb))
    assert rc == 0 and doc["imported"] == [] and len(doc["skipped"]) == 2
    assert tree(b.home) == before


def test_fast_forward_copy_and_newer_local(two, tmp_path):
    a, b, ra, rb = two
    write_demo_session(a, ra, "s1", lines=[{"n": 1}, {"n": 2}])
    h1 = tmp_path / "h1.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h1))[0] == 0
    assert b.run_json("receive", "--from", str(h1), "--cwd", str(rb))[0] == 0
    # the session goes on at A: B fast-forwards
    write_demo_session(a, ra, "s1", lines=[{"n": 1}, {"n": 2}, {"n": 3}])
    h2 = tmp_path / "h2.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h2))[0] == 0
    rc, doc = b.run_json("receive", "--from", str(h2), "--cwd", str(rb))
    assert rc == 0 and doc["imported"][0]["action"] == "fast-forward"
    local = next((b.home / ".sais-demo").rglob("s1.jsonl"))
    assert [json.loads(x)["n"] for x in local.read_text().splitlines()] == [1, 2, 3]
    # an older handoff arriving later is skipped: local is newer
    rc, doc = b.run_json("receive", "--from", str(h1), "--cwd", str(rb))
    assert rc == 0 and doc["imported"] == [] and "newer" in doc["skipped"][0]["reason"]
    # both sides went on: a copy under a new id, the local file untouched
    with open(local, "a") as fh:
        fh.write(json.dumps({"cwd": str(rb), "sessionId": "s1", "n": "b4"}) + "\n")
    kept = local.read_bytes()
    write_demo_session(a, ra, "s1", lines=[{"n": 1}, {"n": 2}, {"n": 3}, {"n": "a4"}])
    h3 = tmp_path / "h3.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h3))[0] == 0
    rc, doc = b.run_json("receive", "--from", str(h3), "--cwd", str(rb))
    assert rc == 0
    [item] = doc["imported"]
    assert item["action"] == "copy" and item["original_id"] == "s1" and item["id"] != "s1"
    assert local.read_bytes() == kept
    copy = local.with_name(f"{item['id']}.jsonl")
    recs = [json.loads(x) for x in copy.read_text().splitlines()]
    assert {r["sessionId"] for r in recs} == {item["id"]} and recs[-1]["n"] == "a4"


def test_undo_reverts_the_last_import(two, tmp_path):
    a, b, ra, rb = two
    write_demo_session(a, ra, "s1", sidecar="x")
    h = tmp_path / "h.sais"
    a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h))
    before = tree(b.home / ".sais-demo") if (b.home / ".sais-demo").exists() else {}
    assert b.run_json("receive", "--from", str(h), "--cwd", str(rb))[0] == 0
    rc, doc = b.run_json("undo")
    assert rc == 0 and doc["ok"]
    assert not (b.home / ".sais-demo").exists() and before == {}
    rc, doc = b.run_json("undo")
    assert rc == 3 and doc["error"]["code"] == "no_journal"


ERRORS = [
    # (setup, args, exit code, error code)
    ("norepo", ["send", "--tool", "demo"], 3, "no_repo"),
    ("noremote", ["send", "--tool", "demo"], 3, "no_remote"),
    ("nosessions", ["send", "--tool", "demo"], 3, "no_sessions"),
    ("repo", ["send"], 2, "no_tool"),
]


@pytest.mark.parametrize(("setup", "args", "code", "err"), ERRORS)
def test_send_errors_are_one_line_with_exit_codes(tmp_path, setup, args, code, err):
    m = make_machine(tmp_path, "M")
    where = m.root / "w"
    where.mkdir()
    if setup == "noremote":
        git_repo(where, None)
    elif setup in ("nosessions", "repo"):
        git_repo(where, "git@github.com:o/r.git")
    p = m.run(*args, "--to", str(tmp_path / "x.sais"), cwd=where)
    assert p.returncode == code, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert "Traceback" not in p.stderr
    rc, doc = m.run_json(*args, "--to", str(tmp_path / "x.sais"), cwd=where)
    assert rc == code and doc == {"ok": False, "error": {"code": err, "message": doc["error"]["message"],
                                                           "exit_code": code}}


def test_receive_errors(two, tmp_path):
    a, b, ra, rb = two
    write_demo_session(a, ra, "s1")
    h = tmp_path / "h.sais"
    a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h))
    # wrong passphrase
    rc, doc = b.run_json("receive", "--from", str(h), "--cwd", str(rb),
                         env={"SYNC_AI_SESSIONS_PASSPHRASE": "wrong horse battery staple 42"})
    assert rc == 4 and doc["error"]["code"] == "wrong_passphrase"
    # --tool that is not the payload's
    rc, doc = b.run_json("receive", "--from", str(h), "--cwd", str(rb), "--tool", "claude")
    assert rc == 2 and doc["error"]["code"] == "tool_mismatch"
    # a clone of another repo
    other = git_repo(b.root / "other", "git@github.com:o/another.git")
    rc, doc = b.run_json("receive", "--from", str(h), "--cwd", str(other))
    assert rc == 3 and doc["error"]["code"] == "no_matching_repo" and "github.com/o/r" in doc["error"]["message"]
    # not a handoff, truncated, missing
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a handoff" * 10)
    assert b.run_json("receive", "--from", str(junk), "--cwd", str(rb))[0] == 4
    trunc = tmp_path / "t.sais"
    trunc.write_bytes(h.read_bytes()[:-7])
    rc, doc = b.run_json("receive", "--from", str(trunc), "--cwd", str(rb))
    assert rc == 4 and doc["error"]["code"] == "tampered"
    assert b.run_json("receive", "--from", str(tmp_path / "nope"), "--cwd", str(rb))[0] == 3
    # no passphrase and no terminal: never waits
    env = dict(b.env)
    env.pop("SYNC_AI_SESSIONS_PASSPHRASE")
    p = b.run("receive", "--from", str(h), "--cwd", str(rb), env={"SYNC_AI_SESSIONS_PASSPHRASE": ""})
    assert p.returncode == 5 and "SYNC_AI_SESSIONS_PASSPHRASE" in p.stderr
    # nothing of all that wrote into the tool's home
    assert not (b.home / ".sais-demo").exists()


def test_debug_shows_a_traceback_and_plain_mode_does_not(tmp_path):
    m = make_machine(tmp_path, "M")
    p = m.run("receive", "--from", str(tmp_path / "nope.sais"))
    assert "Traceback" not in p.stderr and p.returncode == 3
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x89SAIS\r\n\x1a" + b"\x01" * 100)
    p = m.run("receive", "--from", str(junk), "--debug")
    assert p.returncode == 4 and "Traceback" in p.stderr


def test_weak_passphrase_is_refused_on_send(two, tmp_path):
    a, _b, ra, _rb = two
    write_demo_session(a, ra, "s1")
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(tmp_path / "h"),
                         env={"SYNC_AI_SESSIONS_PASSPHRASE": "hunter2"})
    assert rc == 2 and doc["error"]["code"] == "weak_passphrase"
    assert not (tmp_path / "h").exists()


def test_passphrase_file_and_install_generate(two, tmp_path):
    a, b, ra, rb = two
    write_demo_session(a, ra, "s1")
    rc, doc = a.run_json("install", "--generate")
    assert rc == 0 and doc["passphrase_check"]
    gen = doc["passphrase"]
    assert len(gen.split("-")) == 6
    cfg = (a.home / ".sync-ai-sessions" / "config.json").read_text()
    assert gen not in cfg and "verifier" in cfg
    assert oct(os.stat(a.home / ".sync-ai-sessions").st_mode & 0o777) == "0o700"
    pf = tmp_path / "pass.txt"
    pf.write_text(gen + "\n")
    h = tmp_path / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h), "--passphrase-file", str(pf),
                      env={"SYNC_AI_SESSIONS_PASSPHRASE": ""})[0] == 0
    assert b.run_json("receive", "--from", str(h), "--cwd", str(rb), "--passphrase-file", str(pf),
                      env={"SYNC_AI_SESSIONS_PASSPHRASE": ""})[0] == 0
    assert gen != PASSPHRASE


def test_help_and_alias():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "sync_ai_sessions", "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    for cmd in ("send", "receive", "install", "doctor", "undo", "demo"):
        assert cmd in p.stdout


def test_doctor_reports_each_check_with_its_fix(two):
    a, _b, ra, _rb = two
    write_demo_session(a, ra, "s1")
    (a.home / ".claude" / "projects").mkdir(parents=True)
    rc, doc = a.run_json("doctor", "--cwd", str(ra), env={"GH_CONFIG_DIR": str(a.root / "gh")})
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["python"]["status"] == "ok" and checks["git"]["status"] == "ok"
    assert checks["repo"]["status"] == "ok" and "github.com/o/r" in checks["repo"]["detail"]
    assert doc["repo"] == "github.com/o/r" and doc["repo_root"] == str(ra)
    # gh is not logged in: a warning (--to FILE needs no gh) that says the exact fix; doctor passes
    assert checks["gh"]["status"] == "warn" and "gh auth login" in checks["gh"]["fix"]
    assert "--to FILE" in checks["gh"]["detail"]
    assert rc == 0 and doc["ok"] is True
    # per-repo counts: this repo has no Claude Code sessions (the folder exists)
    assert checks["tool:claude"]["status"] == "ok" and checks["tool:codex"]["status"] == "info"
    assert "0 session(s) for this repo" in checks["tool:claude"]["detail"]
    assert doc["tools"]["claude"]["repo_sessions"] == 0
    assert set(doc["tools"]) == set(tool_names())  # every adapter in the registry
    assert checks["config"]["fix"] == "sync-ai-sessions install"
    # once this device is set up to send by gist, the same gh problem fails the check (exit 3)
    assert a.run_json("install", "--transport", "gist", "--no-passphrase",
                      env={"GH_CONFIG_DIR": str(a.root / "gh")})[0] == 0
    rc, doc = a.run_json("doctor", "--cwd", str(ra), env={"GH_CONFIG_DIR": str(a.root / "gh")})
    checks = {c["name"]: c for c in doc["checks"]}
    assert rc == 3 and doc["ok"] is False and checks["gh"]["status"] == "fail" and doc["transport"] == "gist"
    # without gh at all, the fix is how to install it on this OS (not `gh auth login`)
    rc, doc = a.run_json("doctor", "--cwd", str(ra), env={"PATH": "/nonexistent"})
    checks = {c["name"]: c for c in doc["checks"]}
    assert rc == 3 and checks["git"]["status"] == "fail" and checks["gh"]["status"] == "fail"
    assert "cli.github.com" in checks["gh"]["detail"] and "apt install gh" in checks["gh"]["fix"]


def test_gh_fix_per_os():
    from sync_ai_sessions.commands.doctor import gh_fix

    assert gh_fix("gh_missing", "gh auth login", "darwin") == "brew install gh"
    assert gh_fix("gh_missing", "gh auth login", "win32") == "winget install --id GitHub.cli"
    assert "apt install gh" in gh_fix("gh_missing", "gh auth login", "linux")
    assert gh_fix("gh_logged_out", "gh auth login", "darwin") == "gh auth login"


def test_demo_runs_the_real_path_and_touches_no_home(tmp_path):
    m = make_machine(tmp_path, "M")
    rc, doc = m.run_json("demo")
    assert rc == 0 and doc["ok"] and doc["tool"] == "claude"
    [item] = doc["received"]["imported"]
    assert item["action"] == "new" and "claude --resume" in item["resume"]
    assert doc["again"]["imported"] == [] and doc["again"]["skipped"][0]["reason"].startswith("already here")
    assert list(m.home.iterdir()) == []  # nothing in this machine's own home
