"""Codex CLI's rollout files, read as fast as discovery needs: plain or zstd-compressed, in runs of
whole lines, the head (session_meta) and the tail (the latest turn_context's cwd), with the byte
patterns the searches use.  Nothing here knows about sending or importing; `adapters/codex.py` does."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops
from sync_ai_sessions.literals import LiteralFinder

# Never across a line end, so that a run of whole lines matches as the lines one by one would.
_JSTR = rb'"([^"\\\n]*(?:\\.[^"\\\n]*)*)"'
_CWD = re.compile(rb'"cwd"\s*:\s*' + _JSTR)
_TS = re.compile(rb'^\{\s*"timestamp"\s*:\s*"([^"\\]*)"')
# The same at a line start inside a run of lines (`match(run, pos)`), never reaching past the line's end.
_TS_AT = re.compile(rb'\{[ \t\r\f\v]*"timestamp"[ \t\r\f\v]*:[ \t\r\f\v]*"([^"\\\n]*)"')
_PROVIDER_KEY = LiteralFinder([b'"model_provider'])
_PROMPT_KEYS = LiteralFinder([b'"user_message"', b'"UserMessage"'])
_CLI_VERSION = re.compile(rb'"cli_version"\s*:\s*"([^"\\]*)"')
# Structural keys only: inside a JSON string value a quote is escaped, so these never match free text.
_PROVIDER = re.compile(rb'("model_provider(?:_id)?"[ \t\r\f\v]*:[ \t\r\f\v]*)' + _JSTR)
_TURN_CONTEXT = b'"type":"turn_context"'

HEAD_BYTES = 4096
TAIL_BYTES = 32768
# How far back from the end discovery looks for the latest turn_context of a rollout whose session_meta cwd
# is elsewhere; a last turn longer than this (huge tool output) is judged by session_meta's cwd alone.
TAIL_MAX_BYTES = 256 << 10


def _jstr(raw: bytes) -> str:
    return json.loads(b'"' + raw + b'"')


def _read_blocks(path: Path, size: int = 1 << 20, *, zst: bool | None = None) -> Iterator[bytes]:
    """The bytes of a plain or zstd-compressed rollout, `size` at a time (`zst`: whether it is compressed;
    None: when its name says so)."""
    with open(path, "rb") as raw:
        src: Any = raw
        if path.name.endswith(".zst") if zst is None else zst:
            import zstandard

            src = zstandard.ZstdDecompressor().stream_reader(raw)
        while block := src.read(size):
            yield block


def _open_blocks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    """Runs of whole lines, about `size` bytes each (a longer line comes whole), of a plain or
    zstd-compressed rollout: each run is searched at once instead of line by line."""
    return _runs(_read_blocks(path, size))


def data_blocks(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    """The blocks `_read_blocks` reads, of a plain rollout already read whole into `data`."""
    for i in range(0, len(data), size):
        yield data[i:i + size] if i or len(data) > size else data


def _runs(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The runs of whole lines of `_open_blocks`, from the file's blocks."""
    pending: list[bytes] = []  # a line still open (pieces: a long line is joined once)
    for block in blocks:
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            pending.append(block)
            continue
        pending.append(block[:cut] if cut < len(block) else block)
        yield b"".join(pending)
        pending = [block[cut:]] if cut < len(block) else []
    if pending:
        yield b"".join(pending)


def _prompt_of(line: bytes) -> Any:
    """The user's prompt in a `user_message` / `UserMessage` line (None when the line holds none)."""
    with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError, IndexError):
        p = json.loads(line)["payload"]
        if p.get("type") == "user_message":
            return p.get("message")
        if p.get("type") == "item_completed" and p["item"].get("type") == "UserMessage":
            return "".join(c.get("text", "") for c in p["item"]["content"] if isinstance(c, dict))
    return None


def _last_timestamp(run: bytes) -> str | None:
    """The timestamp of the last line of `run` (whole lines) that starts with one, as `_TS` reads it."""
    end = len(run)
    while end > 0:
        start = run.rfind(b"\n", 0, end - 1) + 1
        m = _TS_AT.match(run, start)
        if m is not None:
            return m.group(1).decode()
        end = start
    return None


