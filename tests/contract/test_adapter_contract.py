"""The adapter contract: every registered adapter, on its tool's real fixture sessions, through the CLI.

How an adapter joins (one entry, nothing else): add a `Subject` to `SUBJECTS` in
tests/contract/subjects.py with
  - `tool`:  its name in `sync_ai_sessions.adapters.REGISTRY`;
  - `plant(home, repo) -> [ids]`: copy its fixtures from tests/fixtures/<tool>/ under `home` as if the
    sessions had been recorded in `repo` (the helpers there retarget the recorded paths);
  - `grow(transcript, id, cwd, text)`: append one user turn the way the tool writes it;
  - `tops`: the first folder names of the arcnames it sends; `derived(path)`: names it derives from a
    project path (an encoded folder name, a hash), which must not survive a move;
  - a tool whose sessions are rows of a database (OpenCode): `ready(home)` (the tool has run once on the
    receiving machine), `view(tree)` (the home's files as compared, the database as a dump of its rows)
    and `session_bytes(db, id)` (the session's rows in order, read where the others read the transcript);
  - `known_gaps` (rarely): {test name: reason} for a rule it does not meet yet, run as a strict xfail.
`test_every_registered_adapter_is_under_contract` fails until the new adapter has its entry (or, as a
recorded debt, a reason in `PENDING`).

The rules (the model is restic's internal/backend/test: one suite, each backend joins in a few lines):
  find_existing     one signature (session id, optional import context), the same answer with or without
                    the context and while the engine plans (from an index)
  arcnames          every payload name is safe (POSIX, relative, no `..`), starts with a folder the
                    adapter owns, names its session, and belongs to one session only
  destinations      receive writes nothing outside the tool's home and our own config folder
  stage only plans  `stage` writes nothing, not even into the staging folder (a new session, one that
                    is already here, a copy under a new id): every staged file is a Recipe, and the
                    engine carrying them out (`engine.staging`) stages the bytes for this machine
  round trip        A -> B (a clone at another path, another spelling of the remote): every session
                    arrives, no machine-A path or path-derived name is left in B's files
  re-receive        the same handoff again changes no byte
  fast-forward      B goes on, sends back: A's session is extended in place, A's bytes kept as the prefix
  diverged          both go on: A keeps its session byte for byte and gets B's as a copy under a new id
  undo              `undo` after an import (new sessions, and a fast-forward) restores the exact bytes
  killed import     SIGKILL at any file-system step of receive: no visible file is partial, other
                    sessions are untouched, and the next receive ends exactly where an uninterrupted
                    one does

Only public entry points are used: the registry (`get_adapter`, `find_sessions` for the send side's
names, `stage` for its plan, carried out by `engine.staging`), and the CLI (`send`, `receive`, `undo`
with --json) run in-process by click's runner with the machine's environment and nothing else.
"""

from __future__ import annotations

import inspect
import itertools
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from contract.subjects import PENDING, SUBJECTS, Subject
from support.machines import Machine, git_repo, make_machine
from support.machines import in_process as ours

from sync_ai_sessions.adapters import REGISTRY, get_adapter
from sync_ai_sessions.adapters.base import (
    ROLE_TRANSCRIPT,
    ImportContext,
    SessionManifest,
    SourceInfo,
    StagedSession,
    arc_parts,
    is_inside,
)
from sync_ai_sessions.engine.staging import carry_out
from sync_ai_sessions.gitrepo import Repo


def _param(s: Subject, test: str):
    marks = [pytest.mark.xfail(reason=s.known_gaps[test], strict=True)] if test in s.known_gaps else []
    return pytest.param(s, id=s.tool, marks=marks)


def each(test: str):
    """Parametrise `test` over every Subject (honouring its known gaps)."""
    return pytest.mark.parametrize("subject", [_param(s, test) for s in SUBJECTS])


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with its bytes (None for a folder)."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*")) if not p.is_symlink()}


def visible(t: dict[str, bytes | None]) -> dict[str, bytes | None]:
    """What a tool sees: our temporaries are hidden `.sais-*` names."""
    return {k: v for k, v in t.items() if not any(part.startswith(".sais-") for part in k.split("/"))}


