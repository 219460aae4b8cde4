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
import queue
import threading
from pathlib import Path
from typing import Any, BinaryIO

_DEPTH = 16  # blocks in flight (about 16 MiB with 1 MiB blocks)


class BackgroundWriter:
    def __init__(self, depth: int = _DEPTH):
        self._q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sais-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fh: BinaryIO | None = None
        while True:
            op, arg = self._q.get()
            if op == "stop":
                break
            if self._error is not None:
                continue  # drain: the caller will raise the error
            try:
                if op == "open":
                    fh = open(arg, "wb")  # noqa: SIM115 - closed by the "close" op
                elif op == "write":
                    assert fh is not None
                    fh.write(arg)
                elif op == "close" and fh is not None:
                    fh.close()
                    fh = None
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc
        if fh is not None:
            try:
                fh.close()
            except OSError as exc:
                self._error = self._error or exc

    def _put(self, op: str, arg: Any = None) -> None:
        if self._error is not None:
            raise self._error
        self._q.put((op, arg))

    def open(self, path: Path) -> _File:
        self._put("open", path)
        return _File(self)

    def close(self) -> None:
        """Wait for every queued write; raise the first error met."""
        if self._thread.is_alive():
            self._q.put(("stop", None))
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
            return
        # Already failing: stop the thread, keep the original exception (the one to report).
        with contextlib.suppress(BaseException):
            self.close()


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
