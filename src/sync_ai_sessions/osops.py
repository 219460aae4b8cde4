"""Every operation whose behaviour differs between Windows, macOS and Linux, in one place.

The rest of the program calls these instead of the raw `os`/`fcntl` functions (a ruff banned-API rule,
TID251 in pyproject.toml, keeps `fcntl`, `msvcrt`, `os.open`, `os.pread`, `os.pwrite`, `os.fsync`,
`os.link`, `os.rename`, `os.replace`, `os.kill` and `os.O_DIRECTORY` out of every other module).  Each
function picks its implementation once, at import, by what the running Python offers (so the
simulated-Windows test layer, which removes the POSIX-only parts, takes the Windows paths):

- `open_fd`: `os.open` with `O_BINARY` where it exists: a Windows descriptor is text mode by default
  and turns every LF written into CRLF (ciphertext, journals, appended JSON lines).
- `pread`/`pwrite`: positional I/O; on Windows a seek and a read/write under one lock, so the threads
  that write gist parts into one file do not move each other's offset.
- `fsync` (`F_FULLFSYNC` on macOS, where plain fsync stops at the drive's cache), `fsync_file` (opens
  the file for writing: Windows cannot flush a read-only handle), `fsync_dir` (nothing on Windows, which
  has no directory handles to flush and no `O_DIRECTORY`).
- `hardlink`: False on *any* refusal but "the name exists" (FAT/exFAT/SMB say EINVAL, antivirus EACCES,
  others EPERM/ENOTSUP/EXDEV/EMLINK): the caller copies instead.
- `rename_noreplace`: never replaces (renameat2/renamex_np where the kernel has them; Windows' rename
  never replaces).
- `replace`/`remove`: retried for about a second on a Windows sharing violation (another program, often
  an antivirus or the CLI itself, has the file open), never on any other error.
- `try_lock`/`release_lock`: an exclusive, non-blocking lock on an open file (flock, or msvcrt.locking).
- `pid_alive`: without `os.kill`, which on Windows does not probe but terminates.

Errors are the plain `OSError`s of the underlying calls; nothing here catches more than it documents.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None  # type: ignore[assignment]

WINDOWS = os.name == "nt"
MACOS = sys.platform == "darwin"

_O_EXTRA = getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", None)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_F_FULLFSYNC = getattr(fcntl, "F_FULLFSYNC", None) if fcntl is not None and MACOS else None

StrPath = str | os.PathLike[str]


# -- descriptors --------------------------------------------------------------------------------
def open_fd(path: StrPath, flags: int, mode: int = 0o666, *, nonblock: bool = False) -> int:
    """`os.open` in binary mode, not inherited by child processes; `nonblock` where the OS has it (so that
    opening a FIFO does not wait: callers check for a regular file after opening)."""
    return os.open(path, flags | _O_EXTRA | (_O_NONBLOCK if nonblock else 0), mode)


def open_read(path: StrPath, *, nonblock: bool = False) -> int:
    return open_fd(path, os.O_RDONLY, nonblock=nonblock)


_seek_lock = threading.Lock()


def _pread_seek(fd: int, n: int, offset: int) -> bytes:
    with _seek_lock:
        os.lseek(fd, offset, os.SEEK_SET)
        parts = []
        while n > 0:
            b = os.read(fd, n)
            if not b:
                break
            parts.append(b)
            n -= len(b)
    return b"".join(parts)


def _pwrite_seek(fd: int, data: bytes | bytearray | memoryview, offset: int) -> int:
    view = memoryview(data)
    with _seek_lock:
        os.lseek(fd, offset, os.SEEK_SET)
        while view:
            view = view[os.write(fd, view):]
    return len(data)


# "Read up to n bytes at offset."  The hot paths call the builtin itself where it exists: no wrapper.
pread = os.pread if hasattr(os, "pread") else _pread_seek

if hasattr(os, "pwrite"):

    def pwrite(fd: int, data: bytes | bytearray | memoryview, offset: int) -> int:
        """Write all of `data` at `offset`."""
        view = memoryview(data)
        total = len(view)
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
        return total

else:
    pwrite = _pwrite_seek


# -- durability ---------------------------------------------------------------------------------
def fsync(fd: int) -> None:
    """Flush `fd`'s data to the disk (the drive's cache too on macOS); `fd` must be open for writing on
    Windows."""
    if _F_FULLFSYNC is not None:
        try:
            fcntl.fcntl(fd, _F_FULLFSYNC)
            return
        except OSError:  # file systems without it (SMB, FAT): the plain call is the best there is
            pass
    os.fsync(fd)


def fsync_file(path: StrPath) -> None:
    """Flush a file we wrote by its name: through a descriptor opened for writing (Windows refuses to
    flush a read-only handle; POSIX does not care, but a read-only file falls back to reading)."""
    try:
        fd = open_fd(path, os.O_WRONLY)
    except PermissionError:
        if WINDOWS:
            raise
        fd = open_read(path)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: StrPath) -> None:
    """Make the names created in folder `path` durable; nothing to do (and no way to do it) on Windows."""
    if WINDOWS or _O_DIRECTORY is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- names ----------------------------------------------------------------------------------------
# Errors that say the disk itself cannot take the name (a copy would fail the same way): raised, not copied.
_NO_SPACE = {errno.ENOSPC, errno.EROFS, errno.EIO, getattr(errno, "EDQUOT", errno.ENOSPC)}


def hardlink(src: StrPath, dst: StrPath) -> bool:
    """Give `src` the second name `dst`.  True when linked; False when the file system or something on it
    refused the link, whatever the reason (the caller copies instead); FileExistsError when `dst` exists;
    the OSError itself for a full, read-only or failing disk."""
    try:
        os.link(src, dst)
        return True
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise
        return False


_SHARING_WINERRORS = {5, 32, 33}  # ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
_RETRY_DELAYS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.25)  # about one second in all


def is_sharing_violation(exc: BaseException) -> bool:
    """A Windows refusal because another program has the file open (worth waiting a moment for)."""
    return isinstance(exc, PermissionError) and getattr(exc, "winerror", None) in _SHARING_WINERRORS


def _retrying(fn: Any, *args: Any) -> Any:
    for delay in _RETRY_DELAYS:
        try:
            return fn(*args)
        except PermissionError as exc:
            if not is_sharing_violation(exc):
                raise
            time.sleep(delay)
    return fn(*args)


def replace(src: StrPath, dst: StrPath) -> None:
    """`os.replace`, retried briefly on a Windows sharing violation."""
    try:
        os.replace(src, dst)
    except PermissionError as exc:
        if not is_sharing_violation(exc):
            raise
        _retrying(os.replace, src, dst)


def remove(path: StrPath) -> None:
    """`os.unlink`, retried briefly on a Windows sharing violation."""
    try:
        os.unlink(path)
    except PermissionError as exc:
        if not is_sharing_violation(exc):
            raise
        _retrying(os.unlink, path)


_RENAME_NOREPLACE = 1  # linux/fs.h
_RENAME_EXCL = 4  # darwin stdio.h, for renamex_np
_libc: Any = None


def _c_rename_noreplace(src: str, dst: str) -> bool:
    """True when done by the kernel; False when this kernel/file system cannot say "no replace"."""
    global _libc
    import ctypes

    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    if not _libc:
        return False
    s, d = os.fsencode(src), os.fsencode(dst)
    if MACOS:
        fn, args = getattr(_libc, "renamex_np", None), (s, d, _RENAME_EXCL)
    else:
        fn, args = getattr(_libc, "renameat2", None), (-100, s, -100, d, _RENAME_NOREPLACE)  # AT_FDCWD
    if fn is None:
        return False
    if fn(*args) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)):
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def rename_noreplace(src: StrPath, dst: StrPath) -> None:
    """Rename `src` to `dst`, raising FileExistsError rather than replacing an existing `dst`.  On file
    systems that cannot refuse atomically (old kernels, some network file systems) it checks first."""
    if WINDOWS:
        _retrying(os.rename, src, dst)  # MoveFileEx without MOVEFILE_REPLACE_EXISTING: never replaces
        return
    if _c_rename_noreplace(os.fspath(src), os.fspath(dst)):
        return
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "File exists", str(dst))
    os.rename(src, dst)


# -- locks ------------------------------------------------------------------------------------------
def try_lock(fd: int) -> bool:
    """Take an exclusive lock on the open file `fd` without waiting; False when another process holds it.
    The lock goes when `fd` is closed (or the process dies)."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
    if msvcrt is not None:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
    raise OSError(errno.ENOTSUP, "no file locking on this platform")


