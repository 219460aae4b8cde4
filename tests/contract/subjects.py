"""The adapters the contract suite runs against: one `Subject` per name in the adapter registry.

A Subject says only what the suite cannot know about a tool: how to put its real fixture sessions into
a machine's home as if they had been recorded in that machine's clone (`plant`), how to append one
user turn the way the tool does (`grow`), the top-level payload folders the adapter owns (`tops`) and
the strings derived from a project path that must not survive a move (`derived`). Everything else is
the suite's (tests/contract/test_adapter_contract.py), which reaches the adapter only through the
registry and the CLI.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from support.fixtures import fixtures_dir

from sync_ai_sessions.adapters.claude import encode_project_dir
from sync_ai_sessions.adapters.demo import enc as demo_enc
from sync_ai_sessions.adapters.qwen import sanitize_cwd

ALICE = "/home/alice"
NOW = "2026-11-25T09:00:00.000Z"


def js(s: str) -> bytes:
    """`s` as it appears inside a JSON string (paths with a backslash or a quote are escaped)."""
    return json.dumps(s)[1:-1].encode()


def retarget(data: bytes, pairs: list[tuple[str, str]]) -> bytes:
    """The fixture's bytes with each recorded string replaced (longest first: the project before the home)."""
    for old, new in sorted(pairs, key=lambda p: -len(p[0])):
        data = data.replace(js(old), js(new))
    return data


def copy_retargeted(src: Path, dst: Path, pairs: list[tuple[str, str]], rename: Callable[[str], str] = str) -> None:
    """Copy the tree `src` to `dst`, each file retargeted and each relative path passed through `rename`."""
    for p in sorted(src.rglob("*")):
        if p.is_file():
            out = dst / rename(p.relative_to(src).as_posix())
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(retarget(p.read_bytes(), pairs))


def append_line(path: Path, rec: dict) -> None:
    data = path.read_bytes()
    sep = b"" if not data or data.endswith(b"\n") else b"\n"
    path.write_bytes(data + sep + json.dumps(rec, separators=(",", ":")).encode() + b"\n")


@dataclass(frozen=True)
class Subject:
    """One adapter under the contract (see the module docstring; the registry name is `tool`)."""

    tool: str
    # plant(home, repo) -> ids: the tool's real fixture sessions, recorded in `repo`, under `home`
    plant: Callable[[Path, Path], list[str]]
    # grow(transcript, session id, cwd, text): one user turn appended as the tool writes it
    grow: Callable[[Path, str, Path, str], None]
    tops: frozenset[str]  # first components of every arcname the adapter sends
    derived: Callable[[str], list[str]] = lambda path: []  # names the tool derives from a project path
    # test name -> reason, for a contract rule this adapter does not meet yet (run as a strict xfail:
    # the day it passes, the entry must go)
    known_gaps: dict[str, str] = field(default_factory=dict)


# -- Claude Code: projects/<enc(cwd)>/<id>.jsonl (+ <id>/subagents/...), file-history/<id>/... ------------
_CLAUDE_CASES = {  # fixture folder -> project it was recorded in
    "2.1.330-print-subagent": "/home/alice/src/my_app.v2",
    "2.1.330-print-filehistory": "/home/alice/src/proj",
    "2.1.330-interactive": "/home/alice/src/my_app.v2",
    "2.0.77-print": "/home/alice/src/my_app.v2",
}


def _claude_plant(home: Path, repo: Path) -> list[str]:
    ids = []
    for case, project in _CLAUDE_CASES.items():
        src = fixtures_dir() / "claude" / case
        old_enc, new_enc = encode_project_dir(project), encode_project_dir(str(repo))
        pairs = [(project, str(repo)), (old_enc, new_enc), (ALICE, str(home))]
        copy_retargeted(src, home / ".claude", pairs, lambda rel, a=old_enc, b=new_enc: rel.replace(a, b))
        ids += [p.stem for p in (src / "projects" / old_enc).glob("*.jsonl")]
    return ids


def _claude_grow(path: Path, sid: str, cwd: Path, text: str) -> None:
    append_line(path, {"parentUuid": None, "isSidechain": False, "type": "user",
                       "message": {"role": "user", "content": text}, "uuid": str(uuid.uuid4()),
                       "timestamp": NOW, "userType": "external", "cwd": str(cwd), "sessionId": sid,
                       "version": "2.1.330"})


# -- Codex CLI: sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl --------------------------------------------
def _codex_plant(home: Path, repo: Path) -> list[str]:
    ids = []
    for case in ("exec-0.110.0", "exec-0.169.0", "toolcall-0.169.0", "tui-0.169.0"):
        (src,) = (fixtures_dir() / "codex" / case).glob("rollout-*.jsonl")
        dst = home / ".codex" / "sessions" / "2026" / "11" / "24" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(retarget(src.read_bytes(), [("/home/alice/src/projA", str(repo)), (ALICE, str(home))]))
        ids.append(src.stem[-36:])
    # The recording machine's provider (the rollouts say "fake"): a session sent back to it is then
    # rewritten to the very bytes it had, as on a real machine whose sessions match its config.
    (home / ".codex" / "config.toml").write_text('model_provider = "fake"\n')
    return ids


def _codex_grow(path: Path, sid: str, cwd: Path, text: str) -> None:
    append_line(path, {"timestamp": NOW, "type": "response_item",
                       "payload": {"type": "message", "role": "user",
                                   "content": [{"type": "input_text", "text": text}]}})


