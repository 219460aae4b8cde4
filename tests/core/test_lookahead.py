"""The look-ahead helper: items in order, the producer's error reaches the consumer, an early stop ends
the producer's thread (even one blocked on a full queue), and no thread is left running."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sync_ai_sessions.lookahead import Ahead, Behind, Job, Stopped


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


def test_closing_from_another_thread_releases_a_waiting_consumer() -> None:
    """The decrypting reader's shape: the consumer is a thread of its own, and close() comes from elsewhere
    while it waits for an item that will never come."""
    release = threading.Event()

    def produce():
        yield 1
        release.wait(5)  # a producer slow to deliver the next item
        yield 2

    ahead = Ahead(produce, name="t-stop")
    assert next(ahead) == 1
    seen: list[BaseException] = []

    def consume() -> None:
        try:
            next(ahead)
        except BaseException as exc:
            seen.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(0.2)  # the consumer is now waiting
    closer = threading.Thread(target=ahead.close)
    closer.start()
    consumer.join(2)
    assert not consumer.is_alive() and isinstance(seen[0], Stopped)
    release.set()
    closer.join(2)
    assert _threads("t-stop") == []


def test_job_returns_or_raises_the_same_every_time() -> None:
    assert Job(lambda: 42, name="t-job").result() == 42
    calls = []

    def fail() -> int:
        calls.append(1)
        raise ValueError("no key")

    job = Job(fail, name="t-job")
    for _ in range(2):
        with pytest.raises(ValueError, match="no key"):
            job.result()
    assert calls == [1]
    assert _threads("t-job") == []


def test_behind_consumes_in_order_and_close_waits_for_it() -> None:
    got: list[int] = []
    with Behind(lambda items: got.extend(items), depth=2, name="t-behind") as behind:
        for i in range(50):
            behind.put(i)
    assert got == list(range(50))
    assert _threads("t-behind") == []


def test_behind_error_reaches_the_caller_and_no_put_blocks_after_it() -> None:
    def consume(items):
        for item in items:
            if item == 3:
                raise OSError(28, "No space left on device")

    behind = Behind(consume, depth=1, name="t-behind-err")
    with pytest.raises(OSError, match="No space left"):
        for i in range(10_000):  # far more than the queue holds: the caller must not hang after the error
            behind.put(i)
    with pytest.raises(OSError, match="No space left"):
        behind.close()
    assert _threads("t-behind-err") == []


def test_behind_leaving_on_an_error_keeps_that_error() -> None:
    def consume(items):
        for _ in items:
            raise OSError("consumer failed too")

    with pytest.raises(KeyboardInterrupt), Behind(consume, name="t-behind-kbd") as behind:
        behind.put(1)
        raise KeyboardInterrupt
    assert _threads("t-behind-kbd") == []


def test_background_writer_reports_the_disk_error_and_closes_the_file(tmp_path, monkeypatch) -> None:
    from sync_ai_sessions.engine import bgwrite

    closed: list[bool] = []
    real_open = open

    class Full:
        def __init__(self, path):
            self._fh = real_open(path, "wb")

        def write(self, data):
            raise OSError(28, "No space left on device")

        def close(self):
            closed.append(True)
            self._fh.close()

    monkeypatch.setattr(bgwrite, "open", lambda path, mode: Full(path), raising=False)
    with pytest.raises(OSError, match="No space left"), bgwrite.BackgroundWriter(depth=1) as bw, \
            bw.open(tmp_path / "f") as out:
        for _ in range(1000):
            out.write(b"x" * 300)  # past the small-file size: written as it comes, through `open`
    assert closed == [True]
    assert _threads("sais-write") == []


def test_background_writer_reports_the_disk_error_of_a_small_file_and_closes_it(tmp_path, monkeypatch) -> None:
    """Small files whole by their close are written with os.write on a descriptor of their own: a full
    disk is reported in the caller's thread, the descriptor closed, the files after it not written."""
    import os

    from sync_ai_sessions.engine import bgwrite

    real_write, real_close = os.write, os.close
    opened: list[int] = []
    closed: list[int] = []
    real_open_fd = bgwrite.osops.open_fd

    def open_fd(path, flags, *a, **k):
        fd = real_open_fd(path, flags, *a, **k)
        opened.append(fd)
        return fd

    def write(fd, data):
        if threading.current_thread().name == "sais-write" and fd in opened:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    def close(fd):
        if fd in opened:
            closed.append(fd)
        return real_close(fd)

    monkeypatch.setattr(bgwrite.osops, "open_fd", open_fd)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "close", close)
    with pytest.raises(OSError, match="No space left"), bgwrite.BackgroundWriter(depth=1) as bw:
        for i in range(3):
            with bw.open(tmp_path / f"f{i}") as out:
                out.write(b"x" * 10)
    monkeypatch.undo()
    assert len(opened) == 1 and closed == opened  # the first failed, closed; nothing after it was begun
    assert (tmp_path / "f0").read_bytes() == b"" and not (tmp_path / "f1").exists()
    assert _threads("sais-write") == []


