"""End to end with the real Gemini CLI against the fake Gemini API, through our own CLI.

Machine A makes a session with a real tool call; `send` writes it to a file; machine B (fresh home, the
same repo cloned at a path with a space and an underscore) runs `receive`; then `gemini --resume <uuid>`
and `gemini --resume latest` on B must send A's turns to the model, and no machine-A path.  Finally the
session, grown on B, goes back to A as a fast-forward; when both sides then go on separately, A receives
B's version as a copy under a new id, and `gemini --resume <new id>` resumes B's line of the conversation.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gemini.fake_gemini import FakeGemini
from support.clis import node_bin_dir
from support.machines import PASSPHRASE, Machine, git_repo

from sync_ai_sessions.adapters.gemini import project_hash, read_chat

REMOTE_A = "https://github.com/example/myproj.git"
REMOTE_B = "git@github.com:Example/myproj.git"

pytestmark = pytest.mark.realcli


def _git_repo(path: Path, remote: str) -> Path:
    path.mkdir(parents=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(path), "GIT_CONFIG_NOSYSTEM": "1"}
    return git_repo(path, remote, env=env)


def _home(path: Path) -> Path:
    (path / ".gemini").mkdir(parents=True)
    settings = {
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "security": {"auth": {"selectedType": "gemini-api-key"}},
    }
    (path / ".gemini" / "settings.json").write_text(json.dumps(settings))
    return path


class GeminiMachine(Machine):
    """A machine whose Gemini CLI talks to the fake API (settings: no updates, no telemetry, API key)."""

    def __init__(self, root: Path, repo: Path, fake: FakeGemini):
        home = _home(root / "home")
        env = {
            "PATH": f"{node_bin_dir()}:/usr/bin:/bin",
            "HOME": str(home),
            "TERM": "dumb",
            "NO_COLOR": "1",
            "GEMINI_API_KEY": "dummy",
            "GOOGLE_GEMINI_BASE_URL": fake.url,
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
            "GEMINI_TELEMETRY_ENABLED": "false",
            "SYNC_AI_SESSIONS_HOME": str(root / "state"),
            "SYNC_AI_SESSIONS_PASSPHRASE": PASSPHRASE,
            "SYNC_AI_SESSIONS_SCRYPT_LOG2N": "12",  # a cheap KDF keeps the test fast
        }
        super().__init__(root=root, home=home, env=env, repo=repo)

    def gemini(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("gemini", *args)


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def _turn_text(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


def test_session_made_on_a_resumes_on_b(tmp_path: Path) -> None:
    with FakeGemini() as fake:
        a = GeminiMachine(tmp_path / "machineA", _git_repo(tmp_path / "machineA" / "src" / "myproj", REMOTE_A), fake)
        (a.repo / "README.md").write_text("# demo project\nsecret=42\n")
        b_repo = _git_repo(tmp_path / "machine B" / "work" / "My Proj_2", REMOTE_B)
        (b_repo / "README.md").write_text("# demo project on B\n")
        b = GeminiMachine(tmp_path / "machine B", b_repo, fake)

        # -- machine A: a first turn, then a resumed turn with a real read_file tool call
        a.gemini("-p", "hello from A")
        a.gemini("--resume", "latest", "-p", f"TOOL:read_file:{a.repo}/README.md please read it")
        (chat_a,) = [p for p in (a.home / ".gemini" / "tmp").glob("*/chats/session-*.jsonl") if read_chat(p).resumable]
        info_a = read_chat(chat_a)
        assert any(m.get("toolCalls") for m in info_a.messages), "the tool call did not happen on A"
        sid = info_a.session_id

        handoff = tmp_path / "handoff.bin"
        sent = a.ours("send", "--tool", "gemini", "--cwd", str(a.repo), "--to", str(handoff))
        assert [s["id"] for s in sent["sessions"]] == [sid]
        assert b"machineA" not in handoff.read_bytes() and b"hello from A" not in handoff.read_bytes()

        # -- machine B: receive into a fresh home
        got = b.ours("receive", "--from", str(handoff), "--cwd", str(b.repo))
        (imp,) = got["imported"]
        assert (imp["id"], imp["original_id"], imp["action"]) == (sid, sid, "new")
        assert imp["resume"].endswith(f"gemini --resume {sid}")
        gdir = b.home / ".gemini"
        assert json.loads((gdir / "projects.json").read_text()) == {"projects": {str(b.repo): "my-proj-2"}}
        for base in ("tmp", "history"):
            assert (gdir / base / "my-proj-2" / ".project_root").read_text() == str(b.repo)
        chat_b = gdir / "tmp" / "my-proj-2" / "chats" / chat_a.name
        assert Path(imp["path"]) == chat_b
        data_b = chat_b.read_bytes()
        assert b"machineA" not in data_b
        assert f'"projectHash":"{project_hash(str(b.repo))}"'.encode() in data_b

        # -- resume by id: A's turns and tool result reach the model, with B's paths only
        n = len(fake.turns())
        b.gemini("--resume", sid, "-p", "next from B")
        first = _turn_text(fake.turns()[n])
        assert "hello from A" in first
        assert "secret=42" in first  # the functionResponse of A's read_file call
        assert '"functionCall"' in first and '"read_file"' in first
        assert f"TOOL:read_file:{b.repo}/README.md" in first
        assert str(b.repo) in first  # the env context names B's cwd
        assert "next from B" in first
        assert "machineA" not in first

        # -- resume latest picks the same session
        n = len(fake.turns())
        b.gemini("--resume", "latest", "-p", "third from B")
        first = _turn_text(fake.turns()[n])
        assert "hello from A" in first and "next from B" in first and "third from B" in first
        assert "machineA" not in first
        assert all("machineA" not in _turn_text(t) for t in fake.turns()[n:])

        # -- receiving the same handoff again changes nothing: B's copy already holds all of it
        before = _tree(gdir)
        again = b.ours("receive", "--from", str(handoff), "--cwd", str(b.repo))
        assert again["imported"] == [] and [s["id"] for s in again["skipped"]] == [sid]
        assert _tree(gdir) == before  # nothing written, projects.json and its mtime included

        # -- back to A: the session grew on B, so A fast-forwards its own file
        back = tmp_path / "back.bin"
        sent_b = b.ours("send", "--tool", "gemini", "--cwd", str(b.repo), "--to", str(back))
        assert [s["id"] for s in sent_b["sessions"]] == [sid]
        got_a = a.ours("receive", "--from", str(back), "--cwd", str(a.repo))
        (imp_a,) = got_a["imported"]
        assert (imp_a["id"], imp_a["action"]) == (sid, "fast-forward")
        assert Path(imp_a["path"]) == chat_a.resolve()
        data_a = chat_a.read_bytes()
        assert b"third from B" in data_a and b"machine B" not in data_a

        # -- both sides go on separately: A receives B's version as a copy under a new id
        def turn(chat: Path, tag: str) -> None:
            recs = [
                {"id": f"{tag}-u", "timestamp": "2026-11-25T12:00:00.000Z", "type": "user", "content": [{"text": tag}]},
                {"id": f"{tag}-g", "timestamp": "2026-11-25T12:00:01.000Z", "type": "gemini", "content": f"ok {tag}"},
            ]
            with open(chat, "a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs))

        turn(chat_a, "ONLY-ON-A")
        turn(chat_b, "ONLY-ON-B")
        diverged = tmp_path / "diverged.bin"
        b.ours("send", "--tool", "gemini", "--cwd", str(b.repo), "--to", str(diverged))
        (imp_c,) = a.ours("receive", "--from", str(diverged), "--cwd", str(a.repo))["imported"]
        new_id = imp_c["id"]
        assert imp_c["action"] == "copy" and imp_c["original_id"] == sid and new_id != sid
        copy = Path(imp_c["path"])
        assert copy.parent == chat_a.resolve().parent and copy.name.endswith(f"-{new_id[:8]}.jsonl")
        assert read_chat(copy).session_id == new_id and sid.encode() not in copy.read_bytes()
        assert b"ONLY-ON-A" in chat_a.read_bytes()  # the local session is untouched

        n = len(fake.turns())
        a.gemini("--resume", new_id, "-p", "on the copy")
        first = _turn_text(fake.turns()[n])
        assert "ONLY-ON-B" in first and "third from B" in first and "hello from A" in first
        assert "ONLY-ON-A" not in first and "machine B" not in first


def test_windows_origin_session_resumes_on_linux(tmp_path: Path) -> None:
    """A real chat made on A, given its Windows shape (support.windows_shape: `C:\\Users\\alice\\...`, the
    project path lower-cased as Gemini records it on win32, projectHash of the Windows path, the other
    forms in text) and sealed again with `os_flavor: "windows"`; B receives it and `gemini --resume` sends
    the whole history (the tool call and its result) and no Windows path (nothing naming `alice`)."""
    from support.windows_shape import WIN_HOME, Shaper, reseal_as_windows

    with FakeGemini() as fake:
        a = GeminiMachine(tmp_path / "machineA", _git_repo(tmp_path / "machineA" / "src" / "myproj", REMOTE_A), fake)
        (a.repo / "README.md").write_text("# demo project\nsecret=42\n")
        b_repo = _git_repo(tmp_path / "machine B" / "work" / "My Proj_2", REMOTE_B)
        b = GeminiMachine(tmp_path / "machine B", b_repo, fake)
        a.gemini("-p", f"TOOL:read_file:{a.repo}/README.md please read it")  # one turn with a tool call
        handoff, win = tmp_path / "handoff.bin", tmp_path / "win.bin"
        sent = a.ours("send", "--tool", "gemini", "--cwd", str(a.repo), "--to", str(handoff))
        [sid] = [s["id"] for s in sent["sessions"]]
        w_root = WIN_HOME + "\\src\\myproj"
        shaper = Shaper({str(a.repo): w_root, str(a.home): WIN_HOME},
                        {project_hash(str(a.repo)): project_hash(w_root)})
        manifest = reseal_as_windows(handoff, win, PASSPHRASE, shaper, lower_meta=("project_root",))
        assert manifest["sessions"][0]["meta"]["project_root"] == w_root.lower()
        (imp,) = b.ours("receive", "--from", str(win), "--cwd", str(b.repo))["imported"]
        assert imp["action"] == "new"
        data_b = Path(imp["path"]).read_bytes()
        assert b"alice" not in data_b.lower()
        assert f'"projectHash":"{project_hash(str(b.repo))}"'.encode() in data_b
        n = len(fake.turns())
        b.gemini("--resume", sid, "-p", "next from B")
        first = _turn_text(fake.turns()[n])
        assert "please read it" in first and "secret=42" in first and '"read_file"' in first
        assert f"TOOL:read_file:{b.repo}/README.md" in first
        assert "alice" not in first.lower(), "a Windows path of machine A reached the model"
