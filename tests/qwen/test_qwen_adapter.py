"""Qwen Code adapter unit tests on the real 0.24.4 fixture (a session the real CLI wrote on machine A).

Discovery by the recorded cwd (root, subfolder, look-alike siblings, other repos), sidecars and tool
results, the home overrides, the rewrite of every record's cwd (Qwen refuses a session whose first
record's cwd is not the current directory), copies under a new id, and the engine's decisions on bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from support.fixtures import fixtures_dir

from sync_ai_sessions.adapters.base import ImportContext, SessionManifest, SourceInfo
from sync_ai_sessions.adapters.qwen import QwenAdapter, project_hash, sanitize_cwd
from sync_ai_sessions.engine.staging import stage
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo

FIX_SID = "a98cf93e-0d86-48f0-8471-78568b84e303"
FIX_CWD = "/home/alice/code/qproj"
FIX_HOME = "/home/alice"


def fixture_bytes() -> bytes:
    return (fixtures_dir() / "qwen-code" / "0.24.4" / "machineA_session.jsonl").read_bytes()


def records(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def place(adapter: QwenAdapter, cwd: str, sid: str, data: bytes) -> Path:
    chats = adapter.projects_dir() / sanitize_cwd(cwd) / "chats"
    chats.mkdir(parents=True, exist_ok=True)
    p = chats / f"{sid}.jsonl"
    p.write_bytes(data)
    return p


def relocated(data: bytes, cwd: str, sid: str = FIX_SID) -> bytes:
    return data.replace(FIX_CWD.encode(), cwd.encode()).replace(FIX_SID.encode(), sid.encode())


@pytest.fixture
def machine(tmp_path: Path) -> dict:
    home = tmp_path / "home"
    home.mkdir()
    repo = tmp_path / "code" / "qproj"
    (repo / "sub").mkdir(parents=True)
    repo = Path(os.path.realpath(repo))
    return {"home": home, "repo": repo, "adapter": QwenAdapter({"HOME": str(home)}), "tmp": tmp_path}


def test_folder_name_and_hash_match_qwen() -> None:
    assert sanitize_cwd("/tmp/a/q1/proj") == "-tmp-a-q1-proj"
    assert sanitize_cwd("/x/My Proj_2.v") == "-x-My-Proj-2-v"
    assert sanitize_cwd("C:\\Work\\App", windows=True) == "c--work-app"
    assert project_hash("/tmp/a") == hashlib.sha256(b"/tmp/a").hexdigest()
    assert project_hash("C:\\Work", windows=True) == hashlib.sha256(b"c:\\work").hexdigest()


def test_home_overrides_in_qwen_order(tmp_path: Path) -> None:
    home = tmp_path / "h"
    (home / ".qwen").mkdir(parents=True)
    assert QwenAdapter({"HOME": str(home)}).home() == home / ".qwen"
    assert QwenAdapter({"HOME": str(home), "QWEN_HOME": str(tmp_path / "qh")}).home() == tmp_path / "qh"
    (tmp_path / "qh").mkdir()
    (tmp_path / "qh" / "settings.json").write_text(json.dumps({"advanced": {"runtimeOutputDir": "~/rt"}}))
    a = QwenAdapter({"HOME": str(home), "QWEN_HOME": str(tmp_path / "qh")})
    assert a.home() == home / "rt"
    assert a.global_dir() == tmp_path / "qh"
    a = QwenAdapter({"HOME": str(home), "QWEN_HOME": str(tmp_path / "qh"), "QWEN_RUNTIME_DIR": str(tmp_path / "r")})
    assert a.home() == tmp_path / "r"
    assert a.projects_dir() == tmp_path / "r" / "projects"


def test_discovery_by_recorded_cwd(machine: dict) -> None:
    a: QwenAdapter = machine["adapter"]
    repo: Path = machine["repo"]
    data = fixture_bytes()
    sid_root, sid_sub, sid_other, sid_sibling = (
        FIX_SID,
        "11111111-2222-4333-8444-555555555555",
        "22222222-2222-4333-8444-555555555555",
        "33333333-2222-4333-8444-555555555555",
    )
    p_root = place(a, str(repo), sid_root, relocated(data, str(repo)))
    place(a, str(repo / "sub"), sid_sub, relocated(data, str(repo / "sub"), sid_sub))
    place(a, str(machine["tmp"] / "other"), sid_other, relocated(data, str(machine["tmp"] / "other"), sid_other))
    # A look-alike sibling folder ("qproj-old") must not count as inside "qproj".
    place(a, str(repo) + "-old", sid_sibling, relocated(data, str(repo) + "-old", sid_sibling))
    # A file whose folder name claims the repo but whose recorded cwd is elsewhere is not ours.
    liar = a.projects_dir() / sanitize_cwd(str(repo)) / "chats" / "44444444-2222-4333-8444-555555555555.jsonl"
    liar.write_bytes(relocated(data, "/elsewhere/qproj", "44444444-2222-4333-8444-555555555555"))
    # Not a session file name Qwen lists.
    (p_root.parent / "notes.jsonl").write_bytes(relocated(data, str(repo)))
    # Sidecars next to the transcript, and a tool result named in the transcript.
    (p_root.parent / f"{sid_root}.runtime.json").write_text(
        json.dumps({"schema_version": 1, "pid": 7, "session_id": sid_root, "work_dir": str(repo),
                    "hostname": "a", "started_at": 1.0, "qwen_version": "0.24.4"})
    )
    (p_root.parent / f"{sid_root}.ledger.jsonl").write_text('{"x":1}\n')
    tool_dir = a.home() / "tmp" / project_hash(str(repo)) / "tool-results"
    tool_dir.mkdir(parents=True)
    (tool_dir / "call_abc.txt").write_text(f"output of ls {repo}\n")
    (tool_dir / "call_unrelated.txt").write_text("not named by the session\n")
    with open(p_root, "ab") as fh:
        rec = {"type": "tool_result", "sessionId": sid_root, "cwd": str(repo),
               "message": {"role": "user", "parts": [{"text": f"saved to {tool_dir}/call_abc.txt"}]}}
        fh.write(json.dumps(rec).encode() + b"\n")

    sessions = a.find_sessions(Repo(root=repo))
    by_id = {s.id: s for s in sessions}
    assert set(by_id) == {sid_root, sid_sub}
    root_s = by_id[sid_root]
    assert root_s.cwd_rel == "" and by_id[sid_sub].cwd_rel == "sub"
    assert root_s.title == "hello from qwen A"
    assert root_s.tool_version == "0.24.4"
    assert root_s.lines == 11
    arcs = {f.arcname: f for f in root_s.files}
    assert set(arcs) == {
        f"chats/{sid_root}.jsonl",
        f"chats/{sid_root}.runtime.json",
        f"chats/{sid_root}.ledger.jsonl",
        f"tool-results/{sid_root}/call_abc.txt",
    }
    assert root_s.transcript.size == p_root.stat().st_size
    assert a.session_count() == 5  # root, sub, other, sibling, liar (not notes.jsonl)
    assert a.tool_version() == "0.24.4"


def test_transcript_size_stops_at_last_complete_line(machine: dict) -> None:
    a: QwenAdapter = machine["adapter"]
    repo: Path = machine["repo"]
    data = relocated(fixture_bytes(), str(repo))
    place(a, str(repo), FIX_SID, data + b'{"uuid":"half-writ')
    (s,) = a.find_sessions(Repo(root=repo))
    assert s.transcript.size == len(data)


def _ctx(tmp: Path, target: Path, **source: object) -> ImportContext:
    src = SourceInfo(
        os_flavor="posix", repo_root=FIX_CWD, home=FIX_HOME,
        adapter_meta={"runtime_dir": f"{FIX_HOME}/.qwen", "global_dir": f"{FIX_HOME}/.qwen", "home": FIX_HOME},
    )
    for k, v in source.items():
        setattr(src, k, v)
    staging = tmp / "staging"
    staging.mkdir(exist_ok=True)
    return ImportContext(target=Repo(root=target), source=src, staging=staging, env={})


def _manifest(extra: list[dict] | None = None, cwd_rel: str = "") -> SessionManifest:
    files = [{"arcname": f"chats/{FIX_SID}.jsonl", "role": "transcript"}, *(extra or [])]
    return SessionManifest(id=FIX_SID, files=files, cwd_rel=cwd_rel,
                           meta={"cwd": FIX_CWD + (f"/{cwd_rel}" if cwd_rel else "")})


def test_stage_rewrites_every_cwd_and_leaves_no_old_path(tmp_path: Path) -> None:
    home = tmp_path / "b home"
    target = tmp_path / "work" / "Renamed Proj_2"
    target.mkdir(parents=True)
    target = Path(os.path.realpath(target))
    a = QwenAdapter({"HOME": str(home)})
    src = tmp_path / "in.jsonl"
    src.write_bytes(fixture_bytes())
    rt = tmp_path / "in.runtime.json"
    rt.write_text(json.dumps({"session_id": FIX_SID, "work_dir": FIX_CWD, "pid": 1}))
    tr = tmp_path / "tr.txt"
    tr.write_text(f"listing of {FIX_CWD}/src and {FIX_HOME}/.qwen/tmp/x\n")
    man = _manifest([
        {"arcname": f"chats/{FIX_SID}.runtime.json", "role": "sidecar"},
        {"arcname": f"tool-results/{FIX_SID}/call_1.txt", "role": "sidecar"},
    ])
    files = {f"chats/{FIX_SID}.jsonl": src, f"chats/{FIX_SID}.runtime.json": rt,
             f"tool-results/{FIX_SID}/call_1.txt": tr}
    staged = stage(a, man, files, _ctx(tmp_path, target))

    chats = home / ".qwen" / "projects" / sanitize_cwd(str(target)) / "chats"
    assert staged.transcript.dest == chats / f"{FIX_SID}.jsonl"
    assert staged.resume_cwd == target
    assert staged.session_id == FIX_SID == staged.original_id
    out = staged.transcript.staged.read_bytes()
    assert b"/home/alice" not in out
    recs = records(out)
    assert len(recs) == 10
    assert all(r["cwd"] == str(target) for r in recs)
    assert all(r["sessionId"] == FIX_SID for r in recs)
    # Only the paths changed: the conversation itself is intact.
    assert records(fixture_bytes())[0]["message"] == recs[0]["message"]
    dests = {p.dest: p.staged.read_bytes() for p in staged.sidecars}
    runtime = json.loads(dests[chats / f"{FIX_SID}.runtime.json"])
    assert runtime["work_dir"] == str(target)
    tool = dests[home / ".qwen" / "tmp" / project_hash(str(target)) / "tool-results" / "call_1.txt"]
    assert b"/home/alice" not in tool and str(target).encode() + b"/src" in tool
    assert a.resume_command(FIX_SID) == f"qwen --resume {FIX_SID}"


def test_stage_subfolder_session_lands_in_the_subfolder_project(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = tmp_path / "b"
    (target / "pkg").mkdir(parents=True)
    target = Path(os.path.realpath(target))
    a = QwenAdapter({"HOME": str(home)})
    src = tmp_path / "in.jsonl"
    src.write_bytes(fixture_bytes().replace(FIX_CWD.encode(), FIX_CWD.encode() + b"/pkg"))
    staged = stage(a, _manifest(cwd_rel="pkg"), {f"chats/{FIX_SID}.jsonl": src}, _ctx(tmp_path, target))
    assert staged.resume_cwd == target / "pkg"
    assert staged.transcript.dest.parent.parent.name == sanitize_cwd(str(target / "pkg"))
    assert all(r["cwd"] == str(target / "pkg") for r in records(staged.transcript.staged.read_bytes()))


def test_copy_under_new_id_changes_id_everywhere(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = Path(os.path.realpath(tmp_path)) / "b"
    target.mkdir()
    a = QwenAdapter({"HOME": str(home)})
    src = tmp_path / "in.jsonl"
    src.write_bytes(fixture_bytes())
    rt = tmp_path / "in.runtime.json"
    rt.write_text(json.dumps({"session_id": FIX_SID, "work_dir": FIX_CWD}))
    man = _manifest([{"arcname": f"chats/{FIX_SID}.runtime.json", "role": "sidecar"}])
    new_id = a.new_session_id()
    staged = stage(a, man, {f"chats/{FIX_SID}.jsonl": src, f"chats/{FIX_SID}.runtime.json": rt},
                     _ctx(tmp_path, target), new_id=new_id)
    assert staged.session_id == new_id and staged.original_id == FIX_SID
    assert staged.transcript.dest.name == f"{new_id}.jsonl"
    out = staged.transcript.staged.read_bytes()
    assert FIX_SID.encode() not in out
    assert all(r["sessionId"] == new_id for r in records(out))
    (side,) = staged.sidecars
    assert side.dest.name == f"{new_id}.runtime.json"
    assert json.loads(side.staged.read_bytes())["session_id"] == new_id


@pytest.mark.parametrize(
    "arcname",
    ["chats/../../x.jsonl", "/etc/passwd", "chats/other.runtime.json", "plans/x.md", "tool-results/evil/a.txt",
     "memory/MEMORY.md", "chats\\x"],
)
def test_hostile_names_are_refused(tmp_path: Path, arcname: str) -> None:
    a = QwenAdapter({"HOME": str(tmp_path / "home")})
    src = tmp_path / "in.jsonl"
    src.write_bytes(fixture_bytes())
    man = _manifest([{"arcname": arcname, "role": "sidecar"}])
    with pytest.raises(UnsafePayloadError):
        a.stage(man, {f"chats/{FIX_SID}.jsonl": src, arcname: src}, _ctx(tmp_path, tmp_path))


def test_hostile_session_id_is_refused(tmp_path: Path) -> None:
    a = QwenAdapter({"HOME": str(tmp_path / "home")})
    man = SessionManifest(id="../../etc", files=[{"arcname": "chats/../../etc.jsonl", "role": "transcript"}])
    with pytest.raises(UnsafePayloadError):
        a.stage(man, {}, _ctx(tmp_path, tmp_path))


def test_engine_new_then_identical_then_fast_forward_then_copy(tmp_path: Path) -> None:
    """Through the shared import engine: decisions on the rewritten bytes, nothing overwritten."""
    from sync_ai_sessions.engine.intake import import_sessions

    home = tmp_path / "home"
    target = Path(os.path.realpath(tmp_path)) / "b"
    target.mkdir()
    env = {"HOME": str(home), "SYNC_AI_SESSIONS_HOME": str(tmp_path / "cfg")}
    a = QwenAdapter(env)
    full = fixture_bytes()
    lines = full.splitlines(keepends=True)
    src = tmp_path / "in.jsonl"

    def run(data: bytes) -> list:
        src.write_bytes(data)
        manifest = {
            "source": {"os_flavor": "posix", "repo_root": FIX_CWD, "home": FIX_HOME,
                       "adapter_meta": {"runtime_dir": f"{FIX_HOME}/.qwen", "global_dir": f"{FIX_HOME}/.qwen"}},
            "sessions": [{"id": FIX_SID, "cwd_rel": "", "meta": {"cwd": FIX_CWD},
                          "files": [{"arcname": f"chats/{FIX_SID}.jsonl", "role": "transcript"}]}],
        }
        staging = tmp_path / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        rep = import_sessions(QwenAdapter(env), manifest, {f"chats/{FIX_SID}.jsonl": src}, Repo(root=target),
                              env=env, staging=staging)
        return rep.results

    dest = a.chats_dir(str(target)) / f"{FIX_SID}.jsonl"
    (r,) = run(b"".join(lines[:6]))
    assert r.action == "new" and dest.exists()
    assert records(dest.read_bytes())[0]["cwd"] == str(target)
    (r,) = run(b"".join(lines[:6]))
    assert r.action == "skip"
    (r,) = run(full)
    assert r.action == "fast-forward"
    assert len(records(dest.read_bytes())) == 10 and b"/home/alice" not in dest.read_bytes()
    diverged = b"".join(lines[:5]) + lines[5].replace(b"second turn on A", b"another turn on C")
    (r,) = run(diverged)
    assert r.action == "copy" and r.id != FIX_SID
    assert len(records(dest.read_bytes())) == 10  # the local session is untouched
    copy = a.chats_dir(str(target)) / f"{r.id}.jsonl"
    assert all(rec["sessionId"] == r.id for rec in records(copy.read_bytes()))
    assert a.find_existing(FIX_SID, None) == dest


def test_windows_origin_session_gets_posix_cwd(tmp_path: Path) -> None:
    win_root = "C:\\Users\\alice\\code\\qproj"
    esc = json.dumps(win_root)[1:-1].encode()
    data = fixture_bytes().replace(FIX_CWD.encode(), esc)
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    target = Path(os.path.realpath(tmp_path)) / "b"
    target.mkdir()
    a = QwenAdapter({"HOME": str(tmp_path / "home")})
    ctx = _ctx(tmp_path, target, os_flavor="windows", repo_root=win_root, home="C:\\Users\\alice",
               adapter_meta={"runtime_dir": "C:\\Users\\alice\\.qwen", "global_dir": "C:\\Users\\alice\\.qwen"})
    man = SessionManifest(id=FIX_SID, files=[{"arcname": f"chats/{FIX_SID}.jsonl", "role": "transcript"}],
                          meta={"cwd": win_root})
    staged = stage(a, man, {f"chats/{FIX_SID}.jsonl": src}, ctx)
    out = staged.transcript.staged.read_bytes()
    assert b"alice" not in out
    assert all(r["cwd"] == str(target) for r in records(out))


def test_tool_version_is_the_last_writer(machine: dict) -> None:
    a: QwenAdapter = machine["adapter"]
    assert a.tool_version() is None and a.session_count() == 0
    p = place(a, str(machine["repo"]), FIX_SID, relocated(fixture_bytes(), str(machine["repo"])))
    assert a.tool_version() == "0.24.4"
    with open(p, "ab") as fh:
        fh.write(b'{"type":"user","cwd":"x","version":"0.25.1","message":{"role":"user","parts":[]}}\n')
    assert a.tool_version() == "0.25.1"
