"""Unit tests of the Claude Code adapter on sessions the real CLI wrote (shared fixtures)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.fixtures import fixtures_dir

from sync_ai_sessions import osops
from sync_ai_sessions.adapters import get_adapter
from sync_ai_sessions.adapters.base import (
    ROLE_TRANSCRIPT,
    ImportContext,
    SessionManifest,
    SourceInfo,
)
from sync_ai_sessions.adapters.claude import ClaudeAdapter
from sync_ai_sessions.adapters.claude_files import _base36, encode_project_dir, path_hash
from sync_ai_sessions.engine.staging import stage
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo

A_ROOT = "/home/alice/src/my_app.v2"
A_ENC = "-home-alice-src-my-app-v2"
SUB = "bd75ca42-41f1-41d4-bc45-59dda56f28ab"  # 2.1.330 session with a subagent
FH = "673efaf7-6444-494e-91fa-eb34c5319467"  # 2.1.330 session with file history (repo /home/alice/src/proj)
A_META = {
    "config_dir": "/home/alice/.claude",
    "projects_dir": "/home/alice/.claude/projects",
    "tmp_dir": "/tmp/claude-1000",
    "home": "/home/alice",
}


# -- the folder-name encoding ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (A_ROOT, A_ENC),
        ("/home/bob/dev/Proj B_2", "-home-bob-dev-Proj-B-2"),
        ("/r/w/My App.v2 (copy)_x", "-r-w-My-App-v2--copy--x"),
        # é, /, 日, 本, / are one UTF-16 unit each; 😀 is a surrogate pair: two dashes.
        ("/r/w/café/日本/😀x", "-r-w-caf-------x"),
        ("C:\\work\\my-app", "C--work-my-app"),
        ("c:\\work\\my-app", "c--work-my-app"),
        ("/a.b", "-a-b"),
        ("/a_b", "-a-b"),
        ("/a b", "-a-b"),
    ],
)
def test_encode_project_dir_table(path: str, expected: str) -> None:
    assert encode_project_dir(path) == expected


def test_hash_is_the_31_int32_hash_over_utf16_units() -> None:
    # Known values of Java's String.hashCode (the same hash), including the int32 minimum.
    assert path_hash("hello") == 99162322
    assert path_hash("polygenelubricants") == -(2**31)
    assert _base36(abs(path_hash("polygenelubricants"))) == "zik0zk"
    assert path_hash("😀") == 0xD83D * 31 + 0xDE00


def test_long_path_is_cut_at_200_and_gets_the_hash_suffix() -> None:
    # The shape of the 268-character row of the format notes' table (…/w/L/segment_00_abcdefghij/…).
    path = "/tmp/run-0123456789abcdef0123456789abcdef/w/L/" + "/".join(
        f"segment_{i:02d}_abcdefghij" for i in range(10)
    )
    enc = encode_project_dir(path)
    assert len(path) > 200
    assert enc[:200] == "".join(c if c.isascii() and c.isalnum() else "-" for c in path)[:200]
    assert enc[200] == "-"
    assert enc[201:] == _base36(abs(path_hash(path)))
    assert len(enc) <= 208
    assert encode_project_dir(path[:200]) == enc[:200]  # exactly 200: no suffix


def test_registry_finds_the_adapter(tmp_path: Path) -> None:
    a = get_adapter("claude", {"HOME": str(tmp_path)})
    assert isinstance(a, ClaudeAdapter)
    assert a.display_name == "Claude Code"
    assert a.resume_command(SUB) == f"claude --resume {SUB}"


def test_locations_honour_overrides(tmp_path: Path) -> None:
    assert ClaudeAdapter({"HOME": str(tmp_path)}).projects_dir() == tmp_path / ".claude" / "projects"
    cfg = tmp_path / "cfg"
    env = {"HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": str(cfg)}
    assert ClaudeAdapter(env).projects_dir() == cfg / "projects"
    sess = tmp_path / "x" / "projects"
    a = ClaudeAdapter({**env, "SYNC_AI_SESSIONS_SESSION_DIR": str(sess)})
    assert a.projects_dir() == sess
    assert a.home() == sess.parent
    # CLAUDE_CODE_PROJECT_DIR_NAME only counts with CLAUDE_CONFIG_DIR, like the CLI.
    no_cfg = ClaudeAdapter({"HOME": "/h", "CLAUDE_CODE_PROJECT_DIR_NAME": "fixed"})
    assert no_cfg.project_dir_name("/a") == "-a"
    env = {"HOME": "/h", "CLAUDE_CONFIG_DIR": "/c", "CLAUDE_CODE_PROJECT_DIR_NAME": "my_fixed-name"}
    assert ClaudeAdapter(env).project_dir_name("/a") == "my_fixed-name"


# -- machine A: a config dir built from the fixtures ----------------------------------------------
def _jsonl(lines: list[dict]) -> bytes:
    return b"".join(json.dumps(d, separators=(",", ":")).encode() + b"\n" for d in lines)


def _retarget(data: bytes, old: str, new: str) -> bytes:
    return data.replace(json.dumps(old)[1:-1].encode(), json.dumps(new)[1:-1].encode())


@pytest.fixture
def machine_a(tmp_path: Path) -> ClaudeAdapter:
    fx = fixtures_dir() / "claude"
    home = tmp_path / "A"
    cfg = home / ".claude"
    for name in ("1.0.128-print", "2.0.77-print", "2.1.330-interactive", "2.1.330-print-subagent",
                 "2.1.330-print-filehistory"):
        shutil.copytree(fx / name, cfg, dirs_exist_ok=True)
    projects = cfg / "projects"
    base = (fx / "2.0.77-print/projects" / A_ENC / "748c9352-bf5f-4533-a8a3-769f2409611b.jsonl").read_bytes()
    # A session started in a subdirectory of the repo.
    sub = projects / encode_project_dir(A_ROOT + "/pkg/sub dir")
    sub.mkdir()
    (sub / "11111111-1111-4111-8111-111111111111.jsonl").write_bytes(
        _retarget(base, A_ROOT, A_ROOT + "/pkg/sub dir").replace(
            b"748c9352-bf5f-4533-a8a3-769f2409611b", b"11111111-1111-4111-8111-111111111111"))
    # Lossy-name decoys: same folder name, other directories.
    (projects / A_ENC / "22222222-2222-4222-8222-222222222222.jsonl").write_bytes(
        _retarget(base, A_ROOT, "/home/alice/src/my.app_v2"))
    (projects / (A_ENC + "-other")).mkdir()
    (projects / (A_ENC + "-other") / "33333333-3333-4333-8333-333333333333.jsonl").write_bytes(
        _retarget(base, A_ROOT, A_ROOT + "-other"))
    # Moved into the repo (relocated record) and moved out of it.
    (projects / "-elsewhere").mkdir()
    (projects / "-elsewhere" / "44444444-4444-4444-8444-444444444444.jsonl").write_bytes(
        _retarget(base, A_ROOT, "/elsewhere")
        + _jsonl([{"type": "relocated", "sessionId": "44444444-4444-4444-8444-444444444444",
                   "relocatedCwd": A_ROOT + "/pkg"}]))
    (projects / A_ENC / "55555555-5555-4555-8555-555555555555.jsonl").write_bytes(
        base + _jsonl([{"type": "relocated", "sessionId": "55555555-5555-4555-8555-555555555555",
                        "relocatedCwd": "/elsewhere"}]))
    # An older-style subagent file of the 2.0.77 session, and one of another session.
    (projects / A_ENC / "agent-1a2b3c4d.jsonl").write_bytes(_jsonl([
        {"parentUuid": None, "isSidechain": True, "cwd": A_ROOT,
         "sessionId": "748c9352-bf5f-4533-a8a3-769f2409611b", "agentId": "1a2b3c4d", "type": "user",
         "message": {"role": "user", "content": "Warmup"}}]))
    (projects / A_ENC / "agent-99999999.jsonl").write_bytes(_jsonl([
        {"cwd": A_ROOT, "sessionId": "someone-else", "agentId": "99999999", "type": "user"}]))
    # Memory of the project, and things that must never travel.
    (projects / A_ENC / "memory").mkdir()
    (projects / A_ENC / "memory" / "MEMORY.md").write_text(f"- the app lives in {A_ROOT}\n")
    (cfg / ".credentials.json").write_text('{"claudeAiOauth":{"accessToken":"SECRET"}}')
    (home / ".claude.json").write_text('{"primaryApiKey":"SECRET"}')
    for d in ("shell-snapshots", f"session-env/{SUB}", "sessions", f"todos/{SUB}"):
        (cfg / d).mkdir(parents=True)
        (cfg / d / "x.sh").write_text("SECRET")
    (projects / A_ENC / SUB / ".credentials.json").write_text("SECRET")
    return ClaudeAdapter({"HOME": str(home)})


def _by_id(a: ClaudeAdapter, root: str) -> dict:
    return {s.id: s for s in a.find_sessions(Repo(root=Path(root)))}


def test_find_sessions_uses_recorded_cwd_not_folder_name(machine_a: ClaudeAdapter) -> None:
    found = _by_id(machine_a, A_ROOT)
    assert set(found) == {
        "b69b4693-0a66-4491-8529-75c05e827837",  # 1.0.128
        "748c9352-bf5f-4533-a8a3-769f2409611b",  # 2.0.77
        "703fdbc8-386a-4183-a580-bd92e224b24d",  # 2.1.330 interactive
        SUB,
        "11111111-1111-4111-8111-111111111111",  # started in a subdirectory
        "44444444-4444-4444-8444-444444444444",  # relocated into the repo
    }
    assert found["11111111-1111-4111-8111-111111111111"].cwd_rel == "pkg/sub dir"
    assert found["44444444-4444-4444-8444-444444444444"].cwd_rel == "pkg"
    assert found[SUB].cwd_rel == ""
    s = found[SUB]
    assert s.title == "hello"
    assert s.lines == 75
    assert s.tool_version == "2.1.330"
    assert s.last_activity and s.last_activity.startswith("2026-11-24T00:52:")
    assert s.meta["cwd"] == A_ROOT
    assert found["b69b4693-0a66-4491-8529-75c05e827837"].tool_version == "1.0.128"
    # newest first
    acts = [x.last_activity for x in machine_a.find_sessions(Repo(root=Path(A_ROOT)))]
    assert acts == sorted(acts, reverse=True)
    # the other repo of the fixtures
    assert set(_by_id(machine_a, "/home/alice/src/proj")) == {FH}
    assert machine_a.session_count() == 10
    assert machine_a.tool_version() is not None


def test_files_carried_and_never_carried(machine_a: ClaudeAdapter) -> None:
    found = _by_id(machine_a, A_ROOT)
    for s in found.values():
        assert [f.role for f in s.files].count(ROLE_TRANSCRIPT) == 1
        assert s.transcript.arcname == f"projects/{s.id}.jsonl"
        for f in s.files:
            assert not f.arcname.startswith("/") and ".." not in f.arcname.split("/")
            assert f.size == f.source.stat().st_size
            assert "SECRET" not in f.source.read_text(errors="replace")
            assert f.source.name not in (".credentials.json", ".claude.json")
            for banned in ("shell-snapshots", "session-env", "sessions", "todos"):
                assert f"/.claude/{banned}/" not in str(f.source)
        assert f"memory/{s.id}/MEMORY.md" in [f.arcname for f in s.files]
    arcs = {f.arcname for f in found[SUB].files}
    assert f"projects/{SUB}/subagents/agent-a7ac202595a307a09.jsonl" in arcs
    assert f"projects/{SUB}/subagents/agent-a7ac202595a307a09.meta.json" in arcs
    old = {f.arcname for f in found["748c9352-bf5f-4533-a8a3-769f2409611b"].files}
    assert "agents/748c9352-bf5f-4533-a8a3-769f2409611b/agent-1a2b3c4d.jsonl" in old
    assert not any("agent-99999999" in a for s in found.values() for a in (f.arcname for f in s.files))
    fh = _by_id(machine_a, "/home/alice/src/proj")[FH]
    assert f"file-history/{FH}/2e84d031b534dd46@v2" in {f.arcname for f in fh.files}


def test_transcript_size_stops_at_last_complete_line(machine_a: ClaudeAdapter) -> None:
    path = machine_a.projects_dir() / A_ENC / f"{SUB}.jsonl"
    full = path.stat().st_size
    with open(path, "ab") as f:
        f.write(b'{"type":"user","half-writ')
    s = _by_id(machine_a, A_ROOT)[SUB]
    assert s.transcript.size == full
    assert s.lines == 75


# -- machine B: stage ----------------------------------------------------------------------------
def _manifest(s) -> tuple[SessionManifest, dict[str, Path]]:
    man = SessionManifest(
        id=s.id,
        files=[{"arcname": f.arcname, "size": f.size, "role": f.role} for f in s.files],
        cwd_rel=s.cwd_rel, title=s.title, last_activity=s.last_activity, lines=s.lines,
        tool_version=s.tool_version, meta=json.loads(json.dumps(s.meta)),
    )
    return man, {f.arcname: f.source for f in s.files}


def _ctx(tmp_path: Path, root: Path, repo_root: str = A_ROOT, flavor: str = "posix",
         meta: dict | None = None, home: str = "/home/alice") -> ImportContext:
    return ImportContext(
        target=Repo(root=root),
        source=SourceInfo(os_flavor=flavor, repo_root=repo_root, home=home,
                          adapter_meta=dict(meta or A_META)),
        staging=tmp_path / "staging",
        env={},
    )


@pytest.fixture
def machine_b(tmp_path: Path) -> tuple[ClaudeAdapter, Path]:
    home = tmp_path / "B home"
    root = tmp_path / "B" / "dev" / "Proj B_2"
    (root / "pkg" / "sub dir").mkdir(parents=True)
    home.mkdir()
    return ClaudeAdapter({"HOME": str(home), "CLAUDE_CODE_TMPDIR": str(tmp_path / "btmp")}), root


def _all_staged_bytes(st) -> bytes:
    return b"".join(p.staged.read_bytes() for p in [st.transcript, *st.sidecars])


def test_stage_places_by_target_cwd_and_rewrites_every_old_prefix(
    machine_a: ClaudeAdapter, machine_b: tuple[ClaudeAdapter, Path], tmp_path: Path
) -> None:
    b, root = machine_b
    man, files = _manifest(_by_id(machine_a, A_ROOT)[SUB])
    st = stage(b, man, files, _ctx(tmp_path, root))
    enc_b = encode_project_dir(str(root))
    assert st.session_id == st.original_id == SUB
    assert st.transcript.dest == b.projects_dir() / enc_b / f"{SUB}.jsonl"
    assert st.resume_cwd == root
    dests = {p.dest for p in st.sidecars}
    assert b.projects_dir() / enc_b / SUB / "subagents" / "agent-a7ac202595a307a09.jsonl" in dests
    assert b.projects_dir() / enc_b / "memory" / "MEMORY.md" in dests
    for p in [st.transcript, *st.sidecars]:
        assert p.staged.is_relative_to(tmp_path / "staging")
        assert p.dest.is_relative_to(b.home())
    data = _all_staged_bytes(st)
    for old in (b"/home/alice", A_ENC.encode(), b"/tmp/claude-1000"):
        assert old not in data, old
    # Every line is still JSON with the same number of lines, and the cwd fields point at B.
    src_lines = files[f"projects/{SUB}.jsonl"].read_bytes().splitlines()
    out_lines = st.transcript.staged.read_bytes().splitlines()
    assert len(out_lines) == len(src_lines) == 75
    cwds = {json.loads(line).get("cwd") for line in out_lines} - {None}
    assert cwds == {str(root)}
    assert str(root).encode() in data
    assert f"{b.tmp_dir()}/{enc_b}/{SUB}/tasks/".encode() in data


def test_stage_matches_the_real_move_fixture_byte_for_byte(
    machine_a: ClaudeAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The research run moved this session to /home/bob/dev/Proj B_2 and resumed it there; the real CLI
    then appended to the file.  Our rewrite must produce exactly the moved prefix."""
    monkeypatch.setattr(ClaudeAdapter, "tmp_dir", lambda self, fl=None: "/tmp/claude-1000")
    b = ClaudeAdapter({"HOME": "/home/bob"})
    man, files = _manifest(_by_id(machine_a, A_ROOT)[SUB])
    st = stage(b, man, files, _ctx(tmp_path, Path("/home/bob/dev/Proj B_2")))
    moved = (fixtures_dir() / "claude/2.1.330-print-after-resume-on-B/projects/-home-bob-dev-Proj-B-2"
             / f"{SUB}.jsonl").read_bytes()
    ours = st.transcript.staged.read_bytes()
    assert len(moved) > len(ours)
    assert moved.startswith(ours)


