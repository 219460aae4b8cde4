"""Reading JSONL session files: helpers shared by the adapters of tools that keep one JSON record a line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def load_object(line: bytes) -> dict[str, Any] | None:
    """The JSON object on `line`, or None for anything else (a torn line, junk, an array)."""
    try:
        d = json.loads(line)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


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
