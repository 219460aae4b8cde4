"""Claude Code's own files, read as Claude writes them: the project folder name it derives from a
path (`encode_project_dir`), and the fast readers of its transcripts (memory-mapped; the first and
last value of a key, the cwd at either end, the line count and the last title found in one pass over
the bytes).  Nothing here knows about sending or importing; `adapters/claude.py` does."""

from __future__ import annotations

import functools
import json
import mmap
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops
from sync_ai_sessions.adapters.jsonl import load_object
from sync_ai_sessions.adapters.jsonl import newlines as _newlines

MAX_DIR_NAME = 200
_COUNT_BLOCK = 8 << 20
_HEAD_LIMIT = 8 << 20  # how far into a file we look for the first recorded cwd
# Never carried, whatever the layout: credentials and machine-local runtime state.
_NEVER = {".credentials.json", ".claude.json"}


# -- the project folder name -------------------------------------------------------------------
def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(digits[r])
    return "".join(reversed(out))


def _utf16_units(s: str) -> list[int]:
    data = s.encode("utf-16-le", "surrogatepass")
    return [data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2)]


def path_hash(s: str) -> int:
    """The 31-multiplier int32 hash over UTF-16 code units (Java's String.hashCode)."""
    h = 0
    for c in _utf16_units(s):
        h = (h * 31 + c) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


@functools.lru_cache(maxsize=4096)
def encode_project_dir(path: str) -> str:
    """Claude Code's folder name for a working directory (`projects/<this>/`)."""
    units = _utf16_units(path)
    s = "".join(chr(c) if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122) else "-" for c in units)
    if len(s) <= MAX_DIR_NAME:
        return s
    return s[:MAX_DIR_NAME] + "-" + _base36(abs(path_hash(path)))


# -- small file readers -------------------------------------------------------------------------
def _map(path: Path) -> tuple[Any, mmap.mmap | None]:
    f = open(path, "rb")  # noqa: SIM115 - closed by the caller through _Mapped
    try:
        size = os.fstat(f.fileno()).st_size
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
    except BaseException:
        f.close()
        raise
    return f, mm


class _Mapped:
    """A read-only memory map of a file (None for an empty file): searches without reading it all."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> mmap.mmap | None:
        self._f, self._mm = _map(self.path)
        return self._mm

    def __exit__(self, *exc: Any) -> None:
        if self._mm is not None:
            self._mm.close()
        self._f.close()


def _line_at(mm: mmap.mmap | bytes, pos: int) -> bytes:
    start = mm.rfind(b"\n", 0, pos) + 1
    end = mm.find(b"\n", pos)
    return mm[start : end if end >= 0 else len(mm)]


_SMALL_LINE = 64 << 10  # lines up to this size are parsed; longer ones are read at byte level
_STR_AT = {}  # key -> compiled pattern for `"key":"<JSON string>"`


def _top_str(line: bytes, key: str, *, exact: bool = True) -> str | None:
    """The top-level string `key` of a JSON line.

    Short lines are parsed.  For long ones (tool results, pasted images) the value is read at the key's
    last occurrence: the CLI writes the record envelope (cwd, sessionId, version, timestamp) after the
    message, so a same-named key nested in the message comes earlier (checked on every fixture version).
    """
    if exact and len(line) <= _SMALL_LINE:
        d = load_object(line)
        v = d.get(key) if d is not None else None
        return v if isinstance(v, str) else None
    rx = _STR_AT.get(key)
    if rx is None:
        rx = _STR_AT[key] = re.compile(b'"' + re.escape(key.encode()) + rb'":"((?:[^"\\]|\\.)*)"')
    pos = line.rfind(b'"' + key.encode() + b'":"')
    m = rx.match(line, pos) if pos >= 0 else None
    if m is None:
        return None
    raw = m.group(1)
    if b"\\" not in raw:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        v = json.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return v if isinstance(v, str) else None


def _head_value(mm: mmap.mmap | bytes, key: str, limit: int = _HEAD_LIMIT) -> str | None:
    """The first top-level string `key` of any line (a raw `"key":"` can only be JSON structure)."""
    needle = b'"' + key.encode() + b'":"'
    pos = 0
    while True:
        pos = mm.find(needle, pos, min(len(mm), limit))
        if pos < 0:
            return None
        v = _top_str(_line_at(mm, pos), key)
        if v is not None:
            return v
        pos += len(needle)


def _last_value(mm: mmap.mmap | bytes, key: str, end: int,
                parsed: dict[int, dict[str, Any] | None] | None = None) -> str | None:
    """The top-level string `key` of the last line before `end` that has one.  `parsed`: the lines already
    parsed by an earlier call, by where they start (the last record holds both the timestamp and the
    version: parsed once for both)."""
    needle = b'"' + key.encode() + b'":"'
    while True:
        pos = mm.rfind(needle, 0, end)
        if pos < 0:
            return None
        if parsed is None:
            v = _top_str(_line_at(mm, pos), key)
        else:
            start = mm.rfind(b"\n", 0, pos) + 1
            if start in parsed:
                d = parsed[start]
                v = d.get(key) if d is not None else None
                v = v if isinstance(v, str) else None
            else:
                stop = mm.find(b"\n", pos)
                line = mm[start: stop if stop >= 0 else len(mm)]
                if len(line) <= _SMALL_LINE:
                    d = parsed[start] = load_object(line)
                    v = d.get(key) if d is not None else None
                    v = v if isinstance(v, str) else None
                else:
                    v = _top_str(line, key)
        if v is not None:
            return v
        end = pos


def _last_relocated(mm: mmap.mmap | bytes) -> str | None:
    needle = b'"relocatedCwd":"'
    end = len(mm)
    while True:
        pos = mm.rfind(needle, 0, end)
        if pos < 0:
            return None
        d = load_object(_line_at(mm, pos))
        if d is not None and d.get("type") == "relocated" and isinstance(d.get("relocatedCwd"), str):
            return d["relocatedCwd"]
        end = pos


def _tail_cwd(mm: mmap.mmap | bytes) -> str | None:
    """The cwd of the last line that records one, or a later `relocated` record's cwd."""
    needle = b'"cwd":"'
    end = len(mm)
    last, pos = None, -1
    while True:
        pos = mm.rfind(needle, 0, end)
        if pos < 0:
            break
        last = _top_str(_line_at(mm, pos), "cwd")
        if last is not None:
            break
        end = pos
    after = mm.find(b'"relocatedCwd":"', max(pos, 0))
    while after >= 0:
        d = load_object(_line_at(mm, after))
        if d is not None and d.get("type") == "relocated" and isinstance(d.get("relocatedCwd"), str):
            last = d["relocatedCwd"]
        after = mm.find(b'"relocatedCwd":"', after + 1)
    return last


