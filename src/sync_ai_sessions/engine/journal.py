"""Import journals (for `undo` and crash recovery) and the per-tool-home import lock.

A journal is a JSON-lines file in `<config>/journal/`, written ahead of each change:
  {"journal": 1, "tool", "home", "created", "pid"}                      header
  {"op": "mkdir", "path"}                                              a folder we created
  {"op": "create", "path", "size", "ino"}                             a file we placed (its size and inode)
  {"op": "extend", "path", "old_size", "size", "ino"}                a file we fast-forwarded
  {"op": "inode", "path", "ino"}                                       the placed file is a copy with this inode
  (journals written before 2026-11-25 hold "sha256" instead of "ino"; `undo` checks either)
  {"op": "append", "path", "old_size", "size"}                         lines added to a shared file
  {"op": "edit", "path", "old", "size", "sha256"}                    a shared document we replaced: its old bytes
                                                                       (base64; null: it did not exist), the new digest
  {"op": "temp", "path"}                                               a temporary we may leave if killed
  {"op": "db", "path"}                                                 a write transaction on this database began
  {"op": "row-insert", "path", "table", "key", "cols", "digest"}      a row we insert (the database is `path`)
  {"op": "row-update", "path", "table", "key", "old", "digest"}       a row we update: its old values, the new digest
  {"op": "row-delete", "path", "table", "key", "old"}                 an index row we delete (`RowsReset`): all of it
                                                                   (BLOBs as {"$b64": ...}; no primary key: all columns)
  {"status": "complete", "sessions": [...]}                            the import finished
  {"op": "git", "repo", "do": "ref"|"ff"|"switch"|"apply"|"stash", ...}  a change `receive --with-changes`
        made to the clone, after the sessions (appended after "complete"; `gitreceive.undo_op` reverts it)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops
from sync_ai_sessions.config import config_dir, private_dir
from sync_ai_sessions.errors import ConflictError, NotFoundError


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def row_digest(values: dict[str, Any]) -> str:
    """A database row's identity for `undo`'s "changed since" test: SHA-256 of its values as canonical JSON."""
    blob = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=lambda b: {"$hex": b.hex()} if isinstance(b, bytes) else str(b))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


fsync_dir = osops.fsync_dir  # where the importer has always found it


@dataclass
class Journal:
    path: Path
    ops: list[dict[str, Any]] = field(default_factory=list)
    _fh: Any = None

    @classmethod
    def start(cls, env: Mapping[str, str], tool: str, home: Path) -> Journal:
        d = private_dir(config_dir(env) / "journal")
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = d / f"{stamp}-{os.getpid()}-{os.urandom(3).hex()}.jsonl"
        fd = osops.open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        j = cls(path=path, _fh=os.fdopen(fd, "wb"))  # bytes: LF on every OS
        j._write({"journal": 1, "tool": tool, "home": str(home), "created": stamp, "pid": os.getpid()})
        return j

    def _write(self, rec: dict[str, Any]) -> None:
        self._fh.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8", "surrogateescape"))
        self._fh.flush()
        osops.fsync(self._fh.fileno())

    @classmethod
    def reopen(cls, path: Path) -> Journal:
        """Append to a journal (the git records of a receive go after its sessions' records)."""
        return cls(path=path, _fh=open(path, "ab"))

    def close(self) -> None:
        self._fh.close()

    def record(self, **rec: Any) -> None:
        self.ops.append(rec)
        self._write(rec)

    def record_many(self, recs: list[dict[str, Any]]) -> None:
        """Journal several changes ahead of doing them, with one write and one fsync for all.

        Any of them may then be left undone by a crash; `undo` and recovery already treat a journalled
        change that never happened as nothing to revert (see `undo._never_done`)."""
        if not recs:
            return
        self.ops.extend(recs)
        self._fh.write("".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in recs)
                       .encode("utf-8", "surrogateescape"))
        self._fh.flush()
        osops.fsync(self._fh.fileno())

    def complete(self, sessions: list[dict[str, Any]]) -> None:
        self._write({"status": "complete", "sessions": sessions})
        self._fh.close()

    def abandon(self) -> None:
        """The import was rolled back: the journal has nothing left to undo."""
        with contextlib.suppress(OSError):
            self._fh.close()
        self.path.unlink(missing_ok=True)


