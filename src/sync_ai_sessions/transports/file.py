"""The file transport: the payload is a file you carry (USB stick, Syncthing or cloud folder, scp).

`send` writes the ciphertext straight beside the destination (`scratch`) and `upload` renames it into
place, so a reader never sees a half-written handoff and nothing is copied; `receive` reads the file
where it is (`local`).  An existing file is never replaced unless `overwrite` is set (`send --force`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sync_ai_sessions import osops
from sync_ai_sessions.errors import ConflictError, IOFailure, NotFoundError, UsageError
from sync_ai_sessions.transports.base import Progress, Stored, Transport


class FileTransport(Transport):
    kind = "file"

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False):
        self.path = Path(os.path.abspath(path))
        self.overwrite = overwrite

    def describe(self) -> dict[str, str]:
        return {"file": str(self.path)}

    def checks_on_dry_run(self) -> bool:
        return True

    def preflight(self) -> None:
        dest = self.path
        if dest.is_dir():
            raise UsageError(f"--to {dest} is a folder: give a file name, e.g. {dest / 'handoff.sais'}")
        if not dest.parent.is_dir():
            raise NotFoundError(f"folder {dest.parent} does not exist", code="no_folder")
        if not self.overwrite and os.path.lexists(dest):
            raise ConflictError(f"{dest} already exists: nothing was written (--force replaces it)",
                                code="file_exists")

    def scratch(self, staging: Path) -> Path:
        return self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")

    def upload(self, payload: Path, *, progress: Progress | None = None) -> Stored:
        self.preflight()
        dest = self.path
        try:
            if payload.parent.resolve() != dest.parent.resolve():
                tmp = self.scratch(dest.parent)
                shutil.copyfile(payload, tmp)
                payload = tmp
            if self.overwrite:
                osops.replace(payload, dest)
            else:  # never replaces: a file that appeared since preflight is kept
                try:
                    osops.rename_noreplace(payload, dest)
                except FileExistsError:
                    payload.unlink(missing_ok=True)
                    raise ConflictError(f"{dest} already exists: nothing was written (--force replaces it)",
                                        code="file_exists") from None
        except OSError as exc:
            raise IOFailure(f"cannot write {dest}: {exc.strerror or exc}") from exc
        return Stored(ref=str(dest), kind="file", size=dest.stat().st_size)

    def local(self, ref: str) -> Path | None:
        src = Path(ref)
        if not src.is_file():
            raise NotFoundError(f"handoff file {src} not found", code="no_file")
        return src

    def delete(self, ref: str) -> list[str]:
        src = Path(ref)
        try:
            src.unlink()
        except FileNotFoundError:
            raise NotFoundError(f"handoff file {src} not found", code="no_file") from None
        except OSError as exc:
            raise IOFailure(f"cannot delete {src}: {exc.strerror or exc}") from exc
        return [str(src)]

    def download(self, ref: str, dest: Path, *, progress: Progress | None = None) -> None:
        try:
            shutil.copyfile(self.local(ref) or ref, dest)
        except OSError as exc:
            raise IOFailure(f"cannot read {ref}: {exc.strerror or exc}") from exc