def test_subdir_session_lands_in_the_subdir_folder(
    machine_a: ClaudeAdapter, machine_b: tuple[ClaudeAdapter, Path], tmp_path: Path
) -> None:
    b, root = machine_b
    man, files = _manifest(_by_id(machine_a, A_ROOT)["11111111-1111-4111-8111-111111111111"])
    st = stage(b, man, files, _ctx(tmp_path, root))
    sub = root / "pkg" / "sub dir"
    assert st.resume_cwd == sub
    assert st.transcript.dest.parent.name == encode_project_dir(str(sub))
    assert {json.loads(x).get("cwd") for x in st.transcript.staged.read_bytes().splitlines()} - {None} == {
        str(sub)}


def test_file_history_carried_raw_and_real_parent_dir_rewritten(
    machine_a: ClaudeAdapter, machine_b: tuple[ClaudeAdapter, Path], tmp_path: Path
) -> None:
    b, root = machine_b
    s = _by_id(machine_a, "/home/alice/src/proj")[FH]
    man, files = _manifest(s)
    st = stage(b, man, files, _ctx(tmp_path, root, repo_root="/home/alice/src/proj"))
    blob = next(p for p in st.sidecars if p.dest.name == "2e84d031b534dd46@v2")
    assert blob.dest == b.config_dir() / "file-history" / FH / "2e84d031b534dd46@v2"
    assert blob.staged.read_bytes() == files[f"file-history/{FH}/2e84d031b534dd46@v2"].read_bytes()
    parents: list[str] = []

    def collect(x: object) -> None:
        if isinstance(x, dict):
            parents.extend(v for k, v in x.items() if k == "realParentDir")
            for v in x.values():
                collect(v)
        elif isinstance(x, list):
            for v in x:
                collect(v)

    for line in st.transcript.staged.read_bytes().splitlines():
        collect(json.loads(line))
    assert len(parents) == 2  # one delta, one snapshot
    assert set(parents) == {str(root)}


