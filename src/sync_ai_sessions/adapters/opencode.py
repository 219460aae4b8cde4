"""OpenCode adapter: sessions that live as rows of an SQLite database.

Where OpenCode keeps a session (facts checked against the real CLI 1.18.33; formats notes, section 3):
  <DATA>/opencode.db   tables session, message, part, todo (the session's own rows), project and
                       project_directory (shared by every session of a repo), event/event_sequence (a sync
                       log that resume does not read), ...
DATA is $XDG_DATA_HOME/opencode, else ~/.local/share/opencode.  A git repo's project id is its first root
commit, so the same repo has the same project on every machine.  A session belongs to the repo its
`session.directory` (where it was started) lies in.

What makes resume work on another machine (proven by tests/opencode/test_opencode_e2e.py with the real
CLI): the session, message and part rows with `session.directory` and every path inside
`message.data` / `part.data` rewritten, plus the project and project_directory rows for this clone when
they are missing.  `run --continue` picks the newest session of the current directory, so a raw copy
(old `directory`) is invisible to it and `run --session` works in the old folder; the event tables are
not needed.

Send reads each session in one read transaction (a consistent snapshot while OpenCode may be writing),
never the whole database, and carries it as one JSON-lines file, `sessions/<id>.jsonl`:
  {"table": "<name>", "row": {column: value, ...}}      parents first: session, project, ..., message, part
Receive turns it into a store operation (`StagedRows`, see `sync_ai_sessions.engine.importer`): one unit per
message (its id and the digest of its data and its parts), so a session that gained messages elsewhere is
fast-forwarded and one that diverged becomes a copy, with new session, message and part ids.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions.adapters.base import (
    ROLE_TRANSCRIPT,
    ROW_LATEST,
    ROW_OWN,
    ROW_SHARED,
    Adapter,
    ExportFile,
    ImportContext,
    Row,
    Session,
    SessionManifest,
    StagedRows,
    arc_parts,
    is_inside,
)
from sync_ai_sessions.adapters.jsonl import home_rule, iso_time, load_object, moved
from sync_ai_sessions.engine.rewrite import PathRewriter, Rule
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo

_SES_RE = re.compile(r"^ses_[0-9a-f]{12}[0-9A-Za-z]{14}$")
_ID_RE = re.compile(r"\b(?:ses|msg|prt)_[0-9a-f]{12}[0-9A-Za-z]{14}\b")
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# table -> (primary key, how an existing row is treated).  Only these tables are ever written.
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "session": (("id",), ROW_LATEST),
    "project": (("id",), ROW_SHARED),
    "project_directory": (("project_id", "directory"), ROW_SHARED),
    "message": (("id",), ROW_OWN),
    "part": (("id",), ROW_OWN),
    "todo": (("session_id", "position"), ROW_LATEST),
}
_MAX_LINE = 64 << 20


def _new_id(prefix: str, old: str, seed: str) -> str:
    """An OpenCode id for a copy: the same time part as `old` (so the order is kept), a fresh random part."""
    digest = int.from_bytes(hashlib.sha256(f"{seed}\n{old}".encode()).digest(), "big")
    tail = ""
    for _ in range(14):
        digest, r = divmod(digest, 62)
        tail += _B62[r]
    return f"{prefix}_{old[4:16]}{tail}"


def units_of(messages: list[tuple[str, str]], parts: Mapping[str, list[tuple[str, str]]]) -> list[str]:
    """One unit per message, in order: its id and the digest of its data and its parts' ids and data."""
    out = []
    for mid, data in messages:
        h = hashlib.sha256(data.encode())
        for pid, pdata in parts.get(mid, []):
            h.update(b"\0" + pid.encode() + b"\0" + pdata.encode())
        out.append(f"{mid}:{h.hexdigest()[:32]}")
    return out


