"""Run a producer on a thread of its own, a bounded number of items ahead of the consumer.

The one helper for "thread + bounded queue + hand the error to the consumer + clean shutdown":

    with Ahead(lambda: produce_blocks(src), depth=4) as ahead:
        for block in ahead:      # the producer's error is raised here, in the consumer's thread, in order
            ...
    # leaving the block (or close()) stops the producer, even one blocked on a full queue, and joins it

`produce` returns an iterator; it runs on the thread, at most `depth` items ahead.  Work that releases the
GIL (scrypt, AES-GCM, zstd, write()) then overlaps the consumer's.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2
_POLL = 0.1  # seconds between looks at the stop flag while the queue is full


class Ahead(Generic[T]):
    def __init__(self, produce: Callable[[], Iterator[T]], *, depth: int = 1, name: str = "sais-ahead"):
        self._q: queue.Queue[tuple[int, object]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    def _put(self, kind: int, value: object) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put((kind, value), timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False  # the consumer left: drop the item

    def _run(self, produce: Callable[[], Iterator[T]]) -> None:
        it: Iterator[T] | None = None
        try:
            it = produce()
            for item in it:
                if not self._put(_ITEM, item):
                    return
            self._put(_END, None)
        except BaseException as exc:  # raised by __next__, in the consumer's thread
            self._put(_ERROR, exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Ahead[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        kind, value = self._q.get()
        if kind == _ITEM:
            return value  # type: ignore[return-value]
        self._finished = True
        if kind == _ERROR:
            assert isinstance(value, BaseException)
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the producer (it ends at its next item) and wait for its thread."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Ahead[T]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
