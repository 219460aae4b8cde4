"""Receiving the work that travelled (`receive --with-changes`) and undoing it.

`receive_work` unbundles the objects, puts the sender's branch here (created at the sender's HEAD if absent,
fast-forwarded if an ancestor, else `sync-ai-sessions/<branch>`), and only on a clean working tree switches
to it and makes the index and the working tree exactly I and W+U.  A tree that is not clean is left byte for
byte as it was: the changes are kept as a stash entry (`git stash list`) and the command that applies them
is reported.  Every change is journalled ahead (record kind `{"op": "git", "do": ...}`) so `undo` reverts it
(`undo_problem`, `undo_op`), refusing when the clone moved on since.

What is carried and how it is packed is `gitwork`; the git runner and `state` are `gitstate`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions.errors import ConflictError, NotFoundError, UsageError
from sync_ai_sessions.gitstate import (
    GitError,
    git_out,
    has_commit,
    is_ancestor,
    is_clean,
    rev_sha,
    run_git,
    short_sha,
    state,
    switch_cmd,
    temp_index,
    work_trees,
)

ALT_PREFIX = "sync-ai-sessions/"  # the branch the carried commits go to when the sender's cannot move



# -- receiving the work (receive --with-changes) ---------------------------------------------------------

def check_prerequisites(root: Path, carry: Mapping[str, Any]) -> None:
    """Refuse (before anything is imported) when the clone lacks a commit the carried work builds on."""
    missing = [p for p in carry.get("prerequisites", []) if not has_commit(root, p)]
    if missing:
        raise NotFoundError(
            f"this clone lacks {len(missing)} commit(s) that the carried work builds on ({short_sha(missing[0])}, "
            "on the sender's remote): run `git fetch`, then receive again", code="missing_commits")
    if not carry.get("bundle") and not has_commit(root, carry["head"]):
        raise NotFoundError(
            f"this clone lacks the sender's commit {short_sha(carry['head'])} (it is on the sender's remote): "
            "run `git fetch`, then receive again", code="missing_commits")


Record = Callable[..., None]


def _ref(root: Path, ref: str) -> str | None:
    return rev_sha(root, ref)


def _checked_out(root: Path) -> str | None:
    p = run_git(root, "symbolic-ref", "-q", "HEAD", ok=(0, 1, 128))
    return p.stdout.decode().strip() or None if p.returncode == 0 else None


def _place_branch(root: Path, name: str, head: str, movable_current: bool, record: Record) -> tuple[str, str]:
    """Put `head` on branch `name` (create / fast-forward), or on `sync-ai-sessions/<name>[-N]` when `name`
    went elsewhere (or is the checked-out branch and may not move).  Returns (branch, how)."""
    current = _checked_out(root)
    candidates = [name] + [f"{ALT_PREFIX}{name}"] + [f"{ALT_PREFIX}{name}-{i}" for i in range(2, 100)]
    for cand in candidates:
        ref = f"refs/heads/{cand}"
        if run_git(root, "check-ref-format", ref, ok=(0, 1)).returncode != 0:
            raise UsageError(f"the sender's branch name {name!r} is not valid here", code="bad_branch")
        old = _ref(root, ref)
        if old == head:
            return cand, "same"
        if old is None:
            record(do="ref", ref=ref, old=None, new=head)
            run_git(root, "update-ref", "-m", "sync-ai-sessions: receive --with-changes", ref, head, "")
            return cand, "created"
        if is_ancestor(root, old, head):
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
            run_git(root, "update-ref", "-m", "sync-ai-sessions: receive --with-changes", ref, head, old)
            return cand, "fast-forwarded"
    raise ConflictError(f"no free branch name for the sender's {name!r} (tried {ALT_PREFIX}{name}-2 .. -99)")


def collisions(root: Path, old: str, new: str) -> list[str]:
    """Paths that going from tree-ish `old` to `new` would create where something untracked already is (an
    ignored file, a folder, a file where a folder must go).  git's checkout would overwrite ignored files;
    we never do."""
    added = run_git(root, "diff", "--name-only", "-z", "--no-renames", "--diff-filter=A", old, new).stdout
    tracked = set(run_git(root, "ls-files", "-z").stdout.split(b"\0"))
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
    run_git(root, "update-index", "-q", "--refresh", ok=(0, 1))
    run_git(root, "read-tree", "-u", "-m", "HEAD", to_head)
    if old_ref is not None:
        run_git(root, "update-ref", "-m", "sync-ai-sessions", old_ref, to_head)
    elif to_ref:
        run_git(root, "symbolic-ref", "-m", "sync-ai-sessions", "HEAD", to_ref)
    else:
        run_git(root, "update-ref", "--no-deref", "-m", "sync-ai-sessions", "HEAD", to_head)


def _full_tree_from_stash(root: Path, scratch: Path, stash: str) -> str:
    """W's tree plus its untracked parent's files: the sender's whole working tree."""
    with temp_index(root, scratch, copy=False) as ix:
        run_git(root, "read-tree", f"{stash}^{{tree}}", env=ix)
        if rev_sha(root, f"{stash}^3"):
            ls = run_git(root, "ls-tree", "-r", "-z", "--full-tree", f"{stash}^3").stdout
            run_git(root, "update-index", "-z", "--index-info", input=ls, env=ix)
        return git_out(root, "write-tree", env=ix)


