"""The gist encoding: how a ciphertext file becomes gist files and how they are checked on the way back.

Layout of one handoff (nothing but the ciphertext's base64, generic names and a fixed marker):

* the *handoff gist* (its id is what `receive --gist` takes), description `sync-ai-sessions handoff`,
  holds `index.json` and the first parts `part-0001.txt` ... `part-0010.txt`;
* when the payload needs more than 10 parts, *part gists* (description `sync-ai-sessions handoff part`)
  each hold the next 10 parts.

Each part is the base64 of 720,000 ciphertext bytes (960,000 characters), so every file stays under the
API's 1 MB inline limit, and a gist request body stays under ~10 MB. `index.json` holds only counts,
sizes and SHA-256 hashes of the ciphertext parts, plus the ids of the part gists: no names, paths,
hosts or users. All gists are secret (`public: false`).

Pure data: no network here (`transports/gist.py` sends and fetches what this module writes and checks).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_ai_sessions.errors import FormatError, IOFailure, NotFoundError

MARKER = "sync-ai-sessions handoff"
PART_MARKER = "sync-ai-sessions handoff part"
INDEX_NAME = "index.json"
INDEX_FORMAT = "sync-ai-sessions/gist-index"
INDEX_VERSION = 1
PART_SIZE = 720_000  # ciphertext bytes per file -> 960,000 base64 chars (< 1 MB inline limit)
PARTS_PER_GIST = 10  # ~9.6 MB per request body, far below the 300-file listing limit
GIST_ID = re.compile(r"[0-9a-fA-F]{8,64}")


def part_name(n: int) -> str:
    return f"part-{n:04d}.txt"


def parse_gist_ref(ref: str) -> str:
    """A gist id, or a gist URL ending in one; anything else is a clear error (and never reaches argv)."""
    text = ref.strip().rstrip("/")
    if text.endswith(".git"):
        text = text[:-4]
    candidate = text.rsplit("/", 1)[-1]
    if not GIST_ID.fullmatch(candidate):
        raise NotFoundError(
            f"{ref!r} is not a gist id (expected the hex id that send printed)", code="bad_gist_id"
        )
    return candidate.lower()


@dataclass
class Expect:
    """What a gist we are creating will look like in the list of the user's gists: its own marker."""

    description: str
    sizes: dict[str, int]  # file name -> bytes of content
    probe: str  # one file whose content identifies this upload (a ciphertext part, or the index)
    probe_sha256: str


def index_document(
    *, size: int, part_size: int, parts_per_gist: int, gists: list[str], metas: list[dict[str, Any]]
) -> str:
    """The text of `index.json`: `metas` are the parts in order, each with its ciphertext size and sha256."""
    parts = [
        {
            "file": part_name(n),
            "gist": (n - 1) // parts_per_gist,
            "size": m["size"],
            "sha256": m["sha256"],
        }
        for n, m in enumerate(metas, start=1)
    ]
    return json.dumps(
        {
            "format": INDEX_FORMAT,
            "version": INDEX_VERSION,
            "encoding": "base64",
            "size": size,
            "part_size": part_size,
            "gists": gists,
            "parts": parts,
        },
        separators=(",", ":"),
    )


def write_body(
    payload: Path,
    tdir: Path,
    numbers: list[int],
    description: str,
    index_text: Callable[[list[dict[str, Any]]], str] | None,
    part_size: int,
) -> tuple[Path, list[dict[str, Any]], Expect]:
    """One gist's JSON body in a temp file (streamed, one part in memory), its parts, its marker."""
    fd, name = tempfile.mkstemp(dir=tdir, suffix=".json")
    body = Path(name)
    metas = []
    sizes: dict[str, int] = {}
    probe = ("", "")
    try:
        with os.fdopen(fd, "wb") as out, open(payload, "rb") as src:
            out.write(b'{"description":' + json.dumps(description).encode() + b',"public":false,"files":{')
            first = True
            for n in numbers:
                src.seek((n - 1) * part_size)
                chunk = src.read(part_size)
                metas.append({"n": n, "size": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
                text = base64.b64encode(chunk)
                sizes[part_name(n)] = len(text)
                if first:
                    probe = (part_name(n), hashlib.sha256(text).hexdigest())
                if not first:
                    out.write(b",")
                first = False
                out.write(b'"' + part_name(n).encode() + b'":{"content":"')
                out.write(text)
                out.write(b'"}')
            if index_text is not None:
                itext = index_text(metas).encode()
                sizes[INDEX_NAME] = len(itext)
                probe = (INDEX_NAME, hashlib.sha256(itext).hexdigest())
                if not first:
                    out.write(b",")
                out.write(b'"' + INDEX_NAME.encode() + b'":{"content":')
                out.write(json.dumps(itext.decode()).encode() + b"}")
            out.write(b"}}")
    except OSError as exc:
        body.unlink(missing_ok=True)
        raise IOFailure(f"cannot prepare the gist upload: {exc.strerror or exc}") from exc
    return body, metas, Expect(description, sizes, probe[0], probe[1])


def validate_index(index: Any, gid: str) -> dict[str, Any]:
    """Check the index is ours and self-consistent: parts numbered in order, sizes adding up."""
    bad = FormatError(f"gist {gid} has an index this version does not understand", code="not_ours")
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise bad
    if index.get("version") != INDEX_VERSION or index.get("encoding") != "base64":
        raise FormatError(
            f"gist {gid} uses handoff index version {index.get('version')!r}; upgrade sync-ai-sessions",
            code="unsupported_version",
        )
    size, parts, gists = index.get("size"), index.get("parts"), index.get("gists")
    if not isinstance(size, int) or size < 0 or not isinstance(parts, list) or not isinstance(gists, list):
        raise bad
    if not all(isinstance(g, str) and GIST_ID.fullmatch(g) for g in gists):
        raise bad
    total = 0
    for i, p in enumerate(parts, start=1):
        if (
            not isinstance(p, dict)
            or p.get("file") != part_name(i)
            or not isinstance(p.get("size"), int)
            or p["size"] <= 0
            or not isinstance(p.get("gist"), int)
            or not 0 <= p["gist"] <= len(gists)
            or not isinstance(p.get("sha256"), str)
            or not re.fullmatch(r"[0-9a-f]{64}", p["sha256"])
        ):
            raise bad
        total += p["size"]
    if total != size:
        raise bad
    return index
