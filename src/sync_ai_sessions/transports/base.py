"""The interface every storage transport implements.

A transport only ever sees ciphertext: the finished payload file written by `sync_ai_sessions.format.container`.
It must not add anything readable about the repo, the sessions or the user.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# progress(done_bytes, total_bytes) -- total may be None when unknown
Progress = Callable[[int, int | None], None]


@dataclass
class Stored:
    """Where a payload went: `ref` is what `receive` needs (a gist id, a file path)."""

    ref: str
    kind: str  # "gist" | "file"
    size: int  # ciphertext bytes
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"url": ..., "gists": [...]}


@dataclass
class Handoff:
    """One handoff stored by a transport that can enumerate them, as `list` shows it: nothing decrypted
    (for the gist transport `gists` are the part gists and `kind` may be "orphan-part")."""

    id: str
    created_at: str
    age_seconds: int
    size: int | None  # ciphertext bytes, from the index (None if unreadable)
    parts: int | None
    gists: list[str] = field(default_factory=list)  # part gists
    url: str | None = None
    kind: str = "handoff"  # "handoff" | "orphan-part"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Transport(ABC):
    """One storage place for ciphertext.  Contracts (every registered transport passes tests/transport_suite.py):

    - `upload` then `download(stored.ref)` gives back the same bytes.
    - `download` of a reference that does not exist raises `NotFoundError`; `dest` is then not made.
    - `delete` returns the references it removed; it is idempotent in effect: deleting what is already
      gone changes nothing and raises `NotFoundError` (so `delete ID` can say the id was wrong).
    - `list_handoffs`/`prune` are optional (`NotImplementedError` when a transport cannot enumerate).
    """

    kind: str

    def describe(self) -> dict[str, Any]:
        """What `send --dry-run --json` says about the destination (the file transport: {"file": path})."""
        return {}

    def checks_on_dry_run(self) -> bool:
        """Whether `send --dry-run` runs `preflight` too (cheap, local checks only)."""
        return False

    def preflight(self) -> None:
        """Check, before any work, that `upload` can succeed (login, permissions); raise a SyncError if not."""
        return None  # nothing to check for most transports

    def scratch(self, staging: Path) -> Path:
        """Where `send` writes the ciphertext before `upload`: by default a private file in `staging`."""
        fd, name = tempfile.mkstemp(prefix="send-", dir=staging)
        os.close(fd)
        return Path(name)

    def release(self, payload: Path) -> None:
        """After `send`, success or not: remove the scratch file (a transport may keep it to resume)."""
        Path(payload).unlink(missing_ok=True)

    def local(self, ref: str) -> Path | None:
        """The payload for `ref` when it can be read where it is (no download needed), else None."""
        return None

    @abstractmethod
    def upload(self, payload: Path, *, progress: Progress | None = None) -> Stored:
        """Store the ciphertext file `payload`; on failure leave nothing half-made behind."""

    @abstractmethod
    def download(self, ref: str, dest: Path, *, progress: Progress | None = None) -> None:
        """Write the ciphertext stored under `ref` to the new file `dest`, complete or not at all."""

    def delete(self, ref: str) -> list[str]:  # optional
        """Remove what `ref` names (all its parts); return the references removed; NotFoundError if gone."""
        raise NotImplementedError

    def list_handoffs(self) -> list[Handoff]:  # optional
        """Our handoffs stored here, newest first; a transport that cannot enumerate raises NotImplementedError."""
        raise NotImplementedError

    def prune(self, older_than_days: float, *, dry_run: bool = False) -> list[Handoff]:  # optional
        """Delete (or with dry_run only list) our handoffs older than `older_than_days`; return them."""
        raise NotImplementedError
