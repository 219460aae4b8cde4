"""`demo`: the real send -> file -> receive path between two temporary "machines".

Machine A and machine B are temporary folders, each with its own HOME, tool home and our config folder,
and each with a clone of the same repo (same remote, written two ways, at different paths).  A small
session is written on A in Claude Code's real on-disk format, sent to a file with a throwaway passphrase,
and received on B.  Nothing in the user's own homes is read or written.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from sync_ai_sessions.commands.receive import receive
from sync_ai_sessions.commands.send import send
from sync_ai_sessions.passphrase import generate
from sync_ai_sessions.results import DemoResult
from sync_ai_sessions.ui import UI


def _git_clone_like(path: Path, remote: str, env: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True, env=env)
    subprocess.run(["git", "-C", str(path), "remote", "add", "origin", remote], check=True, env=env)
    return Path(os.path.realpath(path))


def _claude_session(home: Path, cwd: Path, sid: str) -> Path:
    from sync_ai_sessions.adapters.claude import encode_project_dir

    folder = home / ".claude" / "projects" / encode_project_dir(str(cwd))
    folder.mkdir(parents=True)
    u1, a1 = str(uuid.uuid4()), str(uuid.uuid4())
    base = {"isSidechain": False, "userType": "external", "entrypoint": "cli", "cwd": str(cwd),
            "sessionId": sid, "version": "2.1.330", "gitBranch": "main"}
    recs: list[dict[str, Any]] = [
        {"type": "queue-operation", "operation": "enqueue", "timestamp": "2026-11-24T00:52:16.113Z",
         "sessionId": sid, "content": "Where is the config loaded?"},
        {**base, "parentUuid": None, "type": "user", "uuid": u1, "timestamp": "2026-11-24T00:52:16.164Z",
         "message": {"role": "user", "content": "Where is the config loaded?"}},
        {**base, "parentUuid": u1, "type": "assistant", "uuid": a1, "timestamp": "2026-11-24T00:52:18.020Z",
         "message": {"id": "msg_demo", "type": "message", "role": "assistant", "model": "claude-demo",
                     "content": [{"type": "text", "text": f"In {cwd}/src/config.py, function load()."}],
                     "stop_reason": "end_turn", "usage": {"input_tokens": 12, "output_tokens": 14}}},
        {"type": "last-prompt", "lastPrompt": "Where is the config loaded?", "leafUuid": a1, "sessionId": sid},
    ]
    path = folder / f"{sid}.jsonl"
    path.write_bytes("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs).encode())  # LF everywhere
    return path


def demo(*, tool: str = "claude", keep: bool = False, ui: UI | None = None) -> DemoResult:
    ui = ui or UI()
    base = Path(tempfile.mkdtemp(prefix="sync-ai-sessions-demo-"))
    passphrase = generate()
    path_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    # Windows programs (git among them) need these to start at all.
    path_env.update({k: os.environ[k] for k in _WINDOWS_ENV if k in os.environ})
    # HOME and USERPROFILE (what the CLIs read on Windows) both point at the demo machine's home.
    env_a = {**path_env, "HOME": str(base / "A" / "home"), "SYNC_AI_SESSIONS_PASSPHRASE": passphrase}
    env_b = {**path_env, "HOME": str(base / "B" / "home"), "SYNC_AI_SESSIONS_PASSPHRASE": passphrase}
    for e in (env_a, env_b):
        e["USERPROFILE"] = e["HOME"]
    try:
        for e in (env_a, env_b):
            Path(e["HOME"]).mkdir(parents=True)
        repo_a = _git_clone_like(base / "A" / "work" / "my_app.v2", "git@github.com:acme/my-app.git", env_a)
        repo_b = _git_clone_like(base / "B" / "dev" / "My App", "https://github.com/Acme/my-app", env_b)
        sid = str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
        if tool == "claude":
            src = _claude_session(Path(env_a["HOME"]), repo_a, sid)
        else:
            from sync_ai_sessions.adapters.demo import enc

            d = Path(env_a["HOME"]) / ".sais-demo" / "sessions" / enc(str(repo_a))
            d.mkdir(parents=True)
            src = d / f"{sid}.jsonl"
            src.write_bytes(json.dumps({"cwd": str(repo_a), "sessionId": sid, "text": "hello"}).encode() + b"\n")
        handoff = base / "handoff.sais"
        quiet = UI(json_mode=True)
        sent = _in_env(env_a, lambda: send(tool=tool, cwd=str(repo_a), to=str(handoff), env=env_a, ui=quiet))
        got = _in_env(env_b, lambda: receive(from_file=str(handoff), cwd=str(repo_b), env=env_b, ui=quiet))
        text = Path(str((got.imported or [])[0].path)).read_text("utf-8")
        ok = json.dumps(str(repo_b))[1:-1] in text and json.dumps(str(repo_a))[1:-1] not in text
        again = _in_env(env_b, lambda: receive(from_file=str(handoff), cwd=str(repo_b), env=env_b, ui=quiet))
        result = DemoResult(ok=ok, tool=tool, workdir=str(base) if keep else None, sent=sent, received=got,
                            again=again, source=str(src))
    except BaseException:
        if keep:
            ui.info(f"Kept the demo machines in {base}")
        raise
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    return result


_WINDOWS_ENV = ("SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "TEMP", "TMP")


def _in_env(env: dict[str, str], fn: Any) -> Any:
    """Run `fn` with HOME and USERPROFILE (read by git, Path.home() and, on Windows, everything) pointing at
    a demo machine."""
    old = {k: os.environ.get(k) for k in ("HOME", "USERPROFILE")}
    os.environ.update({k: env[k] for k in old})
    try:
        return fn()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
