"""The work that travels with a conversation: `send --with-changes` and the manifest's `git` object.

`send --with-changes` (`pack_work`) carries, inside the same ciphertext, one git bundle that holds:
  - the commits of HEAD that are on no remote-tracking branch, and
  - the uncommitted state as a stash-shaped commit W built the way `git stash push -u` builds one, without
    touching the sender's index, working tree or refs: W's tree is the working tree of tracked files, its
    parents are HEAD, I (the index) and U (untracked files that are not ignored).  Binary files, deletions,
    renames, modes and symlinks are just tree entries.
The bundle is made in a throw-away bare repository that borrows the sender's objects (alternates), so the
sender's refs are never touched; the only lasting trace is a few unreferenced objects, like `git stash create`.
`carried_blobs` hands every blob it carries to send's secret scan.

The receiving side is `gitreceive`; where the code stands (and the git runner) is `gitstate`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_ai_sessions.errors import UsageError
from sync_ai_sessions.gitstate import (
    GIT_BASE,
    SHA,
    GitError,
    git_env,
    git_out,
    git_path,
    run_git,
    short_sha,
    work_trees,
)
from sync_ai_sessions.ui import human_size

CARRY_PREFIX = ".sync-ai-sessions/"  # archive names reserved for carried work; no adapter file starts so
BUNDLE_NAME = CARRY_PREFIX + "work.bundle"

MAX_ENV = "SYNC_AI_SESSIONS_MAX_CHANGES"
DEFAULT_MAX = 64 << 20

_IDENT = {"GIT_AUTHOR_NAME": "sync-ai-sessions", "GIT_AUTHOR_EMAIL": "sync-ai-sessions@localhost",
          "GIT_COMMITTER_NAME": "sync-ai-sessions", "GIT_COMMITTER_EMAIL": "sync-ai-sessions@localhost"}


def max_changes() -> int:
    v = os.environ.get(MAX_ENV, "")
    return int(v) if v.isdigit() else DEFAULT_MAX


# -- carrying the work (send --with-changes) ------------------------------------------------------------

@dataclass
@dataclass
class Carried:
    """The work packed by `pack_work`: `bundle` (None when everything is on a remote and nothing is
    uncommitted) and the manifest's `git.carry` object."""

    bundle: Path | None
    meta: dict[str, Any]

    @property
    def size(self) -> int:
        return int((self.meta.get("bundle") or {}).get("size", 0))


def _commit(root: Path, tree: str, parents: list[str], message: str) -> str:
    args = ["commit-tree", "--no-gpg-sign", tree]
    for p in parents:
        args += ["-p", p]
    return git_out(root, *args, "-m", message, env=_IDENT)


