"""The file transport: the payload is a file you carry (USB stick, Syncthing or cloud folder, scp)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sync_ai_sessions.errors import IOFailure, NotFoundError
from sync_ai_sessions.transports.base import Progress, Stored, Transport


class FileTransport(Transport):
    kind = "file"

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def upload(self, payload: Path, *, progress: Progress | None = None) -> Stored:
        dest = self.path
        if dest.is_dir():
            raise IOFailure(f"--to {dest} is a folder: give a file name, e.g. {dest / 'handoff.sais'}")
        if not dest.parent.exists():
            raise NotFoundError(f"folder {dest.parent} does not exist", code="no_folder")
        tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
        try:
            if payload.resolve() != tmp.resolve():
                shutil.copyfile(payload, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise IOFailure(f"cannot write {dest}: {exc.strerror or exc}") from exc
        return Stored(ref=str(dest), kind="file", size=dest.stat().st_size)

    def download(self, ref: str, dest: Path, *, progress: Progress | None = None) -> None:
        src = Path(ref)
        if not src.is_file():
            raise NotFoundError(f"handoff file {src} not found", code="no_file")
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            raise IOFailure(f"cannot read {src}: {exc.strerror or exc}") from exc