@dataclass
class World:
    subject: Subject
    a: Machine
    b: Machine
    ra: Path  # A's clone
    rb: Path  # B's clone: another path (a space, an underscore), another spelling of the remote
    ids: list[str]
    base: Path

    def adapter(self, m: Machine):
        return get_adapter(self.subject.tool, m.env)

    def state(self, root: Path) -> dict[str, bytes | None]:
        """`tree(root)` as the subject compares it (a database as its rows)."""
        view = self.subject.view
        return tree(root) if view is None else view(tree(root))

    def read(self, path: Path, sid: str) -> bytes:
        """The session's transcript as bytes (a store-backed tool: its rows in order)."""
        rows = self.subject.session_bytes
        return path.read_bytes() if rows is None else rows(path, sid)

    def send(self, m: Machine, repo: Path, name: str, *extra: str) -> Path:
        out = self.base / name
        # --force: a world sends again under the same name on purpose (send --to never replaces otherwise)
        doc = ours(m, "send", "--tool", self.subject.tool, "--cwd", str(repo), "--to", str(out), "--force", *extra)
        assert doc["sessions"], doc
        return out

    def receive(self, m: Machine, repo: Path, handoff: Path) -> dict:
        return ours(m, "receive", "--from", str(handoff), "--cwd", str(repo))

    def transcript(self, m: Machine, repo: Path, sid: str) -> Path:
        if self.subject.session_bytes is not None:  # a store: the database that holds the session
            found = self.adapter(m).find_existing(sid)
            assert found is not None, sid
            return found
        (s,) = [s for s in self.adapter(m).find_sessions(Repo(root=repo)) if s.id == sid]
        return s.transcript.source

    def a_to_b(self) -> tuple[Path, dict]:
        handoff = self.send(self.a, self.ra, "a-to-b.sais")
        return handoff, self.receive(self.b, self.rb, handoff)


@pytest.fixture
def world(tmp_path: Path, subject: Subject) -> Iterator[World]:
    a = make_machine(tmp_path, "A")
    b = make_machine(tmp_path, "B")
    ra = git_repo(a.root / "src" / "proj", "git@github.com:o/r.git")
    rb = git_repo(b.root / "dev" / "Proj B_2", "https://github.com/O/r")
    a.repo, b.repo = ra, rb
    subject.ready(b.home)
    ids = subject.plant(a.home, ra)
    assert ids
    leftover = [k for k, v in tree(a.home).items() if v and b"/home/alice" in v]
    assert not leftover, f"plant left fixture paths in {leftover}"
    yield World(subject, a, b, ra, rb, ids, tmp_path)


def test_every_registered_adapter_is_under_contract() -> None:
    assert sorted([s.tool for s in SUBJECTS] + list(PENDING)) == sorted(REGISTRY), (
        "each adapter in the registry needs a Subject in tests/contract/subjects.py (see its docstring)")
    assert not {s.tool for s in SUBJECTS} & set(PENDING), "an adapter with a Subject is no longer PENDING"


@each("test_arcnames_are_valid_and_owned")
def test_arcnames_are_valid_and_owned(world: World) -> None:
    adapter = world.adapter(world.a)
    sessions = adapter.find_sessions(Repo(root=world.ra))
    assert sorted(s.id for s in sessions) == sorted(world.ids)
    seen: dict[str, str] = {}
    for s in sessions:
        assert [f.role for f in s.files].count(ROLE_TRANSCRIPT) == 1, s.id
        for f in s.files:
            parts = arc_parts(f.arcname)  # raises on an unsafe name
            assert parts[0] in world.subject.tops, f.arcname
            assert s.id[:8] in f.arcname, f"{f.arcname} does not name its session {s.id}"
            assert seen.setdefault(f.arcname, s.id) == s.id, f"{f.arcname} is in two sessions"
            if world.subject.session_bytes is None:  # a store's files are an export made for send
                assert is_inside(str(f.source), str(adapter.home())), f.source
            if f.data is None:
                assert f.size == f.source.stat().st_size
            else:  # a part of a shared file of the tool's, carried from memory
                assert f.size == len(f.data) and f.source.is_file()


@each("test_find_existing_has_one_signature_and_one_answer")
def test_find_existing_has_one_signature_and_one_answer(world: World) -> None:
    adapter = world.adapter(world.a)
    params = list(inspect.signature(type(adapter).find_existing).parameters.values())[1:]
    assert [(p.name, p.default) for p in params] == [("session_id", inspect.Parameter.empty), ("ctx", None)]
    ctx = ImportContext(target=Repo(root=world.ra), source=SourceInfo(os_flavor="posix", repo_root=str(world.ra)),
                        staging=world.base / "staging", env=world.a.env)
    for sid in world.ids:
        want = world.transcript(world.a, world.ra, sid)
        assert adapter.find_existing(sid) == want, sid  # without a context: on disk
        assert adapter.find_existing(sid, ctx) == want, sid  # an import's context, not planning
        ctx.lookups = {}  # planning: the answer may come from an index, and must be the same
        assert adapter.find_existing(sid, ctx) == want, sid
        ctx.lookups = None
    assert adapter.find_existing("0" * 8 + world.ids[0][8:].replace("a", "b").replace("1", "2")) is None