@contextlib.contextmanager
def _borrowing_repo(root: Path, scratch: Path) -> Iterator[Path]:
    """A bare repository in `scratch` that sees the clone's objects (alternates) and has refs of its own."""
    repo = Path(tempfile.mkdtemp(prefix="bundle-", dir=scratch))
    try:
        run_git(scratch, "init", "-q", "--bare", str(repo))
        objects = git_path(root, "objects")
        (repo / "objects" / "info" / "alternates").write_text(str(objects) + "\n", encoding="utf-8")
        yield repo
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def pack_work(root: Path, scratch: Path, sender: Mapping[str, Any], *, limit: int | None = None) -> Carried:
    """Bundle the unpushed commits of HEAD and the uncommitted state into `scratch`; raise UsageError
    (`changes_too_large`) past `limit` bytes (default: SYNC_AI_SESSIONS_MAX_CHANGES or 64 MiB)."""
    limit = max_changes() if limit is None else limit
    head = sender.get("head")
    if not head:
        raise UsageError("--with-changes needs a commit to start from: commit once, then send again",
                         code="no_commit")
    if sender.get("conflicted"):
        raise UsageError("--with-changes cannot carry a merge in progress: resolve the conflicts first",
                         code="conflicts")
    itree, wtree, utree, full = work_trees(root, scratch)
    head_tree = git_out(root, "rev-parse", f"{head}^{{tree}}")
    stash = index = untracked = None
    if not (itree == head_tree and wtree == head_tree and utree is None):
        what = f"{sender.get('branch') or '(no branch)'}: {short_sha(head)}"
        index = _commit(root, itree, [head], f"index on {what}")
        parents = [head, index]
        if utree is not None:
            untracked = _commit(root, utree, [], f"untracked files on {what}")
            parents.append(untracked)
        stash = _commit(root, wtree, parents, f"WIP on {what} (sync-ai-sessions)")
    remote_tips = sorted(set(git_out(root, "for-each-ref", "--format=%(objectname)", "refs/remotes").split()))
    meta: dict[str, Any] = {"head": head, "branch": sender.get("branch"), "stash": stash, "index_tree": itree,
                            "worktree_tree": full, "commits": 0, "prerequisites": [], "bundle": None}
    commits = int(git_out(root, "rev-list", "--count", head, *[f"^{t}" for t in remote_tips]) or 0) if remote_tips \
        else int(git_out(root, "rev-list", "--count", head) or 0)
    meta["commits"] = commits
    if not commits and stash is None:
        return Carried(None, meta)
    bundle = scratch / "work.bundle"
    with _borrowing_repo(root, scratch) as tmp:
        refs = []
        if commits:
            run_git(tmp, "update-ref", "refs/heads/head", head)
            refs.append("refs/heads/head")
        if stash:
            run_git(tmp, "update-ref", "refs/heads/stash", stash)
            refs.append("refs/heads/stash")
        revs = "".join(f"{r}\n" for r in refs) + "".join(f"^{t}\n" for t in remote_tips)
        run_git(tmp, "bundle", "create", "-q", str(bundle), "--stdin", input=revs.encode())
    size = bundle.stat().st_size
    if size > limit:
        bundle.unlink()
        raise UsageError(
            f"the carried work is {human_size(size)}, over the {human_size(limit)} limit for --with-changes "
            f"({MAX_ENV}): commit and push large files first, or send without --with-changes",
            code="changes_too_large")
    meta["prerequisites"] = _bundle_prerequisites(bundle)
    meta["bundle"] = {"arcname": BUNDLE_NAME, "size": size}
    return Carried(bundle, meta)


def _bundle_prerequisites(bundle: Path) -> list[str]:
    """The commits a bundle builds on (its header's `-<sha>` lines)."""
    prereq: list[str] = []
    with open(bundle, "rb") as fh:
        fh.readline()  # "# v2 git bundle" / "# v3 git bundle"
        while (line := fh.readline()) not in (b"\n", b""):
            if line.startswith(b"-"):
                prereq.append(line[1:].split(b" ", 1)[0].strip().decode())
    return prereq


def carried_blobs(root: Path, carried: Carried, scratch: Path) -> Iterator[tuple[str, Path]]:
    """Each blob the bundle carries, as (path in the tree, a temporary file with its bytes), one at a time:
    what send's secret scan reads.  The file is reused for the next blob."""
    meta = carried.meta
    if carried.bundle is None:
        return
    tips = [t for t in (meta["head"] if meta["commits"] else None, meta["stash"]) if t]
    remote = git_out(root, "for-each-ref", "--format=%(objectname)", "refs/remotes").split()
    revs = "".join(f"{t}\n" for t in tips) + "".join(f"^{t}\n" for t in sorted(set(remote)))
    listed = run_git(root, "rev-list", "--objects", "--stdin", input=revs.encode()).stdout
    names: dict[str, str] = {}
    for line in listed.split(b"\n"):
        sha, _, name = line.partition(b" ")
        if name and sha.decode() not in names:
            names[sha.decode()] = name.decode("utf-8", "replace")
    if not names:
        return
    checked = run_git(root, "cat-file", "--batch-check=%(objecttype) %(objectname)",
                   input="".join(f"{s}\n" for s in names).encode()).stdout.decode().split("\n")
    blobs = [ln.split()[1] for ln in checked if ln.startswith("blob ")]
    tmp = scratch / "blob"
    proc = subprocess.Popen([*GIT_BASE, "cat-file", "--batch"], cwd=root, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=git_env(None))
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for sha in blobs:
            proc.stdin.write(f"{sha}\n".encode())
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            size = int(header[2])
            with open(tmp, "wb") as out:
                left = size
                while left:
                    block = proc.stdout.read(min(1 << 20, left))
                    if not block:
                        raise GitError("git cat-file ended early")
                    out.write(block)
                    left -= len(block)
            proc.stdout.read(1)  # the newline after the contents
            yield names[sha], tmp
    finally:
        proc.stdin.close()
        proc.wait()
        tmp.unlink(missing_ok=True)


