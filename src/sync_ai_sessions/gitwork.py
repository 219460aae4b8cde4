"""Where the code stands, and the work that travels with a conversation (`--with-changes`).

A moved session talks about code, so `send` always records the sender's git state (`state`) and
`receive` compares it with the local clone (`compare`): same commit, behind, ahead, diverged, or a commit
that exists nowhere but on the sender.  Without `--with-changes` nothing here ever changes a repository.

`send --with-changes` (`pack_work`) carries, inside the same ciphertext, one git bundle that holds:
  - the commits of HEAD that are on no remote-tracking branch, and
  - the uncommitted state as a stash-shaped commit W built the way `git stash push -u` builds one, without
    touching the sender's index, working tree or refs: W's tree is the working tree of tracked files, its
    parents are HEAD, I (the index) and U (untracked files that are not ignored).  Binary files, deletions,
    renames, modes and symlinks are just tree entries.
The bundle is made in a throw-away bare repository that borrows the sender's objects (alternates), so the
sender's refs are never touched; the only lasting trace is a few unreferenced objects, like `git stash create`.

`receive --with-changes` (`receive_work`) unbundles the objects, puts the sender's branch here (created at the
sender's HEAD if absent, fast-forwarded if an ancestor, else `sync-ai-sessions/<branch>`), and only on a clean
working tree switches to it and makes the index and the working tree exactly I and W+U.  A tree that is not
clean is left byte for byte as it was: the changes are kept as a stash entry (`git stash list`) and the command
that applies them is reported.  Every change is journalled ahead (record kind `{"op": "git", "do": ...}`) so
`undo` reverts it (`undo_problem`, `undo_op`), refusing when the clone moved on since.

Every git call goes through `_git`: C locale, `core.quotepath=false`, NUL-separated output where paths are
listed, no hooks, no signing, no fsmonitor, no optional locks, and none of the caller's GIT_DIR-like variables.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_ai_sessions.errors import ConflictError, NotFoundError, SyncError, UsageError
from sync_ai_sessions.ui import human_size

CARRY_PREFIX = ".sync-ai-sessions/"  # archive names reserved for carried work; no adapter file starts so
BUNDLE_NAME = CARRY_PREFIX + "work.bundle"
ALT_PREFIX = "sync-ai-sessions/"  # the branch the carried commits go to when the sender's cannot move
MAX_ENV = "SYNC_AI_SESSIONS_MAX_CHANGES"
DEFAULT_MAX = 64 << 20
_IDENT = {"GIT_AUTHOR_NAME": "sync-ai-sessions", "GIT_AUTHOR_EMAIL": "sync-ai-sessions@localhost",
          "GIT_COMMITTER_NAME": "sync-ai-sessions", "GIT_COMMITTER_EMAIL": "sync-ai-sessions@localhost"}
_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
         "GIT_NAMESPACE", "GIT_PREFIX", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES", "GIT_QUARANTINE_PATH")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_STATUS = ("same", "behind", "ahead", "diverged", "missing")


class GitError(SyncError):
    """A git command failed where it should not have; the message carries git's own last line."""

    code = "git"
    exit_code = 7


def max_changes() -> int:
    v = os.environ.get(MAX_ENV, "")
    return int(v) if v.isdigit() else DEFAULT_MAX


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update({"LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0",
                "GIT_MERGE_AUTOEDIT": "no", "GIT_EDITOR": ":", "GIT_PAGER": "cat"})
    env.update(extra or {})
    return env


_BASE = ["git", "-c", "core.quotepath=false", "-c", f"core.hooksPath={os.devnull}", "-c", "commit.gpgsign=false",
         "-c", "tag.gpgsign=false", "-c", "core.fsmonitor=false", "-c", "advice.detachedHead=false",
         "-c", "gc.auto=0", "-c", "maintenance.auto=false"]


