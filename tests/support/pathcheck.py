"""Checks that a rewritten session holds no path of the source machine, in any form, and only
well-formed paths of the target (shared by the cross-flavour rewrite tests and the per-adapter proof)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sync_ai_sessions import pathflavor as pf
from sync_ai_sessions.engine.rewrite_cross import PATH_KEYS


def strings(doc: Any, key: str | None = None, depth: int = 0) -> Iterator[tuple[str | None, str, int]]:
    """(key, string, JSON-in-JSON depth) of every string in a parsed document, nested JSON documents
    decoded and walked too."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from strings(v, k, depth)
    elif isinstance(doc, list):
        for v in doc:
            yield from strings(v, key, depth)
    elif isinstance(doc, str):
        yield key, doc, depth
        if doc.lstrip()[:1] in ("{", "["):
            try:
                inner = json.loads(doc)
            except ValueError:
                return
            yield from strings(inner, None, depth + 1)


def source_forms(old: str, fl: pf.Flavor) -> list[str]:
    """Lower-cased spellings of a source path that must not survive (any case, any separator)."""
    forms = {s.text.lower() for s in pf.spellings(old, fl)}
    if fl.windows:
        forms |= {f.replace("\\", "/") for f in forms}
    return sorted(forms)


_URL = re.compile(r"file://[^\s\"'<>`{}/]*/[^\s\"'<>`{}]*", re.IGNORECASE)  # with a path


def check_lines(data: bytes, olds: list[str], source: pf.Flavor, target: pf.Flavor,
                *, arguments_key: str = "arguments") -> int:
    """Assert the proof's properties over every line of `data`; returns how many strings were looked at."""
    forms = [f for old in olds for f in source_forms(old, source)]
    pct_forms = [pf.file_url(old, source).lower() for old in olds]
    seen = 0
    try:
        docs = [json.loads(data)]  # one (pretty-printed) document
    except ValueError:
        docs = [json.loads(line) for line in data.splitlines() if line.strip()]  # every line still parses
    for n, doc in enumerate(docs):
        for key, s, _depth in strings(doc):
            seen += 1
            low = s.lower()
            for f in forms:
                assert f not in low, f"line {n}: source form {f!r} left in {s[:200]!r}"
            for f in pct_forms:
                assert f not in low, f"line {n}: source URL {f!r} left in {s[:200]!r}"
            if key == arguments_key:
                json.loads(s)  # Codex's arguments stay JSON
            for url in _URL.findall(s):
                p = pf.url_path(url.split("#")[0].split("?")[0], target)
                assert p is not None and pf.file_url(p, target).lower() == url.split("#")[0].split("?")[0].lower(), url
            if key in PATH_KEYS and pf.is_windows_path(s) == target.windows and len(s) > 1:
                wrong = "/" if target.windows else "\\"
                body = s[2:] if target.windows else s
                assert wrong not in body or s.startswith(("//", "\\\\?")), f"line {n}: mixed separators {s!r}"
    return seen
