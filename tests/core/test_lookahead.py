"""The look-ahead helper: items in order, the producer's error reaches the consumer, an early stop ends
the producer's thread (even one blocked on a full queue), and no thread is left running."""

from __future__ import annotations

import threading
import time

import pytest

from sync_ai_sessions.lookahead import Ahead


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def test_items_arrive_in_order_and_the_thread_ends() -> None:
    with Ahead(lambda: iter(range(100)), depth=3, name="t-order") as ahead:
        assert list(ahead) == list(range(100))
        assert list(ahead) == []  # exhausted stays exhausted
    assert _threads("t-order") == []


def test_error_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    def produce():
        yield 1
        yield 2
        raise OSError(28, "No space left on device")

    got = []
    with Ahead(produce, depth=8, name="t-error") as ahead, pytest.raises(OSError, match="No space left"):
        for item in ahead:
            got.append(item)
    assert got == [1, 2]
    assert _threads("t-error") == []


def test_consumer_stopping_early_ends_a_producer_blocked_on_a_full_queue() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def produce():
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    ahead = Ahead(produce, depth=2, name="t-early")
    assert next(ahead) == 0
    time.sleep(0.3)  # let the producer fill the queue and block
    assert len(produced) <= 4  # bounded: depth items queued, one in hand, one consumed
    start = time.monotonic()
    ahead.close()
    assert time.monotonic() - start < 2
    assert closed.is_set()  # the generator was closed (its finally ran)
    assert _threads("t-early") == []


def test_error_raised_while_starting_the_producer_is_forwarded() -> None:
    def produce():
        raise ValueError("bad start")

    with Ahead(produce, name="t-start") as ahead, pytest.raises(ValueError, match="bad start"):
        next(ahead)
    assert _threads("t-start") == []