def test_copy_under_new_id_leaves_no_old_id(
    machine_a: ClaudeAdapter, machine_b: tuple[ClaudeAdapter, Path], tmp_path: Path
) -> None:
    b, root = machine_b
    new = "0b5e1c2d-3f4a-4b6c-8d7e-9f0a1b2c3d4e"
    for sid in (SUB, "748c9352-bf5f-4533-a8a3-769f2409611b"):
        man, files = _manifest(_by_id(machine_a, A_ROOT)[sid])
        st = stage(b, man, files, _ctx(tmp_path, root), new_id=new)
        assert st.session_id == new and st.original_id == sid
        assert st.transcript.dest.name == f"{new}.jsonl"
        data = _all_staged_bytes(st)
        assert sid.encode() not in data
        assert new.encode() in data
        for p in [st.transcript, *st.sidecars]:
            assert sid not in str(p.dest)
        ids = {json.loads(x).get("sessionId") for x in st.transcript.staged.read_bytes().splitlines()}
        assert ids - {None} == {new}
    assert any(p.dest.parent == b.projects_dir() / encode_project_dir(str(root)) / new / "subagents"
               for p in stage(b, *_manifest(_by_id(machine_a, A_ROOT)[SUB]), _ctx(tmp_path, root),
                                new_id=new).sidecars)