def receive_work(root: Path, carry: Mapping[str, Any], bundle: Path | None, scratch: Path, record: Record,
                 *, host: str | None = None) -> dict[str, Any]:
    """Bring the carried commits and changes into the clone at `root` without losing anything of its own;
    `record(**op)` journals each change before it is made.  Returns the `git` result's receive part:
    `branch`, `branch_action`, `switched`, `changes` ("applied" | "kept" | "none"), and for kept changes
    `kept` = {"where": "stash", "stash": sha, "command": ...}."""
    head = carry["head"]
    stash = carry.get("stash")
    if bundle is not None:
        run_git(root, "bundle", "unbundle", str(bundle))  # objects only: no ref is written
    for want in (head, stash):
        if want and not has_commit(root, want):
            raise GitError(f"the carried work does not hold commit {short_sha(want)}")
    full = _full_tree_from_stash(root, scratch, stash) if stash else None
    if stash and (full != carry.get("worktree_tree") or git_out(root, "rev-parse", f"{stash}^2^{{tree}}")
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
            run_git(root, "read-tree", "-u", "-m", "HEAD", full)
            run_git(root, "read-tree", carry["index_tree"])
            run_git(root, "update-index", "-q", "--refresh", ok=(0, 1))
            out["changes"] = "applied"
        return out
    switch = "" if on_target else (switch_cmd(out["branch"], head) + " && ")
    if stash:
        msg = f"sync-ai-sessions: changes from {host or 'the sender'} on {branch or 'a detached HEAD'}"
        if stash not in _stash_list(root):  # a second receive of the same handoff keeps it once
            record(do="stash", stash=stash)
            run_git(root, "stash", "store", "-q", "-m", msg, stash)
        out["changes"] = "kept"
        out["kept"] = {"where": "stash", "stash": stash,
                       "command": f"{switch}git stash apply --index {stash}"}
    elif switch:
        out["command"] = switch.removesuffix(" && ")
    return out


# -- undo ------------------------------------------------------------------------------------------------

def _current_trees(root: Path, scratch: Path) -> tuple[str, str] | None:
    try:
        itree, _w, _u, full = work_trees(root, scratch)
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
        now_ref, now_head = _checked_out(root), rev_sha(root, "HEAD")
        if now_ref == op["to_ref"] and (op["to_ref"] or now_head == op["to_head"]):
            return "done"
        return "undone" if now_ref == op["from_ref"] else "changed"
    if do == "apply":
        trees = _current_trees(root, scratch)
        if trees == (op["index_tree"], op["worktree_tree"]) and rev_sha(root, "HEAD") == op["head"]:
            return "done"
        head_tree = git_out(root, "rev-parse", "HEAD^{tree}")
        return "undone" if trees == (head_tree, head_tree) else "changed"
    if do == "stash":
        return "done" if op["stash"] in _stash_list(root) else "undone"
    return "changed"


def _stash_list(root: Path) -> list[str]:
    p = run_git(root, "stash", "list", "--format=%H", ok=(0, 1, 128))
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
            run_git(root, "update-ref", "-d", op["ref"], op["new"])
            return f"deleted branch {op['ref'][len('refs/heads/'):]}"
        run_git(root, "update-ref", "-m", "sync-ai-sessions: undo", op["ref"], op["old"], op["new"])
        return f"moved branch {op['ref'][len('refs/heads/'):]} back to {short_sha(op['old'])}"
    if do == "ff":
        _move_head(root, op["ref"], op["old"], old_ref=op["ref"])
        return f"moved {op['ref'][len('refs/heads/'):]} back to {short_sha(op['old'])}"
    if do == "switch":
        _move_head(root, op["from_ref"], op["from_head"])
        if op["from_ref"]:
            return f"switched back to {op['from_ref'][len('refs/heads/'):]}"
        return f"switched back to {short_sha(op['from_head'])}"
    if do == "apply":
        run_git(root, "read-tree", op["worktree_tree"])
        run_git(root, "update-index", "-q", "--refresh", ok=(0, 1))
        run_git(root, "read-tree", "-u", "-m", op["worktree_tree"], "HEAD")
        run_git(root, "update-index", "-q", "--refresh", ok=(0, 1))
        return "removed the applied changes"
    if do == "stash":
        n = _stash_list(root).index(op["stash"])
        run_git(root, "stash", "drop", "-q", f"stash@{{{n}}}")
        return "dropped the kept stash entry"
    return None


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