def release_lock(fd: int, path: StrPath) -> None:
    """Give up the lock taken with `try_lock` on `fd` (the open file `path`) and remove the lock file.

    POSIX removes the name first, so that no waiter can lock a file that is about to disappear; Windows
    cannot remove a file that is open, so it closes first and removes it only if nobody opened it since
    (a waiter keeps it open, and the removal then fails harmlessly)."""
    if WINDOWS:
        if fcntl is None and msvcrt is not None:
            with contextlib.suppress(OSError):
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    with contextlib.suppress(OSError):
        os.unlink(path)
    os.close(fd)


# -- names Windows cannot hold ---------------------------------------------------------------------
_WIN_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$",
                 *(f"{d}{n}" for d in ("COM", "LPT") for n in [*"123456789", "\u00b9", "\u00b2", "\u00b3"])}
_WIN_ILLEGAL = set('<>:"/\\|?*') | {chr(c) for c in range(32)}
WIN_MAX_PATH = 260  # MAX_PATH, with its NUL: longer paths need the \\?\ form
WIN_MAX_LONG_PATH = 32767
WIN_MAX_COMPONENT = 255


def windows_name_problem(parts: list[str] | tuple[str, ...], full_length: int = 0) -> str | None:
    r"""Why Windows could not hold a file of these path components (below a folder that exists), or None.

    Device names (`CON`, `nul.txt`, `COM1.log`, case-insensitive, with any extension), the characters
    `< > : " / \ | ? *` and control characters, a trailing dot or space (Windows drops them, so the file
    lands under another name), components past 255 characters, paths past 32,767 (the `\\?\` form's
    limit; shorter long paths are written through that form, which every CLI reads too: Node's fs and
    Rust's std make long paths verbatim themselves)."""
    if full_length > WIN_MAX_LONG_PATH:
        return f"the path is {full_length} characters long, more than Windows allows ({WIN_MAX_LONG_PATH})"
    for part in parts:
        bad = sorted({ch for ch in part if ch in _WIN_ILLEGAL})
        if bad:
            shown = " ".join(repr(ch)[1:-1] if ord(ch) < 32 else ch for ch in bad)
            return f"{part!r} holds characters Windows does not allow in a name ({shown})"
        if part.endswith((".", " ")) and part not in (".", ".."):
            return f"{part!r} ends with a dot or a space, which Windows drops from names"
        if part.split(".", 1)[0].rstrip(" ").upper() in _WIN_RESERVED:
            return f"{part!r} is a device name on Windows ({part.split('.', 1)[0].upper()})"
        if len(part) > WIN_MAX_COMPONENT:
            return f"a name of {len(part)} characters is longer than Windows allows ({WIN_MAX_COMPONENT})"
    return None


