"""Placing files inside a tool's folder: the inside-the-home check (no symlink or special file on the
way), atomic replacement of a small file, and waiting for a tool's own lock folder."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from sync_ai_sessions import osops
from sync_ai_sessions.adapters.base import ImportContext
from sync_ai_sessions.errors import ConflictError, UnsafePayloadError


def planning_exists(ctx: ImportContext, path: Path) -> bool:
    """`path.exists()`, remembered while the engine plans (nothing is placed until `apply`, which never
    replaces a file that appeared since: it refuses)."""
    if ctx.lookups is None:
        return path.exists()
    cache = ctx.lookups.setdefault("exists", {})
    got = cache.get(path)
    if got is None:
        got = cache[path] = path.exists()
    return got


def check_inside(home: Path, dest: Path, *, home_real: Path | None = None,
                 folders: set[str] | None = None, absent: set[str] | None = None) -> Path:
    """`dest` as a real path inside the real `home`, with no symlink or special file on the way.

    For many files of one import: `home_real` is `home`'s real path, and `folders` collects the folders
    found to be real directories (not symlinks), so each is looked at once per import, not once per file;
    `absent` the folders found missing (while planning nothing is made: on a fresh machine every file's
    check stopped at the same missing `projects`, one failed lstat each).
    """
    if home_real is None:
        home_real = Path(os.path.realpath(home))
    rel = os.path.relpath(os.path.normpath(dest), os.path.normpath(home))
    if os.path.isabs(rel) or rel == "." or rel.split(os.sep)[0] == "..":
        raise UnsafePayloadError(f"refusing to write outside the tool's folder {home}: {dest}")
    cur = str(home_real)
    parts = rel.split(os.sep)
    for i, part in enumerate(parts):
        cur = os.path.join(cur, part)
        last = i == len(parts) - 1
        if not last and folders is not None and cur in folders:
            continue
        if not last and absent is not None and cur in absent:
            break
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            if not last and absent is not None:
                absent.add(cur)
            break
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePayloadError(f"refusing to write through the symlink {cur}")
        if (not last and not stat.S_ISDIR(st.st_mode)) or (last and not stat.S_ISREG(st.st_mode)):
            raise UnsafePayloadError(f"refusing to write over the special file or folder {cur}")
        if not last and folders is not None:
            folders.add(cur)
    return osops.long_path(home_real / rel)  # Windows: the \\?\ form past 248 characters


BUSY_WAIT_S = 10.0  # how long to wait for a tool's lock folder (FileEdit.busy) to go
BUSY_STALE_S = 10.0  # a lock folder older than this is a crashed holder's (proper-lockfile's default)


def read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def put_bytes(path: Path, data: bytes | None, *, mode: int = 0o644) -> None:
    """Make `path` hold `data` (None: no file), atomically: a temporary beside it, then renamed over it."""
    if data is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".sais-{os.urandom(4).hex()}.partial")
    try:
        fd = osops.open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            osops.fsync(fh.fileno())
        osops.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def wait_until_free(lock: Path, what: Path) -> None:
    """Wait while another program holds `lock` (a lock folder it keeps fresh, as proper-lockfile does) for
    `what`; refuse after BUSY_WAIT_S."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while True:
        try:
            age = time.time() - os.stat(lock).st_mtime
        except FileNotFoundError:
            return
        if age > BUSY_STALE_S:
            return
        if time.monotonic() > deadline:
            raise ConflictError(f"{what} is locked by a running program ({lock}): close it and try again",
                                code="locked")
        time.sleep(0.1)
