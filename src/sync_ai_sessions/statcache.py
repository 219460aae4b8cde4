"""What was learned from a session file, remembered until the file changes.

Scripted use makes thousands of sessions, and each `send` or `sessions` looks at all of them again.
Discovery asks each transcript the cwd that says which repo it belongs to, its title, line count, last
activity (the adapters' `{tool}-discovery` caches); the secret scan asks whether it holds anything
(`secrets.CleanMemo`).  Like git's index, a cache remembers those answers by the file's identity and
status (size, mtime and ctime in nanoseconds, inode): a file whose status is unchanged gives the same
answers without being opened.  Anything else (a file written to, replaced, touched, renamed in: its
ctime moves) is read again.

Each cache is one file of JSON lines in this machine's private config folder (mode 0700), beside the
journals; it holds what the tool's own files already hold on this machine, never more, and nothing of it
leaves the machine.  It is only an optimisation: unreadable, of another version or missing, it is
ignored and rebuilt; a write that fails is skipped.  Entries for files no longer seen are dropped on save
(unless the caller saw only some of them: `save(prune=False)`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any

from sync_ai_sessions import osops
from sync_ai_sessions.config import config_dir, private_dir

VERSION = 2


def stamp(st: os.stat_result) -> str:
    """What must be unchanged for a remembered answer to hold."""
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}"


class StatCache:
    """`get` the answers remembered for the file at `path` in status `st`, `put` new ones, `save` once.

    The file is a first line `{"schema": [...]}`, then one line per file: its path as a JSON string, a
    tab, its stamp, a tab, its answers as JSON (JSON escapes every tab and line break inside).  Lines are
    kept as read, and decoded only for a file asked for: for thousands of files that is both less memory
    (a string each, not a tree of objects) and less time, and an unchanged file's line is written back as
    it was."""

    def __init__(self, env: Mapping[str, str], name: str, schema: object):
        # `schema` (any JSON value): the user's version of what an entry means; another one empties the cache.
        self.path = config_dir(env) / "cache" / f"{name}.jsonl"
        self._head = json.dumps({"schema": [VERSION, schema]}) + "\n"
        self._old: dict[str, str] = {}  # path -> its line
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape", newline="\n") as fh:
                if fh.readline() == self._head:
                    for line in fh:
                        key, sep, _ = line.partition("\t")
                        if sep and line.endswith("\n"):
                            self._old[json.loads(key) if "\\" in key else key[1:-1]] = line
        except (OSError, ValueError):  # UnicodeError is a ValueError
            self._old = {}
        self._new: dict[str, str | tuple[str, dict[str, Any]]] = {}
        self._changed = False

    def get(self, path: str, st: os.stat_result) -> dict[str, Any] | None:
        line = self._old.get(path)
        if line is None:
            return None
        _, stamped, answers = line.split("\t", 2)
        if stamped != stamp(st):
            return None
        try:
            got = json.loads(answers)
        except ValueError:
            return None
        if not isinstance(got, dict):
            return None
        self._new[path] = line
        return got

    def has(self, path: str, st: os.stat_result) -> bool:
        """Whether an entry for `path` in status `st` is remembered (kept, like `get`; its answers unread)."""
        line = self._old.get(path)
        if line is None or line.split("\t", 2)[1] != stamp(st):
            return False
        self._new[path] = line
        return True

    def put(self, path: str, st: os.stat_result, answers: dict[str, Any]) -> None:
        self._new[path] = (stamp(st), answers)
        self._changed = True

    def save(self, *, prune: bool = True) -> None:
        """Write what was seen this time, when it differs from what was loaded (not atomically durable:
        losing it costs one slower discovery).  `prune=False` keeps the entries not asked for this time."""
        if not prune:
            for path, line in self._old.items():
                self._new.setdefault(path, line)
        if not self._changed and len(self._new) == len(self._old):
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            private_dir(self.path.parent)
            fd = osops.open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            # surrogateescape: a POSIX file name that is not UTF-8 goes back to its own bytes
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as fh:
                fh.write(self._head)
                for path, e in self._new.items():
                    if isinstance(e, tuple):
                        e = (json.dumps(path, ensure_ascii=False) + "\t" + e[0] + "\t"
                             + json.dumps(e[1], ensure_ascii=False, separators=(",", ":")) + "\n")
                    fh.write(e)
            osops.replace(tmp, self.path)
        except (OSError, UnicodeError):  # (a title holding a lone surrogate cannot be UTF-8: not kept)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        self._old, self._new, self._changed = {}, {}, False
