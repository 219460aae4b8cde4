"""Human output on stderr (Rich), one JSON document on stdout with --json, progress bars on long work."""

from __future__ import annotations

import codecs
import contextlib
import io
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


def _out_errors(exc: UnicodeError) -> tuple[str | bytes, int]:
    """Encoding errors on our output: a file name's undecodable bytes (surrogateescape) go out as those
    bytes; any other lone surrogate as a visible escape.  Never an exception."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = bytearray()
    for ch in exc.object[exc.start:exc.end]:
        o = ord(ch)
        out += bytes([o - 0xDC00]) if 0xDC80 <= o <= 0xDCFF else f"\\u{o:04x}".encode()
    return bytes(out), exc.end


codecs.register_error("sais-output", _out_errors)


def utf8_output() -> None:
    """Write stdout and stderr as UTF-8 whatever the console code page or PYTHONIOENCODING says (a pipe on
    a Windows console is cp1252 by default, and "→" or CJK in a title would raise UnicodeEncodeError).
    Idempotent; leaves streams that are not text files (a test runner's) alone."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and (
            codecs.lookup(stream.encoding or "ascii").name != "utf-8" or stream.errors != "sais-output"
        ):
            with contextlib.suppress(ValueError, OSError, io.UnsupportedOperation):
                stream.reconfigure(encoding="utf-8", errors="sais-output")


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


def human_size(n: int | None) -> str:
    """1234567 -> "1.2 MB" (decimal units, as `ls -h --si` and the gist list show them)."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def local_time(iso: str | None) -> str:
    """An ISO-8601 UTC time as local time with its zone ("2026-12-02 16:05 CET"); "" when unknown."""
    import datetime as dt

    if not iso:
        return ""
    try:
        t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def one_line(text: str | None, width: int = 60) -> str:
    """A title on one line, cut to `width` characters."""
    t = " ".join((text or "(untitled)").split())
    return t if len(t) <= width else t[: width - 1] + "…"


def shown_command(cmd: str) -> str:
    """A command as printed for the user to run (resume and receive commands): the one place where it is
    rendered for the user's shell."""
    return cmd


def copy_to_clipboard(text: str) -> bool:
    """Put `text` on the clipboard with the first clipboard program found; False when there is none."""
    import shutil
    import subprocess

    for cmd in (["pbcopy"], ["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "-b", "-i"], ["clip"]):
        if shutil.which(cmd[0]):
            try:
                subprocess.run(cmd, input=text.encode(), check=True, timeout=5)
                return True
            except (OSError, subprocess.SubprocessError):
                continue
    return False
