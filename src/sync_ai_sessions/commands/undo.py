"""`undo`: revert the last import exactly, or refuse if any of its files or database rows changed since.

What `receive --with-changes` did to git (journal records `{"op": "git"}`) is checked and reverted by
`sync_ai_sessions.gitreceive` first: branches it created or moved, the switch, the changes it applied.

Files are truncated or removed, a shared document an import edited (`FileEdit`) gets its old bytes back;
database rows (store operations, see `sync_ai_sessions.engine.importer`) are deleted, given back their old
values, or (an index row the import deleted) inserted back, in one transaction per database, after
checking every row, so either the whole import is reverted or nothing is.  A database is never created:
an index whose database or table is gone since is the tool's to rebuild (nothing to put back); a
database the import wrote rows to that is gone refuses the undo ("changed since").
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions import gitreceive, osops
from sync_ai_sessions.config import config_dir, private_dir
from sync_ai_sessions.engine.journal import import_lock, latest_journal, read_journal, row_digest, sha256_file
from sync_ai_sessions.engine.place import put_bytes
from sync_ai_sessions.engine.store import delete_row, from_journal, open_store, quote_ident, update_row, where_key
from sync_ai_sessions.errors import ConflictError
from sync_ai_sessions.results import Reverted, UndoResult
from sync_ai_sessions.ui import UI

_ROW_OPS = ("row-insert", "row-update", "row-delete")


def _row_now(con: Any, op: dict[str, Any]) -> dict[str, Any] | None:
    key = op["key"]
    where = where_key(key)
    r = con.execute(f"SELECT * FROM {quote_ident(op['table'])} WHERE {where}", list(key.values())).fetchone()
    return dict(r) if r is not None else None


def _row_digest_now(con: Any, op: dict[str, Any]) -> str | None:
    """The digest of the row `op` wrote, over the columns it wrote (None when the row is gone)."""
    now = _row_now(con, op)
    if now is None:
        return None
    cols = op["cols"] if op["op"] == "row-insert" else list(op["old"])
    return row_digest({k: now.get(k) for k in cols})


def _row_problem(con: Any, op: dict[str, Any]) -> str | None:
    if op["op"] == "row-delete":  # an index row we deleted (a tool's "indexed up to here" bookkeeping)
        return None  # there again means the tool re-indexed since: its own row is newer, so undo keeps it
    if _row_digest_now(con, op) != op["digest"]:
        return f"a {op['table']} row of {op['path']} changed since it was imported (was the session resumed?)"
    return None


def _index_gone(op: dict[str, Any], cache: dict[tuple[str, str], bool]) -> bool:
    """The database or table of an index row we deleted is no longer there (the user removed it, a newer
    tool dropped it): the tool rebuilds its index, so there is nothing to put back."""
    key = (op["path"], op["table"])
    if key not in cache:
        db = Path(op["path"])
        cache[key] = not db.is_file()
        if not cache[key]:
            with contextlib.suppress(sqlite3.Error), contextlib.closing(open_store(db)) as con:  # read-only
                cache[key] = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                         [op["table"]]).fetchone() is None
    return cache[key]


def _row_never_done(con: Any, op: dict[str, Any]) -> bool:
    """An interrupted import's row that its transaction never committed."""
    now = _row_digest_now(con, op)
    if op["op"] == "row-insert":
        return now is None
    return now == row_digest(op["old"])  # an update or delete not committed: the old row is as it was


def _changed(op: dict[str, Any], inodes: dict[str, int]) -> str | None:
    p = Path(op["path"])
    kind = op["op"]
    if kind in ("create", "extend"):
        if not p.is_file():
            return f"{p} is gone"
        st = p.stat()
        ino = inodes.get(op["path"], op.get("ino"))
        if (st.st_size != op["size"] or ("sha256" in op and sha256_file(p) != op["sha256"])
                or (ino is not None and st.st_ino != ino)):
            return f"{p} changed since it was imported (was the session resumed?)"
    elif kind in ("append", "edit") and (
            not p.is_file() or p.stat().st_size != op["size"] or (kind == "edit" and sha256_file(p) != op["sha256"])):
        return f"{p} changed since the import"
    return None


def _old_bytes(op: dict[str, Any]) -> bytes | None:
    """What an edited file held before the import (None: it did not exist)."""
    return None if op["old"] is None else base64.b64decode(op["old"])


def _never_done(op: dict[str, Any]) -> bool:
    p = Path(op["path"])
    if op["op"] == "create":
        return not p.exists()
    if op["op"] in ("extend", "append"):
        return not p.exists() or p.stat().st_size == op["old_size"]
    if op["op"] == "edit":
        old = _old_bytes(op)
        return (not p.exists()) if old is None else (p.is_file() and p.read_bytes() == old)
    return False


