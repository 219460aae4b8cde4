"""Where the code stands: the sender's git state, its comparison with the local clone, and the git runner.

A moved session talks about code, so `send` always records the sender's git state (`state`) and
`receive` compares it with the local clone (`compare`): same commit, behind, ahead, diverged, or a commit
that exists nowhere but on the sender.  Nothing here changes a repository: `work_trees` computes the trees
of the index and the working tree on private index files.  Changing one is `gitwork` (send --with-changes)
and `gitreceive` (receive --with-changes and its undo).

Every git call goes through `run_git`: C locale, `core.quotepath=false`, NUL-separated output where paths are
listed, no hooks, no signing, no fsmonitor, no optional locks, and none of the caller's GIT_DIR-like variables.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions.errors import NotFoundError, SyncError

_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
         "GIT_NAMESPACE", "GIT_PREFIX", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES", "GIT_QUARANTINE_PATH")
SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_STATUS = ("same", "behind", "ahead", "diverged", "missing")


class GitError(SyncError):
    """A git command failed where it should not have; the message carries git's own last line."""

    code = "git"
    exit_code = 7


def git_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update({"LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0",
                "GIT_MERGE_AUTOEDIT": "no", "GIT_EDITOR": ":", "GIT_PAGER": "cat"})
    env.update(extra or {})
    return env


GIT_BASE = ["git", "-c", "core.quotepath=false", "-c", f"core.hooksPath={os.devnull}", "-c", "commit.gpgsign=false",
         "-c", "tag.gpgsign=false", "-c", "core.fsmonitor=false", "-c", "advice.detachedHead=false",
         "-c", "gc.auto=0", "-c", "maintenance.auto=false"]


