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
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from sync_ai_sessions import osops
from sync_ai_sessions.lookahead import Behind

_DEPTH = 16  # items in flight (about 16 MiB with 1 MiB blocks or batches)
_SMALL = 256 << 10  # a file whose bytes all come before its close, up to this size, is one item
_BATCH = 1 << 20  # small files travel together up to this many bytes (or _BATCH_FILES files) per item
_BATCH_FILES = 256


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def _write_small(path: Path, blocks: list[bytes]) -> None:
    """A whole small file: open, write, close, as `open(path, "wb")` would create it, without its fstat,
    isatty ioctl and seek (three system calls per file, thousands of files per receive)."""
    fd = osops.open_fd(path, _CREATE)
    try:
        for block in blocks:
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _write_all(ops: Iterable[tuple[str, Any]]) -> None:
    """The writing thread: open, write and close files in the order the caller asked."""
    fh: BinaryIO | None = None
    try:
        for op, arg in ops:
            if op == "files":  # whole small files, in order
                for path, blocks in arg:
                    _write_small(path, blocks)
            elif op == "open":
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
    """Thousands of small files (a receive of many short sessions) would cost three hand-overs between
    threads each (open, write, close); a file that is whole by its close and small is handed over as
    one item, together with the small files before it (up to _BATCH bytes), in the same order."""

    def __init__(self, depth: int = _DEPTH):
        self._behind: Behind[tuple[str, Any]] = Behind(_write_all, depth=depth, name="sais-write")
        self._batch: list[tuple[Path, list[bytes]]] = []
        self._batch_bytes = 0

    def _put(self, op: str, arg: Any = None) -> None:
        if self._batch:
            self._flush()  # whatever came before goes first
        self._behind.put((op, arg))

    def _flush(self) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        self._behind.put(("files", batch))

    def _whole(self, path: Path, blocks: list[bytes], size: int) -> None:
        self._batch.append((path, blocks))
        self._batch_bytes += size
        if self._batch_bytes >= _BATCH or len(self._batch) >= _BATCH_FILES:
            self._flush()

    def open(self, path: Path) -> _File:
        return _File(self, path)

    def close(self) -> None:
        """Wait for every queued write; raise the first error met."""
        if self._batch:
            self._flush()
        self._behind.close()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None and self._batch:
            try:
                self._flush()
            except BaseException:
                self._behind.__exit__(BaseException)  # stop the thread, report the writer's error
                raise
        self._batch = []
        self._behind.__exit__(exc_type, *rest)


class _File:
    """A write-only file whose writes are queued to the BackgroundWriter: kept here while the file is
    small, then handed over as it comes."""

    def __init__(self, w: BackgroundWriter, path: Path):
        self._w = w
        self._path = path
        self._blocks: list[bytes] | None = []  # None: opened on the thread, writes go straight there
        self._size = 0
        self._closed = False

    def write(self, data: bytes) -> int:
        if self._blocks is None:
            self._w._put("write", data)
            return len(data)
        self._blocks.append(data)
        self._size += len(data)
        if self._size > _SMALL:
            blocks, self._blocks = self._blocks, None
            self._w._put("open", self._path)
            for block in blocks:
                self._w._put("write", block)
        return len(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._blocks is None:
            self._w._put("close")
        else:
            blocks, self._blocks = self._blocks, None
            self._w._whole(self._path, blocks, self._size)

    def __enter__(self) -> _File:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