@each("test_stage_only_plans")
def test_stage_only_plans(world: World) -> None:
    """`stage` writes nothing anywhere (both machines and every staging folder are compared byte for byte
    around it), for sessions new here, already here, and copies; each staged file it names has one Recipe,
    and the engine carrying them out stages this machine's bytes inside the staging folder only."""
    a = world.adapter(world.a)
    sessions = a.find_sessions(Repo(root=world.ra))
    source = SourceInfo(os_flavor="posix", repo_root=str(world.ra), home=str(a.user_home()),
                        tool_home=str(a.home()), adapter_meta=a.export_meta())
    payload = {f.arcname: f.source for s in sessions for f in s.files}  # read in place: nothing may change
    manifests = [SessionManifest(id=s.id, files=[{"arcname": f.arcname, "size": f.size, "role": f.role}
                                                 for f in s.files],
                                 cwd_rel=s.cwd_rel, title=s.title, last_activity=s.last_activity, lines=s.lines,
                                 tool_version=s.tool_version, meta=s.meta)
                 for s in sessions]
    cases = [("new", world.b, world.rb, False), ("here", world.a, world.ra, False), ("copy", world.a, world.ra, True)]
    for case, m, repo, new_id in cases:
        adapter = world.adapter(m)  # B: new sessions; A: sessions already here, and copies of them
        staging = world.base / f"staging-{case}"
        staging.mkdir()
        ctx = ImportContext(target=Repo(root=repo), source=source, staging=staging, env=m.env, lookups={})
        before = tree(world.base)
        plans = [(sm, adapter.stage(sm, payload, ctx, new_id=adapter.new_session_id(sm.id) if new_id else None))
                 for sm in manifests]
        after = tree(world.base)
        assert after == before, ("stage wrote", sorted(k for k in before.keys() | after.keys()
                                                        if before.get(k, b"-") != after.get(k, b"-")))
        for sm, plan in plans:
            if not isinstance(plan, StagedSession):
                continue  # rows (a database-backed tool): nothing to stage
            placed = [plan.transcript, *plan.sidecars]
            assert sorted(r.staged for r in plan.recipes) == sorted(p.staged for p in placed), sm.id
            srcs = [r.src for r in plan.recipes if r.src in payload.values()]
            assert len(srcs) == len(set(srcs)), f"{sm.id}: a payload file with two recipes"
            done = carry_out(adapter, plan, sm, payload, ctx)
            assert isinstance(done, StagedSession)
            assert all(p.staged.is_file() and is_inside(str(p.staged), str(staging)) for p in placed), sm.id
            assert str(repo).encode() in done.transcript.staged.read_bytes(), sm.id
        outside = [k for k, v in tree(world.base).items()
                   if before.get(k, b"-") != v and not is_inside(str(world.base / k), str(staging))]
        assert not outside, outside


@each("test_receive_writes_only_inside_the_tool_home")
def test_receive_writes_only_inside_the_tool_home(world: World) -> None:
    before = tree(world.b.root)
    _, doc = world.a_to_b()
    home = world.adapter(world.b).home()
    ours_dir = world.b.home / ".sync-ai-sessions"
    changed = [k for k, v in tree(world.b.root).items() if before.get(k, b"\0missing") != v]
    assert changed
    outside = [k for k in changed
               if not (is_inside(str(world.b.root / k), str(home)) or is_inside(str(world.b.root / k), str(ours_dir)))]
    assert not outside, outside
    for imp in doc["imported"]:
        assert is_inside(imp["path"], str(home)), imp