def _git(cwd: Path, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None,
         ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[bytes]:
    try:
        p = subprocess.run([*_BASE, *args], cwd=cwd, input=input, capture_output=True, env=_env(env), check=False,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise NotFoundError("git is not installed: install git and try again", code="no_git") from exc
    if p.returncode not in ok:
        last = (p.stderr.decode("utf-8", "replace").strip().splitlines() or ["(no message)"])[-1]
        raise GitError(f"git {args[0]} failed in {cwd}: {last}")
    return p


def _out(cwd: Path, *args: str, **kw: Any) -> str:
    return _git(cwd, *args, **kw).stdout.decode("utf-8", "surrogateescape").strip()


def _sha(cwd: Path, rev: str) -> str | None:
    p = _git(cwd, "rev-parse", "-q", "--verify", "--end-of-options", rev, ok=(0, 1, 128))
    s = p.stdout.decode().strip()
    return s if p.returncode == 0 and _SHA.fullmatch(s) else None


def _has_commit(cwd: Path, sha: str) -> bool:
    return _git(cwd, "cat-file", "-e", f"{sha}^{{commit}}", ok=(0, 1, 128)).returncode == 0


def _is_ancestor(cwd: Path, a: str, b: str) -> bool:
    return _git(cwd, "merge-base", "--is-ancestor", a, b, ok=(0, 1)).returncode == 0


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(none)"


# -- where the code stands ------------------------------------------------------------------------------

def state(root: Path) -> dict[str, Any]:
    """The clone's git state: branch (None when detached), head, upstream, ahead/behind it, whether HEAD
    is on a remote-tracking branch (`pushed`), and counts of staged, unstaged, untracked, conflicted files."""
    p = _git(root, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all", "--ignore-submodules=none")
    st: dict[str, Any] = {"branch": None, "head": None, "upstream": None, "ahead": None, "behind": None,
                          "pushed": False, "staged": 0, "unstaged": 0, "untracked": 0, "conflicted": 0}
    items = p.stdout.split(b"\0")
    i = 0
    while i < len(items):
        it = items[i].decode("utf-8", "surrogateescape")
        i += 1
        if it.startswith("# branch.oid "):
            v = it[len("# branch.oid "):]
            st["head"] = v if _SHA.fullmatch(v) else None
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
        hit = _git(root, "for-each-ref", "--count=1", "--contains", st["head"], "--format=%(refname)", "refs/remotes")
        st["pushed"] = bool(hit.stdout.strip())
    return st


def is_clean(st: Mapping[str, Any]) -> bool:
    return not (st["staged"] or st["unstaged"] or st["untracked"] or st["conflicted"])


def _counts(st: Mapping[str, Any]) -> str:
    parts = [f"{st[k]} {k}" for k in ("staged", "unstaged", "untracked", "conflicted") if st.get(k)]
    return ", ".join(parts) or "no uncommitted changes"


def _switch_cmd(branch: str | None, head: str) -> str:
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
    where = f"{sb} at {_short(sh)}" if sb else f"a detached HEAD at {_short(sh)}"
    if here["head"] == sh:
        status = "same"
        out["messages"].append(f"This clone is at the sender's commit ({where}).")
    elif not _has_commit(root, sh):
        if sender.get("pushed"):
            status = "behind"
            cmd = "git pull --ff-only" if sb and here["branch"] == sb else f"git fetch && {_switch_cmd(sb, sh)}"
            out["messages"].append(f"This clone is behind the sender ({where}): run `{cmd}`.")
            out["commands"].append(cmd)
        else:
            status = "missing"
            out["messages"].append(
                f"The sender's commit ({where}) exists nowhere but on the sender: push from the other machine, "
                "or send `--with-changes`.")
    elif here["head"] is None or _is_ancestor(root, here["head"], sh):
        status = "behind"
        cmd = ("git merge --ff-only " + sh) if sb and here["branch"] == sb else _switch_cmd(sb, sh)
        out["messages"].append(f"This clone is behind the sender ({where}): run `{cmd}`.")
        out["commands"].append(cmd)
    elif _is_ancestor(root, sh, here["head"]):
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


# -- carrying the work (send --with-changes) ------------------------------------------------------------

@dataclass
class Carried:
    """The work packed by `pack_work`: `bundle` (None when everything is on a remote and nothing is
    uncommitted) and the manifest's `git.carry` object."""

    bundle: Path | None
    meta: dict[str, Any]

    @property
    def size(self) -> int:
        return int((self.meta.get("bundle") or {}).get("size", 0))


def _git_path(root: Path, name: str) -> Path:
    return Path(_out(root, "rev-parse", "--path-format=absolute", "--git-path", name))


@contextlib.contextmanager
def _temp_index(root: Path, scratch: Path, copy: bool) -> Iterator[dict[str, str]]:
    """An index file of our own (a copy of the real one, or empty), as the environment that selects it."""
    fd, name = tempfile.mkstemp(prefix="index-", dir=scratch)
    os.close(fd)
    os.unlink(name)
    real = _git_path(root, "index")
    if copy and real.is_file():
        shutil.copyfile(real, name)
    try:
        yield {"GIT_INDEX_FILE": name}
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _untracked(root: Path) -> list[bytes]:
    out = _git(root, "ls-files", "-z", "--others", "--exclude-standard", "--full-name").stdout
    return [p for p in out.split(b"\0") if p and not p.endswith(b"/")]  # "dir/": a nested repository


def _work_trees(root: Path, scratch: Path) -> tuple[str, str, str | None, str]:
    """(index tree, tracked working tree, untracked-only tree or None, full working tree) of the clone,
    computed on private index files: the clone's own index is only read."""
    with _temp_index(root, scratch, copy=True) as ix:
        itree = _out(root, "write-tree", env=ix)
        _git(root, "add", "-u", "--", ":/", env=ix)
        wtree = _out(root, "write-tree", env=ix)
        untracked = _untracked(root)
        if untracked:
            _git(root, "update-index", "--add", "-z", "--stdin", input=b"\0".join(untracked) + b"\0", env=ix)
        full = _out(root, "write-tree", env=ix)
    utree = None
    if untracked:
        with _temp_index(root, scratch, copy=False) as ux:
            _git(root, "update-index", "--add", "-z", "--stdin", input=b"\0".join(untracked) + b"\0", env=ux)
            utree = _out(root, "write-tree", env=ux)
    return itree, wtree, utree, full


def _commit(root: Path, tree: str, parents: list[str], message: str) -> str:
    args = ["commit-tree", "--no-gpg-sign", tree]
    for p in parents:
        args += ["-p", p]
    return _out(root, *args, "-m", message, env=_IDENT)


@contextlib.contextmanager
def _borrowing_repo(root: Path, scratch: Path) -> Iterator[Path]:
    """A bare repository in `scratch` that sees the clone's objects (alternates) and has refs of its own."""
    repo = Path(tempfile.mkdtemp(prefix="bundle-", dir=scratch))
    try:
        _git(scratch, "init", "-q", "--bare", str(repo))
        objects = _git_path(root, "objects")
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
    itree, wtree, utree, full = _work_trees(root, scratch)
    head_tree = _out(root, "rev-parse", f"{head}^{{tree}}")
    stash = index = untracked = None
    if not (itree == head_tree and wtree == head_tree and utree is None):
        what = f"{sender.get('branch') or '(no branch)'}: {_short(head)}"
        index = _commit(root, itree, [head], f"index on {what}")
        parents = [head, index]
        if utree is not None:
            untracked = _commit(root, utree, [], f"untracked files on {what}")
            parents.append(untracked)
        stash = _commit(root, wtree, parents, f"WIP on {what} (sync-ai-sessions)")
    remote_tips = sorted(set(_out(root, "for-each-ref", "--format=%(objectname)", "refs/remotes").split()))
    meta: dict[str, Any] = {"head": head, "branch": sender.get("branch"), "stash": stash, "index_tree": itree,
                            "worktree_tree": full, "commits": 0, "prerequisites": [], "bundle": None}
    commits = int(_out(root, "rev-list", "--count", head, *[f"^{t}" for t in remote_tips]) or 0) if remote_tips \
        else int(_out(root, "rev-list", "--count", head) or 0)
    meta["commits"] = commits
    if not commits and stash is None:
        return Carried(None, meta)
    bundle = scratch / "work.bundle"
    with _borrowing_repo(root, scratch) as tmp:
        refs = []
        if commits:
            _git(tmp, "update-ref", "refs/heads/head", head)
            refs.append("refs/heads/head")
        if stash:
            _git(tmp, "update-ref", "refs/heads/stash", stash)
            refs.append("refs/heads/stash")
        revs = "".join(f"{r}\n" for r in refs) + "".join(f"^{t}\n" for t in remote_tips)
        _git(tmp, "bundle", "create", "-q", str(bundle), "--stdin", input=revs.encode())
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
    remote = _out(root, "for-each-ref", "--format=%(objectname)", "refs/remotes").split()
    revs = "".join(f"{t}\n" for t in tips) + "".join(f"^{t}\n" for t in sorted(set(remote)))
    listed = _git(root, "rev-list", "--objects", "--stdin", input=revs.encode()).stdout
    names: dict[str, str] = {}
    for line in listed.split(b"\n"):
        sha, _, name = line.partition(b" ")
        if name and sha.decode() not in names:
            names[sha.decode()] = name.decode("utf-8", "replace")
    if not names:
        return
    checked = _git(root, "cat-file", "--batch-check=%(objecttype) %(objectname)",
                   input="".join(f"{s}\n" for s in names).encode()).stdout.decode().split("\n")
    blobs = [ln.split()[1] for ln in checked if ln.startswith("blob ")]
    tmp = scratch / "blob"
    proc = subprocess.Popen([*_BASE, "cat-file", "--batch"], cwd=root, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=_env(None))
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
        if sender.get("head") is not None and not _SHA.fullmatch(str(sender["head"])):
            raise ValueError("git.sender.head")
        _branch_ok(sender.get("branch"))
    carry = git.get("carry")
    if carry is None:
        return
    if not isinstance(carry, dict) or not _SHA.fullmatch(str(carry.get("head"))):
        raise ValueError("git.carry.head")
    _branch_ok(carry.get("branch"))
    for k in ("stash", "index_tree", "worktree_tree"):
        if carry.get(k) is not None and not _SHA.fullmatch(str(carry[k])):
            raise ValueError(f"git.carry.{k}")
    pre = carry.get("prerequisites", [])
    if not isinstance(pre, list) or not all(isinstance(p, str) and _SHA.fullmatch(p) for p in pre):
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


# -- receiving the work (receive --with-changes) ---------------------------------------------------------

def check_prerequisites(root: Path, carry: Mapping[str, Any]) -> None:
    """Refuse (before anything is imported) when the clone lacks a commit the carried work builds on."""
    missing = [p for p in carry.get("prerequisites", []) if not _has_commit(root, p)]
    if missing:
        raise NotFoundError(
            f"this clone lacks {len(missing)} commit(s) that the carried work builds on ({_short(missing[0])}, "
            "on the sender's remote): run `git fetch`, then receive again", code="missing_commits")
    if not carry.get("bundle") and not _has_commit(root, carry["head"]):
        raise NotFoundError(
            f"this clone lacks the sender's commit {_short(carry['head'])} (it is on the sender's remote): "
            "run `git fetch`, then receive again", code="missing_commits")


Record = Callable[..., None]


def _ref(root: Path, ref: str) -> str | None:
    return _sha(root, ref)


def _checked_out(root: Path) -> str | None:
    p = _git(root, "symbolic-ref", "-q", "HEAD", ok=(0, 1, 128))
    return p.stdout.decode().strip() or None if p.returncode == 0 else None


def _place_branch(root: Path, name: str, head: str, movable_current: bool, record: Record) -> tuple[str, str]:
    """Put `head` on branch `name` (create / fast-forward), or on `sync-ai-sessions/<name>[-N]` when `name`
    went elsewhere (or is the checked-out branch and may not move).  Returns (branch, how)."""
    current = _checked_out(root)
    candidates = [name] + [f"{ALT_PREFIX}{name}"] + [f"{ALT_PREFIX}{name}-{i}" for i in range(2, 100)]
    for cand in candidates:
        ref = f"refs/heads/{cand}"
        if _git(root, "check-ref-format", ref, ok=(0, 1)).returncode != 0:
            raise UsageError(f"the sender's branch name {name!r} is not valid here", code="bad_branch")
        old = _ref(root, ref)
        if old == head:
            return cand, "same"
        if old is None:
            record(do="ref", ref=ref, old=None, new=head)
            _git(root, "update-ref", "-m", "sync-ai-sessions: receive --with-changes", ref, head, "")
            return cand, "created"
        if _is_ancestor(root, old, head):
            if ref == current:
                if not movable_current:
                    continue
                record(do="ff", ref=ref, old=old, new=head)
                try:
                    _move_head(root, ref, head, old_ref=ref)
                except GitError:
                    continue  # an untracked file in the way: the commits go to the next name
                return cand, "fast-forwarded"
            record(do="ref", ref=ref, old=old, new=head)
            _git(root, "update-ref", "-m", "sync-ai-sessions: receive --with-changes", ref, head, old)
            return cand, "fast-forwarded"
    raise ConflictError(f"no free branch name for the sender's {name!r} (tried {ALT_PREFIX}{name}-2 .. -99)")


def collisions(root: Path, old: str, new: str) -> list[str]:
    """Paths that going from tree-ish `old` to `new` would create where something untracked already is (an
    ignored file, a folder, a file where a folder must go).  git's checkout would overwrite ignored files;
    we never do."""
    added = _git(root, "diff", "--name-only", "-z", "--no-renames", "--diff-filter=A", old, new).stdout
    tracked = set(_git(root, "ls-files", "-z").stdout.split(b"\0"))
    hits: list[str] = []
    for raw in filter(None, added.split(b"\0")):
        rel = os.fsdecode(raw)
        parts = rel.split("/")
        for i in range(1, len(parts)):  # a parent folder that is a file (or a link) now
            q = root.joinpath(*parts[:i])
            if (os.path.lexists(q) and not q.is_dir()) or q.is_symlink():
                if "/".join(parts[:i]).encode() not in tracked:
                    hits.append(rel)
                break
        else:
            if os.path.lexists(root / rel) and raw not in tracked:
                hits.append(rel)
    return hits


def _move_head(root: Path, to_ref: str | None, to_head: str, old_ref: str | None = None) -> None:
    """Check out `to_head` (the branch `to_ref`, or detached) with a two-tree `read-tree -u -m`: local changes
    that do not collide are carried along, and an untracked file in the way (ignored ones too) makes it
    refuse, so nothing of this clone is overwritten.  With `old_ref`, the checked-out branch itself moves."""
    hit = collisions(root, "HEAD", to_head)
    if hit:
        raise GitError(f"{hit[0]} is in the way (untracked or ignored here)")
    _git(root, "update-index", "-q", "--refresh", ok=(0, 1))
    _git(root, "read-tree", "-u", "-m", "HEAD", to_head)
    if old_ref is not None:
        _git(root, "update-ref", "-m", "sync-ai-sessions", old_ref, to_head)
    elif to_ref:
        _git(root, "symbolic-ref", "-m", "sync-ai-sessions", "HEAD", to_ref)
    else:
        _git(root, "update-ref", "--no-deref", "-m", "sync-ai-sessions", "HEAD", to_head)


def _full_tree_from_stash(root: Path, scratch: Path, stash: str) -> str:
    """W's tree plus its untracked parent's files: the sender's whole working tree."""
    with _temp_index(root, scratch, copy=False) as ix:
        _git(root, "read-tree", f"{stash}^{{tree}}", env=ix)
        if _sha(root, f"{stash}^3"):
            ls = _git(root, "ls-tree", "-r", "-z", "--full-tree", f"{stash}^3").stdout
            _git(root, "update-index", "-z", "--index-info", input=ls, env=ix)
        return _out(root, "write-tree", env=ix)


def receive_work(root: Path, carry: Mapping[str, Any], bundle: Path | None, scratch: Path, record: Record,
                 *, host: str | None = None) -> dict[str, Any]:
    """Bring the carried commits and changes into the clone at `root` without losing anything of its own;
    `record(**op)` journals each change before it is made.  Returns the `git` result's receive part:
    `branch`, `branch_action`, `switched`, `changes` ("applied" | "kept" | "none"), and for kept changes
    `kept` = {"where": "stash", "stash": sha, "command": ...}."""
    head = carry["head"]
    stash = carry.get("stash")
    if bundle is not None:
        _git(root, "bundle", "unbundle", str(bundle))  # objects only: no ref is written
    for want in (head, stash):
        if want and not _has_commit(root, want):
            raise GitError(f"the carried work does not hold commit {_short(want)}")
    full = _full_tree_from_stash(root, scratch, stash) if stash else None
    if stash and (full != carry.get("worktree_tree") or _out(root, "rev-parse", f"{stash}^2^{{tree}}")
                  != carry.get("index_tree")):
        raise GitError("the carried changes do not match what the handoff says they are")
    before = state(root)
    clean = is_clean(before)
    out: dict[str, Any] = {"branch": carry.get("branch"), "branch_action": None, "switched": False,
                           "changes": "none"}
    if stash and before["head"] == head and _current_trees(root, scratch) == (carry["index_tree"], full):
        out.update(branch=before["branch"], branch_action="same", changes="applied", already=True)
        return out  # received before: this clone is exactly the sender's state
    branch = carry.get("branch")
    if branch:
        placed, how = _place_branch(root, branch, head, clean, record)
        out["branch"], out["branch_action"] = placed, how
        target_ref: str | None = f"refs/heads/{placed}"
    else:
        target_ref = None
    current = _checked_out(root)
    on_target = (current == target_ref) if target_ref else (current is None and before["head"] == head)
    if clean and not on_target:
        record(do="switch", from_ref=current, from_head=before["head"], to_ref=target_ref, to_head=head)
        try:
            _move_head(root, target_ref, head)
            out["switched"] = on_target = True
        except GitError:  # an ignored file where the sender has a tracked one: keep, as for a tree not clean
            clean = False
    if clean and stash and collisions(root, "HEAD", full or ""):
        clean = False  # an ignored file where the sender has an untracked one: keep the changes
    if clean:
        if stash:
            assert full is not None
            record(do="apply", head=head, index_tree=carry["index_tree"], worktree_tree=full)
            _git(root, "read-tree", "-u", "-m", "HEAD", full)
            _git(root, "read-tree", carry["index_tree"])
            _git(root, "update-index", "-q", "--refresh", ok=(0, 1))
            out["changes"] = "applied"
        return out
    switch = "" if on_target else (_switch_cmd(out["branch"], head) + " && ")
    if stash:
        msg = f"sync-ai-sessions: changes from {host or 'the sender'} on {branch or 'a detached HEAD'}"
        if stash not in _stash_list(root):  # a second receive of the same handoff keeps it once
            record(do="stash", stash=stash)
            _git(root, "stash", "store", "-q", "-m", msg, stash)
        out["changes"] = "kept"
        out["kept"] = {"where": "stash", "stash": stash,
                       "command": f"{switch}git stash apply --index {stash}"}
    elif switch:
        out["command"] = switch.removesuffix(" && ")
    return out


# -- undo ------------------------------------------------------------------------------------------------

def _current_trees(root: Path, scratch: Path) -> tuple[str, str] | None:
    try:
        itree, _w, _u, full = _work_trees(root, scratch)
    except GitError:
        return None  # e.g. unmerged entries: certainly changed
    return itree, full


def undo_state(op: Mapping[str, Any], root: Path, scratch: Path) -> str:
    """'done' when the clone is as this record left it, 'undone' when as before it, else 'changed'."""
    do = op["do"]
    if do in ("ref", "ff"):
        now = _ref(root, op["ref"])
        if now == op["new"]:
            if do == "ff" and (_checked_out(root) != op["ref"]):
                return "changed"
            return "done"
        return "undone" if now == op.get("old") else "changed"
    if do == "switch":
        now_ref, now_head = _checked_out(root), _sha(root, "HEAD")
        if now_ref == op["to_ref"] and (op["to_ref"] or now_head == op["to_head"]):
            return "done"
        return "undone" if now_ref == op["from_ref"] else "changed"
    if do == "apply":
        trees = _current_trees(root, scratch)
        if trees == (op["index_tree"], op["worktree_tree"]) and _sha(root, "HEAD") == op["head"]:
            return "done"
        head_tree = _out(root, "rev-parse", "HEAD^{tree}")
        return "undone" if trees == (head_tree, head_tree) else "changed"
    if do == "stash":
        return "done" if op["stash"] in _stash_list(root) else "undone"
    return "changed"


def _stash_list(root: Path) -> list[str]:
    p = _git(root, "stash", "list", "--format=%H", ok=(0, 1, 128))
    return p.stdout.decode().split()


def undo_problem(op: Mapping[str, Any], scratch: Path) -> str | None:
    root = Path(op["repo"])
    if not root.is_dir():
        return f"{root} is gone"
    st = undo_state(op, root, scratch)
    if st == "done" and op["do"] in ("switch", "ff"):
        back = op["from_head"] if op["do"] == "switch" else op["old"]
        if back and (hit := collisions(root, "HEAD", back)):
            return f"{root / hit[0]} is in the way of going back (created since the receive?)"
    if st == "changed":
        what = {"ref": f"branch {op.get('ref', '')[len('refs/heads/'):]}", "ff": "the checked-out branch",
                "switch": "the checked-out branch", "apply": "the working tree or the index"}.get(op["do"], "git")
        return f"{what} in {root} changed since the receive"
    return None


def undo_op(op: Mapping[str, Any], scratch: Path, done_after: bool = False) -> str | None:
    """Revert one git record if it is in effect; returns what was done (for the report), or None."""
    root = Path(op["repo"])
    if undo_state(op, root, scratch) != "done":
        return None
    do = op["do"]
    if do == "ref":
        if op.get("old") is None:
            _git(root, "update-ref", "-d", op["ref"], op["new"])
            return f"deleted branch {op['ref'][len('refs/heads/'):]}"
        _git(root, "update-ref", "-m", "sync-ai-sessions: undo", op["ref"], op["old"], op["new"])
        return f"moved branch {op['ref'][len('refs/heads/'):]} back to {_short(op['old'])}"
    if do == "ff":
        _move_head(root, op["ref"], op["old"], old_ref=op["ref"])
        return f"moved {op['ref'][len('refs/heads/'):]} back to {_short(op['old'])}"
    if do == "switch":
        _move_head(root, op["from_ref"], op["from_head"])
        if op["from_ref"]:
            return f"switched back to {op['from_ref'][len('refs/heads/'):]}"
        return f"switched back to {_short(op['from_head'])}"
    if do == "apply":
        _git(root, "read-tree", op["worktree_tree"])
        _git(root, "update-index", "-q", "--refresh", ok=(0, 1))
        _git(root, "read-tree", "-u", "-m", op["worktree_tree"], "HEAD")
        _git(root, "update-index", "-q", "--refresh", ok=(0, 1))
        return "removed the applied changes"
    if do == "stash":
        n = _stash_list(root).index(op["stash"])
        _git(root, "stash", "drop", "-q", f"stash@{{{n}}}")
        return "dropped the kept stash entry"
    return None


# -- for the commands ------------------------------------------------------------------------------------

def describe_state(st: Mapping[str, Any] | None) -> str:
    """One line for humans: where the code stands."""
    if not st or not st.get("head"):
        return "no commit yet"
    where = f"{st['branch']} at {_short(st['head'])}" if st.get("branch") else f"detached HEAD at {_short(st['head'])}"
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


def scan_carried(root: Path, carried: Carried, scratch: Path) -> list[Any]:
    """Secret findings in every blob the bundle carries (session "(changes)", file = the path in the tree)."""
    from sync_ai_sessions.secrets import scan_file

    found: list[Any] = []
    for name, path in carried_blobs(root, carried, scratch):
        found += scan_file(path, "(changes)", name)
    return found


def say_where(git: Mapping[str, Any], say: Callable[[str], None], *, with_changes: bool) -> None:
    """receive's human lines about the code: the comparison, then what --with-changes did."""
    for m in git.get("messages", []):
        say(f"Code: {m}")
    if git.get("branch_action") in ("created", "fast-forwarded"):
        say(f"Code: branch {git['branch']} {git['branch_action']} at the sender's commit.")
    if git.get("switched"):
        say(f"Code: switched to {git['branch'] or 'the sender' + chr(39) + 's commit'}.")
    if git.get("already"):
        say("Code: already here: this clone is at the sender's commit with the sender's changes.")
    elif git.get("changes") == "applied":
        say("Code: the sender's uncommitted changes are applied (index and working tree as they were there).")
    elif git.get("changes") == "kept":
        say("Code: this clone has local changes, so its working tree was left as it is; the sender's changes "
            "are kept as a stash entry. Apply them with:")
        say(f"  {git['kept']['command']}")
    elif git.get("command"):
        say(f"Code: this clone has local changes; switch when ready with `{git['command']}`.")
    elif with_changes and git.get("changes") == "none" and git.get("status") != "same":
        say("Code: the handoff carried no work (it was sent without --with-changes, or all was pushed).")