class OpenCodeAdapter(Adapter):
    name = "opencode"
    display_name = "OpenCode"

    # -- locations ---------------------------------------------------------------------------
    def home(self) -> Path:
        xdg = self.env.get("XDG_DATA_HOME")
        base = Path(os.path.abspath(os.path.expanduser(xdg))) if xdg else self.user_home() / ".local" / "share"
        return base / "opencode"

    def db_path(self) -> Path:
        return self.home() / "opencode.db"

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection | None]:
        """A read-only connection inside one read transaction (a consistent snapshot), or None."""
        db = self.db_path()
        if not db.is_file():
            yield None
            return
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("BEGIN")
            yield con
        finally:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            con.close()

    # -- send side ---------------------------------------------------------------------------
    def find_sessions(self, repo: Repo) -> list[Session]:
        root = os.path.realpath(repo.root)
        sessions: list[Session] = []
        try:
            with self._read() as con:
                if con is None:
                    return []
                rows = con.execute("SELECT * FROM session ORDER BY time_updated DESC, id").fetchall()
                mine = [dict(r) for r in rows if isinstance(r["directory"], str) and is_inside(r["directory"], root)]
                if not mine:
                    return []
                out_dir = self._export_dir()
                for s in mine:
                    sessions.append(self._export(con, s, root, out_dir))
        except sqlite3.Error as exc:
            from sync_ai_sessions.errors import IOFailure

            raise IOFailure(f"cannot read the OpenCode database {self.db_path()}: {exc}") from None
        return sessions

    def _export_dir(self) -> Path:
        from sync_ai_sessions.config import config_dir, private_dir

        d = Path(tempfile.mkdtemp(prefix="opencode-", dir=private_dir(private_dir(config_dir(self.env)) / "staging")))
        atexit.register(shutil.rmtree, d, True)
        return d

    def _export(self, con: sqlite3.Connection, s: dict[str, Any], root: str, out_dir: Path) -> Session:
        sid = s["id"]
        path = out_dir / f"{sid}.jsonl"
        n = 0
        first_prompt: str | None = None
        with open(path, "w", encoding="utf-8") as out:
            def put(table: str, row: Any) -> None:
                nonlocal n
                out.write(json.dumps({"table": table, "row": dict(row)}, ensure_ascii=False) + "\n")
                n += 1

            put("session", s)
            proj = con.execute("SELECT * FROM project WHERE id = ?", (s["project_id"],)).fetchone()
            if proj is not None:
                put("project", proj)
            for pd in con.execute("SELECT * FROM project_directory WHERE project_id = ?", (s["project_id"],)):
                if isinstance(pd["directory"], str) and is_inside(pd["directory"], root):
                    put("project_directory", pd)
            msgs = con.execute("SELECT * FROM message WHERE session_id = ? ORDER BY time_created, id", (sid,))
            for m in msgs.fetchall():
                put("message", m)
                for p in con.execute("SELECT * FROM part WHERE message_id = ? ORDER BY id", (m["id"],)):
                    put("part", p)
                    if first_prompt is None and '"type":"text"' in p["data"]:
                        d = load_object(p["data"].encode())
                        md = load_object(m["data"].encode()) or {}
                        if d and md.get("role") == "user" and isinstance(d.get("text"), str) and d["text"].strip():
                            first_prompt = " ".join(d["text"].split())[:200]
            for t in con.execute("SELECT * FROM todo WHERE session_id = ? ORDER BY position", (sid,)):
                put("todo", t)
        directory = s["directory"]
        rel = os.path.relpath(directory, root) if directory != root else ""
        rel = "" if rel == "." else rel.replace(os.sep, "/")
        updated = s.get("time_updated")
        return Session(
            id=sid,
            files=[ExportFile(f"sessions/{sid}.jsonl", path, path.stat().st_size, ROLE_TRANSCRIPT)],
            cwd_rel=rel,
            title=s.get("title") or first_prompt,
            last_activity=iso_time(None, updated / 1000 if isinstance(updated, int | float) else path.stat().st_mtime),
            lines=n,
            tool_version=s.get("version") if isinstance(s.get("version"), str) else None,
            meta={"cwd": directory, "project_id": s["project_id"]},
        )

    def export_meta(self) -> dict[str, Any]:
        return {"data_dir": str(self.home()), "home": str(self.user_home())}

    def tool_version(self) -> str | None:
        try:
            with self._read() as con:
                if con is None:
                    return None
                r = con.execute("SELECT version FROM session ORDER BY time_updated DESC LIMIT 1").fetchone()
        except sqlite3.Error:
            return None
        return r[0] if r is not None else None

    def session_count(self) -> int | None:
        try:
            with self._read() as con:
                return 0 if con is None else con.execute("SELECT count(*) FROM session").fetchone()[0]
        except sqlite3.Error:
            return None

    # -- receive side ------------------------------------------------------------------------
    def find_existing(self, session_id: str, ctx: ImportContext | None = None) -> Path | None:
        if not _SES_RE.match(session_id or ""):
            return None
        try:
            with self._read() as con:
                if con is not None and con.execute("SELECT 1 FROM session WHERE id = ?", (session_id,)).fetchone():
                    return self.db_path()
        except sqlite3.Error:
            return None
        return None

    def store_units(self, con: Any, session_id: str) -> list[str] | None:
        if con.execute("SELECT 1 FROM session WHERE id = ?", (session_id,)).fetchone() is None:
            return None
        msgs = [(r[0], r[1]) for r in con.execute(
            "SELECT id, data FROM message WHERE session_id = ? ORDER BY time_created, id", (session_id,))]
        parts: dict[str, list[tuple[str, str]]] = {}
        for mid, pid, data in con.execute(
                "SELECT message_id, id, data FROM part WHERE session_id = ? ORDER BY message_id, id", (session_id,)):
            parts.setdefault(mid, []).append((pid, data))
        return units_of(msgs, parts)

    def new_session_id(self, seed: str | None = None) -> str:
        old = (seed or "").split("\n", 1)[0]
        if not _SES_RE.match(old):
            old = "ses_" + os.urandom(6).hex() + "0" * 14
        return _new_id("ses", old, seed or os.urandom(16).hex())

    def _rewriter(self, session: SessionManifest, ctx: ImportContext, target_cwd: Path) -> PathRewriter:
        src = ctx.source
        meta = src.adapter_meta or {}
        rules = moved(session, ctx, target_cwd).rules()
        old_data = src.tool_home or meta.get("data_dir")
        if isinstance(old_data, str) and old_data:
            rules.append(Rule(old_data, str(self.home())))
        rules += home_rule(src.home or meta.get("home"), str(self.user_home()))
        return PathRewriter(rules, source_flavor=src.os_flavor,
                            target_flavor=ctx.target_flavor)

    def stage(
        self,
        session: SessionManifest,
        files: Mapping[str, Path],
        ctx: ImportContext,
        new_id: str | None = None,
    ) -> StagedRows:
        sid = session.id
        if not _SES_RE.match(sid or "") or (new_id is not None and not _SES_RE.match(new_id)):
            raise UnsafePayloadError(f"refusing unsafe session id in the payload: {sid!r}")
        arcs = [str(f.get("arcname", "")) for f in session.files]
        if arcs != [f"sessions/{sid}.jsonl"] or arc_parts(arcs[0]) != ["sessions", f"{sid}.jsonl"]:
            raise UnsafePayloadError(f"unexpected files in an OpenCode session: {arcs!r}")
        src = files.get(arcs[0])
        if src is None:
            raise UnsafePayloadError(f"session {sid} has no rows in the payload")
        target_cwd = self.target_cwd(session, ctx)
        root = str(Path(os.path.realpath(ctx.target.root)))
        rewriter = self._rewriter(session, ctx, target_cwd)
        ids: dict[str, str] = {}
        if new_id is not None:
            ids[sid] = new_id
        rows: list[Row] = []
        with open(src, encoding="utf-8") as fh:
            for line in fh:
                if len(line) > _MAX_LINE:
                    raise UnsafePayloadError("an OpenCode row in the payload is too large")
                rec = load_object(line.encode())
                table = rec.get("table") if rec else None
                row = rec.get("row") if rec else None
                if table not in TABLES or not isinstance(row, dict) or not all(
                    isinstance(k, str) and isinstance(v, str | int | float | type(None)) for k, v in row.items()
                ):
                    raise UnsafePayloadError(f"unexpected row in the OpenCode session {sid}")
                key, mode = TABLES[table]
                if any(k not in row for k in key):
                    raise UnsafePayloadError(f"a {table} row without its key in the OpenCode session {sid}")
                if table in ("message", "part", "todo") and row.get("session_id") != sid:
                    raise UnsafePayloadError(f"a {table} row of another session in the OpenCode session {sid}")
                if table == "session" and (rows or row.get("id") != sid):
                    raise UnsafePayloadError(f"the OpenCode session {sid} does not start with its own row")
                if table in ("message", "part") and new_id is not None:
                    rid = row["id"]
                    if not _ID_RE.fullmatch(rid or ""):
                        raise UnsafePayloadError(f"refusing unsafe {table} id in the payload: {rid!r}")
                    ids[rid] = _new_id(rid[:3], rid, new_id)
                rows.append(Row(table, key, {k: self._rewrite_value(rewriter, v) for k, v in row.items()}, mode))
        if not rows:
            raise UnsafePayloadError(f"session {sid} has no rows in the payload")
        if ids:
            pattern = re.compile("|".join(re.escape(k) for k in sorted(ids, key=len, reverse=True)))
            for r in rows:
                r.values = {k: pattern.sub(lambda m: ids[m.group(0)], v) if isinstance(v, str) else v
                            for k, v in r.values.items()}
        rel = os.path.relpath(str(target_cwd), root)
        for r in rows:
            if r.table == "session":
                r.values["directory"] = str(target_cwd)
                r.values["path"] = "" if rel == "." else rel.replace(os.sep, "/")
            elif r.table == "project":
                r.values["worktree"] = root
        messages = [(r.values["id"], r.values.get("data") or "") for r in rows if r.table == "message"]
        parts: dict[str, list[tuple[str, str]]] = {}
        for r in sorted((r for r in rows if r.table == "part"), key=lambda r: r.values["id"]):
            parts.setdefault(r.values.get("message_id") or "", []).append((r.values["id"], r.values.get("data") or ""))
        out_id = new_id or sid
        return StagedRows(session_id=out_id, original_id=sid, db=self.db_path(), units=units_of(messages, parts),
                          rows=rows, resume_cwd=target_cwd)

    @staticmethod
    def _rewrite_value(rewriter: PathRewriter, v: Any) -> Any:
        """Paths in a column: JSON documents are rewritten as they are, plain text as a JSON string."""
        if not isinstance(v, str) or not rewriter.active:
            return v
        if v[:1] in ("{", "["):
            return rewriter.rewrite(v.encode("utf-8")).decode("utf-8")
        return json.loads(rewriter.rewrite(json.dumps(v, ensure_ascii=False).encode("utf-8")))

    def resume_command(self, session_id: str) -> str:
        return f"opencode --session {session_id}"

