"""What discovery learned from a session file, remembered until the file changes.

Scripted use makes thousands of sessions, and each `send` or `sessions` looks at all of them again: the
cwd that says which repo a transcript belongs to, its title, line count, last activity.  Like git's
index, this remembers those answers by the file's identity and status (size, mtime and ctime in
nanoseconds, inode): a file whose status is unchanged gives the same answers without being opened.
Anything else (a file written to, replaced, touched, renamed in: its ctime moves) is read again.

The cache is one JSON document per tool in this machine's private config folder (mode 0700), beside the
journals; it holds what the tool's own files already hold on this machine, never more, and nothing of it
leaves the machine.  It is only an optimisation: unreadable, of another version or missing, it is
ignored and rebuilt; a write that fails is skipped.  Entries for files no longer seen are dropped on save.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any

from sync_ai_sessions import osops
from sync_ai_sessions.config import config_dir, private_dir

VERSION = 1


def stamp(st: os.stat_result) -> list[int]:
    """What must be unchanged for a remembered answer to hold."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class ScanCache:
    """`get` the answers remembered for the file at `path` in status `st`, `put` new ones, `save` once."""

    def __init__(self, env: Mapping[str, str], name: str, schema: int):
        # `schema`: the adapter's version of what it keeps in an entry; another one empties the cache.
        self.path = config_dir(env) / "cache" / f"{name}-discovery.json"
        self._schema = [VERSION, schema]
        self._old: dict[str, list[Any]] = {}
        try:
            with open(self.path, "rb") as fh:
                doc = json.load(fh)
            if isinstance(doc, dict) and doc.get("schema") == self._schema and isinstance(doc.get("files"), dict):
                self._old = doc["files"]
        except (OSError, ValueError):
            pass
        self._new: dict[str, list[Any]] = {}
        self._changed = False

    def get(self, path: str, st: os.stat_result) -> dict[str, Any] | None:
        e = self._old.get(path)
        if e is None or e[0] != stamp(st) or not isinstance(e[1], dict):
            return None
        self._new[path] = e
        return e[1]

    def put(self, path: str, st: os.stat_result, answers: dict[str, Any]) -> None:
        self._new[path] = [stamp(st), answers]
        self._changed = True

    def save(self) -> None:
        """Write what was seen this time, when it differs from what was loaded (not atomically durable:
        losing it costs one slower discovery)."""
        if not self._changed and len(self._new) == len(self._old):
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            private_dir(self.path.parent)
            data = json.dumps({"schema": self._schema, "files": self._new}, ensure_ascii=False,
                              separators=(",", ":")).encode("utf-8")
            fd = osops.open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            osops.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        self._old, self._changed = self._new, False
