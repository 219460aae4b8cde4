"""End to end with the REAL `qwen` CLI (Qwen Code 0.24.4) against a fake OpenAI server on 127.0.0.1.

Machine A makes a session with `qwen -p`, sends it with our CLI to a file; machine B (fresh HOME, the
same repo by remote at another path with a space) receives it; `qwen --resume <id> -p` and
`qwen --continue -p` from B must send A's turns to the fake server and none of machine A's paths.
Negative control: the same file moved into B's project folder WITHOUT the cwd rewrite is refused by
Qwen (so the resume checks above can fail).  Then B sends back and A fast-forwards.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qwen.fake_openai import FakeOpenAI, last_user_text, user_texts
from support.machines import PASSPHRASE, Machine, git_repo

from sync_ai_sessions.adapters.qwen import QwenAdapter, project_hash, sanitize_cwd

pytestmark = pytest.mark.realcli
QWEN_SETTINGS = {
    "security": {"auth": {"selectedType": "openai"}},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    # No background memory-extraction call after each turn: fewer requests, faster runs.
    "memory": {"enableManagedAutoMemory": False, "enableManagedAutoDream": False},
}


class QwenMachine(Machine):
    """A machine whose Qwen Code talks to the fake OpenAI server (settings: no updates, no telemetry)."""

    def __init__(self, base: Path, name: str, repo: Path, remote: str, api: FakeOpenAI):
        self.name = name
        home, tmp = base / f"{name}-home", base / f"{name}-tmp"
        for d in (home / ".qwen", tmp):
            d.mkdir(parents=True, exist_ok=True)
        (home / ".qwen" / "settings.json").write_text(json.dumps(QWEN_SETTINGS))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "TMPDIR": str(tmp),
            "OPENAI_API_KEY": "dummy",
            "OPENAI_BASE_URL": api.base_url,
            "OPENAI_MODEL": "fake-model",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "SYNC_AI_SESSIONS_HOME": str(home / ".sync-ai-sessions"),
            "SYNC_AI_SESSIONS_PASSPHRASE": PASSPHRASE,
            "SYNC_AI_SESSIONS_SCRYPT_LOG2N": "10",
        }
        super().__init__(root=base, home=home, env=env, repo=git_repo(repo, remote, env=env, branch="main"))

    @property
    def adapter(self) -> QwenAdapter:
        return QwenAdapter(self.env)

    def chats(self) -> Path:
        return self.adapter.projects_dir() / sanitize_cwd(str(self.repo)) / "chats"

    def qwen(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cli("qwen", *args, ok=ok)


@pytest.fixture
def api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _request_for(api: FakeOpenAI, prompt: str, since: int) -> dict[str, Any]:
    """The conversation request (not a background one) whose typed text is `prompt`."""
    for r in api.chat_requests()[since:]:
        if last_user_text(r["body"]) == prompt:
            return r
    raise AssertionError(f"no request carried {prompt!r}: {[last_user_text(r['body']) for r in api.requests]}")


def _assistant_texts(req: dict[str, Any]) -> str:
    return json.dumps([m for m in req["body"]["messages"] if m.get("role") == "assistant"])


def test_send_receive_resume_continue_and_round_trip(tmp_path: Path, api: FakeOpenAI) -> None:
    a = QwenMachine(tmp_path, "machineA", tmp_path / "machineA" / "src" / "qproj", "git@github.com:o/q.git", api)
    b = QwenMachine(tmp_path, "machineB", tmp_path / "machineB" / "work" / "Q Proj_2", "https://github.com/o/q", api)
    a_paths = [str(a.repo), str(a.home), "machineA"]

    # -- machine A: one real turn that names a file by its absolute path ----------------------------
    first = f"hello from A, see {a.repo}/README.md"
    a.qwen("-p", first)
    (a_file,) = a.chats().glob("*.jsonl")
    sid = a_file.name[: -len(".jsonl")]
    a_bytes = a_file.read_bytes()
    a_recs = [json.loads(x) for x in a_bytes.splitlines()]
    assert {r["cwd"] for r in a_recs} == {str(a.repo)}
    assert a.adapter.tool_version() == "0.24.4"

    handoff = tmp_path / "handoff.bin"
    sent = a.ours("send", "--tool", "qwen", "--cwd", str(a.repo), "--to", str(handoff))
    assert [s["id"] for s in sent["sessions"]] == [sid]
    assert str(a.repo).encode() not in handoff.read_bytes()  # encrypted

    # -- negative control: the raw file in B's project folder, cwd NOT rewritten -> Qwen refuses ----
    raw_dir = b.chats()
    raw_dir.mkdir(parents=True)
    (raw_dir / a_file.name).write_bytes(a_bytes)
    n = len(api.chat_requests())
    p = b.qwen("--resume", sid, "-p", "raw copy", ok=False)
    assert p.returncode != 0
    assert "No saved session found" in p.stdout + p.stderr, (p.stdout[-1000:], p.stderr[-1000:])
    assert all(last_user_text(r["body"]) != "raw copy" for r in api.chat_requests()[n:])
    (raw_dir / a_file.name).unlink()

    # -- machine B: receive, then resume from the new path -------------------------------------------
    got = b.ours("receive", "--from", str(handoff), "--cwd", str(b.repo))
    [imp] = got["imported"]
    assert imp["id"] == sid and imp["action"] == "new", got
    b_file = b.chats() / f"{sid}.jsonl"
    assert Path(imp["path"]) == b_file
    assert f"qwen --resume {sid}" in imp["resume"]
    b_placed = b_file.read_bytes()
    for old in a_paths:
        assert old.encode() not in b_placed, old
    b_recs = [json.loads(x) for x in b_placed.splitlines()]
    assert len(b_recs) == len(a_recs)
    assert {r["cwd"] for r in b_recs} == {str(b.repo)}

    n = len(api.chat_requests())
    b.qwen("--resume", sid, "-p", "next from B")
    req = _request_for(api, "next from B", n)
    assert f"hello from A, see {b.repo}/README.md" in user_texts(req["body"])
    assert "FAKE-OAI seq=1 " in _assistant_texts(req)  # A's reply went back to the model
    for r in api.chat_requests()[n:]:  # the resumed turn and any background call
        for old in a_paths:
            assert old.encode() not in r["raw"], f"machine A's {old} reached the model"
    assert str(b.repo).encode() in req["raw"]  # Qwen's env context names B's folder
    b_after = b_file.read_bytes()
    assert b_after.startswith(b_placed) and len(b_after) > len(b_placed)  # Qwen appended to our file
    assert sorted(x.name for x in b.chats().glob("*.jsonl")) == [f"{sid}.jsonl"]

    # --continue from B picks the received session (same file, earlier turns sent)
    n = len(api.chat_requests())
    b.qwen("--continue", "-p", "third from B")
    req = _request_for(api, "third from B", n)
    texts = user_texts(req["body"])
    assert f"hello from A, see {b.repo}/README.md" in texts and "next from B" in texts
    for old in a_paths:
        assert old.encode() not in req["raw"]
    assert sorted(x.name for x in b.chats().glob("*.jsonl")) == [f"{sid}.jsonl"]

    # -- round trip: B sends back, A fast-forwards (A's paths restored, none of B's) -----------------
    back = tmp_path / "back.bin"
    b.ours("send", "--tool", "qwen", "--cwd", str(b.repo), "--to", str(back))
    got = a.ours("receive", "--from", str(back), "--cwd", str(a.repo))
    [imp] = got["imported"]
    assert imp["id"] == sid and imp["action"] == "fast-forward", got
    a_now = a_file.read_bytes()
    assert a_now.startswith(a_bytes) and len(a_now) > len(a_bytes)
    assert str(b.repo).encode() not in a_now and str(b.home).encode() not in a_now
    assert {json.loads(x)["cwd"] for x in a_now.splitlines()} == {str(a.repo)}
    # Receiving the same handoff again changes nothing.
    got = a.ours("receive", "--from", str(back), "--cwd", str(a.repo))
    assert got["imported"] == [] and [s["id"] for s in got["skipped"]] == [sid]
    assert a_file.read_bytes() == a_now

    # -- both went on: A's next handoff diverges from B's session, lands as a copy Qwen resumes -----
    b.qwen("--resume", sid, "-p", "only on B")
    a.qwen("--resume", sid, "-p", "only on A")
    again = tmp_path / "again.bin"
    a.ours("send", "--tool", "qwen", "--cwd", str(a.repo), "--to", str(again))
    b_before = b_file.read_bytes()
    got = b.ours("receive", "--from", str(again), "--cwd", str(b.repo))
    [imp] = got["imported"]
    assert imp["action"] == "copy" and imp["original_id"] == sid and imp["id"] != sid, got
    new = imp["id"]
    copy = b.chats() / f"{new}.jsonl"
    assert Path(imp["path"]) == copy
    assert b_file.read_bytes() == b_before  # the local session is untouched
    copy_bytes = copy.read_bytes()
    assert sid.encode() not in copy_bytes and str(a.repo).encode() not in copy_bytes
    n = len(api.chat_requests())
    b.qwen("--resume", new, "-p", "copy works")
    texts = user_texts(_request_for(api, "copy works", n)["body"])
    assert "only on A" in texts and "only on B" not in texts
    assert copy.read_bytes().startswith(copy_bytes) and len(copy.read_bytes()) > len(copy_bytes)


def test_windows_origin_session_resumes_on_linux(tmp_path: Path, api: FakeOpenAI) -> None:
    """A real chat made on A, given its Windows shape (support.windows_shape: `C:\\Users\\alice\\...`,
    the lower-cased win32 project folder and hash, the other forms in text) and sealed again with
    `os_flavor: "windows"`; B receives it and `qwen --resume` sends the history and no Windows path."""
    from support.windows_shape import WIN_HOME, Shaper, reseal_as_windows

    a = QwenMachine(tmp_path, "machineA", tmp_path / "machineA" / "src" / "qproj", "git@github.com:o/q.git", api)
    b = QwenMachine(tmp_path, "machineB", tmp_path / "machineB" / "work" / "Q Proj_2", "https://github.com/o/q", api)
    first = f"hello from A, see {a.repo}/README.md"
    a.qwen("-p", first)
    handoff, win = tmp_path / "handoff.bin", tmp_path / "win.bin"
    [sid] = [s["id"] for s in a.ours("send", "--tool", "qwen", "--cwd", str(a.repo), "--to", str(handoff))["sessions"]]
    w_root = WIN_HOME + "\\src\\qproj"
    shaper = Shaper({str(a.repo): w_root, str(a.home): WIN_HOME, str(a.root / "machineA-tmp"): WIN_HOME + "\\Temp"},
                    {sanitize_cwd(str(a.repo)): sanitize_cwd(w_root, windows=True),
                     project_hash(str(a.repo)): project_hash(w_root, windows=True)})
    manifest = reseal_as_windows(handoff, win, PASSPHRASE, shaper)
    assert manifest["source"]["repo_root"] == w_root
    [imp] = b.ours("receive", "--from", str(win), "--cwd", str(b.repo))["imported"]
    assert imp["id"] == sid and imp["action"] == "new"
    placed = Path(imp["path"]).read_bytes()
    assert b"alice" not in placed.lower()
    assert {json.loads(x)["cwd"] for x in placed.splitlines()} == {str(b.repo)}
    n = len(api.chat_requests())
    b.qwen("--resume", sid, "-p", "next")
    req = _request_for(api, "next", n)
    assert f"hello from A, see {b.repo}/README.md" in user_texts(req["body"])
    assert b"alice" not in req["raw"].lower(), "a Windows path of machine A reached the model"
