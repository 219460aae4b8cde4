"""End to end with the REAL `opencode` CLI (OpenCode 1.18.33) offline against a fake OpenAI server on 127.0.0.1.

OpenCode runs with a custom `@ai-sdk/openai-compatible` provider in OPENCODE_CONFIG_CONTENT and models fetch,
autoupdate, share, LSP download and default plugins disabled.  Machine A makes a session in the repo root
and one in a subfolder with `opencode run`, sends them with our CLI to a file (negative control: A's
database copied raw to another clone, where `run --continue` does not find A's sessions); machine B (fresh HOME, the
same repo by remote at another path with a space; its database made by `opencode session list`) receives
them as rows of its opencode.db; `opencode run --session <id>` and `run --continue` from B's folders must
send A's turns to the fake server and none of machine A's paths.  Then: re-receive is a no-op, B -> A
fast-forwards (the new messages appended, A's paths restored), a diverged session lands as a copy under new
session/message/part ids (the original untouched), and `undo` restores B's database row for row.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qwen.fake_openai import FakeOpenAI, user_texts
from support.clis import pinned_version, readme_tool_row
from support.machines import PASSPHRASE, Machine, git_repo, in_process, picked_in_process

from sync_ai_sessions import pickers
from sync_ai_sessions.adapters.opencode import OpenCodeAdapter
from sync_ai_sessions.commands import sessions as sessions_command

pytestmark = pytest.mark.realcli

TABLES = ("session", "message", "part", "project", "project_directory", "todo")


def _config(base_url: str) -> str:
    return json.dumps({
        "$schema": "https://opencode.ai/config.json",
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
        "autoupdate": False,
        "share": "disabled",
        "provider": {"fake": {
            "npm": "@ai-sdk/openai-compatible", "name": "Fake",
            "options": {"baseURL": base_url, "apiKey": "dummy"},
            "models": {"fake-model": {"name": "Fake"}},
        }},
    })


class OpenCodeMachine(Machine):
    """A machine whose OpenCode talks to the fake server; our CLI runs in this process (see in_process)."""

    def __init__(self, base: Path, name: str, repo: Path, remote: str, api: FakeOpenAI):
        home, tmp = base / f"{name}-home", base / f"{name}-tmp"
        for d in (home, tmp):
            d.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "TMPDIR": str(tmp),
            "OPENCODE_CONFIG_CONTENT": _config(api.base_url),
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_SHARE": "1",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
            "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
            "SYNC_AI_SESSIONS_HOME": str(home / ".sync-ai-sessions"),
            "SYNC_AI_SESSIONS_PASSPHRASE": PASSPHRASE,
            "SYNC_AI_SESSIONS_SCRYPT_LOG2N": "10",
        }
        super().__init__(root=base, home=home, env=env, repo=git_repo(repo, remote, env=env, branch="main"))
        (self.repo / "sub").mkdir()
        self.tmp = tmp

    @property
    def adapter(self) -> OpenCodeAdapter:
        return OpenCodeAdapter(self.env)

    def opencode(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.cli("opencode", *args, cwd=cwd, timeout=240)

    def ours(self, *args: str, cwd: Path | None = None) -> dict[str, Any]:
        return in_process(self, *args)

    def git(self, *args: str) -> None:
        subprocess.run(["git", "-C", str(self.repo), *args], env=self.env, check=True, capture_output=True)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.adapter.db_path()}?mode=ro", uri=True)

    def sessions(self) -> dict[str, tuple[str, str]]:
        """id -> (directory, path) of every session in the database."""
        con = self.db()
        try:
            return {r[0]: (r[1], r[2]) for r in con.execute("select id, directory, path from session")}
        finally:
            con.close()

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table of opencode.db, row for row."""
        con = self.db()
        try:
            tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
            assert set(TABLES) <= set(tables), tables
            return {t: sorted(con.execute(f'select * from "{t}"').fetchall(), key=repr) for t in tables}
        finally:
            con.close()

    def files(self) -> dict[str, bytes]:
        """Every file OpenCode keeps in its data folder but the database's own (whose rows `dump` compares)."""
        root = self.adapter.db_path().parent
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and not p.name.startswith("opencode.db")}

    def bytes_of(self, sid: str) -> bytes:
        """Every row of a session, as text (to look for paths in)."""
        con = self.db()
        try:
            rows = [*con.execute("select * from session where id = ?", (sid,)),
                    *con.execute("select * from message where session_id = ?", (sid,)),
                    *con.execute("select * from part where session_id = ?", (sid,))]
        finally:
            con.close()
        return json.dumps(rows, ensure_ascii=False).encode()


