"""Human output on stderr (Rich), one JSON document on stdout with --json, progress bars on long work."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        _console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    return _console


class UI:
    def __init__(self, json_mode: bool = False, debug: bool = False):
        self.json_mode = json_mode
        self.debug = debug

    def say(self, msg: str) -> None:
        if not self.json_mode:
            console().print(msg)

    def info(self, msg: str) -> None:
        if not self.json_mode:
            console().print(f"[dim]{msg}[/dim]")

    @contextlib.contextmanager
    def progress(self, total: int | None, what: str) -> Iterator[Callable[[int], None]]:
        """A byte progress bar on stderr when it is a terminal (and not --json); else a no-op."""
        if self.json_mode or not sys.stderr.isatty() or (total is not None and total < (8 << 20)):
            yield lambda n: None
            return
        with Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=console(), transient=True,
        ) as bar:
            task = bar.add_task(what, total=total)
            yield lambda n: bar.advance(task, n)


def absolute(advance: Callable[[int], None]) -> Callable[[int, int | None], None]:
    """Adapt an `advance(delta)` bar to a transport's `progress(done, total)` callback."""
    last = [0]

    def progress(done: int, _total: int | None) -> None:
        advance(done - last[0])
        last[0] = done

    return progress


def emit_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