def run_git(cwd: Path, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None,
         ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[bytes]:
    try:
        p = subprocess.run([*GIT_BASE, *args], cwd=cwd, input=input, capture_output=True, env=git_env(env), check=False,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise NotFoundError("git is not installed: install git and try again", code="no_git") from exc
    if p.returncode not in ok:
        last = (p.stderr.decode("utf-8", "replace").strip().splitlines() or ["(no message)"])[-1]
        raise GitError(f"git {args[0]} failed in {cwd}: {last}")
    return p


def git_out(cwd: Path, *args: str, **kw: Any) -> str:
    return run_git(cwd, *args, **kw).stdout.decode("utf-8", "surrogateescape").strip()


def rev_sha(cwd: Path, rev: str) -> str | None:
    p = run_git(cwd, "rev-parse", "-q", "--verify", "--end-of-options", rev, ok=(0, 1, 128))
    s = p.stdout.decode().strip()
    return s if p.returncode == 0 and SHA.fullmatch(s) else None


def has_commit(cwd: Path, sha: str) -> bool:
    return run_git(cwd, "cat-file", "-e", f"{sha}^{{commit}}", ok=(0, 1, 128)).returncode == 0


def is_ancestor(cwd: Path, a: str, b: str) -> bool:
    return run_git(cwd, "merge-base", "--is-ancestor", a, b, ok=(0, 1)).returncode == 0


def short_sha(sha: str | None) -> str:
    return sha[:12] if sha else "(none)"


# -- where the code stands ------------------------------------------------------------------------------

def state(root: Path) -> dict[str, Any]:
    """The clone's git state: branch (None when detached), head, upstream, ahead/behind it, whether HEAD
    is on a remote-tracking branch (`pushed`), and counts of staged, unstaged, untracked, conflicted files."""
    p = run_git(root, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all", "--ignore-submodules=none")
    st: dict[str, Any] = {"branch": None, "head": None, "upstream": None, "ahead": None, "behind": None,
                          "pushed": False, "staged": 0, "unstaged": 0, "untracked": 0, "conflicted": 0}
    items = p.stdout.split(b"\0")
    i = 0
    while i < len(items):
        it = items[i].decode("utf-8", "surrogateescape")
        i += 1
        if it.startswith("# branch.oid "):
            v = it[len("# branch.oid "):]
            st["head"] = v if SHA.fullmatch(v) else None
        elif it.startswith("# branch.head "):
            v = it[len("# branch.head "):]
            st["branch"] = None if v == "(detached)" else v
        elif it.startswith("# branch.upstream "):
            st["upstream"] = it[len("# branch.upstream "):]
        elif it.startswith("# branch.ab "):
            a, b = it[len("# branch.ab "):].split()
            st["ahead"], st["behind"] = int(a), -int(b)
        elif it[:2] in ("1 ", "2 "):
            st["staged"] += it[2] != "."
            st["unstaged"] += it[3] != "."
            if it[0] == "2":
                i += 1  # the original path of a rename or copy
        elif it.startswith("u "):
            st["conflicted"] += 1
        elif it.startswith("? "):
            st["untracked"] += 1
    if st["head"]:
        hit = run_git(root, "for-each-ref", "--count=1", "--contains", st["head"], "--format=%(refname)",
                      "refs/remotes")
        st["pushed"] = bool(hit.stdout.strip())
    return st


def is_clean(st: Mapping[str, Any]) -> bool:
    return not (st["staged"] or st["unstaged"] or st["untracked"] or st["conflicted"])


def _counts(st: Mapping[str, Any]) -> str:
    parts = [f"{st[k]} {k}" for k in ("staged", "unstaged", "untracked", "conflicted") if st.get(k)]
    return ", ".join(parts) or "no uncommitted changes"


def switch_cmd(branch: str | None, head: str) -> str:
    return f"git switch {branch}" if branch else f"git switch --detach {head}"


def compare(sender: Mapping[str, Any] | None, root: Path) -> dict[str, Any]:
    """Compare the sender's state with the clone at `root`; `status` is one of same, behind, ahead, diverged,
    missing, and `messages` / `commands` say it in words and in exact git commands.  Reads only."""
    here = state(root)
    out: dict[str, Any] = {"sender": dict(sender) if sender else None, "here": here, "status": None,
                           "messages": [], "commands": []}
    if not sender or not sender.get("head"):
        out["messages"].append("The sender's clone had no commit yet." if sender else
                               "The handoff does not say which commit the sender was on (an older sender).")
        return out
    sh, sb = sender["head"], sender.get("branch")
    where = f"{sb} at {short_sha(sh)}" if sb else f"a detached HEAD at {short_sha(sh)}"
    if here["head"] == sh:
        status = "same"
        out["messages"].append(f"This clone is at the sender's commit ({where}).")
    elif not has_commit(root, sh):
        if sender.get("pushed"):
            status = "behind"
            cmd = "git pull --ff-only" if sb and here["branch"] == sb else f"git fetch && {switch_cmd(sb, sh)}"
            out["messages"].append(f"This clone is behind the sender ({where}): run `{cmd}`.")
            out["commands"].append(cmd)
        else:
            status = "missing"
            out["messages"].append(
                f"The sender's commit ({where}) exists nowhere but on the sender: push from the other machine, "
                "or send `--with-changes`.")
    elif here["head"] is None or is_ancestor(root, here["head"], sh):
        status = "behind"
        cmd = ("git merge --ff-only " + sh) if sb and here["branch"] == sb else switch_cmd(sb, sh)
        out["messages"].append(f"This clone is behind the sender ({where}): run `{cmd}`.")
        out["commands"].append(cmd)
    elif is_ancestor(root, sh, here["head"]):
        status = "ahead"
        out["messages"].append(f"This clone is ahead of the sender ({where}): it has commits the sender did not.")
    else:
        status = "diverged"
        out["messages"].append(f"This clone and the sender ({where}) have diverged: each has commits the other lacks.")
    out["status"] = status
    sender_dirty = any(sender.get(k) for k in ("staged", "unstaged", "untracked"))
    if sender_dirty:
        out["messages"].append(f"The sender had uncommitted work ({_counts(sender)}).")
    if not is_clean(here):
        out["messages"].append(f"This clone has local changes ({_counts(here)}).")
    return out


def git_path(root: Path, name: str) -> Path:
    return Path(git_out(root, "rev-parse", "--path-format=absolute", "--git-path", name))


@contextlib.contextmanager
def temp_index(root: Path, scratch: Path, copy: bool) -> Iterator[dict[str, str]]:
    """An index file of our own (a copy of the real one, or empty), as the environment that selects it."""
    fd, name = tempfile.mkstemp(prefix="index-", dir=scratch)
    os.close(fd)
    os.unlink(name)
    real = git_path(root, "index")
    if copy and real.is_file():
        shutil.copyfile(real, name)
    try:
        yield {"GIT_INDEX_FILE": name}
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _untracked(root: Path) -> list[bytes]:
    out = run_git(root, "ls-files", "-z", "--others", "--exclude-standard", "--full-name").stdout
    return [p for p in out.split(b"\0") if p and not p.endswith(b"/")]  # "dir/": a nested repository


def work_trees(root: Path, scratch: Path) -> tuple[str, str, str | None, str]:
    """(index tree, tracked working tree, untracked-only tree or None, full working tree) of the clone,
    computed on private index files: the clone's own index is only read."""
    with temp_index(root, scratch, copy=True) as ix:
        itree = git_out(root, "write-tree", env=ix)
        run_git(root, "add", "-u", "--", ":/", env=ix)
        wtree = git_out(root, "write-tree", env=ix)
        untracked = _untracked(root)
        if untracked:
            run_git(root, "update-index", "--add", "-z", "--stdin", input=b"\0".join(untracked) + b"\0", env=ix)
        full = git_out(root, "write-tree", env=ix)
    utree = None
    if untracked:
        with temp_index(root, scratch, copy=False) as ux:
            run_git(root, "update-index", "--add", "-z", "--stdin", input=b"\0".join(untracked) + b"\0", env=ux)
            utree = git_out(root, "write-tree", env=ux)
    return itree, wtree, utree, full


# -- for the commands ------------------------------------------------------------------------------------

def describe_state(st: Mapping[str, Any] | None) -> str:
    """One line for humans: where the code stands."""
    if not st or not st.get("head"):
        return "no commit yet"
    head = short_sha(st["head"])
    where = f"{st['branch']} at {head}" if st.get("branch") else f"detached HEAD at {head}"
    if st.get("upstream"):
        where += f" ({st['ahead']} ahead, {st['behind']} behind {st['upstream']})"
    if not st.get("pushed"):
        where += ", not on any remote"
    return f"{where}; {_counts(st)}"


def sender_state(root: Path) -> dict[str, Any] | None:
    """`state`, or None when git cannot tell (the send goes on; only --with-changes needs it)."""
    try:
        return state(root)
    except GitError:
        return None