def undo(*, env: Mapping[str, str] | None = None, ui: UI | None = None) -> UndoResult:
    env = dict(os.environ if env is None else env)
    ui = ui or UI()
    jpath = latest_journal(env)
    header, ops, done = read_journal(jpath)
    home = Path(header.get("home", "/"))
    with import_lock(env, Path(os.path.realpath(home))), contextlib.ExitStack() as stack:
        gone: dict[tuple[str, str], bool] = {}
        ops = [op for op in ops if not (op.get("op") == "row-delete" and _index_gone(op, gone))]
        for op in ops:
            if op.get("op") == "row-delete":  # the row as it was, BLOBs included (see store.to_journal)
                op["key"], op["old"] = from_journal(op["key"]), from_journal(op["old"])
        cons: dict[str, Any] = {}
        for db in dict.fromkeys(op["path"] for op in ops if op.get("op") in _ROW_OPS):
            if not Path(db).is_file():  # opening it for writing would create an empty database there
                raise ConflictError(f"cannot undo the last import: {db} was removed since the import",
                                    code="changed_since")
            con = stack.enter_context(contextlib.closing(open_store(Path(db), write=True)))
            try:
                con.execute("BEGIN IMMEDIATE")  # held until every row is checked and reverted
            except sqlite3.OperationalError as exc:  # the tool is writing it (waited 10 s): nothing was undone
                raise ConflictError(f"cannot undo the last import: {db} is busy (is its tool running?); try "
                                    "again when it is idle", code="locked") from exc
            cons[db] = con
        # Git records (receive --with-changes) came after the files; gitreceive checks and reverts them.
        git_ops = [op for op in ops if op.get("op") == "git"]
        ops = [op for op in ops if op.get("op") != "git"]
        if done is None:
            # An interrupted import: an op is journalled before it is done, so a file it names may
            # never have been placed. Those are not changes since; there is just nothing to revert.
            ops = [op for op in ops if not (_row_never_done(cons[op["path"]], op) if op["op"] in _ROW_OPS
                                            else _never_done(op))]
        # A file placed by copying (staging on another file system) has the copy's inode.
        inodes = {op["path"]: op["ino"] for op in ops if op["op"] == "inode"}
        ops = [op for op in ops if op["op"] not in ("inode", "db")]
        scratch = Path(tempfile.mkdtemp(prefix="undo-", dir=private_dir(config_dir(env) / "staging")))
        try:
            problems = [m for op in git_ops if (m := gitreceive.undo_problem(op, scratch))]
            problems += [m for op in ops if (m := (_row_problem(cons[op["path"]], op) if op["op"] in _ROW_OPS
                                                  else _changed(op, inodes)))]
            if problems:
                raise ConflictError(f"cannot undo the last import: {problems[0]}", code="changed_since")
            reverted: list[Reverted] = []
            reindexed: dict[tuple[str, str, str], bool] = {}
            for op in reversed(git_ops):
                if what := gitreceive.undo_op(op, scratch):
                    reverted.append(Reverted(op="git", path=op["repo"], what=what))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            with contextlib.suppress(OSError):
                scratch.parent.rmdir()
        for op in reversed(ops):
            p = Path(op["path"])
            kind = op["op"]
            if kind == "create":
                osops.remove(p)
            elif kind in ("extend", "append"):
                if kind == "append" and op["old_size"] == 0:
                    osops.remove(p)
                else:
                    os.truncate(p, op["old_size"])
            elif kind == "edit":
                put_bytes(p, _old_bytes(op), mode=stat.S_IMODE(p.stat().st_mode))
            elif kind == "temp":
                p.unlink(missing_ok=True)
                continue
            elif kind == "mkdir":
                with contextlib.suppress(OSError):
                    p.rmdir()
            elif kind in _ROW_OPS:
                con = cons[op["path"]]
                if kind == "row-insert":
                    delete_row(con, op["table"], op["key"])
                elif kind == "row-delete":
                    # Rows alike (a table without a primary key) are decided together, before any is put
                    # back: the first of them found there again means the tool re-indexed since.
                    same = (op["path"], op["table"], json.dumps(op["key"], sort_keys=True, default=repr))
                    if same not in reindexed:
                        reindexed[same] = _row_now(con, op) is not None
                    if reindexed[same]:  # the tool re-indexed since: keep its newer row
                        reverted.append(Reverted(op=kind, path=str(p), table=op["table"], kept=True))
                        continue
                    cols = list(op["old"])
                    con.execute(f"INSERT INTO {quote_ident(op['table'])} ({', '.join(map(quote_ident, cols))}) "
                                f"VALUES ({', '.join('?' * len(cols))})", list(op["old"].values()))
                else:
                    update_row(con, op["table"], op["key"], op["old"])
                reverted.append(Reverted(op=kind, path=str(p), table=op["table"]))
                continue
            reverted.append(Reverted(op=kind, path=str(p)))
        for con in cons.values():
            con.execute("COMMIT")
        jpath.rename(jpath.with_suffix(".undone"))
    return UndoResult(journal=str(jpath), complete=done is not None, reverted=reverted,
                      sessions=list((done or {}).get("sessions", [])))