@pytest.fixture
def api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _request_for(api: FakeOpenAI, prompt: str, since: int) -> dict[str, Any]:
    """The conversation request (not the title one) whose last user text holds `prompt`."""
    for r in api.chat_requests()[since:]:
        texts = user_texts(r["body"])
        if texts and prompt in texts[-1] and "Generate a title" not in json.dumps(r["body"])[:4000]:
            return r
    raise AssertionError(f"no request carried {prompt!r}: {[user_texts(r['body'])[-1:] for r in api.requests]}")


def _has(texts: list[str], prompt: str) -> bool:
    return any(prompt in t for t in texts)


def test_send_receive_resume_continue_round_trip_copy_and_undo(tmp_path: Path, api: FakeOpenAI) -> None:
    a = OpenCodeMachine(tmp_path, "machineA", tmp_path / "machineA" / "src" / "ocproj", "git@github.com:o/oc.git", api)
    b = OpenCodeMachine(tmp_path, "machineB", tmp_path / "machineB" / "work" / "OC Proj_2", "https://github.com/o/oc",
                        api)
    # The same repo: one root commit, so OpenCode gives both clones the same project id.
    (a.repo / "README.md").write_text("hi\n")
    a.git("add", ".")
    a.git("commit", "-qm", "init")
    b.git("pull", "-q", str(a.repo), "main")
    a_paths = [str(a.repo), str(a.home), "machineA"]

    # -- machine A: one session in the root (naming a file by its absolute path), one in sub/ -------
    a.opencode("run", f"hello from A, see {a.repo}/README.md")
    (sid,) = a.sessions()
    a.opencode("run", "hello from A's subfolder", cwd=a.repo / "sub")
    (sub_sid,) = set(a.sessions()) - {sid}
    assert a.sessions()[sub_sid][0] == str(a.repo / "sub")
    a_rows = a.dump()
    assert a.adapter.tool_version() == "1.18.33" == pinned_version("opencode-ai")
    assert readme_tool_row("opencode")[0::3] == ["OpenCode", "`opencode-ai` 1.18.33"]

    # -- the sessions OpenCode made are what `sessions`, `doctor` and the tool picker see -------------
    listed = a.ours("sessions", "--cwd", str(a.repo))
    assert {(s["tool"], s["id"]) for s in listed["sessions"]} == {("opencode", sid), ("opencode", sub_sid)}
    doc = in_process(a, "doctor", "--cwd", str(a.repo), ok=False)
    assert doc["tools"]["opencode"]["repo_sessions"] == 2, doc["tools"]
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["tool:opencode"]["status"] == "ok" and "OpenCode: 2 session(s)" in checks["tool:opencode"]["detail"]
    with pytest.MonkeyPatch.context() as mp:  # a terminal: only OpenCode has sessions here, chosen unasked
        mp.setattr(pickers, "can_ask", lambda: True)
        assert sessions_command.pick_tool(None, str(a.repo), env=a.env) == "opencode"

    # the session picker (a plain terminal) lists both real sessions, newest first: "2" picks the older one
    doc, shown = picked_in_process(a, "2", "send", "--tool", "opencode", "--cwd", str(a.repo), "--dry-run")
    assert [s["id"] for s in doc["sessions"]] == [sid]
    assert shown.index(f"({sub_sid})") < shown.index(f"({sid})"), shown

    handoff = tmp_path / "handoff.bin"
    sent = a.ours("send", "--tool", "opencode", "--cwd", str(a.repo), "--to", str(handoff))
    assert {s["id"] for s in sent["sessions"]} == {sid, sub_sid}
    assert str(a.repo).encode() not in handoff.read_bytes()
    assert a.dump() == a_rows  # sending only reads

    # -- negative control: A's database copied raw to C (another clone): `run --continue` does not see
    #    A's sessions there (their directory is A's), so the rewrite below is what makes B find them ----
    c = OpenCodeMachine(tmp_path, "machineC", tmp_path / "machineC" / "elsewhere", "https://github.com/o/oc", api)
    c.git("pull", "-q", str(a.repo), "main")
    c.adapter.home().mkdir(parents=True)
    src, dst = sqlite3.connect(a.adapter.db_path()), sqlite3.connect(c.adapter.db_path())
    src.backup(dst)
    src.close()
    dst.close()
    n = len(api.chat_requests())
    c.opencode("run", "--continue", "raw copy")
    texts = user_texts(_request_for(api, "raw copy", n)["body"])
    assert not _has(texts, "hello from A"), texts
    assert len(c.sessions()) == 3  # it started a new session instead

    # -- machine B: OpenCode has run here once (its database exists), then receive ---------------------
    b.opencode("session", "list")
    assert b.sessions() == {}
    got = b.ours("receive", "--from", str(handoff), "--cwd", str(b.repo))
    assert {(i["id"], i["action"]) for i in got["imported"]} == {(sid, "new"), (sub_sid, "new")}, got
    for i in got["imported"]:
        assert f"opencode --session {i['id']}" in i["resume"]
    assert b.sessions() == {sid: (str(b.repo), ""), sub_sid: (str(b.repo / "sub"), "sub")}
    for s in (sid, sub_sid):
        for old in a_paths:
            assert old.encode() not in b.bytes_of(s), old

    n = len(api.chat_requests())
    b.opencode("run", "--session", sid, "next from B")
    req = _request_for(api, "next from B", n)
    texts = user_texts(req["body"])
    assert _has(texts, f"hello from A, see {b.repo}/README.md"), texts
    assert "FAKE-OAI seq=" in json.dumps([m for m in req["body"]["messages"] if m.get("role") == "assistant"])
    for r in api.chat_requests()[n:]:
        for old in a_paths:
            assert old.encode() not in r["raw"], f"machine A's {old} reached the model"
    assert str(b.repo).encode() in req["raw"]  # the env context names B's folder

    n = len(api.chat_requests())
    b.opencode("run", "--continue", "continue in sub", cwd=b.repo / "sub")
    req = _request_for(api, "continue in sub", n)
    assert _has(user_texts(req["body"]), "hello from A's subfolder"), user_texts(req["body"])
    for old in a_paths:
        assert old.encode() not in req["raw"]
    assert set(b.sessions()) == {sid, sub_sid}  # resumed, not new sessions

    # -- re-receive: nothing changes -----------------------------------------------------------------
    before, before_files = b.dump(), b.files()
    got = b.ours("receive", "--from", str(handoff), "--cwd", str(b.repo))
    assert got["imported"] == [] and {s["id"] for s in got["skipped"]} == {sid, sub_sid}, got
    assert b.dump() == before and b.files() == before_files

    # -- round trip: B sends back, A fast-forwards (new messages appended, A's paths, none of B's) -----
    back = tmp_path / "back.bin"
    b.ours("send", "--tool", "opencode", "--cwd", str(b.repo), "--to", str(back))
    got = a.ours("receive", "--from", str(back), "--cwd", str(a.repo))
    assert {(i["id"], i["action"]) for i in got["imported"]} == {(sid, "fast-forward"), (sub_sid, "fast-forward")}
    a_now = a.dump()
    for t in ("message", "part"):
        assert set(a_rows[t]) <= set(a_now[t]) and len(a_now[t]) > len(a_rows[t])
    for s in (sid, sub_sid):
        assert str(b.repo).encode() not in a.bytes_of(s) and str(b.home).encode() not in a.bytes_of(s)
    assert a.sessions() == {sid: (str(a.repo), ""), sub_sid: (str(a.repo / "sub"), "sub")}

    # -- diverged: A's next handoff lands on B as a copy; undo restores B's rows exactly ---------------
    b.opencode("run", "--session", sid, "only on B")
    n = len(api.chat_requests())
    a.opencode("run", "--session", sid, "only on A")
    texts = user_texts(_request_for(api, "only on A", n)["body"])
    assert _has(texts, "next from B"), texts  # A resumed the fast-forwarded session with B's turns
    again = tmp_path / "again.bin"
    a.ours("send", "--tool", "opencode", "--cwd", str(a.repo), "--session", sid, "--to", str(again))
    before, before_files = b.dump(), b.files()
    got = b.ours("receive", "--from", str(again), "--cwd", str(b.repo))
    [imp] = got["imported"]
    assert imp["action"] == "copy" and imp["original_id"] == sid and imp["id"] != sid, got
    new = imp["id"]
    undone = b.ours("undo")
    assert {r["table"] for r in undone["reverted"]} >= {"session", "message", "part"}, undone
    assert b.dump() == before and b.files() == before_files  # row for row, file for file

    got = b.ours("receive", "--from", str(again), "--cwd", str(b.repo))
    [imp] = got["imported"]
    assert imp["action"] == "copy" and imp["id"] == new  # the same deterministic id
    copy_rows = b.bytes_of(new)
    assert sid.encode() not in copy_rows and str(a.repo).encode() not in copy_rows
    con = b.db()
    assert not set(con.execute("select id from message where session_id = ?", (new,))) & set(
        con.execute("select id from message where session_id = ?", (sid,)))  # the copy has its own ids
    con.close()
    n = len(api.chat_requests())
    b.opencode("run", "--session", new, "copy works")
    texts = user_texts(_request_for(api, "copy works", n)["body"])
    assert _has(texts, "only on A") and not _has(texts, "only on B"), texts
    after = b.dump()
    for t in ("message", "part"):  # the original session is untouched
        assert {r for r in before[t] if sid in repr(r)} <= set(after[t])