def test_windows_source_becomes_posix(machine_b: tuple[ClaudeAdapter, Path], tmp_path: Path) -> None:
    b, root = machine_b
    sid = "66666666-6666-4666-8666-666666666666"
    src = tmp_path / "win.jsonl"
    src.write_bytes(_jsonl([
        {"parentUuid": None, "type": "user", "cwd": "C:\\work\\my-app", "sessionId": sid,
         "message": {"role": "user", "content": "edit C:\\work\\my-app\\src\\x.py please"}},
        {"parentUuid": "u1", "type": "assistant", "cwd": "C:\\work\\my-app", "sessionId": sid,
         "message": {"role": "assistant", "content": [{"type": "tool_use", "name": "Read",
                     "input": {"file_path": "C:\\work\\my-app\\src\\x.py"}}]}},
        {"type": "attachment", "cwd": "C:\\work\\my-app", "sessionId": sid,
         "attachment": {"type": "prompt_snapshot",
                        "systemPrompt": [
                            "memory: C:\\Users\\me\\.claude\\projects\\C--work-my-app\\memory\\"]}},
    ]))
    man = SessionManifest(id=sid, files=[{"arcname": f"projects/{sid}.jsonl", "role": ROLE_TRANSCRIPT}],
                          meta={"cwd": "C:\\work\\my-app", "project_dir": "C--work-my-app"})
    meta = {"config_dir": "C:\\Users\\me\\.claude", "projects_dir": "C:\\Users\\me\\.claude\\projects",
            "tmp_dir": "C:\\Users\\me\\AppData\\Local\\Temp\\claude-0", "home": "C:\\Users\\me"}
    ctx = _ctx(tmp_path, root, repo_root="C:\\work\\my-app", flavor="windows", meta=meta,
               home="C:\\Users\\me")
    st = stage(b, man, {f"projects/{sid}.jsonl": src}, ctx)
    lines = [json.loads(x) for x in st.transcript.staged.read_bytes().splitlines()]
    assert lines[0]["cwd"] == str(root)
    assert lines[0]["message"]["content"] == f"edit {root}/src/x.py please"
    assert lines[1]["message"]["content"][0]["input"]["file_path"] == f"{root}/src/x.py"
    enc_b = encode_project_dir(str(root))
    assert lines[2]["attachment"]["systemPrompt"][0] == f"memory: {b.projects_dir()}/{enc_b}/memory/"
    assert b"C:" not in st.transcript.staged.read_bytes()
    assert st.transcript.dest.parent.name == enc_b


