"""Human output on stderr (Rich), one JSON document on stdout with --json, progress bars on long work."""

from __future__ import annotations

import codecs
import contextlib
import functools
import io
import json
import sys
from collections.abc import Callable, Iterator
from itertools import repeat
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
    sys.stdout.write(dumps_indented(doc) + "\n")
    sys.stdout.flush()


_SCALARS = (str, int, float, type(None))  # (bool is an int)


def dumps_indented(doc: Any) -> str:
    """`json.dumps(doc, ensure_ascii=False, indent=2, default=str)`, the very same text, faster: the
    standard library's indented encoder is pure Python (a generator per value: 0.15 s for the 20,000
    sessions of a send), while a container of plain values only is left to its C encoder, with the line
    break and indent of its level as the item separator."""
    out: list[str] = []
    _put(doc, "\n", out)
    return "".join(out)


@functools.cache
def _flat_encoder(inner: str) -> Callable[[Any], str]:
    """The compact encoder whose item separator is "," + `inner`, made once per level (a `json.dumps` with
    separators builds a new encoder each call: most of the time for small containers)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    try:
        # (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan)
        c = make(None, None, json.encoder.encode_basestring, None, ": ", "," + inner, False, False, True)
    except TypeError:  # no C accelerator, or another signature: the standard encoder, the same text
        return json.JSONEncoder(ensure_ascii=False, separators=("," + inner, ": ")).encode
    return lambda o: "".join(c(o, 0))


def _key(k: Any) -> str:
    """A dict key as JSON writes it (a string; numbers, booleans and null spelled as JSON spells them)."""
    if isinstance(k, str):
        return k
    if isinstance(k, bool) or k is None:
        return {True: "true", False: "false", None: "null"}[k]
    if isinstance(k, (int, float)):
        return json.dumps(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def _is_flat_dict(o: Any) -> bool:
    """A non-empty dict of string keys and plain values: one call of the C encoder writes it."""
    return (type(o) is dict and bool(o) and all(map(isinstance, o, repeat(str)))
            and all(map(isinstance, o.values(), repeat(_SCALARS))))


def _put(o: Any, nl: str, out: list[str]) -> None:
    if isinstance(o, dict):
        items: Any = o
        if not o:
            out.append("{}")
            return
        flat = _is_flat_dict(o)  # (a subclass of dict goes the long way: the same text)
        opening, closing = "{", "}"
    elif isinstance(o, (list, tuple)):
        items = o
        if not o:
            out.append("[]")
            return
        flat = all(map(isinstance, o, repeat(_SCALARS)))
        opening, closing = "[", "]"
    else:
        out.append(json.dumps(o, ensure_ascii=False, default=str))
        return
    inner = nl + "  "
    if flat:  # one call of the C encoder: its item separator carries the line break and indent
        text = _flat_encoder(inner)(items)
        out.append(opening + inner + text[1:-1] + nl + closing)
        return
    if opening == "[" and all(map(_is_flat_dict, o)):  # (sessions, files: thousands of rows)
        # One call for all the rows, its item separator marked by a NUL byte (the encoder escapes every
        # control character inside strings, so a raw one is structure): between rows it is followed by
        # "{", which no key is.  Then each kind of separator gets its own line break and indent.
        text = _flat_encoder("\x00")(o)[2:-2]
        inner2 = inner + "  "
        text = text.replace("},\x00{", "\x01").replace(",\x00", "," + inner2)
        text = text.replace("\x01", inner + "}," + inner + "{" + inner2)
        out.append("[" + inner + "{" + inner2 + text + inner + "}" + nl + "]")
        return
    out.append(opening)
    sep = inner
    if isinstance(o, dict):
        for k, v in o.items():
            out.append(sep + json.dumps(_key(k), ensure_ascii=False) + ": ")
            _put(v, inner, out)
            sep = "," + inner
    else:
        for v in o:
            out.append(sep)
            _put(v, inner, out)
            sep = "," + inner
    out.append(nl + closing)


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
