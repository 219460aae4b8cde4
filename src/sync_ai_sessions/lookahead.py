"""Work on a thread of its own, with the error handed to the caller: the one helper for "thread + bounded
queue + forward the error + clean shutdown".  Work that releases the GIL (scrypt, AES-GCM, zstd, write(),
the secret search) then overlaps the caller's.  Standard library only (`format.header` uses it at start-up).

`Ahead`: a producer runs a bounded number of items ahead of the consumer.

    with Ahead(lambda: produce_blocks(src), depth=4) as ahead:
        for block in ahead:      # the producer's error is raised here, in the consumer's thread, in order
            ...
    # leaving the block (or close()) stops the producer, even one blocked on a full queue, and joins it

`Job`: one call on a thread (`Ahead` of a single item); `result()` waits and returns or raises, every time.

`Behind`: the other direction, a consumer that takes what the caller puts, at most `depth` items behind.

    with Behind(write_all, depth=16) as behind:   # write_all(items) runs on the thread
        behind.put(item)         # raises the consumer's error, once it failed
    # leaving the block waits for the consumer and raises its error (unless already failing)
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2
_POLL = 0.1  # seconds between looks at the stop flag while a queue is full (or, for a consumer, empty)


class Stopped(Exception):
    """The `Ahead` was closed while its consumer (on another thread) was waiting for an item."""


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
        while True:
            try:
                kind, value = self._q.get(timeout=_POLL)
                break
            except queue.Empty:
                if self._stop.is_set():  # closed from another thread: nothing more will come
                    self._finished = True
                    raise Stopped() from None
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


class Job(Generic[T]):
    """`call()` on a thread of its own; `result()` waits for it and returns its value or raises its error
    (each time it is asked)."""

    def __init__(self, call: Callable[[], T], *, name: str = "sais-job"):
        # depth 2: the value and the end both fit, so the thread ends with the call even when nobody
        # asks for its result (an early derivation never adopted; a check abandoned on an error).
        self._ahead: Ahead[T] = Ahead(lambda: iter((call(),)), depth=2, name=name)
        self._done = False
        self._value: T | None = None
        self._error: BaseException | None = None

    def result(self) -> T:
        if not self._done:
            try:
                self._value = next(self._ahead)
            except KeyboardInterrupt:  # Ctrl-C while waiting: not the call's result (it may go on)
                raise
            except BaseException as exc:  # kept: every result() raises it
                self._error = exc
            self._done = True
            self._ahead.close()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


_STOP = object()


class Behind(Generic[T]):
    """`consume(items)` runs on a thread of its own over what `put()` hands it, at most `depth` items
    queued.  After the consumer failed, further items are dropped (so no caller waits on a full queue), and
    the next `put()` or `close()` raises its error in the caller's thread."""

    def __init__(self, consume: Callable[[Iterable[T]], None], *, depth: int = 16, name: str = "sais-behind"):
        self._q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stopped = False  # the consumer's thread took the end marker
        self._thread = threading.Thread(target=self._run, args=(consume,), name=name, daemon=True)
        self._thread.start()

    def _items(self) -> Iterator[T]:
        while (item := self._q.get()) is not _STOP:
            yield item  # type: ignore[misc]
        self._stopped = True

    def _run(self, consume: Callable[[Iterable[T]], None]) -> None:
        try:
            consume(self._items())
        except BaseException as exc:  # raised by put() or close(), in the caller's thread
            self._error = exc
        while not self._stopped:  # drain: a caller must never block on a consumer that ended early
            self._stopped = self._q.get() is _STOP

    def put(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(item)

    def close(self) -> None:
        """Wait until the consumer took everything; raise its error, if it met one."""
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Behind[T]:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
            return
        # Already failing: stop the thread, keep the original exception (the one to report).
        with contextlib.suppress(BaseException):
            self.close()
