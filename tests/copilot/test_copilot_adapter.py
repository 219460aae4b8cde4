"""Copilot CLI adapter unit tests on the real 1.0.102 fixture (a session folder the real CLI wrote on machine A).

Discovery by the recorded cwd (root, subfolder, look-alike siblings, later `session.resume` cwd), what travels
(never the CLI's lock files, never through symlinks), the COPILOT_HOME override, the rewrite of every path
(events, workspace.yaml, the session folder named in the system message), copies under a new id, and
refusal of payload names outside the session's folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fixtures import fixtures_dir

from sync_ai_sessions.adapters.base import ImportContext, SessionManifest, SourceInfo
from sync_ai_sessions.adapters.copilot import CopilotAdapter
from sync_ai_sessions.engine.staging import stage
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo

FIXTURE = fixtures_dir() / "copilot-cli" / "1.0.102" / "session-state"
FIX_SID = "6fb20e35-c67e-40f2-b5aa-a0d8b47372d4"
FIX_CWD = "/home/alice/src/cpproj"
FIX_HOME = "/home/alice"


def place(adapter: CopilotAdapter, cwd: str, sid: str = FIX_SID) -> Path:
    d = adapter.state_dir() / sid
    shutil.copytree(FIXTURE, d)
    for p in d.rglob("*"):
        if p.is_file():
            p.chmod(0o600)
            data = p.read_bytes().replace(FIX_CWD.encode(), cwd.encode())
            p.write_bytes(data.replace(FIX_SID.encode(), sid.encode()))
    return d


@pytest.fixture
def machine(tmp_path: Path) -> dict:
    home = tmp_path / "home"
    home.mkdir()
    repo = Path(os.path.realpath(tmp_path)) / "src" / "cpproj"
    (repo / "sub").mkdir(parents=True)
    return {"home": home, "repo": repo, "adapter": CopilotAdapter({"HOME": str(home)}), "tmp": tmp_path}


def test_home_honours_copilot_home(tmp_path: Path) -> None:
    assert CopilotAdapter({"HOME": str(tmp_path)}).home() == tmp_path / ".copilot"
    assert CopilotAdapter({"HOME": "/x", "COPILOT_HOME": str(tmp_path / "c")}).home() == tmp_path / "c"


def test_find_sessions_by_recorded_cwd(machine: dict) -> None:
    a: CopilotAdapter = machine["adapter"]
    repo: Path = machine["repo"]
    place(a, str(repo))
    place(a, str(repo / "sub"), "11111111-1111-4111-8111-111111111111")
    place(a, str(repo) + "-other", "22222222-2222-4222-8222-222222222222")  # a look-alike sibling
    found = a.find_sessions(Repo(root=repo))
    assert {s.id: s.cwd_rel for s in found} == {FIX_SID: "", "11111111-1111-4111-8111-111111111111": "sub"}
    s = next(x for x in found if x.id == FIX_SID)
    assert s.title == "hello from copilot A"
    assert s.tool_version == "1.0.102"
    assert s.lines == 15
    assert s.last_activity and s.last_activity.startswith("2026-11-24T01:04")
    names = sorted(f.arcname for f in s.files)
    assert names == [f"session-state/{FIX_SID}/{n}" for n in (
        "checkpoints/index.md", "events.jsonl", "rewind-file-snapshots/tracking.json", "workspace.yaml")]
    assert [f.arcname for f in s.files if f.role == "transcript"] == [f"session-state/{FIX_SID}/events.jsonl"]
    assert a.session_count() == 3


def test_later_resume_cwd_decides_and_locks_symlinks_stay(machine: dict) -> None:
    a: CopilotAdapter = machine["adapter"]
    repo: Path = machine["repo"]
    d = place(a, "/elsewhere/proj")
    assert a.find_sessions(Repo(root=repo)) == []
    # The session was resumed in this repo later: the last recorded cwd wins.
    ev = d / "events.jsonl"
    lines = ev.read_bytes().splitlines(keepends=True)
    i = next(k for k, ln in enumerate(lines) if b'"session.resume"' in ln)
    lines[i] = lines[i].replace(b"/elsewhere/proj", str(repo).encode())
    ev.write_bytes(b"".join(lines))
    (d / ".workspace-fork.lock").write_text("1")
    (d / "files").mkdir()
    (d / "files" / "link").symlink_to("/etc/passwd")
    (s,) = a.find_sessions(Repo(root=repo))
    names = {f.arcname.split("/", 2)[2] for f in s.files}
    assert ".workspace-fork.lock" not in names and "files/link" not in names


def _ctx(machine: dict, staging: Path) -> ImportContext:
    src = SourceInfo(os_flavor="posix", repo_root=FIX_CWD, home=FIX_HOME, tool_home=f"{FIX_HOME}/.copilot")
    return ImportContext(target=Repo(root=machine["repo"]), source=src, staging=staging, env={})


def _manifest(files: dict[str, Path]) -> SessionManifest:
    return SessionManifest(
        id=FIX_SID, cwd_rel="", meta={"cwd": FIX_CWD},
        files=[{"arcname": n, "role": "transcript" if n.endswith("/events.jsonl") else "sidecar"} for n in files],
    )


def test_stage_rewrites_every_path_and_copies_under_new_id(machine: dict) -> None:
    a: CopilotAdapter = machine["adapter"]
    files = {f"session-state/{FIX_SID}/{p.relative_to(FIXTURE).as_posix()}": p
             for p in FIXTURE.rglob("*") if p.is_file()}
    ctx = _ctx(machine, machine["tmp"] / "staging")
    st = stage(a, _manifest(files), files, ctx)
    assert st.session_id == FIX_SID and st.resume_cwd == machine["repo"]
    assert st.transcript.dest == a.state_dir() / FIX_SID / "events.jsonl"
    ev = st.transcript.staged.read_bytes()
    assert b"/home/alice" not in ev
    assert f'"cwd":"{machine["repo"]}"'.encode() in ev
    assert f"{a.home()}/session-state/{FIX_SID}".encode() in ev  # the folder named in the system message
    ws = next(p for p in st.sidecars if p.dest.name == "workspace.yaml").staged.read_bytes()
    assert f"cwd: {machine['repo']}\n".encode() in ws and f"git_root: {machine['repo']}\n".encode() in ws

    new = "33333333-3333-4333-8333-333333333333"
    cp = stage(a, _manifest(files), files, ctx, new_id=new)
    assert cp.session_id == new and cp.original_id == FIX_SID
    assert {p.dest.parent.relative_to(a.state_dir()).parts[0] for p in [cp.transcript, *cp.sidecars]} == {new}
    for p in [cp.transcript, *cp.sidecars]:
        assert FIX_SID.encode() not in p.staged.read_bytes()
    ws = next(p for p in cp.sidecars if p.dest.name == "workspace.yaml").staged.read_bytes()
    assert f"id: {new}\n".encode() in ws


@pytest.mark.parametrize("name", [
    "session-state/{sid}/../x",
    "session-state/{sid}/.workspace-fork.lock",
    "session-state/44444444-4444-4444-8444-444444444444/events.jsonl",
    "other/{sid}/events.jsonl",
    "session-state/{sid}",
    "session-state/{sid}/a/b/c/d/e/f",
])
def test_stage_refuses_names_outside_the_session_folder(machine: dict, name: str) -> None:
    a: CopilotAdapter = machine["adapter"]
    ev = f"session-state/{FIX_SID}/events.jsonl"
    bad = name.format(sid=FIX_SID)
    files = {ev: FIXTURE / "events.jsonl", bad: FIXTURE / "workspace.yaml"}
    with pytest.raises(UnsafePayloadError):
        a.stage(_manifest(files), files, _ctx(machine, machine["tmp"] / "staging"))


def test_stage_refuses_bad_ids_and_a_misplaced_transcript(machine: dict) -> None:
    a: CopilotAdapter = machine["adapter"]
    files = {f"session-state/{FIX_SID}/workspace.yaml": FIXTURE / "workspace.yaml"}
    sm = SessionManifest(id=FIX_SID, files=[{"arcname": n, "role": "transcript"} for n in files])
    with pytest.raises(UnsafePayloadError):
        a.stage(sm, files, _ctx(machine, machine["tmp"] / "s"))
    sm = SessionManifest(id="../../etc", files=[])
    with pytest.raises(UnsafePayloadError):
        a.stage(sm, {}, _ctx(machine, machine["tmp"] / "s"))
    assert a.find_existing("../x") is None


_segment = st.one_of(st.sampled_from(["session-state", "..", ".", "", "events.jsonl", "workspace.yaml", "a.lock",
                                      "checkpoints", FIX_SID, "x\\y", "c:", " x"]), st.text(max_size=6))
_path = st.lists(_segment, min_size=1, max_size=7).map("/".join)
_name = st.one_of(_path, _path.map(lambda t: f"session-state/{FIX_SID}/{t}"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_name, max_size=4))
def test_any_payload_names_are_refused_or_land_in_the_session_folder(machine: dict, names: list[str]) -> None:
    a: CopilotAdapter = machine["adapter"]
    ev = f"session-state/{FIX_SID}/events.jsonl"
    files = {ev: FIXTURE / "events.jsonl", **{n: FIXTURE / "workspace.yaml" for n in names if n != ev}}
    try:
        st_ = stage(a, _manifest(files), files, _ctx(machine, machine["tmp"] / "staging"))
    except UnsafePayloadError:
        return
    folder = a.state_dir() / FIX_SID
    for p in [st_.transcript, *st_.sidecars]:
        assert os.path.commonpath([str(p.dest), str(folder)]) == str(folder) and ".." not in p.dest.parts
        assert not p.dest.name.endswith(".lock")
