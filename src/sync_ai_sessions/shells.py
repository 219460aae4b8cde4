"""Commands we print for the user to paste (`cd <clone> && claude --resume <id>`, `receive --from FILE`),
written in the syntax of the shell they will be pasted into.

Three families: POSIX sh (bash, zsh, dash, fish, Git Bash: single quotes, `'\\''` for a quote inside,
`&&`), PowerShell (5.1 and 7: single quotes doubled inside, and the typographic single quotes too, which
PowerShell also takes for quotes; `cd -LiteralPath` so that `[` and `*` in a folder name are not
wildcards; no `&&` in 5.1, hence `; if ($?) { ... }`), and cmd.exe (double quotes, `cd /d` to change
drive too).  The shell is `SYNC_AI_SESSIONS_SHELL` (sh | powershell | cmd) when set; otherwise sh
everywhere but Windows, where Git Bash/MSYS (MSYSTEM) means sh, and the shell that started us is asked
of `shellingham` (it walks the parent processes); PowerShell, Windows' default, when that says nothing.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping, Sequence

from sync_ai_sessions import osops

SH, POWERSHELL, CMD = "sh", "powershell", "cmd"
ENV = "SYNC_AI_SESSIONS_SHELL"
_NAMES = {
    "sh": SH, "bash": SH, "zsh": SH, "dash": SH, "ksh": SH, "fish": SH, "posix": SH,
    "powershell": POWERSHELL, "pwsh": POWERSHELL, "ps": POWERSHELL,
    "cmd": CMD, "cmd.exe": CMD,
}
_PS_SAFE = re.compile(r"[A-Za-z0-9_./:\\=+-]+\Z")  # no quote, $, `, space, ; , @ ( ) { } % #
_CMD_SAFE = re.compile(r"[A-Za-z0-9_./:\\=+-]+\Z")  # no space, & | < > ^ % ! ( ) "
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def user_shell(env: Mapping[str, str]) -> str:
    """sh | powershell | cmd: the shell the user will paste our commands into."""
    named = _NAMES.get(env.get(ENV, "").strip().lower())
    if named:
        return named
    if not osops.WINDOWS:
        return SH
    if env.get("MSYSTEM"):  # Git Bash, MSYS2, Cygwin-like shells
        return SH
    return _detect_windows_shell() or POWERSHELL


@functools.cache  # it walks the process tree: once per command is enough
def _detect_windows_shell() -> str | None:
    try:
        import shellingham

        name, _path = shellingham.detect_shell()
    except Exception:  # not installed, or no shell among the parents: the default applies
        return None
    return _NAMES.get(name.lower().removesuffix(".exe"))


def quote(arg: str, shell: str) -> str:
    """`arg` as one word of `shell`'s command line."""
    if shell == POWERSHELL:
        if _PS_SAFE.match(arg):
            return arg
        return "'" + "".join(ch * 2 if ch in _PS_QUOTES else ch for ch in arg) + "'"
    if shell == CMD:
        if _CMD_SAFE.match(arg):
            return arg
        return '"' + arg.replace('"', '""') + '"'  # a Windows path cannot hold '"'; other text can
    return shlex.quote(arg)


def join(argv: Sequence[str], shell: str) -> str:
    return " ".join(quote(a, shell) for a in argv)


def in_folder(folder: str, argv: Sequence[str], shell: str) -> str:
    """The command line that runs `argv` in `folder` (and not elsewhere if the folder is missing)."""
    cmd = join(argv, shell)
    if shell == POWERSHELL:
        return f"cd -LiteralPath {quote(folder, shell)}; if ($?) {{ {cmd} }}"
    if shell == CMD:
        return f"cd /d {quote(folder, shell)} && {cmd}"
    return f"cd {quote(folder, shell)} && {cmd}"