@each("test_round_trip_leaves_no_machine_a_path")
def test_round_trip_leaves_no_machine_a_path(world: World) -> None:
    _, doc = world.a_to_b()
    assert sorted(i["original_id"] for i in doc["imported"]) == sorted(world.ids)
    assert {i["action"] for i in doc["imported"]} == {"new"}
    forbidden = [str(world.a.root), *world.subject.derived(str(world.ra)), "/home/alice"]
    home = world.adapter(world.b).home()
    for name, data in tree(home).items():
        for old in forbidden:
            assert data is None or old.encode() not in data, f"{old!r} left in {name}"
            assert old not in name, f"{old!r} left in the name {name}"
    for imp in doc["imported"]:
        assert str(world.rb).encode() in world.read(Path(imp["path"]), imp["id"]), imp["path"]
        assert imp["original_id"] in imp["resume"] or imp["id"] in imp["resume"]


@each("test_newest_session_gets_the_latest_mtime")
def test_newest_session_gets_the_latest_mtime(world: World) -> None:
    """Tools "continue the latest session" by file mtime (`claude --continue`, `copilot --continue`) and
    Claude sweeps old transcripts by it: receive gives every imported session's files a fresh mtime in
    the order of the sessions' last activity, the newest session's the latest."""
    if world.subject.session_bytes is not None:
        pytest.skip("a database-backed tool: its sessions are rows, not files with an mtime")
    activity = {s.id: s.last_activity for s in world.adapter(world.a).find_sessions(Repo(root=world.ra))}
    if len(set(activity.values())) < 2:  # the order is the engine's; proven on the adapters with several
        pytest.skip("its fixtures hold one session (or one last activity): no order to see")
    start = time.time_ns()
    _, doc = world.a_to_b()
    on_b = {s.id: s for s in world.adapter(world.b).find_sessions(Repo(root=world.rb))}
    stamps = []
    for imp in doc["imported"]:
        files = [Path(imp["path"]), *(f.source for f in on_b[imp["id"]].files if f.data is None)]
        mtimes = {f: f.stat().st_mtime_ns for f in files}
        assert all(start - 3600 * 10**9 < t for t in mtimes.values()), mtimes  # all recent
        stamps.append((activity[imp["original_id"]] or "", min(mtimes.values()), max(mtimes.values())))
    stamps.sort()
    for (older, _, older_max), (newer, newer_min, _) in itertools.pairwise(stamps):
        if older < newer:
            assert older_max < newer_min, (older, newer)
    assert max(stamps, key=lambda s: s[2])[0] == stamps[-1][0]


@each("test_receiving_again_is_a_no_op")
def test_receiving_again_is_a_no_op(world: World) -> None:
    handoff, _ = world.a_to_b()
    home = world.adapter(world.b).home()
    before = world.state(home)
    doc = world.receive(world.b, world.rb, handoff)
    assert doc["imported"] == []
    assert sorted(s["id"] for s in doc["skipped"]) == sorted(world.ids)
    assert world.state(home) == before


@each("test_fast_forward_extends_in_place")
def test_fast_forward_extends_in_place(world: World) -> None:
    _, got = world.a_to_b()
    sid = world.ids[0]
    on_a = world.transcript(world.a, world.ra, sid)
    a_bytes = world.read(on_a, sid)
    (imp,) = [i for i in got["imported"] if i["original_id"] == sid]
    world.subject.grow(Path(imp["path"]), sid, world.rb, "went on at B")
    back = world.send(world.b, world.rb, "b-to-a.sais")
    doc = world.receive(world.a, world.ra, back)
    actions = {i["original_id"]: i["action"] for i in doc["imported"]}
    assert actions == {sid: "fast-forward"}, doc
    (ff,) = doc["imported"]
    assert ff["id"] == sid and Path(ff["path"]) == on_a
    now = world.read(on_a, sid)
    assert now.startswith(a_bytes) and len(now) > len(a_bytes)
    assert b"went on at B" in now[len(a_bytes):]
    assert str(world.b.root).encode() not in now


@each("test_diverged_becomes_a_copy_under_a_new_id")
def test_diverged_becomes_a_copy_under_a_new_id(world: World) -> None:
    _, got = world.a_to_b()
    sid = world.ids[0]
    (imp,) = [i for i in got["imported"] if i["original_id"] == sid]
    world.subject.grow(Path(imp["path"]), sid, world.rb, "went on at B")
    on_a = world.transcript(world.a, world.ra, sid)
    world.subject.grow(on_a, sid, world.ra, "went on at A")
    a_bytes = world.read(on_a, sid)
    back = world.send(world.b, world.rb, "b-to-a.sais")
    doc = world.receive(world.a, world.ra, back)
    (copy,) = doc["imported"]
    assert copy["action"] == "copy" and copy["original_id"] == sid and copy["id"] != sid, copy
    assert world.read(on_a, sid) == a_bytes, "the local session changed"
    data = world.read(Path(copy["path"]), copy["id"])
    assert b"went on at B" in data and b"went on at A" not in data
    assert copy["id"] in copy["resume"]
    assert {s.id for s in world.adapter(world.a).find_sessions(Repo(root=world.ra))} >= {sid, copy["id"]}
    again = world.receive(world.a, world.ra, back)
    assert again["imported"] == [], "the same handoff made a second copy"


