"""Repo identity: the git root of a folder and its remotes, normalised so clones match across machines."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sync_ai_sessions.errors import NotFoundError, UsageError

# Hosts where owner and repository names are case-insensitive (GitHub, GitLab, Bitbucket).
CASE_INSENSITIVE_HOSTS = {"github.com", "gitlab.com", "bitbucket.org"}

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/\s]+)@)?(?P<host>[^:/\s]+):(?!//)(?P<path>.+)$")
_URL = re.compile(
    r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?:(?P<auth>[^@/]*)@)?(?P<host>\[[^\]]+\]|[^:/]+)"
    r"(?::(?P<port>\d*))?(?P<path>/.*)?$"
)


def normalize_remote(url: str) -> str:
    """Return `host/owner/repo` for a git remote URL, or `file:<path>` for local remotes.

    https://, http://, git://, ssh:// and scp-like `user@host:owner/repo` forms of the same repository
    give the same string: user names, credentials, ports, a trailing `.git` and `/` are dropped, the host
    is lower-cased, and on github.com, gitlab.com and bitbucket.org the whole path is lower-cased too.
    """
    u = url.strip()
    if not u:
        raise ValueError("empty remote URL")
    if u.lower().startswith("file://"):
        return "file:" + _clean_path(u[len("file://"):])
    m = _URL.match(u)
    if m and m.group("scheme").lower() != "file":
        host = m.group("host").lower()
        path = m.group("path") or ""
    elif m:  # file://
        return "file:" + _clean_path(m.group("path") or "")
    else:
        s = _SCP_LIKE.match(u)
        if s and not u.startswith(("/", ".")) and not re.match(r"^[A-Za-z]:[\\/]", u):
            host = s.group("host").lower()
            path = s.group("path")
        else:
            return "file:" + _clean_path(u)
    path = _clean_path(path)
    if host.startswith("www."):
        host = host[4:]
    if host in CASE_INSENSITIVE_HOSTS or (host.startswith("ssh.") and host[4:] in CASE_INSENSITIVE_HOSTS):
        host = host.removeprefix("ssh.")
        path = path.lower()
    return f"{host}/{path}" if path else host


def _clean_path(path: str) -> str:
    p = path.replace("\\", "/").strip()
    p = re.sub(r"/+", "/", p).strip("/")
    if p.endswith(".git"):
        p = p[: -len(".git")]
    return p.rstrip("/")


@dataclass
class Repo:
    root: Path  # physical path (symlinks resolved)
    remotes: dict[str, str] = field(default_factory=dict)  # name -> raw URL
    branch: str | None = None
    commit: str | None = None
    dirty: bool | None = None

    @property
    def normalized_remotes(self) -> list[str]:
        """Normalised remote URLs, `origin` first."""
        names = sorted(self.remotes, key=lambda n: (n != "origin", n))
        seen: list[str] = []
        for n in names:
            norm = normalize_remote(self.remotes[n])
            if norm not in seen:
                seen.append(norm)
        return seen

    def matches(self, normalized: list[str]) -> bool:
        return bool(set(self.normalized_remotes) & set(normalized))


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run git; its output (paths, URLs) decoded as file names are (os.fsdecode: UTF-8 on Windows, where
    Git writes UTF-8 whatever the console code page, and the bytes themselves on POSIX), never with the
    locale's encoding, which breaks `C:/Users/Álvaro` on a cp1252 Windows or under LC_ALL=C."""
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, env=env, check=False)
    return subprocess.CompletedProcess(p.args, p.returncode, os.fsdecode(p.stdout),
                                       p.stderr.decode("utf-8", "replace"))


def find_repo(cwd: str | os.PathLike[str] | None = None, *, require_remote: bool = True) -> Repo:
    """The git repository containing `cwd` (default: the current directory), with its remotes."""
    start = Path(cwd) if cwd is not None else Path.cwd()
    if not start.exists():
        raise UsageError(f"--cwd {start} does not exist")
    if not start.is_dir():
        start = start.parent
    try:
        top = _git(["rev-parse", "--show-toplevel"], start)
    except FileNotFoundError as exc:
        raise NotFoundError("git is not installed: install git and try again", code="no_git") from exc
    if top.returncode != 0:
        raise NotFoundError(
            f"{start} is not inside a git repository: cd into your project's clone or pass --cwd PATH",
            code="no_repo",
        )
    root = Path(os.path.realpath(top.stdout.strip()))
    remotes: dict[str, str] = {}
    out = _git(["config", "--get-regexp", r"^remote\..*\.url$"], root)
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        name = key[len("remote.") : -len(".url")]
        if value.strip():
            remotes[name] = value.strip()
    if require_remote and not remotes:
        raise NotFoundError(
            f"the repository at {root} has no git remote, so it cannot be matched on another machine: "
            "add one with `git remote add origin URL`",
            code="no_remote",
        )
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], root).stdout.strip() or None
    commit_p = _git(["rev-parse", "HEAD"], root)
    commit = commit_p.stdout.strip() if commit_p.returncode == 0 else None
    status = _git(["status", "--porcelain", "--untracked-files=no"], root)
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return Repo(root=root, remotes=remotes, branch=branch, commit=commit, dirty=dirty)