_END_WINDOW = 64 << 10


def _line_around(buf: bytes, pos: int, whole_start: bool) -> bytes | None:
    """The line of `buf` holding `pos`, or None when it may continue past the window's edges."""
    start = buf.rfind(b"\n", 0, pos) + 1
    end = buf.find(b"\n", pos)
    if (start == 0 and not whole_start) or end < 0:
        return None
    return buf[start:end]


def _ends_cwd(path: Path | str) -> str | None:
    """The session cwd from the two ends of the file when they settle it; None means look closer."""
    fd = osops.open_read(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        head = osops.pread(fd, min(size, _END_WINDOW), 0)
        tail = head if size <= _END_WINDOW else osops.pread(fd, _END_WINDOW, size - _END_WINDOW)
    finally:
        os.close(fd)
    return _ends_decide(head, tail, size)


def _ends_decide(head: bytes, tail: bytes, size: int) -> str | None:
    """`_ends_cwd` over the file's first and last `_END_WINDOW` bytes (the same bytes when it is small)."""
    needle = b'"cwd":"'
    hpos = head.find(needle)
    tpos = tail.rfind(needle)
    if hpos < 0 or tpos < 0 or b'"relocatedCwd":"' in tail[tpos:]:
        return None
    hline = _line_around(head, hpos, True)
    tline = _line_around(tail, tpos, size <= _END_WINDOW)
    if hline is None or tline is None:
        return None
    first, last = _top_str(hline, "cwd", exact=False), _top_str(tline, "cwd", exact=False)
    return first if first is not None and first == last else None


def cwd_in(mm: mmap.mmap | bytes) -> str | None:
    """The session cwd searched in the whole file (mapped, or read): its latest `relocated` cwd, else
    the first recorded cwd."""
    head = _head_value(mm, "cwd")
    if head is None or _tail_cwd(mm) == head:
        return _last_relocated(mm) if head is None else head
    return _last_relocated(mm) or head


def cwd_of(data: bytes) -> str | None:
    """`ClaudeAdapter.session_cwd` of a transcript read whole into `data`: the same two steps (both
    ends, then the whole), over the one buffer."""
    size = len(data)
    if size == 0:
        return None
    tail = data if size <= _END_WINDOW else data[size - _END_WINDOW:]
    fast = _ends_decide(data[:_END_WINDOW], tail, size)
    return fast if fast is not None else cwd_in(data)


SMALL_FILE = 1 << 20  # matching transcripts up to this size are read whole, once, for discovery


def _read_exact(fd: int, n: int, offset: int) -> bytes | None:
    """`n` bytes of the open file from `offset`, None when fewer are there (it changed under us)."""
    parts = []
    got = 0
    while got < n:
        b = osops.pread(fd, n - got, offset + got)
        if not b:
            return None
        parts.append(b)
        got += len(b)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_session(path: Path | str, wanted: Callable[[str], bool]
                 ) -> tuple[os.stat_result, bool, str | None, bytes | None]:
    """One open of a transcript for discovery: (its status, whether the cwd is settled, the session cwd,
    the whole file when the cwd is `wanted` and the file at most SMALL_FILE bytes, else None).

    Never more bytes than `session_cwd`'s two end windows for a transcript of another folder: a file up to
    two windows is read whole (the windows would cover it), a larger one is read at both ends and, only
    when those settle a wanted cwd, in between.  Not settled (a `relocated` record, a cwd-less end): the
    caller asks `session_cwd`, which searches the whole file."""
    fd = osops.open_read(path)
    try:
        st = os.fstat(fd)
        size = st.st_size
        if size == 0:
            return st, True, None, None
        if size <= 2 * _END_WINDOW:
            data = _read_exact(fd, size, 0)
            if data is None:
                return st, False, None, None
            cwd = cwd_of(data)
            return st, True, cwd, data
        head = _read_exact(fd, _END_WINDOW, 0)
        tail = _read_exact(fd, _END_WINDOW, size - _END_WINDOW)
        cwd = _ends_decide(head, tail, size) if head is not None and tail is not None else None
        if cwd is None or head is None or tail is None:
            return st, False, None, None
        if size > SMALL_FILE or not wanted(cwd):
            return st, True, cwd, None
        mid = _read_exact(fd, size - 2 * _END_WINDOW, _END_WINDOW)
        return st, True, cwd, None if mid is None else head + mid + tail
    finally:
        os.close(fd)


def complete_len(data: bytes) -> int:
    """`jsonl.complete_size` of a file read whole: up to the end of its last complete line."""
    i = data.rfind(b"\n")
    return i + 1 if i >= 0 else len(data)


def count_and_last_of(data: bytes, size: int, needles: tuple[bytes, ...]) -> tuple[int, dict[bytes, int]]:
    """`_count_and_last` of a file read whole into `data` (the same answers, without reading again)."""
    lines = _newlines(data, 0, size)
    if size and data[size - 1] != 0x0A:
        lines += 1
    last = {}
    for n in needles:
        i = data.rfind(n, 0, size)
        if i >= 0:
            last[n] = i
    return lines, last


def _search_keys(needles: tuple[bytes, ...]) -> list[tuple[bytes, list[bytes]]]:
    """Needles grouped by a shared ending of at least 6 bytes (searched once for the group)."""
    groups: list[tuple[bytes, list[bytes]]] = []
    for n in needles:
        for i, (key, fulls) in enumerate(groups):
            k = 0
            while k < min(len(key), len(n)) and key[-1 - k] == n[-1 - k]:
                k += 1
            if k >= 6:
                groups[i] = (key[-k:], [*fulls, n])
                break
        else:
            groups.append((n, [n]))
    return groups


def _count_and_last(path: Path, size: int, needles: tuple[bytes, ...]) -> tuple[int, dict[bytes, int]]:
    """Lines in the first `size` bytes (a last line without its newline counts) and each needle's last
    position there, in one forward pass of blocks read into one reused buffer.  Not a memory map: a map
    would bring the whole file into this process's resident memory.  (Backwards, with `rfind` and a fresh
    buffer per block, a 1 GiB transcript took 3.1 s: `rfind` runs at a third of `find`'s speed here, and
    fresh buffers cost page faults.)"""
    lines = 0
    last: dict[bytes, int] = {}
    keys = _search_keys(needles)
    overlap = max((len(n) for n in needles), default=1) - 1
    buf = bytearray(min(_COUNT_BLOCK, size) + overlap)
    view = memoryview(buf)
    pos = keep = 0  # file offset of buf[0]; bytes of the previous block kept at the start of buf
    final = b"\n"
    with open(path, "rb", buffering=0) as f:
        while pos + keep < size:
            got = f.readinto(view[keep:keep + min(_COUNT_BLOCK, size - pos - keep)])
            if not got:
                break  # the file shrank under us: count what is there
            n = keep + got
            lines += _newlines(buf, keep, n)
            final = buf[n - 1:n]
            for key, fulls in keys:
                # One search per shared ending (`-title"` for both title types), each hit checked against
                # the needles that end with it.  Hits in the kept bytes are found again, at the same place.
                i = buf.find(key, 0, n)
                while i >= 0:
                    stop = i + len(key)
                    for full in fulls:
                        if stop >= len(full) and buf.endswith(full, 0, stop):
                            last[full] = pos + stop - len(full)
                    i = buf.find(key, i + 1, n)
            keep = min(overlap, n)
            buf[:keep] = buf[n - keep:n]
            pos += n - keep
    view.release()
    if final != b"\n":
        lines += 1
    return lines, last


def _walk_files(folder: Path) -> Iterator[Path]:
    """Regular files under `folder`, never following symlinks."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath, name)
            if name not in _NEVER and p.is_file() and not p.is_symlink():
                yield p


def _prompt_text(d: dict[str, Any]) -> str | None:
    msg = d.get("message")
    if not isinstance(msg, dict) or d.get("isMeta") or d.get("isSidechain"):
        return None
    content = msg.get("content")
    if isinstance(content, list):
        content = next(
            (b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"), None
        )
    if not isinstance(content, str):
        return None
    text = content.strip()
    if not text or text.startswith("<"):
        return None
    return " ".join(text.split())[:200]