def long_path(path: Path) -> Path:
    r"""`path` in the `\\?\` form when it is too long for the plain Windows API (a folder's limit is 248
    characters, a file's 260); unchanged elsewhere and when short."""
    if not WINDOWS:
        return path
    s = str(path)
    if len(s) < 248 or s.startswith("\\\\?\\"):
        return path
    import ntpath

    s = ntpath.abspath(s)
    if s.startswith("\\\\"):  # \\server\share\... -> \\?\UNC\server\share\...
        return Path("\\\\?\\UNC\\" + s[2:])
    return Path("\\\\?\\" + s)


def windows_dest_problem(dest: Path) -> str | None:
    """`windows_name_problem` for an absolute destination (its drive or share is not a name)."""
    from pathlib import PureWindowsPath

    return windows_name_problem(PureWindowsPath(dest).parts[1:], len(str(dest)))


# -- where things are -------------------------------------------------------------------------------
def user_home(env: Mapping[str, str]) -> Path:
    """The home folder as the AI CLIs find it.  On Windows that is USERPROFILE (Node's `os.homedir()`, which
    Claude Code, Gemini and Qwen use, reads it and ignores HOME; Codex asks Windows for the same profile
    folder): under Git Bash/MSYS, HOME names another folder, whose `.claude` no CLI would ever read.
    Elsewhere HOME, as Node and Rust read it."""
    if WINDOWS:
        profile = env.get("USERPROFILE")
        if not profile and env.get("HOMEDRIVE") and env.get("HOMEPATH"):
            profile = env["HOMEDRIVE"] + env["HOMEPATH"]
        return Path(profile) if profile else Path.home()
    return Path(env.get("HOME") or Path.home())


# -- processes ------------------------------------------------------------------------------------
def getuid() -> int:
    """The user id (0 where the OS has none: Windows)."""
    return os.getuid() if hasattr(os, "getuid") else 0


_STILL_ACTIVE = 259
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_ERROR_ACCESS_DENIED = 5


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a process we may not signal counts as alive)."""
    if pid <= 0:
        return False
    if WINDOWS:
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_alive_windows(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return ctypes.get_last_error() == _ERROR_ACCESS_DENIED  # ERROR_INVALID_PARAMETER: no such process
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == _STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
