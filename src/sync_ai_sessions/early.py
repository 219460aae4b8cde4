"""Start the key derivation before the program is imported.

scrypt costs about a second of one core, and importing the program (Click, Rich, zstd, cryptography, the
adapters) about 0.15 s more before a command even begins.  The command line is read here first, with the
standard library only: when it is `send` (not `--dry-run`), `receive --from FILE` or `inspect --from FILE`
and the passphrase is given without a prompt (`--passphrase-file` or the environment), scrypt starts on a
thread right away (`format.header.Key.start_early`), and the import runs meanwhile on the other core.  The command
later makes its `Key` as usual, which adopts this derivation when the passphrase and header are the same.

This is only a head start.  Anything unexpected (an option spelt another way, an unreadable file, a header
that is not ours) means nothing is started, and the command reports problems itself, in the usual place.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence

from sync_ai_sessions import osops
from sync_ai_sessions.format.header import HEADER_LEN, Header, Key
from sync_ai_sessions.passphrase import given_passphrase


def _option(args: Sequence[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` (the last one, as Click takes it)."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg[len(name) + 1:]
    return value


def start(argv: Sequence[str], env: Mapping[str, str] | None = None) -> bool:
    """Start deriving the key that the command in `argv` (without the program name) will need; True if a
    derivation was started."""
    env = os.environ if env is None else env
    try:
        if not argv or argv[0] not in ("send", "receive", "inspect") or "--" in argv:
            return False
        args = argv[1:]
        if "-h" in args or "--help" in args or (argv[0] == "send" and "--dry-run" in args):
            return False  # a dry-run send needs no key
        given = given_passphrase(env, passphrase_file=_option(args, "--passphrase-file"))
        if given is None or not given[0]:
            return False
        passphrase = given[0]
        if argv[0] == "send":
            Key.start_early(passphrase, Header.new(), new=True)
            return True
        src = _option(args, "--from")
        if not src:
            return False
        # Regular files only: a FIFO or /dev/stdin must not wait here, nor lose bytes to this peek.
        if not stat.S_ISREG(os.stat(src).st_mode):
            return False  # checked before opening too: not every OS can open a FIFO without waiting
        fd = osops.open_read(src, nonblock=True)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            raw = osops.pread(fd, HEADER_LEN, 0)
        finally:
            os.close(fd)
        header, _mac = Header.parse(raw)
        Key.start_early(passphrase, header)
        return True
    except Exception:  # the command finds and reports the problem itself
        return False