def test_existing_id_is_found_anywhere_and_never_duplicated(
    machine_a: ClaudeAdapter, machine_b: tuple[ClaudeAdapter, Path], tmp_path: Path
) -> None:
    b, root = machine_b
    ctx = _ctx(tmp_path, root)
    assert b.find_existing(SUB, ctx) is None
    elsewhere = b.projects_dir() / "-some-other-dir"
    elsewhere.mkdir(parents=True)
    (elsewhere / f"{SUB}.jsonl").write_bytes(b"{}\n")
    assert b.find_existing(SUB, ctx) == elsewhere / f"{SUB}.jsonl"
    assert b.find_existing("../../etc/passwd", ctx) is None
    st = stage(b, *_manifest(_by_id(machine_a, A_ROOT)[SUB]), ctx)
    assert st.transcript.dest == elsewhere / f"{SUB}.jsonl"


@pytest.mark.parametrize(
    "arcname",
    ["projects/../../x.jsonl", "/etc/passwd", "projects/x/../../y", "shell-snapshots/a.sh", "projects\\x"],
)
def test_unsafe_arcnames_refused(machine_b: tuple[ClaudeAdapter, Path], tmp_path: Path, arcname: str) -> None:
    b, root = machine_b
    sid = "77777777-7777-4777-8777-777777777777"
    f = tmp_path / "t.jsonl"
    f.write_bytes(b'{"type":"user"}\n')
    man = SessionManifest(id=sid, files=[{"arcname": f"projects/{sid}.jsonl", "role": ROLE_TRANSCRIPT},
                                         {"arcname": arcname, "role": "sidecar"}])
    with pytest.raises(UnsafePayloadError):
        b.stage(man, {f"projects/{sid}.jsonl": f, arcname: f}, _ctx(tmp_path, root))
    bad = SessionManifest(id="../x", files=[{"arcname": "projects/../x.jsonl", "role": ROLE_TRANSCRIPT}])
    with pytest.raises(UnsafePayloadError):
        b.stage(bad, {"projects/../x.jsonl": f}, _ctx(tmp_path, root))


def _import(b: ClaudeAdapter, root: Path, sessions, tmp_path: Path, name: str):
    from sync_ai_sessions.engine.intake import import_sessions

    manifest = {"tool": "claude", "source": {"os_flavor": "posix", "repo_root": A_ROOT, "home": "/home/alice",
                                             "adapter_meta": dict(A_META)},
                "repo": {"remotes": []},
                "sessions": [{"id": s.id, "cwd_rel": s.cwd_rel, "meta": json.loads(json.dumps(s.meta)),
                              "last_activity": s.last_activity,
                              "files": [{"arcname": f.arcname, "size": f.size, "role": f.role} for f in s.files]}
                             for s in sessions]}
    files = {f.arcname: f.source for s in sessions for f in s.files}
    work = tmp_path / name
    work.mkdir()
    env = {**b.env, "SYNC_AI_SESSIONS_HOME": str(tmp_path / "cfg")}
    return import_sessions(b, manifest, files, Repo(root=root), env=env, staging=work)


