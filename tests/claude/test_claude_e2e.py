"""End to end with the REAL `claude` CLI against a fake Messages API on 127.0.0.1.

Machine A creates a session (a plain turn, a Write tool call, a subagent), sends it with our CLI; machine B
(fresh HOME, another path with a space and an underscore, same repo by remote) receives it and resumes
it with `claude -p --resume` and `--continue`: the request the fake API gets must carry the earlier turns
and none of machine A's paths.  Then B sends back and A fast-forwards and sees B's turns.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claude.fake_anthropic import FakeAnthropic
from support.machines import PASSPHRASE, Machine, git_repo

from sync_ai_sessions.adapters.claude import ClaudeAdapter, encode_project_dir

pytestmark = pytest.mark.realcli


class ClaudeMachine(Machine):
    """A machine whose Claude Code talks to the fake API, with its own temp folder."""

    def __init__(self, base: Path, name: str, repo: Path, remote: str, api: FakeAnthropic, runtime: Path):
        home, tmp = base / f"{name}-home", base / f"{name}-tmp"
        for d in (home, tmp):
            d.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "ANTHROPIC_BASE_URL": api.base_url,
            "ANTHROPIC_API_KEY": "dummy",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_TMPDIR": str(tmp),
            "TMPDIR": str(tmp),
            "XDG_RUNTIME_DIR": str(runtime),
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
            "SYNC_AI_SESSIONS_PASSPHRASE": PASSPHRASE,
            "SYNC_AI_SESSIONS_SCRYPT_LOG2N": "12",  # cheap KDF: this test is about sessions, not crypto
        }
        super().__init__(root=base, home=home, env=env, repo=git_repo(repo, remote, env=env, branch="main"))
        self.tmp = tmp

    @property
    def adapter(self) -> ClaudeAdapter:
        return ClaudeAdapter(self.env)

    def claude(self, *args: str) -> dict[str, Any]:
        return json.loads(self.cli("claude", "-p", "--output-format", "json", *args).stdout)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeAnthropic, Path, Path]]:
    runtime = Path(tempfile.mkdtemp(prefix="cc", dir="/tmp"))  # short: Unix socket paths are limited
    try:
        with FakeAnthropic() as api:
            yield api, tmp_path, runtime
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def _request_for(api: FakeAnthropic, prompt: str) -> dict[str, Any]:
    """The first conversation request whose last user text is `prompt`."""
    for r in api.main_requests():
        msgs = r["body"].get("messages") or []
        if msgs and msgs[-1].get("role") == "user" and prompt in json.dumps(msgs[-1]):
            return r
    raise AssertionError(f"no request carried {prompt!r}")


def _user_texts(req: dict[str, Any]) -> str:
    return json.dumps([m for m in req["body"]["messages"] if m.get("role") == "user"])


def test_send_receive_resume_continue_and_round_trip(world: tuple[FakeAnthropic, Path, Path]) -> None:
    api, base, runtime = world
    a = ClaudeMachine(base, "A", base / "A" / "src" / "my_app.v2", "git@github.com:o/r.git", api, runtime)
    b = ClaudeMachine(base, "B", base / "B" / "dev" / "Proj B_2", "https://github.com/o/r", api, runtime)

    # -- machine A: a session with a plain turn, a Write tool call and a subagent ------------------
    sid = a.claude("hello")["session_id"]
    assert a.claude("--resume", sid, "--permission-mode", "acceptEdits", "DO_WRITE please")["session_id"] == sid
    assert a.claude("--resume", sid, "DO_AGENT please")["session_id"] == sid
    a_file = a.adapter.projects_dir() / encode_project_dir(str(a.repo)) / f"{sid}.jsonl"
    assert a_file.is_file()
    assert list((a_file.parent / sid / "subagents").glob("agent-*.jsonl"))
    a_bytes = a_file.read_bytes()
    assert str(a.repo).encode() in a_bytes and str(a.tmp).encode() in a_bytes

    handoff = base / "handoff.bin"
    sent = a.ours("send", "--tool", "claude", "--cwd", str(a.repo), "--to", str(handoff))
    assert [s["id"] for s in sent["sessions"]] == [sid]
    assert str(a.repo).encode() not in handoff.read_bytes()  # encrypted

    # -- machine B: receive, then resume from the new path ---------------------------------------
    got = b.ours("receive", "--from", str(handoff), "--cwd", str(b.repo))
    [imp] = got["imported"]
    assert imp["id"] == sid and imp["action"] == "new"
    b_file = b.adapter.projects_dir() / encode_project_dir(str(b.repo)) / f"{sid}.jsonl"
    assert Path(imp["path"]) == b_file
    assert f"claude --resume {sid}" in imp["resume"]
    b_sub = list((b_file.parent / sid / "subagents").glob("agent-*"))
    assert len(b_sub) == 2
    b_placed = b_file.read_bytes()
    placed = b_placed + b"".join(p.read_bytes() for p in b_sub)
    for old in (str(a.repo), str(a.home), str(a.tmp), encode_project_dir(str(a.repo))):
        assert old.encode() not in placed, old
    assert len(b_file.read_bytes().splitlines()) == len(a_bytes.splitlines())

    n_before = len(api.requests)
    assert b.claude("--resume", sid, "next")["session_id"] == sid
    req = _request_for(api, "next")
    assert api.requests.index(req) >= n_before
    users = _user_texts(req)
    assert "hello" in users and "DO_WRITE please" in users and "DO_AGENT please" in users
    assert len(req["body"]["messages"]) >= 8
    raw = req["raw"]
    for old in (str(a.repo), str(a.home), str(a.tmp), encode_project_dir(str(a.repo))):
        assert old.encode() not in raw, f"machine A's {old} reached the API"
    assert str(b.repo).encode() in raw
    b_after = b_file.read_bytes()
    assert b_after.startswith(b_placed) and len(b_after) > len(b_placed)  # the CLI appended to our file
    assert b"FAKE-REPLY" in b_after.split(b"next", 1)[1]
    assert sorted(p.name for p in b_file.parent.glob("*.jsonl")) == [f"{sid}.jsonl"]

    # --continue from B picks the received session (same id, earlier turns sent)
    assert b.claude("--continue", "again")["session_id"] == sid
    users = _user_texts(_request_for(api, "again"))
    assert "hello" in users and "next" in users
    assert sorted(p.name for p in b_file.parent.glob("*.jsonl")) == [f"{sid}.jsonl"]

    # -- round trip: B sends back, A fast-forwards and resumes with B's turns --------------------
    back = base / "back.bin"
    b.ours("send", "--tool", "claude", "--cwd", str(b.repo), "--to", str(back))
    got = a.ours("receive", "--from", str(back), "--cwd", str(a.repo))
    [imp] = got["imported"]
    assert imp["id"] == sid and imp["action"] == "fast-forward", got
    a_now = a_file.read_bytes()
    assert a_now.startswith(a_bytes) and len(a_now) > len(a_bytes)
    assert str(b.repo).encode() not in a_now and str(b.home).encode() not in a_now
    assert a.claude("--resume", sid, "back on A")["session_id"] == sid
    req = _request_for(api, "back on A")
    users = _user_texts(req)
    assert "hello" in users and "next" in users and "again" in users
    assert str(b.repo).encode() not in req["raw"]

    # -- both went on: A's next handoff diverges from B's copy and lands there under a new id ----
    assert b.claude("--resume", sid, "only on B")["session_id"] == sid
    again_file = base / "again.bin"
    a.ours("send", "--tool", "claude", "--cwd", str(a.repo), "--to", str(again_file))
    got = b.ours("receive", "--from", str(again_file), "--cwd", str(b.repo))
    [imp] = got["imported"]
    assert imp["action"] == "copy" and imp["original_id"] == sid and imp["id"] != sid, got
    new = imp["id"]
    copy = b_file.parent / f"{new}.jsonl"
    assert Path(imp["path"]) == copy
    assert sid.encode() not in copy.read_bytes()
    assert sorted(p.name for p in b.adapter.projects_dir().glob("*/*.jsonl")) == sorted(
        [f"{sid}.jsonl", f"{new}.jsonl"])
    assert b.claude("--resume", new, "copy works")["session_id"] == new
    users = _user_texts(_request_for(api, "copy works"))
    assert "back on A" in users and "only on B" not in users
    assert b"only on B" in b_file.read_bytes() and b"copy works" not in b_file.read_bytes()


def test_real_cli_folder_name_for_a_long_non_ascii_path(world: tuple[FakeAnthropic, Path, Path]) -> None:
    """The CLI's own folder for a >200-character cwd with é, 日本 and an emoji equals our encoding."""
    api, base, runtime = world
    long_dir = base / "L" / "café 日本 😀_x.y" / "/".join(f"segment_{i:02d}_abcdefghij" for i in range(10))
    m = ClaudeMachine(base, "M", long_dir, "git@github.com:o/long.git", api, runtime)
    assert len(str(m.repo)) > 200
    sid = m.claude("hello")["session_id"]
    made = [p.parent.name for p in m.adapter.projects_dir().glob(f"*/{sid}.jsonl")]
    assert made == [encode_project_dir(str(m.repo))]
    assert len(made[0]) > 201 and made[0][200] == "-"


