"""The import engine shared by every adapter: decide on bytes, place atomically, never overwrite.

Why this module stays whole (~700 lines): `Importer` is one state machine (plan -> journal -> apply ->
roll back) whose placing, fast-forward, file-edit and row steps share its op list and its rollback; cut
apart, each piece would need the others' private state.  The decisions (`decide.py`), writes inside a
tool's folder (`place.py`), SQL (`store.py`) and payload intake (`intake.py`) live beside it.

For each session of a verified payload the adapter plans the rewritten files and the engine stages them
(`staging.py`); the engine then compares the staged transcript with the local one holding the same id
(if any):

  identical                     -> skip ("already here")
  local is a strict prefix      -> fast-forward (the session went on elsewhere)
  incoming is a strict prefix   -> skip ("the local copy is newer")
  anything else                 -> copy under a new id (the adapter re-stages with new_id)

New files are hard-linked into place from the staging folder (link() never replaces an existing name);
fast-forwarded files are replaced atomically by a complete new file after checking that the local file
did not change since it was compared.  Every change is journalled ahead of time; a failure rolls back what
this run did, so the tool's home is left exactly as it was (no empty folders either).

Shared files: lines for append-only files (`LineAppend`) are added once per file; a shared document
(`FileEdit`, e.g. Gemini's projects.json) is edited at planning and, when applied, replaced atomically
only if it still holds the bytes the edit was made from, journalled with those bytes for `undo`.  Both go
before any transcript, so that a run killed half-way is completed by the next one.

Store operations (tools that keep sessions in an SQLite database, e.g. OpenCode).  The adapter stages
`StagedRows`: the rows a session needs and its ordered units (one per message).  The engine reads the
local session's units (`Adapter.store_units`) and decides as for files: identical -> skip, local a strict
prefix -> fast-forward (the missing rows are inserted, the session's head row updated), incoming a prefix
-> skip, else a copy under a new id (the adapter re-stages with `new_id`, renaming every id it owns).
All rows of one database are written in ONE transaction (BEGIN IMMEDIATE), after every file operation:
  - the units are read again inside the transaction; if they changed since the decision the import
    stops with a conflict ("changed while importing") and nothing is written;
  - every row written is journalled first ("row-insert" with the row's digest, "row-update" with the old
    values and the new digest), so `undo` deletes exactly the rows inserted and restores the old values,
    and refuses when any of those rows changed since (its digest differs: the session was resumed);
  - a row that is already there is never overwritten: an own row (message, part) must be identical, a
    shared row (project) is left as it is, only the session's head row is updated, on a fast-forward;
  - table and column names come from the adapter's whitelist and the database's own schema, never from
    the payload alone: a column this database does not have refuses the import (a newer tool wrote it);
  - an index table the tool must rebuild (`RowsReset`, e.g. Codex's backfill_state) is emptied in the
    same transaction, each row journalled first ("row-delete" with its old values): `undo` inserts it
    back, and keeps the row when one with its key is there again (the tool re-indexed since: its row is newer).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import sqlite3
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops, shells
from sync_ai_sessions.adapters.base import (
    ROW_LATEST,
    ROW_SHARED,
    Adapter,
    FileEdit,
    ImportContext,
    LineAppend,
    Placement,
    Row,
    RowsReset,
    SessionManifest,
    SessionResult,
    StagedRows,
    StagedSession,
    refuse_unportable,
)
from sync_ai_sessions.engine.decide import DIVERGED, IDENTICAL, INCOMING_PREFIX, LOCAL_PREFIX, relation, units_relation
from sync_ai_sessions.engine.journal import (
    Journal,
    row_digest,
    sha256_file,
)
from sync_ai_sessions.engine.place import check_inside, planning_exists, put_bytes, read_or_none, wait_until_free
from sync_ai_sessions.engine.staging import stage
from sync_ai_sessions.engine.store import (
    comparable,
    delete_row,
    fetch_row,
    insert_row,
    open_store,
    quote_ident,
    table_columns,
    to_journal,
    update_row,
)
from sync_ai_sessions.errors import ConflictError, IOFailure, NotFoundError, UnsafePayloadError

_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]+")


_SID_MARK = "SAIS0SESSION0ID"


def split_resume(cmd: str, session_id: str, cache: dict[str, list[str]]) -> list[str]:
    """`shlex.split(cmd)`, computed once per command shape: a handoff's resume commands differ only by
    the session id (shlex cost 0.1 ms each, a fifth of a no-op receive's per-session time).  An id of
    plain word characters splits the same wherever it stands, so the shape is the command with the id
    replaced by a marker of plain characters, and the id is put back into the tokens."""
    if not session_id or not _PLAIN_ID.fullmatch(session_id) or _SID_MARK in cmd:
        return shlex.split(cmd)
    shape = cmd.replace(session_id, _SID_MARK)
    argv = cache.get(shape)
    if argv is None:
        argv = cache[shape] = shlex.split(shape)
    return [a.replace(_SID_MARK, session_id) for a in argv]


@dataclass
class _Op:
    kind: str  # "create" | "extend" | "append" | "edit"
    dest: Path
    staged: Path | None = None
    old_size: int = 0
    old_mtime: int = 0
    lines: list[bytes] = field(default_factory=list)
    old: bytes | None = None  # "edit": the bytes the edits were made from (None: no file) ...
    new: bytes | None = None  # ... and the bytes it gets
    busy: Path | None = None  # "edit": the tool's lock folder for the file (see FileEdit)




@dataclass
class _StoreOp:
    """The rows one session adds to (or updates in) a database, decided against `expect` (the local
    session's units when compared; None when it had none)."""

    db: Path
    session_id: str
    expect: list[str] | None
    inserts: list[Row] = field(default_factory=list)
    updates: list[tuple[Row, dict[str, Any]]] = field(default_factory=list)  # (new row, old values)


@dataclass
class ImportReport:
    results: list[SessionResult]
    notes: list[str]
    journal: Path | None


class Importer:
    def __init__(self, adapter: Adapter, ctx: ImportContext):
        self.adapter = adapter
        self.ctx = ctx
        self.home = adapter.home()
        self._home_real = Path(os.path.realpath(self.home))
        self._folders: set[str] = set()  # checked to be real folders while planning (see check_inside)
        self._absent: set[str] = set()  # found missing while planning (see check_inside)
        # The staged files' status, taken when planning checks they are there: placing them needs their size
        # and inode, which nothing changes until then (the fresh mtimes change only the mtime).
        self._staged_st: dict[str, os.stat_result] = {}
        self._ops: list[_Op] = []
        self._dests: set[Path] = set()
        self._appends: dict[Path, _Op] = {}  # dest as planned -> its one append op
        self._edits: dict[Path, _Op] = {}  # dest as planned -> its one edit op
        self._planned_sidecars: dict[Path, Path] = {}  # dest -> staged, for sidecars shared by sessions
        self._store_ops: list[_StoreOp] = []
        self._resets: list[RowsReset] = []
        self._stamps: list[tuple[str, list[Path]]] = []  # per planned session: (last_activity, staged files)
        self._planned_rows: dict[tuple[Path, str, str], str] = {}  # (db, table, key) -> digest, across sessions
        self.notes: list[str] = []
        # New files are not fsynced one by one unless asked (`receive --delete`, when the handoff is about
        # to disappear): a crash can then only lose files that are new here, which receiving again
        # restores.  Replacing an existing session (fast-forward) is always made durable first.
        self.durable = bool(ctx.options.get("durable"))
        self._checked: dict[Path, Path] = {}  # dest -> check_inside(dest), for the planning phase
        self._argv_shapes: dict[str, list[str]] = {}
        self._shell: str | None = None

    # -- planning ------------------------------------------------------------------------------
    def _inside(self, dest: Path) -> Path:
        # Planning asks about each file several times (staged, planned, reported); nothing is placed until
        # `apply`, so the first answer holds for the rest of the planning.
        got = self._checked.get(dest)
        if got is None:
            got = self._checked[dest] = check_inside(self.home, dest, home_real=self._home_real,
                                                     folders=self._folders, absent=self._absent)
        return got

    def _add(self, op: _Op) -> None:
        refuse_unportable(op.dest)
        op.dest = self._inside(op.dest)
        if op.kind != "append":
            if op.dest in self._dests:
                raise UnsafePayloadError(f"two files of the handoff would land on {op.dest}")
            self._dests.add(op.dest)
        self._ops.append(op)

    def _plan_file(self, p: Placement, *, primary_action: str) -> None:
        dest = self._inside(p.dest)
        if dest in self._planned_sidecars:
            # Several sessions of one handoff may bring the same shared file (project memory, a tool
            # result a fork and its parent both name): place it once; differing copies keep the first.
            if relation(self._planned_sidecars[dest], p.staged) != IDENTICAL:
                self.notes.append(f"{dest.name} came twice with different contents: kept the first")
            return
        self._planned_sidecars[dest] = p.staged
        if not dest.exists():
            self._add(_Op("create", dest, p.staged))
            return
        rel = relation(dest, p.staged)
        if rel == LOCAL_PREFIX:
            st = os.stat(dest)
            self._add(_Op("extend", dest, p.staged, st.st_size, st.st_mtime_ns))
        elif rel == DIVERGED and primary_action != "skip":
            self.notes.append(f"kept the local {dest.name}: it differs from the incoming one")

    def _plan_appends(self, appends: list[LineAppend]) -> None:
        # One op per shared file for the whole handoff (Codex's history.jsonl gets a line or two from each
        # of thousands of sessions): the file is then read, grown and fsynced once.
        for la in appends:
            if not la.lines:
                continue
            op = self._appends.get(la.dest)
            if op is None:
                op = self._appends[la.dest] = _Op("append", la.dest, lines=[])
                self._add(op)
            op.lines.extend(la.lines)

    def _plan_edits(self, edits: list[FileEdit]) -> None:
        # One op per shared document for the whole handoff: every session's edit applied in turn.
        for fe in edits:
            op = self._edits.get(fe.dest)
            if op is None:
                op = self._edits[fe.dest] = _Op("edit", fe.dest, busy=fe.busy)
                self._add(op)
                op.old = op.new = read_or_none(op.dest)
            op.new = fe.edit(op.new)

    def plan_session(self, sm: SessionManifest, files: Mapping[str, Path],
                     staged: StagedSession | None = None) -> SessionResult:
        """Decide what to do with one session; `staged` is given when it was staged while streaming."""
        first = len(self._ops)
        result = self._plan_session(sm, files, staged)
        placed = [op.staged for op in self._ops[first:] if op.kind in ("create", "extend") and op.staged]
        if placed:
            self._stamps.append((sm.last_activity or "", placed))
        return result

    def _plan_session(self, sm: SessionManifest, files: Mapping[str, Path],
                      staged: StagedSession | None) -> SessionResult:
        streamed = staged is not None
        if staged is None:
            staged = stage(self.adapter, sm, files, self.ctx)
        if isinstance(staged, StagedRows):
            return self._plan_rows(sm, files, staged)
        self._check_staged(staged)
        existing = self.adapter.find_existing(staged.session_id, self.ctx)
        if existing is None and planning_exists(self.ctx, staged.transcript.dest):
            existing = staged.transcript.dest
        action = "new"
        if existing is not None:
            rel = relation(existing, staged.transcript.staged)
            if rel == IDENTICAL:
                return self._result(staged, "skip", existing, "already here: identical")
            if rel == INCOMING_PREFIX:
                return self._result(
                    staged, "skip", existing, "the local copy is newer: it already holds everything in this handoff"
                )
            if rel == LOCAL_PREFIX:
                action = "fast-forward"
                st = os.stat(existing)
                for sc in staged.sidecars:
                    self._plan_file(sc, primary_action=action)
                self._plan_appends(staged.line_appends)
                self._plan_edits(staged.edits)
                # The transcript goes last: it is what the next run compares, so if this run is killed
                # half-way the next one still sees the session as unfinished and places what is missing.
                self._add(_Op("extend", existing, staged.transcript.staged, st.st_size, st.st_mtime_ns))
                return self._result(staged, action, self._inside(existing))
            action = "copy"
            if streamed:  # it was streamed because no local session had its id; one appeared meanwhile
                raise ConflictError(f"the session {sm.id} appeared here while importing; try again")
            new_id = self.adapter.new_session_id(f"{sm.id}\n{sha256_file(staged.transcript.staged)}")
            staged = stage(self.adapter, sm, files, self.ctx, new_id=new_id)
            assert isinstance(staged, StagedSession)
            self._check_staged(staged)
            prior = self.adapter.find_existing(staged.session_id, self.ctx)
            if prior is None and staged.transcript.dest.exists():
                prior = staged.transcript.dest
            if prior is not None:
                # The same diverged session came before and was copied under this same id.
                if relation(prior, staged.transcript.staged) in (IDENTICAL, INCOMING_PREFIX):
                    return self._result(staged, "skip", prior, f"already imported as the copy {staged.session_id}")
                raise ConflictError(f"the id {staged.session_id} for a copy is already taken by another session")
        for sc in staged.sidecars:
            self._plan_file(sc, primary_action=action)
        self._plan_appends(staged.line_appends)
        self._plan_edits(staged.edits)
        self._add(_Op("create", staged.transcript.dest, staged.transcript.staged))  # last: see fast-forward
        reason = f"diverged from the local session {sm.id}: imported as a copy" if action == "copy" else None
        return self._result(staged, action, self._inside(staged.transcript.dest), reason)

    # -- store operations (database-backed tools) ------------------------------------------------
    def _store_db(self, staged: StagedRows) -> Path:
        db = check_inside(self.home, staged.db)
        if not db.is_file():
            raise NotFoundError(
                f"{self.adapter.display_name} has no database at {db} yet: start it once on this machine, "
                "then receive again", code="no_database")
        return db

    def _plan_rows(self, sm: SessionManifest, files: Mapping[str, Path], staged: StagedRows) -> SessionResult:
        db = self._store_db(staged)
        with contextlib.closing(open_store(db)) as con:
            local = self.adapter.store_units(con, staged.session_id)
            action = "new"
            if local is not None:
                rel = units_relation(local, staged.units)
                if rel == IDENTICAL:
                    return self._result(staged, "skip", db, "already here: identical")
                if rel == INCOMING_PREFIX:
                    return self._result(
                        staged, "skip", db, "the local copy is newer: it already holds everything in this handoff")
                action = "fast-forward" if rel == LOCAL_PREFIX else "copy"
            if action == "copy":
                seed = hashlib.sha256("\n".join(staged.units).encode()).hexdigest()
                new_id = self.adapter.new_session_id(f"{sm.id}\n{seed}")
                restaged = stage(self.adapter, sm, files, self.ctx, new_id=new_id)
                assert isinstance(restaged, StagedRows)
                staged = restaged
                db = self._store_db(staged)
                local = self.adapter.store_units(con, staged.session_id)
                if local is not None:
                    if units_relation(local, staged.units) in (IDENTICAL, INCOMING_PREFIX):
                        return self._result(staged, "skip", db, f"already imported as the copy {staged.session_id}")
                    raise ConflictError(f"the id {staged.session_id} for a copy is already taken by another session")
            op = _StoreOp(db, staged.session_id, local)
            known: dict[str, list[str]] = {}
            for row in staged.rows:
                cols = known.get(row.table)
                if cols is None:
                    cols = known[row.table] = table_columns(con, row.table)
                extra = [c for c in row.values if c not in cols]
                if not cols or extra:
                    what = f"column {extra[0]} in table {row.table}" if extra else f"table {row.table}"
                    raise ConflictError(
                        f"this {self.adapter.display_name} database has no {what}: the handoff was made by "
                        "another version; update it on both machines", code="schema")
                existing = fetch_row(con, row)
                if existing is None:
                    # Several sessions of one handoff may bring the same shared row (their project): once.
                    pk = (db, row.table, json.dumps([row.values[k] for k in row.key]))
                    digest = row_digest(row.values)
                    if pk in self._planned_rows:
                        if row.mode == ROW_SHARED or self._planned_rows[pk] == digest:
                            continue
                        raise UnsafePayloadError(f"two sessions of the handoff bring different {row.table} rows "
                                                 f"{[row.values[k] for k in row.key]}")
                    self._planned_rows[pk] = digest
                    op.inserts.append(row)
                elif row.mode == ROW_SHARED or row_digest(comparable(existing, row)) == row_digest(row.values):
                    continue
                elif row.mode == ROW_LATEST and action == "fast-forward":
                    op.updates.append((row, comparable(existing, row)))
                else:
                    raise ConflictError(f"{row.table} row {[row.values[k] for k in row.key]} is already in "
                                        f"{db.name} with other contents; nothing was written")
        if op.inserts or op.updates:
            self._store_ops.append(op)
        reason = f"diverged from the local session {sm.id}: imported as a copy" if action == "copy" else None
        return self._result(staged, action, db, reason)

    def plan_resets(self, resets: list[RowsReset]) -> None:
        """Plan the adapter's index resets: those whose table is there and holds rows."""
        for rs in resets:
            if not rs.db.is_file():
                continue
            with contextlib.closing(open_store(rs.db)) as con:
                try:
                    if con.execute(f"SELECT 1 FROM {quote_ident(rs.table)} LIMIT 1").fetchone() is None:
                        continue
                except sqlite3.OperationalError:  # no such table (another version of the tool)
                    continue
            self._resets.append(rs)

    def _reset_rows(self, con: sqlite3.Connection, db: Path, journal: Journal) -> None:
        for rs in self._resets:
            if rs.db != db:
                continue
            info = list(con.execute(f"PRAGMA table_info({quote_ident(rs.table)})"))
            pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] or [r[1] for r in info]
            rows = [dict(r) for r in con.execute(f"SELECT * FROM {quote_ident(rs.table)}")]
            for old in rows:  # read inside the transaction: exactly what is deleted is journalled
                key = {k: old[k] for k in pk}
                journal.record(op="row-delete", path=str(db), table=rs.table, key=to_journal(key),
                               old=to_journal(old))
                delete_row(con, rs.table, key)
            if rows and rs.note:
                self.notes.append(rs.note)

    def _apply_store(self, journal: Journal) -> None:
        """Write every planned row, one transaction per database; journalled before each write."""
        by_db: dict[Path, list[_StoreOp]] = {}
        for op in self._store_ops:
            by_db.setdefault(op.db, []).append(op)
        for rs in self._resets:
            by_db.setdefault(rs.db, [])
        for db, ops in by_db.items():
            con = open_store(db, write=True)
            try:
                con.execute("BEGIN IMMEDIATE")
                journal.record(op="db", path=str(db))
                for op in ops:
                    if self.adapter.store_units(con, op.session_id) != op.expect:
                        raise ConflictError(f"the session {op.session_id} changed while importing (is it open?); "
                                            "try again")
                    for row in op.inserts:
                        journal.record(op="row-insert", path=str(db), table=row.table,
                                       key={k: row.values[k] for k in row.key}, cols=list(row.values),
                                       digest=row_digest(row.values))
                        try:
                            insert_row(con, row)
                        except sqlite3.IntegrityError as exc:
                            raise ConflictError(f"{row.table} row appeared while importing ({exc}); "
                                                "nothing was written") from None
                    for row, old in op.updates:
                        key = {k: row.values[k] for k in row.key}
                        now = fetch_row(con, row)
                        if now is None or row_digest(comparable(now, row)) != row_digest(old):
                            raise ConflictError(f"the session {op.session_id} changed while importing; try again")
                        journal.record(op="row-update", path=str(db), table=row.table, key=key, old=old,
                                       digest=row_digest(row.values))
                        update_row(con, row.table, key, row.values)
                self._reset_rows(con, db, journal)
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and (
                        getattr(exc, "sqlite_errorcode", None) in (5, 6) or "locked" in str(exc)):  # BUSY, LOCKED
                    raise ConflictError(f"{db} is busy (is {self.adapter.display_name} running?): nothing was "
                                        "imported; try again when it is idle", code="locked") from exc
                raise
            finally:
                con.close()

    def _check_staged(self, staged: StagedSession) -> None:
        for p in [staged.transcript, *staged.sidecars]:
            self._inside(p.dest)
            try:
                st = os.stat(p.staged)
            except (OSError, ValueError):
                st = None
            if st is None or not stat.S_ISREG(st.st_mode):
                raise IOFailure(f"adapter staged no file for {p.dest.name}")
            self._staged_st[str(p.staged)] = st

    def _result(self, staged: StagedSession | StagedRows, action: str, path: Path | None, reason: str | None = None
                ) -> SessionResult:
        argv = split_resume(staged.resume or self.adapter.resume_command(staged.session_id), staged.session_id,
                            self._argv_shapes)
        if action != "skip":
            self.notes.extend(staged.notes)
        if self._shell is None:
            self._shell = shells.user_shell(self.ctx.env)
        shell = self._shell
        if staged.resume_cwd is None:
            cmd = shells.join(argv, shell)
        else:
            cmd = shells.in_folder(str(staged.resume_cwd), argv, shell)
        return SessionResult(id=staged.session_id, original_id=staged.original_id, action=action, path=path,
                             reason=reason, resume=cmd)

    # -- applying ------------------------------------------------------------------------------
    def apply(self, journal: Journal) -> None:
        """Make the planned changes, in plan order, journalled ahead.

        Per-file work is batched: the missing folders of all files are journalled in one record write and
        made first; each run of consecutive new files is journalled in one write (one fsync), linked into
        place, and then each folder that received files is fsynced once.  Lines for shared files go
        before any transcript (each session's must be in place before the transcript that the next run
        compares), one append per file.  Fast-forwards stay one at a time (each replaces a session that was
        already here)."""
        done: list[tuple[str, Any]] = []
        self._fresh_mtimes()
        try:
            self._mkdirs([op.dest.parent for op in self._ops], journal, done)
            for op in self._ops:
                if op.kind == "append":
                    self._append(op, journal, done)
                elif op.kind == "edit":
                    self._edit(op, journal, done)
            ops = [op for op in self._ops if op.kind not in ("append", "edit")]
            i = 0
            while i < len(ops):
                op = ops[i]
                if op.kind == "create":
                    j = i
                    while j < len(ops) and ops[j].kind == "create":
                        j += 1
                    self._create_run(ops[i:j], journal, done)
                    i = j
                    continue
                self._extend(op, journal, done)
                i += 1
            # Rows last, in one transaction per database: if it fails, the files above are rolled back too.
            self._apply_store(journal)
        except BaseException:
            self._rollback(done)
            raise

    def _fresh_mtimes(self) -> None:
        """Give every session's placed files a fresh mtime, in the order of the sessions' last activity
        (the newest session's files the latest time, one second apart): tools that "continue the latest
        session" pick by mtime (Copilot's and Claude's `--continue`), and Claude sweeps transcripts older
        than cleanupPeriodDays by it.  Set on the staged files before anything is placed, since placing
        links them (their inode, and so their mtime, is what lands; a copy takes it over), so nothing in
        the tool's home is touched after the journal recorded it."""
        now = time.time_ns()
        order = sorted(self._stamps, key=lambda s: s[0])  # ISO-8601 UTC, as the pickers sort; stable on ties
        for rank, (_, staged) in enumerate(order):
            t = now - (len(order) - 1 - rank) * 1_000_000_000
            for p in staged:
                os.utime(p, ns=(t, t))

    def _mkdirs(self, folders: list[Path], journal: Journal, done: list[tuple[str, Any]]) -> None:
        missing: list[Path] = []  # parents before children
        known: set[Path] = set()
        for folder in folders:
            chain: list[Path] = []
            cur = folder
            while cur not in known and not cur.exists():
                chain.append(cur)
                known.add(cur)
                cur = cur.parent
            known.add(cur)
            missing.extend(reversed(chain))
        journal.record_many([{"op": "mkdir", "path": str(d)} for d in missing])
        for d in missing:
            d.mkdir()
            done.append(("mkdir", d))
        for parent in dict.fromkeys(d.parent for d in missing):
            osops.fsync_dir(parent)

    def _link_or_copy(self, src: Path, dest: Path, journal: Journal, done: list[tuple[str, Any]], *,
                      final: Path, durable: bool) -> None:
        """Make `dest` (which must not exist) hold the bytes of `src`, atomically, never replacing.

        `final` is the path the journal knows the file by (`dest` itself, or the file a temporary will
        replace).  With `durable`, the bytes reach the disk before the name appears.
        """
        if durable:
            osops.fsync_file(src)
        try:
            if osops.hardlink(src, dest):
                return
        except FileExistsError:
            raise ConflictError(f"{dest} appeared while importing; nothing of it was overwritten") from None
        # Any refusal to link (no hard links on FAT/exFAT/SMB, a cross-device staging folder, an antivirus
        # holding the file): copy into a temporary beside `dest`, then give it the name without replacing.
        tmp = dest.with_name(f".sais-{os.urandom(4).hex()}.partial")
        journal.record(op="temp", path=str(tmp))
        done.append(("temp", tmp))
        shutil.copyfile(src, tmp)
        st = os.stat(src)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))  # as a link would (see _fresh_mtimes)
        if durable:
            osops.fsync_file(tmp)
        journal.record(op="inode", path=str(final), ino=os.stat(tmp).st_ino)
        try:
            if osops.hardlink(tmp, dest):
                osops.remove(tmp)
                return
            osops.rename_noreplace(tmp, dest)
        except FileExistsError:
            raise ConflictError(f"{dest} appeared while importing; nothing of it was overwritten") from None

    def _create_run(self, ops: list[_Op], journal: Journal, done: list[tuple[str, Any]]) -> None:
        recs = []
        for op in ops:
            assert op.staged is not None
            st = self._staged_st.get(str(op.staged)) or os.stat(op.staged)
            # The file is known by its size and inode (the staged file's, which link() keeps): enough for
            # `undo` to see it was resumed (appended) or replaced since, without reading it again.
            recs.append({"op": "create", "path": str(op.dest), "size": st.st_size, "ino": st.st_ino})
        journal.record_many(recs)
        for op in ops:
            assert op.staged is not None
            self._link_or_copy(op.staged, op.dest, journal, done, final=op.dest, durable=self.durable)
            done.append(("create", op.dest))
        for folder in dict.fromkeys(op.dest.parent for op in ops):
            osops.fsync_dir(folder)

    def _extend(self, op: _Op, journal: Journal, done: list[tuple[str, Any]]) -> None:
        assert op.staged is not None
        st = os.stat(op.dest)
        if st.st_size != op.old_size or st.st_mtime_ns != op.old_mtime:
            raise ConflictError(f"{op.dest} changed while importing (is the session open?); try again")
        new = os.stat(op.staged)
        tmp = op.dest.with_name(f".sais-{os.urandom(4).hex()}.partial")
        journal.record(op="temp", path=str(tmp))
        journal.record(op="extend", path=str(op.dest), old_size=op.old_size, size=new.st_size, ino=new.st_ino)
        # Always durable: this replaces a session that was already here.
        self._link_or_copy(op.staged, tmp, journal, done, final=op.dest, durable=True)
        done.append(("temp", tmp))
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        st2 = os.stat(op.dest)
        if st2.st_size != op.old_size or st2.st_mtime_ns != op.old_mtime:
            raise ConflictError(f"{op.dest} changed while importing (is the session open?); try again")
        osops.replace(tmp, op.dest)
        done.append(("extend", (op.dest, op.old_size)))
        osops.fsync_dir(op.dest.parent)

    def _append(self, op: _Op, journal: Journal, done: list[tuple[str, Any]]) -> None:
        have: set[bytes] = set()
        old_size = 0
        needs_nl = False
        if op.dest.exists():
            data = op.dest.read_bytes()
            old_size = len(data)
            have = set(data.splitlines())
            needs_nl = bool(data) and not data.endswith(b"\n")
        new = [ln for ln in op.lines if ln not in have]
        if not new:
            return
        blob = (b"\n" if needs_nl else b"") + b"\n".join(new) + b"\n"
        journal.record(op="append", path=str(op.dest), old_size=old_size, size=old_size + len(blob))
        fd = osops.open_fd(op.dest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        done.append(("append", (op.dest, old_size)))
        try:
            view = memoryview(blob)
            while view:  # one append for the whole handoff may be large: write all of it
                view = view[os.write(fd, view):]
            osops.fsync(fd)
        finally:
            os.close(fd)

    def _edit(self, op: _Op, journal: Journal, done: list[tuple[str, Any]]) -> None:
        if op.new == op.old:
            return
        assert op.new is not None
        if op.busy is not None:
            wait_until_free(op.busy, op.dest)
        if read_or_none(op.dest) != op.old:
            raise ConflictError(f"{op.dest} changed while importing (is the tool running?); try again")
        tmp = op.dest.with_name(f".sais-{os.urandom(4).hex()}.partial")
        journal.record(op="temp", path=str(tmp))
        journal.record(op="edit", path=str(op.dest), old=None if op.old is None else base64.b64encode(op.old).decode(),
                       size=len(op.new), sha256=hashlib.sha256(op.new).hexdigest())
        mode = stat.S_IMODE(os.stat(op.dest).st_mode) if op.old is not None else 0o644
        fd = osops.open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        done.append(("temp", tmp))
        with os.fdopen(fd, "wb") as fh:
            fh.write(op.new)
            fh.flush()
            osops.fsync(fh.fileno())
        if op.old is None:  # a new file: take the name without replacing one that appeared meanwhile
            try:
                if osops.hardlink(tmp, op.dest):
                    osops.remove(tmp)
                else:
                    osops.rename_noreplace(tmp, op.dest)
            except FileExistsError:
                raise ConflictError(f"{op.dest} appeared while importing; try again") from None
        else:
            if read_or_none(op.dest) != op.old:
                raise ConflictError(f"{op.dest} changed while importing (is the tool running?); try again")
            osops.replace(tmp, op.dest)
        done.append(("edit", (op.dest, op.old, mode)))  # a rollback gives the old file its mode back too
        osops.fsync_dir(op.dest.parent)

    @staticmethod
    def _rollback(done: list[tuple[str, Any]]) -> None:
        for kind, what in reversed(done):
            with contextlib.suppress(OSError):
                if kind in ("create", "temp"):
                    Path(what).unlink(missing_ok=True)
                elif kind in ("extend", "append"):
                    path, old_size = what
                    if kind == "append" and old_size == 0:
                        Path(path).unlink(missing_ok=True)
                    else:
                        os.truncate(path, old_size)
                elif kind == "edit":
                    dest, old, mode = what
                    put_bytes(dest, old, mode=mode)
                elif kind == "mkdir":
                    Path(what).rmdir()

    @property
    def has_changes(self) -> bool:
        return (any(op.kind != "edit" or op.new != op.old for op in self._ops) or bool(self._store_ops)
                or bool(self._resets))