def read_journal(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    header: dict[str, Any] = {}
    ops: list[dict[str, Any]] = []
    done = None
    first = True
    # bytes.splitlines() and strip(): a journal copied through a text-mode tool may hold CRLF or blank
    # lines (and str.splitlines() would also split at U+2028 inside a path).
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8", "surrogateescape"))
        except ValueError:
            if first:
                break  # not a journal of ours
            continue  # a torn record (never carried out): the last line, or one `mark_complete` wrote after
        if first:
            first = False
            header = rec
        elif "status" in rec:
            done = rec
        else:
            ops.append(rec)
    return header, ops, done


def journals(env: Mapping[str, str]) -> list[Path]:
    d = config_dir(env) / "journal"
    if not d.is_dir():
        return []
    return sorted(d.glob("*.jsonl"))


def interrupted_journals(env: Mapping[str, str], home: Path) -> list[Path]:
    """Journals of imports into `home` that never completed (the process was killed).

    Only meaningful while holding `import_lock` for `home`: no live import can then be writing one.
    """
    return [p for p in journals(env) if _interrupted(p, str(home))]


def _interrupted(path: Path, home: str) -> bool:
    """`read_journal`'s header names `home` and it has no status record, mostly without parsing every
    record: each import leaves its journal (for `undo`), and each of a big handoff holds thousands of
    records, so reading them all made every receive slower than the one before.

    A journal of another home is told by its first line.  One that ends with a whole status record is
    complete.  Records are written a whole line at a time, one write each (or one for a batch) ending in
    its newline, and a record holds no raw newline, so a torn record can only be the last line and
    has no newline after it.  A status record appended after a torn line is glued to it: the line
    then starts with the torn part, or holds two status records.  Anything else is read whole."""
    data = path.read_bytes()
    lines = data.splitlines()
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        return False  # no header: read_journal's {} names no home
    try:
        header = json.loads(first.decode("utf-8", "surrogateescape"))
    except ValueError:
        return False  # read_journal stops at once: header {}
    if isinstance(header, dict):
        if header.get("home") != home:
            return False
        if data.endswith(b"\n") and len(lines) > 1:
            last = data.rstrip(b"\r\n")
            last = last[last.rfind(b"\n") + 1:]
            if last.startswith(_STATUS) and last.endswith(b"}") and last.count(_STATUS) == 1 and last != first:
                return False
    header, _ops, done = read_journal(path)
    return done is None and header.get("home") == home


_STATUS = b'{"status": '  # how `complete` and `mark_complete` start their record (json.dumps' spacing)


def mark_complete(path: Path, sessions: list[dict[str, Any]]) -> None:
    """Mark an interrupted journal complete (a later run completed its import).  Its last record may be
    torn (no newline after it): the status then goes on a line of its own, not glued to the torn part."""
    rec = (json.dumps({"status": "complete", "recovered": True, "sessions": sessions}) + "\n").encode()
    with open(path, "rb+") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end:
            fh.seek(end - 1)
            if fh.read(1) != b"\n":
                rec = b"\n" + rec
        fh.write(rec)


def latest_journal(env: Mapping[str, str]) -> Path:
    js = journals(env)
    if not js:
        raise NotFoundError("nothing to undo: no import has been recorded on this device", code="no_journal")
    return js[-1]


@contextlib.contextmanager
def import_lock(env: Mapping[str, str], home: Path, *, wait: float = 10.0) -> Iterator[None]:
    """One import at a time per tool home; a second one waits up to `wait` seconds, then refuses.

    The lock file is removed on release, so a completed run leaves nothing behind.  A waiter that wakes
    up holding the lock of a file that was removed meanwhile starts over on the current file.
    """
    d = private_dir(config_dir(env) / "locks")
    key = hashlib.sha256(str(home).encode()).hexdigest()[:16]
    path = d / f"import-{key}.lock"
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = osops.open_fd(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # the holder removed the emptied locks folder as it released
            private_dir(d)
            continue
        except PermissionError as exc:  # Windows: the holder is removing the file right now
            if not osops.is_sharing_violation(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
            continue
        try:
            locked = osops.try_lock(fd)
        except OSError:
            os.close(fd)
            raise
        if not locked:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise ConflictError(
                    f"another sync-ai-sessions import into {home} is running; try again when it ends",
                    code="busy",
                ) from None
            time.sleep(0.1)
            continue
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        osops.release_lock(fd, path)
        with contextlib.suppress(OSError):
            d.rmdir()