def describe_carry(meta: Mapping[str, Any]) -> str:
    parts = []
    if meta.get("commits"):
        parts.append(f"{meta['commits']} commit(s) on no remote")
    if meta.get("stash"):
        parts.append("the uncommitted changes")
    return " and ".join(parts) or "nothing (everything is pushed and committed)"


def scan_carried(root: Path, carried: Carried, scratch: Path) -> list[Any]:
    """Secret findings in every blob the bundle carries (session "(changes)", file = the path in the tree)."""
    from sync_ai_sessions.secrets import scan_file

    found: list[Any] = []
    for name, path in carried_blobs(root, carried, scratch):
        found += scan_file(path, "(changes)", name)
    return found


# -- the manifest's git object, checked on receive -------------------------------------------------------

def validate_git_manifest(git: Any) -> None:
    """Raise ValueError unless the manifest's `git` object has the shape `send` writes (ids are hex, names
    are valid branch names); what is carried is checked again against the bundle itself when it is used."""
    if git is None:
        return
    if not isinstance(git, dict):
        raise ValueError("git")
    sender = git.get("sender")
    if sender is not None:
        if not isinstance(sender, dict):
            raise ValueError("git.sender")
        if sender.get("head") is not None and not SHA.fullmatch(str(sender["head"])):
            raise ValueError("git.sender.head")
        _branch_ok(sender.get("branch"))
    carry = git.get("carry")
    if carry is None:
        return
    if not isinstance(carry, dict) or not SHA.fullmatch(str(carry.get("head"))):
        raise ValueError("git.carry.head")
    _branch_ok(carry.get("branch"))
    for k in ("stash", "index_tree", "worktree_tree"):
        if carry.get(k) is not None and not SHA.fullmatch(str(carry[k])):
            raise ValueError(f"git.carry.{k}")
    pre = carry.get("prerequisites", [])
    if not isinstance(pre, list) or not all(isinstance(p, str) and SHA.fullmatch(p) for p in pre):
        raise ValueError("git.carry.prerequisites")
    b = carry.get("bundle")
    if b is not None and not (isinstance(b, dict) and b.get("arcname") == BUNDLE_NAME
                              and isinstance(b.get("size"), int) and b["size"] >= 0):
        raise ValueError("git.carry.bundle")


def _branch_ok(name: Any) -> None:
    if name is None:
        return
    if (not isinstance(name, str) or not name or name.startswith(("-", "/")) or name.endswith((".", "/", ".lock"))
            or ".." in name or "//" in name or "@{" in name or name == "@"
            or any(ord(c) < 0x21 or c in "~^:?*[\\\x7f" for c in name)):
        raise ValueError("branch name")


def carry_files(manifest: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The archive entries that hold carried work, in the archive's order (after every session file)."""
    carry = (manifest.get("git") or {}).get("carry") or {}
    b = carry.get("bundle")
    return [(b["arcname"], b["size"])] if b else []
