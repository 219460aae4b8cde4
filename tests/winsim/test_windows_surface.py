"""Every command, run in a subprocess with the Windows Python surface simulated (surface/sitecustomize.py):
no fcntl/termios/tty/pty/pwd/grp/resource, no os.pread/pwrite/O_DIRECTORY/O_NONBLOCK/getuid, msvcrt
locking.  Each must succeed or fail with its documented exit code, never "internal error" (exit 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from support.machines import Machine, git_repo, make_machine, write_demo_session

SURFACE = Path(__file__).with_name("surface")
pytestmark = pytest.mark.skipif(os.name == "nt", reason="simulates Windows on POSIX; Windows runs the real thing")


def win(m: Machine, **env: str) -> Machine:
    m.env.update({"PYTHONPATH": str(SURFACE), **env})
    return m


def ok(m: Machine, *args: str, rc: tuple[int, ...] = (0,), **kw) -> dict:
    p = m.run(*args, "--json", **kw)
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    try:
        doc = json.loads(p.stdout)
    except ValueError as exc:
        raise AssertionError(f"not JSON (rc={p.returncode}): {p.stdout!r} {p.stderr!r}") from exc
    assert p.returncode in rc, (p.returncode, doc)
    assert p.returncode != 1 and (doc.get("error") or {}).get("code") != "internal", doc
    return doc


def test_the_surface_is_windows_like(tmp_path):
    code = (
        "import os, importlib\n"
        "for m in ('fcntl','termios','tty','pty','pwd','grp','resource'):\n"
        "    try:\n        importlib.import_module(m)\n    except ImportError:\n        pass\n"
        "    else:\n        raise SystemExit('importable: ' + m)\n"
        "assert not any(hasattr(os, a) for a in ('pread','pwrite','O_DIRECTORY','O_NONBLOCK','getuid'))\n"
        "from sync_ai_sessions import osops\n"
        "assert osops.fcntl is None and osops.msvcrt is not None and osops.pread is osops._pread_seek\n"
        "print('windows-like')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(SURFACE)},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "windows-like", p.stderr


def test_help_install_doctor(tmp_path):
    a = win(make_machine(tmp_path, "A"))
    repo = git_repo(a.root / "proj", "git@github.com:o/r.git")
    p = a.run("--help")
    assert p.returncode == 0 and "receive" in p.stdout
    doc = ok(a, "install")
    assert doc["ok"] and (a.home / ".sync-ai-sessions" / "config.json").is_file()
    doc = ok(a, "doctor", rc=(0, 3), cwd=repo)
    assert {c["name"] for c in doc["checks"]} >= {"python", "git"}


def _claude_session(m: Machine, cwd: Path, sid: str) -> None:
    from sync_ai_sessions.commands.demo import _claude_session as real_format

    real_format(m.home, cwd, sid)


def _codex_session(m: Machine, cwd: Path, sid: str) -> None:
    d = m.home / ".codex" / "sessions" / "2026" / "11" / "24"
    d.mkdir(parents=True)
    lines = [
        {"timestamp": "2026-11-24T01:00:00Z", "type": "session_meta",
         "payload": {"id": sid, "cwd": str(cwd), "cli_version": "0.169.0", "model_provider": "openai",
                     "timestamp": "2026-11-24T01:00:00Z"}},
        {"timestamp": "2026-11-24T01:00:01Z", "type": "turn_context", "payload": {"cwd": str(cwd)}},
        {"timestamp": "2026-11-24T01:00:02Z", "type": "event_msg",
         "payload": {"type": "user_message", "message": "fix the bug"}},
    ]
    (d / f"rollout-2026-11-24T01-00-00-{sid}.jsonl").write_bytes(b"".join(json.dumps(x).encode() + b"\n"
                                                                          for x in lines))


@pytest.mark.parametrize("tool", ["claude", "codex"])
def test_send_real_adapters(tmp_path, tool):
    a = win(make_machine(tmp_path, "A"))
    repo = git_repo(a.root / "proj", "git@github.com:o/r.git")
    sid = str(uuid.uuid4())
    (_claude_session if tool == "claude" else _codex_session)(a, repo, sid)
    out = tmp_path / "h.sais"
    doc = ok(a, "send", "--tool", tool, "--cwd", str(repo), "--to", str(out))
    assert [s["id"] for s in doc["sessions"]] == [sid] and out.stat().st_size == doc["bytes"]
    doc = ok(a, "doctor", rc=(0, 3), cwd=repo)
    assert any(c["name"] == f"tool:{tool}" and c["status"] == "ok" for c in doc["checks"]), doc


def test_receive_new_fast_forward_copy_and_undo(tmp_path):
    a = win(make_machine(tmp_path, "A"))
    b = win(make_machine(tmp_path, "B"))
    ra = git_repo(a.root / "src" / "proj", "git@github.com:o/r.git")
    rb = git_repo(b.root / "dev" / "proj", "https://github.com/o/r")
    write_demo_session(a, ra, "s1", sidecar="notes")
    h1, h2 = tmp_path / "1.sais", tmp_path / "2.sais"
    ok(a, "send", "--tool", "demo", "--cwd", str(ra), "--to", str(h1))
    doc = ok(b, "receive", "--from", str(h1), "--cwd", str(rb))
    assert [i["action"] for i in doc["imported"]] == ["new"]
    placed = Path(doc["imported"][0]["path"])
    first = placed.read_bytes()
    assert b"\r\n" not in first and str(rb).encode() in first

    # A goes on: B fast-forwards
    src = next((a.home / ".sais-demo" / "sessions").rglob("s1.jsonl"))
    with open(src, "ab") as fh:
        fh.write(json.dumps({"cwd": str(ra), "sessionId": "s1", "type": "user", "text": "more"}).encode() + b"\n")
    ok(a, "send", "--tool", "demo", "--cwd", str(ra), "--to", str(h2))
    doc = ok(b, "receive", "--from", str(h2), "--cwd", str(rb))
    assert [i["action"] for i in doc["imported"]] == ["fast-forward"]
    second = placed.read_bytes()
    assert second.startswith(first) and len(second) > len(first) and b"\r\n" not in second
    journal = Path(doc["journal"]).read_bytes()
    assert b"\r" not in journal  # binary descriptors: LF only

    # undo reverts the fast-forward exactly
    doc = ok(b, "undo")
    assert doc["reverted"] and placed.read_bytes() == first

    # both went on: a copy under a new id, the local one untouched
    with open(placed, "ab") as fh:
        fh.write(b'{"cwd":"x","sessionId":"s1","type":"user","text":"local"}\n')
    local = placed.read_bytes()
    doc = ok(b, "receive", "--from", str(h2), "--cwd", str(rb))
    assert [i["action"] for i in doc["imported"]] == ["copy"]
    assert placed.read_bytes() == local and Path(doc["imported"][0]["path"]).is_file()

    # and bad input keeps its documented code
    doc = ok(b, "receive", "--from", str(tmp_path / "missing.sais"), "--cwd", str(rb), rc=(3,))
    assert doc["error"]["code"] == "no_file"


def test_two_imports_take_turns_with_msvcrt_locking(tmp_path):
    """The import lock through msvcrt.locking: a receive that finds the lock held waits for it, then
    completes."""
    a = win(make_machine(tmp_path, "A"))
    ra = git_repo(a.root / "src" / "proj", "git@github.com:o/r.git")
    for i in range(3):
        write_demo_session(a, ra, f"s{i}")
    h = tmp_path / "h.sais"
    ok(a, "send", "--tool", "demo", "--cwd", str(ra), "--to", str(h))
    b = win(make_machine(tmp_path, "B"))
    rb = git_repo(b.root / "proj", "https://github.com/o/r")
    hold = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from sync_ai_sessions import osops\n"
        "from sync_ai_sessions.engine.journal import import_lock\n"
        "from sync_ai_sessions.adapters import get_adapter\n"
        "assert osops.msvcrt is not None and osops.fcntl is None\n"
        "home = Path(os.path.realpath(get_adapter('demo', dict(os.environ)).home()))\n"
        "with import_lock(dict(os.environ), home, wait=0.5):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(float(sys.argv[1]))\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, "3"], env=b.env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        doc = ok(b, "receive", "--from", str(h), "--cwd", str(rb))
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert sorted(i["action"] for i in doc["imported"]) == ["new"] * 3
    assert waited > 1.5  # it waited for the holder (3 s from "held") rather than going in beside it


def test_demo(tmp_path):
    m = win(make_machine(tmp_path, "A"))
    doc = ok(m, "demo")
    assert doc["ok"]


@pytest.mark.realgh
def test_gist_send_list_receive(server, env, tmp_path):
    gh_env = {k: v for k, v in env.items() if k not in ("HOME", "PATH", "GH_CONFIG_DIR")}
    a = win(make_machine(tmp_path, "A", **gh_env, GH_CONFIG_DIR=str(tmp_path / "ghA")))
    b = win(make_machine(tmp_path, "B", **gh_env, GH_CONFIG_DIR=str(tmp_path / "ghB")))
    ra = git_repo(a.root / "src" / "proj", "git@github.com:o/r.git")
    rb = git_repo(b.root / "dev" / "proj", "https://github.com/o/r")
    # big enough for several parts, each written at its offset by the positional-write fallback
    write_demo_session(a, ra, "s1", lines=[{"type": "user", "text": os.urandom(1 << 20).hex()}])
    doc = ok(a, "send", "--tool", "demo", "--cwd", str(ra))
    gid = doc["gist"]
    doc = ok(a, "list")
    assert [h["id"] for h in doc["handoffs"]] == [gid]
    doc = ok(b, "receive", "--gist", gid, "--cwd", str(rb))
    assert [i["action"] for i in doc["imported"]] == ["new"]
    got = Path(doc["imported"][0]["path"]).read_bytes()
    sent = next((a.home / ".sais-demo" / "sessions").rglob("s1.jsonl")).read_bytes()
    assert got == sent.replace(str(ra).encode(), str(rb).encode())
