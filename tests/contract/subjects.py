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
import sqlite3
import tempfile
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
    # For a tool whose sessions live in a database (OpenCode): `view(tree)` is what the suite compares of a
    # home's files (a canonical dump of the database's rows instead of its pages), and
    # `session_bytes(db, id)` is the session's transcript as bytes in order (its rows), so that "A's bytes
    # kept as the prefix" means "A's rows kept, new rows after them". None: files compared as they are.
    # ready(home): the tool has run once on a receiving machine (OpenCode refuses to create its database)
    ready: Callable[[Path], None] = lambda home: None
    view: Callable[[dict[str, bytes | None]], dict[str, bytes | None]] | None = None
    session_bytes: Callable[[Path, str], bytes] | None = None


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


# -- OpenCode: rows of <XDG_DATA_HOME>/opencode/opencode.db (schema of 1.18.33, its real export) -----------
_OC = fixtures_dir() / "opencode" / "1.18.33"
_OC_PROJECT = "/home/alice/src/ocproj"
_OC_TABLES = ("project", "project_directory", "session", "message", "part", "todo")


def _oc_ready(home: Path) -> None:
    """An empty database of OpenCode's schema, as its first start leaves it."""
    db = home / ".local" / "share" / "opencode" / "opencode.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    con.executescript((_OC / "schema.sql").read_text())
    con.execute("PRAGMA journal_mode=WAL")
    con.close()


def _oc_plant(home: Path, repo: Path) -> list[str]:
    pairs = [(_OC_PROJECT, str(repo)), (ALICE, str(home))]
    exp = json.loads(retarget((_OC / "export_machineA.json").read_bytes(), pairs))
    _oc_ready(home)
    con = sqlite3.connect(home / ".local" / "share" / "opencode" / "opencode.db")
    info, t = exp["info"], exp["info"]["time"]
    with con:
        con.execute("insert into project (id, worktree, vcs, time_created, time_updated, sandboxes) "
                    "values (?, ?, 'git', ?, ?, '[]')", (info["projectID"], str(repo), t["created"], t["created"]))
        con.execute("insert into project_directory (project_id, directory, time_created) values (?, ?, ?)",
                    (info["projectID"], str(repo), t["created"]))
        con.execute("insert into session (id, project_id, slug, directory, path, title, version, agent, model, "
                    "permission, time_created, time_updated) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (info["id"], info["projectID"], info["slug"], info["directory"], info["path"], info["title"],
                     info["version"], info["agent"], json.dumps(info["model"]), json.dumps(info["permission"]),
                     t["created"], t["updated"]))
        for m in exp["messages"]:
            mi = {k: v for k, v in m["info"].items() if k not in ("id", "sessionID")}
            made = m["info"]["time"]["created"]
            con.execute("insert into message (id, session_id, time_created, time_updated, data) values (?, ?, ?, ?, ?)",
                        (m["info"]["id"], info["id"], made, made, json.dumps(mi)))
            for pt in m["parts"]:
                pd = {k: v for k, v in pt.items() if k not in ("id", "sessionID", "messageID")}
                con.execute("insert into part (id, message_id, session_id, time_created, time_updated, data) "
                            "values (?, ?, ?, ?, ?, ?)", (pt["id"], m["info"]["id"], info["id"], made, made,
                                                          json.dumps(pd)))
    con.close()
    return [info["id"]]


def _oc_grow(db: Path, sid: str, cwd: Path, text: str) -> None:
    """One user turn as OpenCode writes it: a message row and its text part, the session row touched."""
    con = sqlite3.connect(db)
    with con:
        (last,) = con.execute("select coalesce(max(time_created), 0) from message where session_id = ?",
                              (sid,)).fetchone()
        at = last + 1000
        mid, pid = f"msg_{at:012x}{uuid.uuid4().hex[:14]}", f"prt_{at:012x}{uuid.uuid4().hex[:14]}"
        con.execute("insert into message (id, session_id, time_created, time_updated, data) values (?, ?, ?, ?, ?)",
                    (mid, sid, at, at, json.dumps({"role": "user", "time": {"created": at}, "agent": "build",
                                                   "model": {"providerID": "fake", "modelID": "fake-model"}})))
        con.execute("insert into part (id, message_id, session_id, time_created, time_updated, data) "
                    "values (?, ?, ?, ?, ?, ?)", (pid, mid, sid, at, at, json.dumps({"type": "text", "text": text})))
        con.execute("update session set time_updated = ? where id = ?", (at, sid))
    con.close()


def _oc_rows(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)


def _oc_view(files: dict[str, bytes | None]) -> dict[str, bytes | None]:
    """The home with opencode.db (and its -wal, whose pages are rows of it too) as its rows, table by table."""
    out = {k: v for k, v in files.items() if not k.endswith(("opencode.db-wal", "opencode.db-shm"))}
    for name in [k for k, v in out.items() if k.endswith("opencode.db") and v is not None]:
        with tempfile.TemporaryDirectory() as d:  # a copy: reading must not checkpoint the home's database
            db = Path(d) / "opencode.db"
            db.write_bytes(files[name] or b"")
            if files.get(name + "-wal"):
                Path(d, "opencode.db-wal").write_bytes(files[name + "-wal"] or b"")
            con = sqlite3.connect(db)
            try:
                out[name] = json.dumps({t: sorted(map(list, con.execute(f"select * from {t}")), key=repr)
                                        for t in _OC_TABLES}).encode()
            finally:
                con.close()
    return out


def _oc_session_bytes(db: Path, sid: str) -> bytes:
    con = _oc_rows(db)
    try:
        lines = []
        for mid, mdata in con.execute("select id, data from message where session_id = ? "
                                      "order by time_created, id", (sid,)):
            lines.append(json.dumps([mid, mdata]))
            lines += [json.dumps([pid, pdata]) for pid, pdata in con.execute(
                "select id, data from part where message_id = ? order by id", (mid,))]
        return ("\n".join(lines) + "\n").encode()
    finally:
        con.close()


# Registered adapters the suite cannot run yet, with the reason (each is a debt: give it a Subject).
PENDING: dict[str, str] = {}

SUBJECTS: list[Subject] = [
    Subject("claude", _claude_plant, _claude_grow, frozenset({"projects", "file-history", "agents", "memory"}),
            derived=lambda p: [encode_project_dir(p)]),
    Subject("codex", _codex_plant, _codex_grow,
            frozenset({"sessions", "archived_sessions", "history", "session_index"})),
    Subject("gemini", _gemini_plant, _gemini_grow, frozenset({"chats", "artifacts"}), derived=lambda p: [_sha(p)]),
    Subject("qwen", _qwen_plant, _qwen_grow, frozenset({"chats", "tool-results", "plans"}),
            derived=lambda p: [sanitize_cwd(p)]),
    Subject("copilot", _copilot_plant, _copilot_grow, frozenset({"session-state"})),
    Subject("opencode", _oc_plant, _oc_grow, frozenset({"sessions"}), ready=_oc_ready, view=_oc_view,
            session_bytes=_oc_session_bytes),
    Subject("demo", _demo_plant, _demo_grow, frozenset({"sessions"}), derived=lambda p: [demo_enc(p)]),
]
