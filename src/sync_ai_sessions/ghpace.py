"""Pacing shared by every `Gh` of the process: one `Pacer` per GitHub host, and where waiting notices go.

Mutative requests (POST, PATCH, PUT, DELETE) run one at a time, each starting at least `PACE` (1 s) after
the previous one finished, at most `PER_MINUTE` / `PER_HOUR` of them in any minute / hour (half of GitHub's
published 80 and 500 content-generating requests); reads at most `READS_AT_ONCE` at a time. After a rate
limit `hold()` makes everyone wait until it is over: one back-off for the process. Which waits to choose
and when to give up is `gh.Gh.api`'s decision; this module only keeps the clock.

Waiting is announced through `notify()` (`set_notifier` routes it to the command's UI).
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

PACE = 1.0  # GitHub: "wait at least one second between each request" (POST, PATCH, PUT, DELETE)
PER_MINUTE = 40  # GitHub: "no more than 80 content-generating requests per minute"
PER_HOUR = 250  # GitHub: "and no more than 500 content-generating requests per hour"
READS_AT_ONCE = 3  # GitHub: "make requests serially instead of concurrently"; a few reads overlap


def _stderr_notice(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


_notifier: Callable[[str], None] = _stderr_notice


def set_notifier(fn: Callable[[str], None] | None) -> None:
    """Where waiting/retry notices go (the command's `ui.info`); None restores plain stderr."""
    global _notifier
    _notifier = fn or _stderr_notice


def notify(msg: str) -> None:
    with contextlib.suppress(Exception):  # a notice must never break the work
        _notifier(msg)


class Pacer:
    """The process-wide pacing and back-off for one GitHub host (see the module docstring)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._writer = threading.Lock()  # one mutative request at a time
        self._reads = threading.BoundedSemaphore(READS_AT_ONCE)
        self.last_write_end = -math.inf  # monotonic time the last mutative request finished
        self.writes: deque[float] = deque()  # monotonic end times of recent mutative requests
        self.not_before = 0.0  # monotonic: nobody calls GitHub before this (shared back-off)
        self.strikes = 0  # secondary limits in a row without a retry-after: the wait doubles each time

    def hold(self, seconds: float) -> None:
        """Everyone waits `seconds` from now (at least) before the next call."""
        with self._cv:
            self.not_before = max(self.not_before, time.monotonic() + seconds)
            self._cv.notify_all()

    def _sleep_until(self, until: float) -> None:
        with self._cv:
            while True:
                left = max(until, self.not_before) - time.monotonic()
                if left <= 0:
                    return
                self._cv.wait(min(left, 1.0))

    @contextlib.contextmanager
    def slot(self, mutative: bool, pace: float, per_minute: int, per_hour: int) -> Iterator[None]:
        if not mutative:
            with self._reads:
                self._sleep_until(0.0)
                yield
            return
        with self._writer:
            minute, hour = 60.0 * pace, 3600.0 * pace
            announced = False
            while True:
                now = time.monotonic()
                while self.writes and self.writes[0] <= now - hour:
                    self.writes.popleft()
                until = max(self.last_write_end + pace, self.not_before)
                recent = [t for t in self.writes if t > now - minute]
                if len(recent) >= per_minute:
                    until = max(until, recent[0] + minute)
                if len(self.writes) >= per_hour:
                    until = max(until, self.writes[0] + hour)
                if until <= now:
                    break
                if until - now > 5 and not announced and until > self.not_before:
                    notify(
                        f"pausing {until - now:.0f} s to stay well inside GitHub's limits on "
                        f"content-creating requests ({per_minute} a minute, {per_hour} an hour)"
                    )
                    announced = True
                self._sleep_until(until)
            try:
                yield
            finally:
                # counted from its end: GitHub saw it arrive before that, so our windows are never shorter
                self.last_write_end = time.monotonic()
                self.writes.append(self.last_write_end)


_pacers: dict[str, Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(host: str) -> Pacer:
    with _pacers_lock:
        return _pacers.setdefault(host.lower(), Pacer())