@each("test_undo_restores_the_exact_bytes")
def test_undo_restores_the_exact_bytes(world: World) -> None:
    b_home = world.adapter(world.b).home()
    before_b = world.state(b_home)
    _, got = world.a_to_b()
    assert world.state(b_home) != before_b
    ours(world.b, "undo")
    assert world.state(b_home) == before_b

    _, got = world.a_to_b()  # again, then a fast-forward back on A, undone there
    sid = world.ids[0]
    (imp,) = [i for i in got["imported"] if i["original_id"] == sid]
    world.subject.grow(Path(imp["path"]), sid, world.rb, "went on at B")
    back = world.send(world.b, world.rb, "b-to-a.sais")
    a_home = world.adapter(world.a).home()
    before_a = world.state(a_home)
    assert world.receive(world.a, world.ra, back)["imported"]
    ours(world.a, "undo")
    assert world.state(a_home) == before_a


# -- a receive killed at each file-system step ------------------------------------------------------------
# The file-system calls a kill lands just before: every one of them in one receive is tried (25-60 per
# adapter here), since a partial file exists only between two particular steps.
_STEPS = ("link", "replace", "rename", "fsync", "truncate", "unlink", "rmdir", "mkdir")


def _receive_in_child(world: World, handoff: Path, kill_at: int | None) -> tuple[int, int]:
    """Run receive on B in a forked child; with `kill_at`, SIGKILL it at that file-system step.
    Returns (how the child ended, how many steps it reached)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the receiving process
        try:
            os.close(rfd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            count = [0]

            def wrap(name: str):
                real = getattr(os, name)

                def step(*args, **kw):
                    count[0] += 1
                    if kill_at is not None and count[0] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return real(*args, **kw)
                return step

            for name in _STEPS:
                setattr(os, name, wrap(name))
            ours(world.b, "receive", "--from", str(handoff), "--cwd", str(world.rb))
            os.write(wfd, str(count[0]).encode())
            os._exit(0)
        except BaseException:
            os._exit(3)
    os.close(wfd)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(rfd, "rb") as fh:
        reached = fh.read()
    return status, int(reached or 0)


def _restore(root: Path, snap: dict[str, bytes | None]) -> None:
    """Put the folder `root` back exactly as `snap` (a `tree`) says."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for name, data in snap.items():
        p = root / name
        if data is None:
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked receive (POSIX only)")
@each("test_a_killed_receive_leaves_nothing_partial")
def test_a_killed_receive_leaves_nothing_partial(world: World) -> None:
    # B holds the first session only; A went on with it: the handoff fast-forwards it and creates the rest.
    sid = world.ids[0]
    first = world.send(world.a, world.ra, "first.sais", "--session", sid)
    world.receive(world.b, world.rb, first)
    world.subject.grow(world.transcript(world.a, world.ra, sid), sid, world.ra, "went on at A")
    handoff = world.send(world.a, world.ra, "a-to-b.sais")
    home, cfg = world.adapter(world.b).home(), world.b.home / ".sync-ai-sessions"
    start, start_cfg = tree(home), tree(cfg)

    start_view = world.state(home)
    status, steps = _receive_in_child(world, handoff, None)  # a dry run: how many steps, and the end state
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and steps > 0
    end = visible(world.state(home))
    assert end != visible(start_view)

    for k in range(1, steps + 1):
        _restore(home, start)
        _restore(cfg, start_cfg)
        status, _ = _receive_in_child(world, handoff, k)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (k, status)
        now = visible(world.state(home))
        for name, data in now.items():
            if data is not None:
                assert data in (start_view.get(name), end.get(name)), f"kill at step {k}/{steps}: {name} is partial"
        assert set(now) <= set(start_view) | set(end), (k, set(now) - set(start_view) - set(end))
        world.receive(world.b, world.rb, handoff)  # the next receive completes the import
        assert visible(world.state(home)) == end, f"kill at step {k}/{steps}: the next receive did not complete it"