def _open_text(path: Path) -> Iterator[bytes]:
    """Yield the lines (with their newline) of a plain or zstd-compressed rollout."""
    if path.name.endswith(".zst"):
        import io

        import zstandard

        with open(path, "rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw)
            yield from io.BufferedReader(reader)  # type: ignore[arg-type]
    else:
        with open(path, "rb") as fh:
            yield from fh


def _read_head(path: Path, n: int) -> bytes:
    if path.name.endswith(".zst"):
        import zstandard

        with open(path, "rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw)
            out = b""
            while len(out) < n:
                chunk = reader.read(n - len(out))
                if not chunk:
                    break
                out += chunk
            return out
    with open(path, "rb") as fh:
        return fh.read(n)


@dataclass
class RolloutHead:
    path: Path
    id: str
    cwd: str | None  # session_meta.cwd
    archived: bool
    # From discovery, when it read the rollout whole: its size, and its summary (or the error making it
    # raised, raised again where the summary is used), so that nothing reads the file again.
    size: int | None = None
    info: dict[str, Any] | Exception | None = None


def _cwd_at(buf: bytes, start: int = 0) -> str | None:
    """The first `"cwd":"..."` value in `buf` after `start`, decoded."""
    i = buf.find(b'"cwd"', start)
    if i < 0:
        return None
    m = _CWD.match(buf, i)
    if m is None:
        return None
    raw = m.group(1)
    return _jstr(raw) if b"\\" in raw else raw.decode("utf-8", "replace")


def _tail_turn_cwd_fd(fd: int, size: int, start: int) -> str | None:
    """The cwd of the last `turn_context` line of an open plain rollout, reading back from the end."""
    pos = size
    step = TAIL_BYTES
    start = max(start, size - TAIL_MAX_BYTES)
    while pos > start:
        lo = max(start, pos - step)
        buf = osops.pread(fd, pos - lo + len(_TURN_CONTEXT), lo)
        i = buf.rfind(_TURN_CONTEXT)
        if i >= 0:
            line = buf[i:]
            if b"\n" not in line and len(line) < 65536 and lo + len(buf) < size:
                line = osops.pread(fd, 65536, lo + i)
            return _cwd_at(line.split(b"\n", 1)[0])
        pos = lo
        step *= 2
    return None


def latest_turn_cwd(path: Path, start: int = 0) -> str | None:
    """The cwd of the last `turn_context` line of a rollout (scanning back from the end for plain files)."""
    if path.name.endswith(".zst"):
        last = None
        for line in _open_text(path):
            if _TURN_CONTEXT in line:
                last = line
        return _cwd_at(last) if last else None
    fd = osops.open_read(path)
    try:
        return _tail_turn_cwd_fd(fd, os.fstat(fd).st_size, start)
    finally:
        os.close(fd)


def read_rollout_head(path: str) -> tuple[bytes, str | None, str | None]:
    """(first line or its first HEAD_BYTES, session_meta cwd, latest turn_context cwd or None if not read).

    The turn cwd is only looked up (from the tail) when the session_meta cwd is missing; callers that need it
    otherwise call `latest_turn_cwd`.
    """
    if path.endswith(".zst"):
        head = _read_head(Path(path), HEAD_BYTES)
        nl = head.find(b"\n")
        line0 = head if nl < 0 else head[:nl]
        return line0, _cwd_at(line0), None
    fd = osops.open_read(path)
    try:
        head = os.read(fd, HEAD_BYTES)
        nl = head.find(b"\n")
        line0 = head if nl < 0 else head[:nl]
        cwd = _cwd_at(line0)
        if cwd is None and nl < 0 and len(head) == HEAD_BYTES:
            # An unusual key order: the cwd may sit further in the (long) first line.
            with os.fdopen(os.dup(fd), "rb") as fh:
                fh.seek(0)
                line0 = fh.readline()
            cwd = _cwd_at(line0)
        return line0, cwd, None
    finally:
        os.close(fd)