def test_background_writer_writes_small_files_whole(tmp_path) -> None:
    from sync_ai_sessions.engine import bgwrite

    with bgwrite.BackgroundWriter() as bw:
        for i in range(300):
            with bw.open(tmp_path / f"f{i}") as out:
                out.write(b"a" * i)
                out.write(memoryview(b"bc" * i))
    assert all((tmp_path / f"f{i}").read_bytes() == b"a" * i + b"bc" * i for i in range(300))


def test_ctrl_c_while_waiting_is_not_taken_for_the_jobs_result(monkeypatch) -> None:
    job = Job(lambda: 7, name="t-job-kbd")
    real = Ahead.__next__
    interrupts = [KeyboardInterrupt()]

    def interrupted(self):
        if interrupts:
            raise interrupts.pop()
        return real(self)

    monkeypatch.setattr(Ahead, "__next__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        job.result()
    assert job.result() == 7  # asked again (the command's cleanup may): the key, not the old Ctrl-C
    assert _threads("t-job-kbd") == []


def test_background_writer_writes_small_and_large_files_alike_and_in_order(tmp_path, monkeypatch) -> None:
    """Small files whole by their close travel in batches; larger ones block by block; an empty one is
    created; every file holds exactly its bytes, and they are opened in the order the caller asked."""
    import random

    from sync_ai_sessions.engine import bgwrite

    monkeypatch.setattr(bgwrite, "_BATCH", 4096)
    monkeypatch.setattr(bgwrite, "_SMALL", 1000)
    order: list[str] = []
    real_open = open
    monkeypatch.setattr(bgwrite, "open", lambda path, mode: (order.append(path.name), real_open(path, mode))[1],
                        raising=False)
    real_open_fd = bgwrite.osops.open_fd  # the small files' way in
    monkeypatch.setattr(bgwrite.osops, "open_fd",
                        lambda path, *a, **k: (order.append(Path(path).name), real_open_fd(path, *a, **k))[1])
    rng = random.Random(5)
    want: dict[str, bytes] = {}
    with bgwrite.BackgroundWriter(depth=2) as bw:
        for i in range(300):
            name = f"f{i:03d}"
            blocks = [rng.randbytes(rng.choice([0, 1, 7, 300, 900, 2000])) for _ in range(rng.randrange(0, 4))]
            want[name] = b"".join(blocks)
            out = bw.open(tmp_path / name)
            for b in blocks:
                out.write(b)
            out.close()
            out.close()  # twice: harmless
    assert order == sorted(want)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == want
    assert _threads("sais-write") == []


def test_a_job_nobody_asks_ends_its_thread_once_the_call_returned() -> None:
    # An early key derivation a command never adopts (it failed before making its Key), or a verifier
    # check abandoned on an error: the thread must end with the call, not poll a full queue forever.
    Job(lambda: b"kek", name="t-job-unasked")
    deadline = time.monotonic() + 5
    while _threads("t-job-unasked") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _threads("t-job-unasked") == []