def test_windows_origin_session_resumes_on_linux(world: tuple[FakeAnthropic, Path, Path]) -> None:
    """A handoff whose manifest says `os_flavor: "windows"`: a real session made on A, given its Windows
    shape (support.windows_shape: `C:\\Users\\alice\\...`, `%TEMP%\\claude`, Git-Bash and other forms in
    text) and sealed again, received on B and resumed by the real CLI with its history, and no Windows path
    (nothing naming `alice`) reaches the model."""
    from support.windows_shape import WIN_HOME, WIN_TEMP, Shaper, claude_enc, reseal_as_windows

    api, base, runtime = world
    a = ClaudeMachine(base, "A", base / "A" / "src" / "my_app.v2", "git@github.com:o/r.git", api, runtime)
    b = ClaudeMachine(base, "B", base / "B" / "dev" / "Proj B_2", "https://github.com/o/r", api, runtime)
    sid = a.claude("hello")["session_id"]
    assert a.claude("--resume", sid, "--permission-mode", "acceptEdits", "DO_WRITE please")["session_id"] == sid
    handoff, win = base / "handoff.bin", base / "win.bin"
    a.ours("send", "--tool", "claude", "--cwd", str(a.repo), "--to", str(handoff))
    w_root = WIN_HOME + "\\src\\my_app.v2"
    a_tmp = a.adapter.tmp_dir()
    shaper = Shaper({str(a.repo): w_root, str(a.home): WIN_HOME, a_tmp: WIN_TEMP + "\\claude", str(a.tmp): WIN_TEMP},
                    {encode_project_dir(str(a.repo)): claude_enc(w_root)})
    manifest = reseal_as_windows(handoff, win, PASSPHRASE, shaper)
    assert manifest["source"]["os_flavor"] == "windows" and manifest["source"]["repo_root"] == w_root
    assert manifest["sessions"][0]["meta"]["cwd"] == w_root

    [imp] = b.ours("receive", "--from", str(win), "--cwd", str(b.repo))["imported"]
    assert imp["id"] == sid and imp["action"] == "new"
    placed = Path(imp["path"]).read_bytes()
    assert b"alice" not in placed.lower() and str(b.repo).encode() in placed
    assert b.claude("--resume", sid, "next")["session_id"] == sid
    req = _request_for(api, "next")
    users = _user_texts(req)
    assert "hello" in users and "DO_WRITE please" in users
    assert b"alice" not in req["raw"].lower(), "a Windows path of machine A reached the API"
    assert str(b.repo).encode() in req["raw"]


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    p = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False)
    assert p.returncode == 0, (args, p.stderr)
    return p.stdout


