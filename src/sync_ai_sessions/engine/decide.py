"""How the bytes of an incoming session relate to the local one: identical, local a strict prefix
(fast-forward), incoming a strict prefix (the local copy is newer), or diverged (a copy under a new id).

The engine's never-overwrite decision rests on these few functions alone; see `importer.py`."""

from __future__ import annotations

import os
from pathlib import Path

IDENTICAL, LOCAL_PREFIX, INCOMING_PREFIX, DIVERGED = "identical", "local-prefix", "incoming-prefix", "diverged"


_BLOCK = 1 << 20


def relation(local: Path, incoming: Path) -> str:
    """How the bytes of `local` relate to those of `incoming`."""
    ls, is_ = os.path.getsize(local), os.path.getsize(incoming)
    n = min(ls, is_)
    with open(local, "rb") as a, open(incoming, "rb") as b:
        left = n
        while left:
            x = a.read(min(_BLOCK, left))
            y = b.read(min(_BLOCK, left))
            if x != y or not x:
                return DIVERGED
            left -= len(x)
    if ls == is_:
        return IDENTICAL
    return LOCAL_PREFIX if ls < is_ else INCOMING_PREFIX


def units_relation(local: list[str], incoming: list[str]) -> str:
    """`relation` for the units of a database-backed session (see `StagedRows`)."""
    n = min(len(local), len(incoming))
    if local[:n] != incoming[:n]:
        return DIVERGED
    if len(local) == len(incoming):
        return IDENTICAL
    return LOCAL_PREFIX if len(local) < len(incoming) else INCOMING_PREFIX


class Compare:
    """A write-only sink that tells how the bytes written to it relate to those of the file `local`
    (what `relation(local, <those bytes>)` would say), without writing them anywhere."""

    def __init__(self, local: Path):
        self._fh = open(local, "rb")  # noqa: SIM115 - closed by result()
        self._local_size = os.fstat(self._fh.fileno()).st_size
        self._seen = 0
        self._diverged = False

    def write(self, data: bytes) -> int:
        n = len(data)
        if not self._diverged and self._seen < self._local_size:
            want = min(n, self._local_size - self._seen)
            if self._fh.read(want) != (data[:want] if want < n else data):
                self._diverged = True
        self._seen += n
        return n

    def result(self) -> str:
        self._fh.close()
        if self._diverged:
            return DIVERGED
        if self._seen == self._local_size:
            return IDENTICAL
        return LOCAL_PREFIX if self._local_size < self._seen else INCOMING_PREFIX
