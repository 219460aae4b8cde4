"""The work travels with the conversation: real git, real clones on disk, a bare repository as the remote.

Machine A has two unpushed commits on a feature branch and every kind of uncommitted change (an edited
tracked file, a staged new file, a file staged and edited again, an untracked file, a deletion, a rename, a
binary file, an executable bit, an ignored file that must stay home).  `send --with-changes` carries it;
`receive --with-changes` on a clean clone at the remote's older commit reproduces A's HEAD, index and working
tree exactly; on a clone with its own edit it keeps that edit byte for byte and keeps A's changes as a stash
entry whose printed command brings them in; `undo` reverts what it did to git.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from support.machines import Machine, make_machine, write_demo_session

BRANCH = "feature/carry-work-q7"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
BINARY = bytes(range(256)) * 7 + b"\x00\xff\x00"


def g(repo: Path, *args: str, input: bytes | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    p = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, env=env, input=input, check=False)
    assert p.returncode == 0, (args, p.stderr.decode())
    return p.stdout.decode()


def machine(base: Path, name: str, **env: str) -> Machine:
    return make_machine(base, name, **GIT_ENV, **env)


def snapshot(repo: Path) -> dict[str, object]:
    """Everything that must match: HEAD, the index (modes, blob ids, stages, paths), every file of the working
    tree that git does not ignore (bytes, executable bit, symlink target) and git's own status."""
    files: dict[str, tuple[str, bytes | str]] = {}
    listed = g(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for rel in filter(None, listed):
        p = repo / rel
        if p.is_symlink():
            files[rel] = ("link", os.readlink(p))
        elif p.is_file():
            files[rel] = ("x" if p.stat().st_mode & stat.S_IXUSR else "-", p.read_bytes())
    return {"head": g(repo, "rev-parse", "HEAD").strip(), "branch": g(repo, "branch", "--show-current").strip(),
            "index": g(repo, "ls-files", "-s", "-z"), "files": files,
            "status": g(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all")}


@pytest.fixture
def world(tmp_path: Path):
    """A bare remote at commit X (main and the feature branch); A, a clone with the work; B, a clean clone at X."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    a = machine(tmp_path, "A")
    ra = a.root / "src" / "proj"
    subprocess.run(["git", "clone", "-q", str(remote), str(ra)], check=True, env={**os.environ, **GIT_ENV},
                   capture_output=True)
    ra = Path(os.path.realpath(ra))
    (ra / "edit.txt").write_text("line 1\nline 2\n")
    (ra / "del.txt").write_text("to be deleted\n")
    (ra / "ren.txt").write_text("to be renamed\n")
    (ra / "run.sh").write_text("#!/bin/sh\necho run\n")
    (ra / "blob.bin").write_bytes(b"\x00old")
    (ra / "twice.txt").write_text("v0\n")
    (ra / "README.md").write_text("readme\n")
    (ra / ".gitignore").write_text("*.log\n")
    g(ra, "add", "-A")
    g(ra, "commit", "-q", "-m", "X")
    g(ra, "branch", BRANCH)
    g(ra, "push", "-q", "origin", "main", BRANCH)
    g(ra, "switch", "-q", BRANCH)
    g(ra, "branch", "-q", "--set-upstream-to", f"origin/{BRANCH}")
    x = g(ra, "rev-parse", "HEAD").strip()
    # two unpushed commits
    (ra / "lib.py").write_text("def f():\n    return 1\n")
    g(ra, "add", "lib.py")
    g(ra, "commit", "-q", "-m", "add lib")
    (ra / "lib.py").write_text("def f():\n    return 2\n")
    g(ra, "commit", "-q", "-am", "change lib")
    # every kind of uncommitted change
    (ra / "edit.txt").write_text("line 1\nline 2 edited on A\n")  # unstaged edit
    (ra / "staged_new.txt").write_text("staged on A\n")
    g(ra, "add", "staged_new.txt")  # staged new file
    (ra / "twice.txt").write_text("v1 staged\n")
    g(ra, "add", "twice.txt")
    (ra / "twice.txt").write_text("v2 in the working tree\n")  # staged, then edited again
    (ra / "only_on_A.txt").write_text("UNCOMMITTED-MARKER-31415 only in A's working tree\n")  # untracked
    (ra / "del.txt").unlink()  # deleted, not staged
    g(ra, "mv", "ren.txt", "renamed.txt")  # staged rename
    (ra / "blob.bin").write_bytes(BINARY)  # binary, unstaged
    (ra / "run.sh").chmod(0o755)  # the executable bit
    (ra / "debug.log").write_text("ignored: must stay on A\n")
    os.symlink("edit.txt", ra / "link.txt")  # an untracked symlink
    write_demo_session(a, ra, "s1")
    b = machine(tmp_path, "B")
    rb = b.root / "dev" / "Proj B"
    subprocess.run(["git", "clone", "-q", str(remote), str(rb)], check=True, env={**os.environ, **GIT_ENV},
                   capture_output=True)
    rb = Path(os.path.realpath(rb))
    assert g(rb, "rev-parse", "HEAD").strip() == x
    return a, b, ra, rb, remote, x, tmp_path


def test_receive_with_changes_reproduces_head_index_and_working_tree(world):
    a, b, ra, rb, _remote, x, tmp = world
    before_a = snapshot(ra)
    handoff = tmp / "h.sais"
    rc, sent = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(handoff), "--with-changes")
    assert rc == 0, sent
    assert snapshot(ra) == before_a  # sending changed nothing on A
    assert sent["git"]["sender"]["branch"] == BRANCH and sent["git"]["sender"]["pushed"] is False
    assert sent["git"]["sender"]["ahead"] == 2
    s = sent["git"]["sender"]
    assert (s["staged"], s["unstaged"], s["untracked"]) == (3, 5, 2), s
    assert sent["git"]["carried"]["commits"] == 2 and sent["git"]["carried"]["changes"] is True
    assert "debug.log" not in g(ra, "ls-files")  # (the ignored file is ignored)

    # the handoff's bytes hold no file name, branch name or commit id
    data = handoff.read_bytes()
    ids = [*g(ra, "rev-list", "--all").split(), g(ra, "rev-parse", "HEAD^{tree}").strip()]
    secrets = [BRANCH, "carry-work", "only_on_A", "staged_new", "renamed.txt", "lib.py", "UNCOMMITTED-MARKER", *ids]
    for word in secrets:
        assert word.encode() not in data, word
    for sha in ids:
        assert bytes.fromhex(sha) not in data

    rc, got = b.run_json("receive", "--from", str(handoff), "--cwd", str(rb), "--with-changes")
    assert rc == 0, got
    assert [i["id"] for i in got["imported"]] == ["s1"]
    gd = got["git"]
    assert gd["status"] == "missing" and gd["changes"] == "applied", gd
    assert gd["branch"] == BRANCH and gd["branch_action"] == "created" and gd["switched"] is True
    after_b = snapshot(rb)
    assert after_b == before_a
    assert (rb / "only_on_A.txt").read_bytes() == (ra / "only_on_A.txt").read_bytes()
    assert not (rb / "debug.log").exists() and not (rb / "del.txt").exists()
    assert (rb / "run.sh").stat().st_mode & 0o111 and os.readlink(rb / "link.txt") == "edit.txt"

    # receiving again changes nothing on B: same commit, the changes already there, no stash entry, no journal
    journals = sorted((b.home / ".sync-ai-sessions" / "journal").iterdir())
    rc, again = b.run_json("receive", "--from", str(handoff), "--cwd", str(rb), "--with-changes")
    assert rc == 0, again
    assert again["git"]["status"] == "same" and again["git"]["changes"] == "applied" and again["git"]["already"]
    assert snapshot(rb) == after_b and g(rb, "stash", "list") == ""
    assert sorted((b.home / ".sync-ai-sessions" / "journal").iterdir()) == journals

    rc, un = b.run_json("undo")
    assert rc == 0, un
    assert any(r["op"] == "git" for r in un["reverted"])
    assert g(rb, "branch", "--show-current").strip() == "main" and g(rb, "rev-parse", "HEAD").strip() == x
    assert g(rb, "status", "--porcelain", "--untracked-files=all") == ""
    assert BRANCH not in g(rb, "branch", "--list")


def test_receive_keeps_changes_when_this_clone_has_its_own_edit(world):
    a, _b, ra, _rb, remote, _x, tmp = world
    before_a = snapshot(ra)
    handoff = tmp / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(handoff), "--with-changes")[0] == 0
    b2 = machine(tmp, "B2")
    r2 = b2.root / "clone"
    subprocess.run(["git", "clone", "-q", "-b", BRANCH, str(remote), str(r2)], check=True,
                   env={**os.environ, **GIT_ENV}, capture_output=True)
    r2 = Path(os.path.realpath(r2))
    (r2 / "README.md").write_bytes(b"B2's own edit \x00 kept\n")
    mine = snapshot(r2)
    rc, got = b2.run_json("receive", "--from", str(handoff), "--cwd", str(r2), "--with-changes")
    assert rc == 0, got
    assert [i["id"] for i in got["imported"]] == ["s1"]
    gd = got["git"]
    assert gd["changes"] == "kept" and gd["kept"]["where"] == "stash", gd
    assert gd["branch"] == f"sync-ai-sessions/{BRANCH}" and gd["branch_action"] == "created"
    assert snapshot(r2) == mine  # nothing in the working tree, index or HEAD changed
    assert (r2 / "README.md").read_bytes() == b"B2's own edit \x00 kept\n"
    assert gd["kept"]["stash"] in g(r2, "stash", "list", "--format=%H")
    # the printed command brings A's changes in, and the own edit stays
    p = subprocess.run(gd["kept"]["command"], shell=True, cwd=r2, env={**os.environ, **GIT_ENV},
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    now = snapshot(r2)
    assert now["head"] == before_a["head"]
    assert (r2 / "README.md").read_bytes() == b"B2's own edit \x00 kept\n"
    theirs = {k: v for k, v in before_a["files"].items() if k != "README.md"}
    assert {k: v for k, v in now["files"].items() if k != "README.md"} == theirs
    assert "staged_new.txt" in g(r2, "diff", "--cached", "--name-only")


def test_without_with_changes_git_is_only_read(world):
    a, b, ra, rb, _remote, x, tmp = world
    handoff = tmp / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(handoff), "--with-changes")[0] == 0
    gitdir = rb / ".git"
    before = {p: p.read_bytes() for p in gitdir.rglob("*") if p.is_file()}
    p = b.run("receive", "--from", str(handoff), "--cwd", str(rb))
    assert p.returncode == 0, p.stderr
    assert "push from the other machine, or send `--with-changes`" in p.stderr
    assert {p: p.read_bytes() for p in gitdir.rglob("*") if p.is_file()} == before
    rc, got = b.run_json("receive", "--from", str(handoff), "--cwd", str(rb))
    assert got["git"]["status"] == "missing" and got["git"]["changes"] == "none"
    assert got["git"]["sender"]["head"] == g(ra, "rev-parse", "HEAD").strip()
    assert got["git"]["here"]["head"] == x
    # once A pushes, B is "behind" and is told the exact commands
    g(ra, "push", "-q", "origin", BRANCH)
    h2 = tmp / "h2.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h2))[0] == 0
    rc, got = b.run_json("receive", "--from", str(h2), "--cwd", str(rb))
    assert rc == 0 and got["git"]["status"] == "behind", got
    assert got["git"]["commands"] == [f"git fetch && git switch {BRANCH}"]
    g(rb, "fetch", "-q")
    g(rb, "switch", "-q", BRANCH)
    rc, got = b.run_json("receive", "--from", str(h2), "--cwd", str(rb))
    assert got["git"]["status"] == "same" and got["git"]["here"]["unstaged"] == 0


def test_limits_secrets_and_missing_prerequisites(world):
    a, _b, ra, _rb, remote, _x, tmp = world
    (ra / "big.dat").write_bytes(os.urandom(300_000))
    handoff = tmp / "h.sais"
    p = a.run("send", "--tool", "demo", "--cwd", str(ra), "--to", str(handoff), "--with-changes",
              env={"SYNC_AI_SESSIONS_MAX_CHANGES": "100000"})
    assert p.returncode == 2 and "over the 100.0 kB limit" in p.stderr, p.stderr
    assert "limit for --with-changes" in p.stderr and not handoff.exists()
    (ra / "big.dat").unlink()
    (ra / "creds.env").write_text("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY1\n")
    rc, sent = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(handoff), "--with-changes")
    assert rc == 0, sent
    assert any(w["file"] == "creds.env" and w["session"] == "(changes)" for w in sent["secrets"]["where"]), sent
    # a clone that never saw commit X (it was cloned before X was pushed) cannot take the carried commits
    b3 = machine(tmp, "B3")
    r3 = b3.root / "old"
    r3.mkdir(parents=True)
    g(r3, "init", "-q", "-b", "main")
    g(r3, "remote", "add", "origin", str(remote))
    rc, got = b3.run_json("receive", "--from", str(handoff), "--cwd", str(r3), "--with-changes")
    assert rc == 3 and got["error"]["code"] == "missing_commits", got
    assert "git fetch" in got["error"]["message"]
    assert not (b3.home / ".sais-demo").exists()  # nothing imported


def test_undo_refuses_when_the_tree_changed_since(world):
    a, b, ra, rb, _remote, _x, tmp = world
    handoff = tmp / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(handoff), "--with-changes")[0] == 0
    assert b.run_json("receive", "--from", str(handoff), "--cwd", str(rb), "--with-changes")[0] == 0
    (rb / "edit.txt").write_text("edited on B after the receive\n")
    rc, un = b.run_json("undo")
    assert rc == 6 and un["error"]["code"] == "changed_since", un
    assert (rb / "edit.txt").read_text() == "edited on B after the receive\n"
    assert g(rb, "branch", "--show-current").strip() == BRANCH


def test_ctrl_c_while_the_carried_work_comes_in_says_what_was_done(world, monkeypatch):
    """Ctrl-C after the sessions were imported, while git brings in the changes: not "nothing was
    changed" (exit 130 with the usual message) but what was done, and `undo` reverts the receive."""
    from sync_ai_sessions import gitreceive
    from sync_ai_sessions.commands.receive import receive
    from sync_ai_sessions.errors import Interrupted
    from sync_ai_sessions.ui import UI

    a, b, ra, rb, _remote, _x, tmp = world
    handoff = tmp / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(handoff), "--with-changes")[0] == 0
    before = snapshot(rb)

    def stopped(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(gitreceive, "receive_work", stopped)
    with pytest.raises(Interrupted) as exc:
        receive(from_file=str(handoff), cwd=str(rb), env=b.env, with_changes=True, ui=UI(json_mode=True))
    assert exc.value.exit_code == 130
    assert "after the sessions' import had finished" in exc.value.message
    assert "`sync-ai-sessions undo`" in exc.value.message
    assert list((b.home / ".sais-demo").rglob("s1.jsonl"))  # the import did happen
    rc, un = b.run_json("undo")
    assert rc == 0, un
    assert not list((b.home / ".sais-demo").rglob("s1.jsonl")) and snapshot(rb) == before


# -- the archive's reserved names and the manifest's git object -------------------------------------------

def _manifest(**git: object) -> dict:
    m = {"format": 2, "tool": "demo", "source": {"os_flavor": "posix", "repo_root": "/r"},
         "repo": {"remotes": ["github.com/o/r"]},
         "sessions": [{"id": "s1", "files": [{"arcname": "demo/s1.jsonl", "size": 3, "role": "transcript"}]}]}
    if git:
        m["git"] = git
    return m


def _carry(**over: object) -> dict:
    c = {"head": "a" * 40, "branch": "main", "commits": 1, "stash": None, "index_tree": "b" * 40,
         "worktree_tree": "b" * 40, "prerequisites": ["c" * 40], "bundle": {"arcname": ".sync-ai-sessions/work.bundle",
                                                                          "size": 5}}
    c.update(over)
    return c


def test_archive_hands_carried_work_only_to_whoever_asks(tmp_path):
    import io

    from sync_ai_sessions.format.archive import ArchiveReader, ArchiveWriter

    src = tmp_path / "s1"
    src.write_bytes(b"abc")
    bundle = tmp_path / "b"
    bundle.write_bytes(b"BUNDL")
    m = _manifest(sender=None, carry=_carry())
    buf = io.BytesIO()
    w = ArchiveWriter(buf, m)
    w.add_file("demo/s1.jsonl", src, 3)
    w.add_file(".sync-ai-sessions/work.bundle", bundle, 5)
    w.finish()
    r = ArchiveReader(io.BytesIO(buf.getvalue()))
    assert [(n, b"".join(bl)) for n, bl in r.entries()] == [("demo/s1.jsonl", b"abc")] and r.carried == {}
    r = ArchiveReader(io.BytesIO(buf.getvalue()))
    r.carry_dir = tmp_path
    assert [n for n, _ in r.entries()] == ["demo/s1.jsonl"]
    assert r.carried[".sync-ai-sessions/work.bundle"].read_bytes() == b"BUNDL"


@pytest.mark.parametrize("bad", [
    {"carry": _carry(head="zz")},
    {"carry": _carry(branch="../x")},
    {"carry": _carry(branch="a b")},
    {"carry": _carry(branch="-rf")},
    {"carry": _carry(stash="1234")},
    {"carry": _carry(prerequisites=["nothex"])},
    {"carry": _carry(bundle={"arcname": "demo/other", "size": 5})},
    {"carry": _carry(bundle={"arcname": ".sync-ai-sessions/work.bundle", "size": -1})},
    {"sender": {"head": "x; rm -rf ~"}},
    {"sender": "main"},
])
def test_manifest_git_object_is_checked(bad):
    from sync_ai_sessions.errors import FormatError
    from sync_ai_sessions.format.archive import validate_manifest

    with pytest.raises(FormatError):
        validate_manifest(_manifest(**bad), None, version=2)


def test_session_files_may_not_use_the_reserved_name():
    from sync_ai_sessions.errors import FormatError
    from sync_ai_sessions.format.archive import validate_manifest

    m = _manifest()
    m["sessions"][0]["files"][0]["arcname"] = ".sync-ai-sessions/work.bundle"
    with pytest.raises(FormatError):
        validate_manifest(m, None, version=2)
    validate_manifest(_manifest(sender=None, carry=_carry()), None, version=2)


def test_an_ignored_file_in_the_way_is_never_overwritten(world):
    """B's tree is clean but holds an ignored file where A's commits track one: B keeps its file, and the
    sender's changes are kept instead of applied."""
    a, b, ra, rb, _remote, x, tmp = world
    (ra / "build.log").write_text("A's tracked log\n")
    g(ra, "add", "-f", "build.log")
    g(ra, "commit", "-q", "-m", "track a log")
    (rb / "build.log").write_bytes(b"B's own ignored log\n")
    handoff = tmp / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(handoff), "--with-changes")[0] == 0
    rc, got = b.run_json("receive", "--from", str(handoff), "--cwd", str(rb), "--with-changes")
    assert rc == 0, got
    assert got["git"]["changes"] == "kept" and got["git"]["switched"] is False, got["git"]
    assert (rb / "build.log").read_bytes() == b"B's own ignored log\n"
    assert g(rb, "rev-parse", "HEAD").strip() == x and g(rb, "status", "--porcelain") == ""
    rc, un = b.run_json("undo")
    assert rc == 0, un
    assert g(rb, "stash", "list") == "" and BRANCH not in g(rb, "branch", "--list")
