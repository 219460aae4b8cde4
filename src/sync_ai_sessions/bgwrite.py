"""Write files from a background thread, so that producing bytes and writing them overlap.

`receive` decrypts (a reader thread), rewrites (the caller) and writes (here) at the same time.  Writing
is worth its own thread: `write()` releases the GIL, and on virtual machines the page cache for a freshly
written gigabyte can cost seconds of page faults (measured ~3 s/GB on the 2-core CI VM, ~0.25 s/GB when
the pages were just freed), which would otherwise stall the rewriting.

    with BackgroundWriter() as bw:
        with bw.open(path) as out:   # file-like: out.write(bytes)
            out.write(data)
    # leaving the `with` waits until everything is on its way to the disk (closed, not fsynced) and
    # raises the first error the thread met (ENOSPC, ...) in the caller's thread

After an error, further writes are dropped and the next `write`, `open` or the end of the block raises it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from sync_ai_sessions.lookahead import Behind

_DEPTH = 16  # blocks in flight (about 16 MiB with 1 MiB blocks)


def _write_all(ops: Iterable[tuple[str, Any]]) -> None:
    """The writing thread: open, write and close files in the order the caller asked."""
    fh: BinaryIO | None = None
    try:
        for op, arg in ops:
            if op == "open":
                fh = open(arg, "wb")  # noqa: SIM115 - closed by the "close" op
            elif op == "write":
                assert fh is not None
                fh.write(arg)
            elif op == "close" and fh is not None:
                fh.close()
                fh = None
    except BaseException:
        if fh is not None:
            with contextlib.suppress(OSError):  # the first error is the one to report
                fh.close()
        raise
    if fh is not None:
        fh.close()


class BackgroundWriter:
    def __init__(self, depth: int = _DEPTH):
        self._behind: Behind[tuple[str, Any]] = Behind(_write_all, depth=depth, name="sais-write")

    def _put(self, op: str, arg: Any = None) -> None:
        self._behind.put((op, arg))

    def open(self, path: Path) -> _File:
        self._put("open", path)
        return _File(self)

    def close(self) -> None:
        """Wait for every queued write; raise the first error met."""
        self._behind.close()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._behind.__exit__(exc_type, *rest)


class _File:
    """A write-only file whose writes are queued to the BackgroundWriter."""

    def __init__(self, w: BackgroundWriter):
        self._w = w

    def write(self, data: bytes) -> int:
        self._w._put("write", data)
        return len(data)

    def close(self) -> None:
        self._w._put("close")

    def __enter__(self) -> _File:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
