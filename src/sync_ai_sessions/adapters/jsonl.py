"""Helpers shared by the adapters of tools that keep a session as one transcript of JSON lines (plus
sidecar files): reading it (a record, the complete part, a timestamp), describing it for send, and
the common steps of staging it (its ids, the payload's files, the sender's paths turned into ours)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync_ai_sessions.adapters.base import ImportContext, Session, SessionManifest, arc_parts
from sync_ai_sessions.engine.rewrite import Rule
from sync_ai_sessions.errors import UnsafePayloadError


def load_object(line: bytes) -> dict[str, Any] | None:
    """The JSON object on `line`, or None for anything else (a torn line, junk, an array)."""
    try:
        d = json.loads(line)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


def newlines(buf: bytearray | bytes, a: int, b: int) -> int:
    """Newlines in buf[a:b].  Transcript lines are long (kilobytes: tool output, pasted images), so hopping
    from one to the next with `find` (memchr) beats `count`, which looks at every byte (0.13 against
    0.42 s per GiB here); where lines turn out short, `count` takes the rest."""
    n = 0
    i = buf.find(b"\n", a, b)
    while i >= 0:
        n += 1
        if n == 64 and i - a < 64 * 256:  # lines under 256 bytes on average: count the rest
            return n + buf.count(b"\n", i + 1, b)
        i = buf.find(b"\n", i + 1, b)
    return n


def complete_size(path: Path, size: int) -> int:
    """`size` cut back to the end of the last complete line (a writer may be mid-line)."""
    if size == 0:
        return 0
    with open(path, "rb") as f:
        pos = size
        while pos > 0:
            step = min(pos, 1 << 16)
            f.seek(pos - step)
            block = f.read(step)
            i = block.rfind(b"\n")
            if i >= 0:
                return pos - step + i + 1
            pos -= step
    return size  # one line without a newline: carry it as is


def iso_time(ts: str | None, fallback: float) -> str:
    if ts:
        try:
            dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
        except ValueError:
            pass
    return datetime.fromtimestamp(fallback, UTC).isoformat().replace("+00:00", "Z")


def newest(paths: Iterable[Path]) -> Path | None:
    """The most recently modified of `paths` (the transcript a tool wrote last), None when there is none."""
    best: tuple[float, Path] | None = None
    for p in paths:
        try:
            m = p.stat().st_mtime
        except OSError:
            continue
        if best is None or m > best[0]:
            best = (m, p)
    return best[1] if best else None


def cwd_rel(cwd: str, root: str) -> str:
    """`cwd` relative to the repo root `root`, POSIX ("" for the root itself)."""
    rel = os.path.relpath(cwd, root) if cwd != root else ""
    return "" if rel == "." else rel.replace(os.sep, "/")


def described(sid: str, files: list[Any], cwd: str, root: str, info: dict[str, Any], mtime: float,
              meta: dict[str, Any]) -> Session:
    """The Session for a transcript scanned into `info` ("title", "timestamp", "lines", "version")."""
    return Session(id=sid, files=files, cwd_rel=cwd_rel(cwd, root), title=info["title"],
                   last_activity=iso_time(info["timestamp"], mtime), lines=info["lines"],
                   tool_version=info["version"], meta=meta)


def check_ids(session: SessionManifest, new_id: str | None, pattern: re.Pattern[str]) -> tuple[str, str]:
    """(the session's id, the id it is staged under), refusing either when `pattern` does not match it."""
    for sid in (session.id, new_id):
        if sid is not None and not pattern.match(sid or ""):
            raise UnsafePayloadError(f"refusing unsafe session id in the payload: {sid!r}")
    return session.id, new_id or session.id


def payload_files(session: SessionManifest, files: Mapping[str, Path]) -> Iterator[tuple[str, list[str], Path, Any]]:
    """(arcname, its parts checked safe, the received file, role) for each file of `session` that came."""
    for entry in session.files:
        arcname = str(entry.get("arcname", ""))
        parts = arc_parts(arcname)
        src = files.get(arcname)
        if src is not None:
            yield arcname, parts, Path(src), entry.get("role")


@dataclass
class Moved:
    """Where the session was on the sender (as the sender spelled it) and where it is here."""

    sep: str  # the sender's path separator
    old_root: str
    old_cwd: str
    new_root: str
    new_cwd: str

    def rules(self) -> list[Rule]:
        return [Rule(self.old_root, self.new_root), Rule(self.old_cwd, self.new_cwd)]


def moved(session: SessionManifest, ctx: ImportContext, target_cwd: Path) -> Moved:
    """The repo root and the session's cwd on the sender (its recorded `meta["cwd"]`, else the root plus
    `cwd_rel`) and here."""
    src = ctx.source
    sep = "\\" if src.os_flavor == "windows" else "/"
    old_root = src.repo_root.rstrip("/\\") or src.repo_root
    old_cwd = session.meta.get("cwd") if isinstance(session.meta.get("cwd"), str) else None
    if not old_cwd:
        rel = session.cwd_rel or ""
        old_cwd = old_root + (sep + rel.replace("/", sep) if rel else "")
    return Moved(sep, old_root, old_cwd, str(Path(ctx.realpath(ctx.target.root))), str(target_cwd))


def home_rule(old: Any, new: str) -> list[Rule]:
    """The rule moving the sender's user home `old` to `new`; none for a missing or too short one (a
    home of `/` or `C:\\` would rewrite every path)."""
    if isinstance(old, str) and len(old.strip("/\\")) > 2:
        return [Rule(old, new)]
    return []