def test_project_memory_placed_once_per_handoff_and_rewritten(
    machine_a: ClaudeAdapter, machine_b: tuple[ClaudeAdapter, Path], tmp_path: Path
) -> None:
    b, root = machine_b
    ctx = _ctx(tmp_path, root)
    mem_dest = b.projects_dir() / encode_project_dir(str(root)) / "memory" / "MEMORY.md"
    sessions = [s for s in machine_a.find_sessions(Repo(root=Path(A_ROOT))) if s.cwd_rel == ""]
    # every session of the repo brings the project memory, rewritten for this machine ...
    for s in sessions[:2]:
        st = stage(b, *_manifest(s), ctx)
        staged = [p.staged for p in st.sidecars if p.dest == mem_dest]
        assert len(staged) == 1 and staged[0].read_text() == f"- the app lives in {root}\n"
    # ... and the import engine places it once
    report = _import(b, root, sessions[:2], tmp_path, "w1")
    assert [r.action for r in report.results] == ["new", "new"]
    assert mem_dest.read_text() == f"- the app lives in {root}\n"
    # the memory still arrives when the first session of a later handoff is already here
    mem_dest.unlink()
    report = _import(b, root, sessions[:3], tmp_path, "w2")
    assert [r.action for r in report.results][:2] == ["skip", "skip"]
    assert mem_dest.read_text() == f"- the app lives in {root}\n"


@pytest.mark.parametrize("link", [True, False])
def test_imported_transcripts_get_fresh_mtimes_newest_session_last(
    machine_a: ClaudeAdapter, machine_b: tuple[ClaudeAdapter, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, link: bool,
) -> None:
    """`claude --continue` picks the latest transcript by mtime and Claude sweeps old ones by it: the
    engine gives the imported sessions fresh mtimes in the order of their last activity, also when the
    file system refuses hard links and the files are copied into place."""
    b, root = machine_b
    sessions = sorted((s for s in machine_a.find_sessions(Repo(root=Path(A_ROOT))) if s.cwd_rel == ""),
                      key=lambda s: s.last_activity or "", reverse=True)  # newest first, as find_sessions
    assert len({s.last_activity for s in sessions}) >= 2
    if not link:
        def refuse(*_a: object) -> None:
            raise PermissionError(1, "no hard links here")

        monkeypatch.setattr(os, "link", refuse)
    start = time.time_ns()
    report = _import(b, root, sessions, tmp_path, "w")
    got = {r.original_id: r.path.stat().st_mtime_ns for r in report.results}
    assert all(r.action == "new" for r in report.results) and all(t >= start - 3600 * 10**9 for t in got.values())
    order = [s.id for s in sorted(sessions, key=lambda s: s.last_activity or "")]
    assert sorted(got, key=got.__getitem__) == order


def test_relocated_then_continued_and_resumed_elsewhere(tmp_path: Path) -> None:
    """A `relocated` record in the middle (the CLI went on in the new cwd) still moves the session; a
    session merely resumed from another folder (no `relocated` record) stays with its first cwd."""
    a = ClaudeAdapter({"HOME": str(tmp_path)})
    folder = a.projects_dir() / "-x"
    folder.mkdir(parents=True)
    moved, visited = "88888888-8888-4888-8888-888888888888", "99999999-9999-4999-8999-999999999999"
    pad = {"type": "attachment", "cwd": "/x", "attachment": {"type": "x", "pad": "p" * 200_000}}
    (folder / f"{moved}.jsonl").write_bytes(_jsonl([
        {"type": "user", "cwd": "/x", "sessionId": moved, "message": {"role": "user", "content": "hi"}},
        pad,
        {"type": "relocated", "sessionId": moved, "relocatedCwd": A_ROOT},
        {"type": "user", "cwd": A_ROOT, "sessionId": moved, "message": {"role": "user", "content": "on"}},
        {"type": "last-prompt", "lastPrompt": "on", "sessionId": moved},
    ]))
    (folder / f"{visited}.jsonl").write_bytes(_jsonl([
        {"type": "user", "cwd": "/x", "sessionId": visited, "message": {"role": "user", "content": "hi"}},
        {"type": "user", "cwd": A_ROOT, "sessionId": visited, "message": {"role": "user", "content": "on"}},
    ]))
    assert a.session_cwd(folder / f"{moved}.jsonl") == A_ROOT
    assert a.session_cwd(folder / f"{visited}.jsonl") == "/x"
    assert set(_by_id(a, A_ROOT)) == {moved}


def test_cwd_found_in_huge_lines_and_nested_cwds_ignored(tmp_path: Path) -> None:
    """Byte-level reading of big lines: the envelope's cwd wins over a `cwd` inside the message, and a
    first line longer than the 64 KiB end windows still resolves (through the full search)."""
    a = ClaudeAdapter({"HOME": str(tmp_path)})
    folder = a.projects_dir() / "-x"
    folder.mkdir(parents=True)
    sid = "77777777-7777-4777-8777-777777777777"
    big = {"type": "user", "message": {"role": "user", "content": [
        {"type": "tool_result", "content": "x" * 300_000, "input": {"cwd": "/elsewhere"}}]},
        "cwd": A_ROOT, "sessionId": sid, "version": "2.1.330", "timestamp": "2026-11-24T00:00:00Z"}
    (folder / f"{sid}.jsonl").write_bytes(_jsonl([big, {**big, "message": {"role": "user", "content": "hi"}}]))
    assert a.session_cwd(folder / f"{sid}.jsonl") == A_ROOT
    [s] = a.find_sessions(Repo(root=Path(A_ROOT)))
    assert s.id == sid and s.lines == 2 and s.tool_version == "2.1.330"
    assert s.last_activity.startswith("2026-11-24T00:00:00")


def test_backward_title_search_matches_a_plain_search(tmp_path):
    """_count_and_last reads in blocks and searches a shared ending once for both title types; it must
    find what a plain whole-file rfind per record type finds, across block boundaries, in the first
    `size` bytes only."""
    import random

    from sync_ai_sessions.adapters import claude as cl
    from sync_ai_sessions.adapters import claude_files as cf

    rng = random.Random(3)
    pieces = [b'"type":"custom-title"', b'"type":"ai-title"', b'"type":"summary"', b'-title"', b'"type":"',
              b"custom", b"ai", b"x" * 3000, b"\n", b"y" * 50]
    for case in range(150):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 120)))
        p = tmp_path / f"{case}.jsonl"
        p.write_bytes(data)
        size = len(data) if case % 3 else rng.randint(0, len(data))  # a file that grew since it was listed
        head = data[:size]
        want_last = {n: head.rfind(n) for n in cl._TITLE_TYPES if head.rfind(n) >= 0}
        want_lines = head.count(b"\n") + (1 if head and not head.endswith(b"\n") else 0)
        for block in (7, 1 << 12, 1 << 16):
            old = cf._COUNT_BLOCK
            cf._COUNT_BLOCK = block
            try:
                assert cf._count_and_last(p, size, cl._TITLE_TYPES) == (want_lines, want_last)
            finally:
                cf._COUNT_BLOCK = old


