"""End to end with the REAL `copilot` CLI (GitHub Copilot CLI 1.0.102) offline against a fake OpenAI server.

Machine A makes a session in the repo root and one in a subfolder with `copilot -p`, sends them with our
CLI to a file; machine B (fresh HOME and COPILOT_HOME, the same repo by remote at another path with a
space) receives them; `copilot --resume=<id> -p` and `copilot --continue -p` from B's folders must send
A's turns to the fake server and none of machine A's paths, and the CLI then lists the session in its
own index (session-store.db), which we never write.  Negative control: the same folder copied raw
(no rewrite) makes the CLI send machine A's folder to the model.  Then: re-receive is a no-op, B -> A
fast-forwards, a diverged session lands as a copy under a new id (the original untouched), and `undo`
restores B's Copilot home byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qwen.fake_openai import FakeOpenAI
from support.clis import pinned_version, readme_tool_row
from support.machines import PASSPHRASE, Machine, git_repo, in_process, picked_in_process

from sync_ai_sessions import pickers
from sync_ai_sessions.adapters.copilot import CopilotAdapter
from sync_ai_sessions.commands import sessions as sessions_command

pytestmark = pytest.mark.realcli


class CopilotMachine(Machine):
    """A machine whose Copilot CLI talks to the fake server; our CLI runs in this process (see in_process)."""

    def __init__(self, base: Path, name: str, repo: Path, remote: str, api: FakeOpenAI):
        home, tmp = base / f"{name}-home", base / f"{name}-tmp"
        for d in (home, tmp):
            d.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "COPILOT_HOME": str(home / ".copilot"),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "TMPDIR": str(tmp),
            "COPILOT_OFFLINE": "true",
            "COPILOT_PROVIDER_BASE_URL": api.base_url,
            "COPILOT_PROVIDER_API_KEY": "dummy",
            "COPILOT_MODEL": "fake-model",
            "COPILOT_AUTO_UPDATE": "false",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "SYNC_AI_SESSIONS_HOME": str(home / ".sync-ai-sessions"),
            "SYNC_AI_SESSIONS_PASSPHRASE": PASSPHRASE,
            "SYNC_AI_SESSIONS_SCRYPT_LOG2N": "10",
        }
        super().__init__(root=base, home=home, env=env, repo=git_repo(repo, remote, env=env, branch="main"))
        (self.repo / "sub").mkdir()
        self.tmp = tmp

    @property
    def adapter(self) -> CopilotAdapter:
        return CopilotAdapter(self.env)

    @property
    def state(self) -> Path:
        return self.home / ".copilot" / "session-state"

    def copilot(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.cli("copilot", *args, "--allow-all-tools", cwd=cwd)

    def ours(self, *args: str, cwd: Path | None = None) -> dict[str, Any]:
        return in_process(self, *args)

    def sessions(self) -> set[str]:
        return {d.name for d in self.state.iterdir() if not d.name.startswith(".")} if self.state.exists() else set()

    def index(self) -> dict[str, str]:
        """session-store.db as the CLI keeps it: id -> cwd."""
        con = sqlite3.connect(f"file:{self.home / '.copilot' / 'session-store.db'}?mode=ro", uri=True)
        try:
            return dict(con.execute("select id, cwd from sessions"))
        finally:
            con.close()


def _tree(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames:
            out[os.path.relpath(os.path.join(dirpath, n), root) + "/"] = None
        for n in filenames:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out


@pytest.fixture
def api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _user_texts(body: dict[str, Any]) -> list[str]:
    out = []
    for m in body.get("messages") or []:
        if m.get("role") == "user":
            c = m.get("content")
            out += [c] if isinstance(c, str) else [p.get("text", "") for p in c or [] if isinstance(p, dict)]
    return out


def _request_for(api: FakeOpenAI, prompt: str, since: int) -> dict[str, Any]:
    """The conversation request whose last user message ends with `prompt` (Copilot prefixes the date)."""
    for r in api.chat_requests()[since:]:
        texts = _user_texts(r["body"])
        if texts and texts[-1].rstrip().endswith(prompt):
            return r
    raise AssertionError(f"no request carried {prompt!r}")


def _new_session(m: CopilotMachine, before: set[str]) -> str:
    (sid,) = m.sessions() - before
    return sid


def test_send_receive_resume_continue_round_trip_copy_and_undo(tmp_path: Path, api: FakeOpenAI) -> None:
    a = CopilotMachine(tmp_path, "machineA", tmp_path / "machineA" / "src" / "cproj", "git@github.com:o/c.git", api)
    b = CopilotMachine(tmp_path, "machineB", tmp_path / "machineB" / "work" / "C Proj_2", "https://github.com/o/c", api)
    a_paths = [str(a.repo), str(a.home), "machineA"]

    # -- machine A: a session in the root (naming a file by its absolute path) and one in sub/ ---------
    first = f"hello from A, see {a.repo}/README.md"
    a.copilot("-p", first)
    sid = _new_session(a, set())
    a.copilot("-p", "hello from A's subfolder", cwd=a.repo / "sub")
    sub_sid = _new_session(a, {sid})
    a_events = (a.state / sid / "events.jsonl").read_bytes()
    assert a.adapter.tool_version() == "1.0.102" == pinned_version("@github/copilot")
    assert readme_tool_row("copilot")[0::3] == ["GitHub Copilot CLI", "`@github/copilot` 1.0.102"]

    # -- the sessions Copilot made are what `sessions`, `doctor` and the tool picker see --------------
    listed = a.ours("sessions", "--cwd", str(a.repo))
    assert {(s["tool"], s["id"]) for s in listed["sessions"]} == {("copilot", sid), ("copilot", sub_sid)}
    doc = in_process(a, "doctor", "--cwd", str(a.repo), ok=False)
    assert doc["tools"]["copilot"]["repo_sessions"] == 2, doc["tools"]
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["tool:copilot"]["status"] == "ok"
    assert "GitHub Copilot CLI: 2 session(s)" in checks["tool:copilot"]["detail"]
    with pytest.MonkeyPatch.context() as mp:  # a terminal: only Copilot has sessions here, chosen unasked
        mp.setattr(pickers, "can_ask", lambda: True)
        assert sessions_command.pick_tool(None, str(a.repo), env=a.env) == "copilot"

    # the session picker (a plain terminal) lists both real sessions, newest first: "2" picks the older one
    doc, shown = picked_in_process(a, "2", "send", "--tool", "copilot", "--cwd", str(a.repo), "--dry-run")
    assert [s["id"] for s in doc["sessions"]] == [sid]
    assert shown.index(f"({sub_sid})") < shown.index(f"({sid})"), shown

    handoff = tmp_path / "handoff.bin"
    sent = a.ours("send", "--tool", "copilot", "--cwd", str(a.repo), "--to", str(handoff))
    assert {s["id"] for s in sent["sessions"]} == {sid, sub_sid}
    assert str(a.repo).encode() not in handoff.read_bytes()

    # -- negative control: the folder copied raw into B -> the CLI works in machine A's folder --------
    b.state.mkdir(parents=True)
    shutil.copytree(a.state / sid, b.state / sid, ignore=shutil.ignore_patterns("*.lock"))
    n = len(api.chat_requests())
    b.copilot(f"--resume={sid}", "-p", "raw copy")
    assert str(a.repo).encode() in _request_for(api, "raw copy", n)["raw"]
    shutil.rmtree(b.home / ".copilot")

    # -- machine B: receive, resume by id and continue-latest from B's folders -------------------------
    got = b.ours("receive", "--from", str(handoff), "--cwd", str(b.repo))
    assert {(i["id"], i["action"]) for i in got["imported"]} == {(sid, "new"), (sub_sid, "new")}, got
    for i in got["imported"]:
        assert f"copilot --resume={i['id']}" in i["resume"]
    b_events = b.state / sid / "events.jsonl"
    placed = b_events.read_bytes()
    for old in a_paths:
        for f in (b.state / sid).rglob("*"):
            if f.is_file():
                assert old.encode() not in f.read_bytes(), (old, f)
    assert f"cwd: {b.repo}\n".encode() in (b.state / sid / "workspace.yaml").read_bytes()
    assert f"cwd: {b.repo / 'sub'}\n".encode() in (b.state / sub_sid / "workspace.yaml").read_bytes()
    assert not (b.home / ".copilot" / "session-store.db").exists()  # the index is the CLI's to write

    # --continue right after receive, before the CLI has indexed anything, resumes the received session
    # that was active last on A (the subfolder one): the CLI goes by the files' mtimes, which receive sets
    # in the order of the sessions' last activity (it writes them newest first).
    n = len(api.chat_requests())
    b.copilot("--continue", "-p", "continue first", cwd=b.repo / "sub")
    req = _request_for(api, "continue first", n)
    texts = _user_texts(req["body"])
    assert any(t.endswith("hello from A's subfolder") for t in texts), texts
    assert not any(t.endswith(f"hello from A, see {b.repo}/README.md") for t in texts), texts
    for old in a_paths:
        assert old.encode() not in req["raw"]
    assert b.sessions() == {sid, sub_sid}

    n = len(api.chat_requests())
    b.copilot(f"--resume={sid}", "-p", "next from B")
    req = _request_for(api, "next from B", n)
    texts = _user_texts(req["body"])
    assert any(t.endswith(f"hello from A, see {b.repo}/README.md") for t in texts), texts
    assert "FAKE-OAI seq=1 " in json.dumps(req["body"]["messages"])  # A's reply went back to the model
    for r in api.chat_requests()[n:]:
        for old in a_paths:
            assert old.encode() not in r["raw"], f"machine A's {old} reached the model"
    assert str(b.repo).encode() in req["raw"]
    after = b_events.read_bytes()
    assert after.startswith(placed) and len(after) > len(placed)  # the CLI appended to our file
    assert b.index()[sid] == str(b.repo)  # ... and indexed the session itself

    n = len(api.chat_requests())
    b.copilot(f"--resume={sub_sid}", "-p", "next in sub", cwd=b.repo / "sub")
    req = _request_for(api, "next in sub", n)
    assert any(t.endswith("hello from A's subfolder") for t in _user_texts(req["body"]))
    assert str(b.repo / "sub").encode() in req["raw"]
    for old in a_paths:
        assert old.encode() not in req["raw"]
    # --continue picks the repo's most recent session (the CLI's rule): the received one just resumed.
    n = len(api.chat_requests())
    b.copilot("--continue", "-p", "continue in root")
    req = _request_for(api, "continue in root", n)
    texts = _user_texts(req["body"])
    assert any(t.endswith("hello from A's subfolder") for t in texts) and any(t.endswith("next in sub") for t in texts)
    for old in a_paths:
        assert old.encode() not in req["raw"]
    assert b.sessions() == {sid, sub_sid}

    # -- re-receive: nothing changes -----------------------------------------------------------------
    before = _tree(b.home / ".copilot")
    got = b.ours("receive", "--from", str(handoff), "--cwd", str(b.repo))
    assert got["imported"] == [] and {s["id"] for s in got["skipped"]} == {sid, sub_sid}, got
    assert _tree(b.home / ".copilot") == before

    # -- round trip: B sends back, A fast-forwards (A's paths restored, none of B's) -----------------
    back = tmp_path / "back.bin"
    b.ours("send", "--tool", "copilot", "--cwd", str(b.repo), "--to", str(back))
    got = a.ours("receive", "--from", str(back), "--cwd", str(a.repo))
    assert {(i["id"], i["action"]) for i in got["imported"]} == {(sid, "fast-forward"), (sub_sid, "fast-forward")}
    a_now = (a.state / sid / "events.jsonl").read_bytes()
    assert a_now.startswith(a_events) and len(a_now) > len(a_events)
    assert str(b.repo).encode() not in a_now and str(b.home).encode() not in a_now
    n = len(api.chat_requests())
    a.copilot(f"--resume={sid}", "-p", "back on A")
    texts = _user_texts(_request_for(api, "back on A", n)["body"])
    assert any(t.endswith("next from B") for t in texts), texts

    # -- diverged: A's next handoff lands on B as a copy; undo restores B exactly ----------------------
    b.copilot(f"--resume={sid}", "-p", "only on B")
    a.copilot(f"--resume={sid}", "-p", "only on A")
    again = tmp_path / "again.bin"
    a.ours("send", "--tool", "copilot", "--cwd", str(a.repo), "--session", sid, "--to", str(again))
    before = _tree(b.home / ".copilot")
    got = b.ours("receive", "--from", str(again), "--cwd", str(b.repo))
    [imp] = got["imported"]
    assert imp["action"] == "copy" and imp["original_id"] == sid and imp["id"] != sid, got
    new = imp["id"]
    assert _tree(b.home / ".copilot") == {**before, **{k: v for k, v in _tree(b.home / ".copilot").items()
                                                        if k.startswith(f"session-state/{new}")}}
    undone = b.ours("undo")
    assert undone["reverted"], undone
    assert _tree(b.home / ".copilot") == before  # exactly as it was

    got = b.ours("receive", "--from", str(again), "--cwd", str(b.repo))
    [imp] = got["imported"]
    assert imp["action"] == "copy" and imp["id"] == new  # the same deterministic id
    copy_events = (b.state / new / "events.jsonl").read_bytes()
    assert sid.encode() not in copy_events and str(a.repo).encode() not in copy_events
    n = len(api.chat_requests())
    b.copilot(f"--resume={new}", "-p", "copy works")
    texts = _user_texts(_request_for(api, "copy works", n)["body"])
    assert any(t.endswith("only on A") for t in texts) and not any(t.endswith("only on B") for t in texts)
    assert (b.state / sid / "events.jsonl").read_bytes() == before[f"session-state/{sid}/events.jsonl"]
