"""Give this Python the surface CPython has on Windows, as far as a POSIX program can tell.

Loaded at start-up by the subprocesses of tests/winsim (PYTHONPATH points here).  It makes the POSIX-only
modules unimportable (`fcntl`, `termios`, `tty`, `pty`, `pwd`, `grp`, `resource`), removes the POSIX-only
`os` functions and constants our code could reach for (`os.pread`, `os.pwrite`, `os.O_DIRECTORY`,
`os.O_NONBLOCK`, `os.getuid`), and provides `msvcrt.locking` (after importing `subprocess` and `getpass`,
which test for msvcrt to decide they run on Windows: they keep their Linux implementations) as the Windows
documentation describes it:
lock or unlock `nbytes` from the descriptor's current position; LK_NBLCK/LK_NBRLCK raise OSError (EACCES)
when the bytes are locked by someone else, LK_LOCK/LK_RLCK retry once a second ten times and then raise
OSError (EDEADLOCK), LK_UNLCK of bytes that are not locked raises OSError (EACCES).  (Windows locks
belong to a handle; these, built on POSIX record locks, to the process: the tests lock from separate
processes.)  `os.name`, path syntax and file-system semantics stay Linux's: what cannot be simulated is
tested on the real runners by .github/workflows/ci.yml.
"""

import errno as _errno
import fcntl as _fcntl  # kept privately, for the msvcrt stand-in only
import os as _os
import sys as _sys
import time as _time
import types as _types

BLOCKED = ("fcntl", "termios", "tty", "pty", "pwd", "grp", "resource")
REMOVED = ("pread", "pwrite", "O_DIRECTORY", "O_NONBLOCK", "getuid")


class _WindowsHasNoSuchModule:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


for _name in BLOCKED:
    _sys.modules.pop(_name, None)
_sys.meta_path.insert(0, _WindowsHasNoSuchModule())
for _attr in REMOVED:
    if hasattr(_os, _attr):
        delattr(_os, _attr)

_msvcrt = _types.ModuleType("msvcrt", "Windows msvcrt stand-in (locking only)")
_msvcrt.LK_UNLCK, _msvcrt.LK_LOCK, _msvcrt.LK_NBLCK, _msvcrt.LK_RLCK, _msvcrt.LK_NBRLCK = 0, 1, 2, 3, 4


def _locking(fd: int, mode: int, nbytes: int) -> None:
    pos = _os.lseek(fd, 0, _os.SEEK_CUR)
    if mode == _msvcrt.LK_UNLCK:
        _fcntl.lockf(fd, _fcntl.LOCK_UN, nbytes, pos, 0)
        return
    if mode not in (1, 2, 3, 4):
        raise ValueError("invalid locking mode")
    kind = _fcntl.LOCK_SH if mode in (3, 4) else _fcntl.LOCK_EX
    for attempt in range(10 if mode in (1, 3) else 1):
        try:
            _fcntl.lockf(fd, kind | _fcntl.LOCK_NB, nbytes, pos, 0)
            return
        except OSError:
            if mode in (2, 4):
                raise OSError(_errno.EACCES, "Permission denied") from None
            if attempt < 9:
                _time.sleep(1)
    raise OSError(_errno.EDEADLK, "Resource deadlock avoided")


_msvcrt.locking = _locking
# The standard library's Linux modules that test for msvcrt to decide they run on Windows are imported
# first, without it: they keep working as on Linux, and our code finds msvcrt.
import getpass as _getpass  # noqa: E402, F401
import subprocess as _subprocess  # noqa: E402, F401

_sys.modules["msvcrt"] = _msvcrt
_os.environ["SAIS_WINSIM"] = "1"  # lets a test see that the layer was loaded