def test_newline_count_by_hops_equals_count():
    """_newlines hops from newline to newline on long lines and counts the rest where lines are short."""
    import random

    from sync_ai_sessions.adapters.claude_files import _newlines

    rng = random.Random(5)
    for _ in range(2000):
        data = bytearray(b"".join(rng.choice([b"\n", b"x", b"y" * 300, b"\n\n", b"z" * 40])
                                  for _ in range(rng.randint(0, 400))))
        a = rng.randint(0, len(data))
        b = rng.randint(a, len(data))
        assert _newlines(data, a, b) == data.count(b"\n", a, b)


def test_temp_folder_as_claude_records_it_on_each_os() -> None:
    """POSIX: `<tmp>/claude-<uid>`, physical on macOS (`/private/tmp/...`); Windows: `%TEMP%\\claude`."""
    from sync_ai_sessions import pathflavor as pf
    from sync_ai_sessions.osops import getuid

    a = ClaudeAdapter({"HOME": "/h"})
    assert a.tmp_dir(pf.Flavor("posix", "linux")) == f"/tmp/claude-{getuid()}"
    assert a.tmp_dir(pf.Flavor("posix", "darwin")) == f"/private/tmp/claude-{getuid()}"
    w = ClaudeAdapter({"HOME": "C:\\Users\\me", "TEMP": "C:\\Users\\me\\AppData\\Local\\Temp"})
    assert w.tmp_dir(pf.flavor("windows")) == "C:\\Users\\me\\AppData\\Local\\Temp\\claude"


