"""Uploads kept to be continued: the resumable state of a gist upload that stopped half-way.

`GistTransport.scratch()` puts the ciphertext in a private folder of our config dir,
`<config>/uploads/<random>/payload.bin`; `upload()` records next to it, in `state.json`, which part
gists already exist. A send interrupted by a network error, a rate limit or Ctrl-C leaves both, and the
next send of the same payload finds them here. Only local files: nothing of this is uploaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops
from sync_ai_sessions.config import private_dir

UPLOADS_DIR = "uploads"
PAYLOAD_NAME = "payload.bin"
STATE_NAME = "state.json"


@dataclass
class Saved:
    """An upload that stopped half-way (network, Ctrl-C, a long rate limit), kept to be continued.

    It lives in a private folder of our config dir: the ciphertext (`payload.bin`) and `state.json`
    (which part gists are already on GitHub, when it started, the `key` of the sessions it carries and
    what `send` reported about them). Nothing of it is uploaded; GitHub only ever sees the parts."""

    payload: Path
    state: dict[str, Any]

    @property
    def total(self) -> int:
        return int(self.state.get("groups", 0))

    @property
    def done(self) -> int:
        return len(self.state.get("gists") or {})

    @property
    def started(self) -> str:
        return str(self.state.get("started", ""))

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.state.get("summary") or {})


class SavedUploads:
    """The folder of kept uploads: `<config>/uploads/<random>/{payload.bin,state.json}`, all private."""

    def __init__(self, root: Path):
        self.root = root

    def new(self) -> Path:
        d = Path(tempfile.mkdtemp(prefix="up-", dir=private_dir(self.root)))
        os.chmod(d, 0o700)
        return d / PAYLOAD_NAME

    def owns(self, payload: Path) -> bool:
        try:
            return payload.parent.parent.resolve() == self.root.resolve() and payload.name == PAYLOAD_NAME
        except OSError:
            return False

    def load(self, payload: Path) -> Saved | None:
        try:
            state = json.loads((payload.parent / STATE_NAME).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(state, dict) or state.get("version") != 1 or not payload.is_file():
            return None
        return Saved(payload, state)

    def save(self, saved: Saved) -> None:
        path = saved.payload.parent / STATE_NAME
        tmp = path.with_name(STATE_NAME + ".tmp")
        fd = osops.open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(saved.state).encode())
            fh.flush()
            osops.fsync(fh.fileno())
        osops.replace(tmp, path)

    def discard(self, payload: Path) -> None:
        if self.owns(payload):
            shutil.rmtree(payload.parent, ignore_errors=True)
        else:
            payload.unlink(missing_ok=True)

    def all(self) -> list[Saved]:
        out = []
        with contextlib.suppress(OSError):
            for d in self.root.iterdir():
                s = self.load(d / PAYLOAD_NAME)
                if s is not None:
                    out.append(s)
        out.sort(key=lambda s: s.started, reverse=True)
        return out

    def leftovers(self, older_than: float) -> list[Path]:
        """Folders without a usable state (a send killed while packing), older than `older_than` s."""
        out = []
        now = datetime.now(UTC).timestamp()
        with contextlib.suppress(OSError):
            for d in self.root.iterdir():
                if d.is_dir() and self.load(d / PAYLOAD_NAME) is None:
                    with contextlib.suppress(OSError):
                        if now - d.stat().st_mtime > older_than:
                            out.append(d)
        return out