def test_resumed_on_b_the_cli_reads_a_file_that_was_only_an_uncommitted_change_on_a(
        world: tuple[FakeAnthropic, Path, Path]) -> None:
    """send --with-changes / receive --with-changes: the real CLI on B, resumed, runs a Read tool call on a
    file that existed only in A's working tree (untracked), and the model gets its bytes."""
    api, base, runtime = world
    remote = base / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    a = ClaudeMachine(base, "A", base / "A" / "app", str(remote), api, runtime)
    (a.repo / "base.txt").write_text("on the remote\n")
    _git(a.repo, "add", "base.txt")
    _git(a.repo, "commit", "-q", "-m", "base")
    _git(a.repo, "push", "-q", "origin", "main")
    b = ClaudeMachine(base, "B", base / "B" / "work" / "app copy", str(remote), api, runtime)
    _git(b.repo, "fetch", "-q", "origin")
    _git(b.repo, "checkout", "-q", "-B", "main", "origin/main")
    # on A: an unpushed commit, and a file that is only an uncommitted change
    (a.repo / "lib.txt").write_text("committed on A, never pushed\n")
    _git(a.repo, "add", "lib.txt")
    _git(a.repo, "commit", "-q", "-m", "lib")
    marker = "WIP-ONLY-ON-A-27182818"
    (a.repo / "wip_notes.md").write_text(f"# notes\n{marker}\n")
    sid = a.claude("hello")["session_id"]

    handoff = base / "handoff.bin"
    sent = a.ours("send", "--tool", "claude", "--cwd", str(a.repo), "--to", str(handoff), "--with-changes")
    assert sent["git"]["carried"] == {"commits": 1, "changes": True, "bytes": sent["git"]["carried"]["bytes"]}
    assert marker.encode() not in handoff.read_bytes() and b"wip_notes" not in handoff.read_bytes()
    got = b.ours("receive", "--from", str(handoff), "--cwd", str(b.repo), "--with-changes")
    assert got["git"]["status"] == "missing" and got["git"]["changes"] == "applied", got["git"]
    assert (b.repo / "wip_notes.md").read_text() == f"# notes\n{marker}\n"
    assert _git(b.repo, "rev-parse", "HEAD") == _git(a.repo, "rev-parse", "HEAD")

    (a.repo / "wip_notes.md").unlink()  # what B's CLI reads can only be B's copy
    n_before = len(api.requests)
    wip = b.repo / "wip_notes.md"
    out = b.claude("--resume", sid, "--allowedTools=Read", f"DO_READ {wip}")
    assert out["session_id"] == sid
    later = api.requests[n_before:]
    results = [blk for r in later for m in (r["body"].get("messages") or []) if m.get("role") == "user"
               and isinstance(m.get("content"), list) for blk in m["content"]
               if isinstance(blk, dict) and blk.get("type") == "tool_result"]
    assert results, "the CLI sent no tool result"
    assert any(marker in json.dumps(blk) for blk in results), results
    uses = [blk for r in later for m in (r["body"].get("messages") or []) if m.get("role") == "assistant"
            and isinstance(m.get("content"), list) for blk in m["content"]
            if isinstance(blk, dict) and blk.get("type") == "tool_use" and blk.get("name") == "Read"]
    assert [u["input"]["file_path"] for u in uses] == [str(wip)], uses
    assert "hello" in _user_texts(_request_for(api, f"DO_READ {wip}"))