# -- discovery reads each small transcript once ----------------------------------------------------
def _count_opens(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Opens and stats per path (os.open, open, os.stat, os.lstat), as `find_sessions` makes them."""
    seen: dict[str, int] = {}
    real_open, real_os_open, real_stat, real_lstat = open, os.open, os.stat, os.lstat

    def note(p: object) -> None:
        if isinstance(p, (str, os.PathLike)):
            seen[os.fspath(p)] = seen.get(os.fspath(p), 0) + 1

    def counted(real: Callable[..., Any]) -> Callable[..., Any]:
        def f(p: object, *a: Any, **k: Any) -> Any:
            note(p)
            return real(p, *a, **k)
        return f

    monkeypatch.setattr("builtins.open", counted(real_open))
    monkeypatch.setattr(os, "open", counted(real_os_open))
    monkeypatch.setattr(os, "stat", counted(real_stat))
    monkeypatch.setattr(os, "lstat", counted(real_lstat))
    return seen


def test_find_sessions_opens_each_transcript_once(machine_a: ClaudeAdapter, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    transcripts = {p: p.read_bytes() for p in machine_a.projects_dir().glob("*/*.jsonl")
                   if not p.name.startswith("agent-")}
    before = machine_a.find_sessions(Repo(root=Path(A_ROOT)))
    seen = _count_opens(monkeypatch)
    after = machine_a.find_sessions(Repo(root=Path(A_ROOT)))
    monkeypatch.undo()
    assert after == before and len(after) == 6
    assert len(transcripts) == 10
    # Every transcript, in the repo or not: one open (the fstat on it gives the size), no stat by name.
    assert {str(p): seen.get(str(p), 0) for p in transcripts} == {str(p): 1 for p in transcripts}


@pytest.mark.parametrize("cut", [None, "torn", "no-newline", "one-line", "padded"])
def test_the_read_once_path_answers_as_the_file_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        cut: str | None) -> None:
    """Over every fixture transcript (and its torn / unterminated / single-line / grown-past-the-windows
    forms): the cwd and the description from the one read are those read from the file (maps, windows,
    block counts); a transcript of another folder is read no further than the two end windows."""
    from sync_ai_sessions.adapters import claude_files

    a = ClaudeAdapter({"HOME": str(tmp_path)})
    paths = sorted((fixtures_dir() / "claude").glob("*/projects/*/*.jsonl"))
    assert len(paths) >= 6
    pad = b'{"type":"progress","data":"' + b"x" * 3000 + b'"}\n'
    read = {"n": 0}
    real_pread = osops.pread

    def counting(fd: int, n: int, off: int) -> bytes:
        b = real_pread(fd, n, off)
        read["n"] += len(b)
        return b

    monkeypatch.setattr(claude_files.osops, "pread", counting)
    whole = 0
    for i, src in enumerate(paths):
        data = src.read_bytes()
        if cut == "torn":
            data = data[: len(data) - 17]
        elif cut == "no-newline":
            data = data.rstrip(b"\n")
        elif cut == "one-line":
            data = data[: data.index(b"\n") + 1]
        elif cut == "padded":  # past both windows: the ends, then the middle
            nl = data.index(b"\n") + 1
            data = data[:nl] + pad * 60 + data[nl:]
        p = tmp_path / f"p{i}" / src.name
        p.parent.mkdir()
        p.write_bytes(data)
        cwd = a.session_cwd(p)
        read["n"] = 0
        st, settled, got, buf = claude_files.read_session(p, lambda c: False)
        assert read["n"] <= min(len(data), 2 * claude_files._END_WINDOW)
        assert st.st_size == len(data) and (got == cwd or not settled)
        st, settled, got, buf = claude_files.read_session(p, lambda c: True)
        assert got == cwd or not settled
        if settled and cwd is not None:
            assert buf == data
            assert a._describe(p, cwd, cwd, None, st, buf) == a._describe(p, cwd, cwd, None)
            whole += len(data) > 2 * claude_files._END_WINDOW
    assert whole >= (0 if cut == "one-line" else 1)  # the path through the middle was taken


def test_an_import_looks_at_each_path_once(machine_a: ClaudeAdapter, machine_b: tuple[ClaudeAdapter, Path],
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh machine's import of many sessions: the staging folder is checked once per import, not once
    per session; each staged file and each destination is stat'ed once by name; the missing `projects`
    folder is found missing once, not once per file.  What lands is what lands without the counting."""
    b, root = machine_b
    sessions = machine_a.find_sessions(Repo(root=Path(A_ROOT)))
    assert len(sessions) >= 5
    seen = _count_opens(monkeypatch)
    report = _import(b, root, sessions, tmp_path, "w1")
    monkeypatch.undo()
    assert {r.action for r in report.results} == {"new"}
    placed = [Path(r.path) for r in report.results]
    assert all(p.is_file() for p in placed)
    staged_dir = str(tmp_path / "w1" / "staged")
    assert seen.get(staged_dir, 0) <= 1
    files = sum(len(s.files) for s in sessions)
    assert files >= 12
    # Looked at a few times per import (the check, the folders to make), not once per file.
    assert seen.get(os.path.realpath(b.projects_dir()), 0) <= 3
    # (The project memory is one file every session brings; the sessions after the first compare theirs.)
    staged = {p: n for p, n in seen.items() if p.startswith(staged_dir + os.sep) and not p.endswith("MEMORY.md")}
    assert staged and max(staged.values()) <= 2, {os.path.basename(p)[-50:]: n for p, n in staged.items()}
    assert max(seen.get(str(p), 0) for p in placed) <= 1


def test_tool_version_after_find_sessions_stats_no_transcript_again(
        machine_a: ClaudeAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send asks for the version right after the scan: the newest transcript the scan's fstat saw, the
    one a fresh look finds; a later call looks afresh (a session written since counts)."""
    fresh = ClaudeAdapter(machine_a.env).tool_version()
    assert fresh is not None
    machine_a.find_sessions(Repo(root=Path(A_ROOT)))
    seen = _count_opens(monkeypatch)
    got = machine_a.tool_version()
    monkeypatch.undo()
    transcripts = [p for p in machine_a.projects_dir().glob("*/*.jsonl") if not p.name.startswith("agent-")]
    assert got == fresh
    assert sum(seen.get(str(p), 0) for p in transcripts) == 1  # the newest one, opened to read its version
    newer = transcripts[0].parent / "66666666-6666-4666-8666-666666666666.jsonl"
    newer.write_bytes(_jsonl([{"type": "user", "version": "9.9.9", "cwd": A_ROOT}]))
    future = time.time() + 100
    os.utime(newer, (future, future))
    assert machine_a.tool_version() == "9.9.9"