# -- Gemini CLI: tmp/<slug>/chats/session-<time>-<id8>.jsonl, projects.json, .project_root markers --------
_GEMINI_PROJECT = "/home/alice/src/myproj"


def _sha(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


def _gemini_plant(home: Path, repo: Path) -> list[str]:
    src = fixtures_dir() / "gemini" / "0.61.0" / ".gemini"
    pairs = [(_GEMINI_PROJECT, str(repo)), (_sha(_GEMINI_PROJECT), _sha(str(repo))), (ALICE, str(home))]
    copy_retargeted(src, home / ".gemini", pairs)
    return ["b49d9bf8-a231-4155-b82d-3eb3dd18d73b"]


def _gemini_grow(path: Path, sid: str, cwd: Path, text: str) -> None:
    append_line(path, {"id": uuid.uuid4().hex, "timestamp": NOW, "type": "user", "content": [{"text": text}]})


# -- Qwen Code: projects/<sanitize(cwd)>/chats/<id>.jsonl -------------------------------------------------
_QWEN_PROJECT = "/home/alice/code/qproj"


def _qwen_plant(home: Path, repo: Path) -> list[str]:
    src = fixtures_dir() / "qwen-code" / "0.24.4" / "machineA_session.jsonl"
    sid = "a98cf93e-0d86-48f0-8471-78568b84e303"
    dst = home / ".qwen" / "projects" / sanitize_cwd(str(repo)) / "chats" / f"{sid}.jsonl"
    dst.parent.mkdir(parents=True)
    dst.write_bytes(retarget(src.read_bytes(), [(_QWEN_PROJECT, str(repo)), (ALICE, str(home))]))
    return [sid]


def _qwen_grow(path: Path, sid: str, cwd: Path, text: str) -> None:
    append_line(path, {"uuid": str(uuid.uuid4()), "parentUuid": None, "sessionId": sid, "timestamp": NOW,
                       "type": "user", "provenance": "real_user", "cwd": str(cwd), "version": "0.24.4",
                       "message": {"role": "user", "parts": [{"text": text}]}})


# -- GitHub Copilot CLI: session-state/<id>/events.jsonl, workspace.yaml, checkpoints/, ... ------------------
_COPILOT_PROJECT = "/home/alice/src/cpproj"


def _copilot_plant(home: Path, repo: Path) -> list[str]:
    sid = "6fb20e35-c67e-40f2-b5aa-a0d8b47372d4"
    src = fixtures_dir() / "copilot-cli" / "1.0.102" / "session-state"
    copy_retargeted(src, home / ".copilot" / "session-state" / sid, [(_COPILOT_PROJECT, str(repo)), (ALICE, str(home))])
    return [sid]


def _copilot_grow(path: Path, sid: str, cwd: Path, text: str) -> None:
    append_line(path, {"type": "user.message", "data": {"content": text, "transformedContent": text},
                       "id": str(uuid.uuid4()), "timestamp": NOW, "parentId": None})


# -- demo: the smallest adapter; no real CLI, so a session of its documented shape -------------------------
def _demo_plant(home: Path, repo: Path) -> list[str]:
    d = home / ".sais-demo" / "sessions" / demo_enc(str(repo))
    (d / "demo-1").mkdir(parents=True)
    (d / "demo-1.jsonl").write_text(json.dumps({"cwd": str(repo), "sessionId": "demo-1", "type": "user",
                                                "text": f"edit {repo}/src/app.py"}) + "\n")
    (d / "demo-1" / "notes.txt").write_text(f"notes about {repo}\n")
    return ["demo-1"]


def _demo_grow(path: Path, sid: str, cwd: Path, text: str) -> None:
    append_line(path, {"cwd": str(cwd), "sessionId": sid, "type": "user", "text": text})


# Registered adapters the suite cannot run yet, with the reason (each is a debt: give it a Subject).
PENDING: dict[str, str] = {
    "opencode": "its sessions are rows of opencode.db: the suite compares files byte for byte and grows a "
                "transcript file; it needs a state hook (rows) and a grow that inserts a message "
                "(tests/opencode/test_opencode_store.py covers these rules row by row meanwhile)",
}

SUBJECTS: list[Subject] = [
    Subject("claude", _claude_plant, _claude_grow, frozenset({"projects", "file-history", "agents", "memory"}),
            derived=lambda p: [encode_project_dir(p)]),
    Subject("codex", _codex_plant, _codex_grow,
            frozenset({"sessions", "archived_sessions", "history", "session_index"})),
    Subject("gemini", _gemini_plant, _gemini_grow, frozenset({"chats", "artifacts"}), derived=lambda p: [_sha(p)],
            known_gaps={
                "test_undo_restores_the_exact_bytes":
                    "finalize registers the project (projects.json, tmp/ and history/ .project_root markers) "
                    "outside the journal, so undo leaves them (issue 15 part 1: store operations)",
                "test_a_killed_receive_leaves_nothing_partial":
                    "a receive killed while it holds Gemini's projects.json.lock leaves that lock directory "
                    "(Gemini and receive take it as stale after 10 s)",
            }),
    Subject("qwen", _qwen_plant, _qwen_grow, frozenset({"chats", "tool-results", "plans"}),
            derived=lambda p: [sanitize_cwd(p)]),
    Subject("copilot", _copilot_plant, _copilot_grow, frozenset({"session-state"})),
    Subject("demo", _demo_plant, _demo_grow, frozenset({"sessions"}), derived=lambda p: [demo_enc(p)]),
]
