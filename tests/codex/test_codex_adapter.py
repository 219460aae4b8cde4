"""Codex adapter unit tests on real rollouts written by codex 0.169.0 and 0.110.0 (shared fixtures)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import sqlite3
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.fixtures import fixtures_dir

from sync_ai_sessions.adapters import codex as codex_mod
from sync_ai_sessions.adapters import codex_files
from sync_ai_sessions.adapters.base import ImportContext, Session, SessionManifest, SourceInfo
from sync_ai_sessions.adapters.codex import CodexAdapter
from sync_ai_sessions.adapters.codex_files import HEAD_BYTES, TAIL_MAX_BYTES
from sync_ai_sessions.engine.intake import import_sessions
from sync_ai_sessions.engine.staging import stage
from sync_ai_sessions.gitrepo import Repo

OLD_ROOT = "/home/alice/src/projA"
OLD_HOME = "/home/alice/.codex"
KINDS = ["exec-0.110.0", "exec-0.169.0", "toolcall-0.169.0", "tui-0.169.0"]


def fixture(kind: str) -> Path:
    (p,) = (fixtures_dir() / "codex" / kind).glob("rollout-*.jsonl")
    return p


def sid_of(p: Path) -> str:
    return p.name.removesuffix(".zst").removesuffix(".jsonl")[-36:]


class World:
    """A sending machine (fixture rollouts under its CODEX_HOME) and a receiving one."""

    def __init__(self, tmp: Path, *, target_provider: str | None = "local", target_root: str = "new home/prøj"):
        self.tmp = tmp
        self.src_home = tmp / "src-codex"
        self.dst_home = tmp / "dst" / "codex hoME"
        self.dst_home.mkdir(parents=True)
        if target_provider:
            (self.dst_home / "config.toml").write_text(f'model_provider = "{target_provider}"\n')
        self.target_root = tmp / target_root
        self.target_root.mkdir(parents=True)
        self.src = CodexAdapter({"HOME": str(tmp / "src-user"), "CODEX_HOME": str(self.src_home)})
        self.dst_env = {"HOME": str(tmp / "dst-user"), "CODEX_HOME": str(self.dst_home),
                        "SYNC_AI_SESSIONS_HOME": str(tmp / "dst-sais")}
        self.dst = CodexAdapter(self.dst_env)
        self.staging = tmp / "staging"
        self.staging.mkdir()

    def put(self, src: Path | bytes, name: str, sub: str = "sessions/2026/11/24") -> Path:
        d = self.src_home / sub
        d.mkdir(parents=True, exist_ok=True)
        p = d / name
        if isinstance(src, Path):
            shutil.copyfile(src, p)
        else:
            p.write_bytes(src)
        return p

    def ctx(self, **options: Any) -> ImportContext:
        source = SourceInfo(os_flavor="posix", repo_root=OLD_ROOT, home="/home/alice", tool_home=OLD_HOME,
                            adapter_meta=self.src.export_meta())
        return ImportContext(target=Repo(root=self.target_root), source=source, staging=self.staging,
                             env=self.dst_env, options=options)

    def export(self, root: str = OLD_ROOT) -> list[Session]:
        return self.src.find_sessions(Repo(root=Path(root)))


def manifest(s: Session) -> tuple[SessionManifest, dict[str, Path]]:
    files = [{"arcname": f.arcname, "size": f.size, "role": f.role,
              "sha256": hashlib.sha256(f.read()).hexdigest()} for f in s.files]
    sm = SessionManifest(id=s.id, files=files, cwd_rel=s.cwd_rel, title=s.title, meta=json.loads(json.dumps(s.meta)))
    return sm, {f.arcname: _received(f) for f in s.files}


def _received(f) -> Path:
    """The file as the receiver gets it: the sender's own file, or (a session's lines of a shared file,
    carried from memory) those bytes written beside the sender's tool home, inside the test's folder."""
    if f.data is None:
        return f.source
    out = Path(tempfile.mkdtemp(dir=f.source.parent.parent)) / "part"
    out.write_bytes(f.data)
    return out


def strings(obj: Any) -> list[str]:
    """Every string in a JSON value, with JSON-in-JSON strings (tool `arguments`) decoded too."""
    out: list[str] = []
    if isinstance(obj, str):
        out.append(obj)
        if obj[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                out += strings(json.loads(obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out += strings(k) + strings(v)
    elif isinstance(obj, list):
        for v in obj:
            out += strings(v)
    return out


def assert_no_old_paths(data: bytes, olds: list[str]) -> None:
    for old in olds:
        for enc in {old, old.replace("/", "\\/"), json.dumps(old)[1:-1], json.dumps(old, ensure_ascii=False)[1:-1],
                    json.dumps(json.dumps(old))[3:-3], urllib.parse.quote(old)}:
            assert enc.encode() not in data, f"{enc!r} left in the rollout"
    for line in data.splitlines():
        for s in strings(json.loads(line)):
            for old in olds:
                assert old not in s and urllib.parse.quote(old) not in s, (old, s[:200])


# -- discovery --------------------------------------------------------------------------------------------
def test_finds_every_fixture_with_title_version_and_provider(tmp_path: Path) -> None:
    w = World(tmp_path)
    for k in KINDS:
        w.put(fixture(k), fixture(k).name)
    w.put(fixture("exec-0.169.0"), "not-a-rollout.jsonl")  # Codex would not find it either
    sessions = w.export()
    assert sorted(s.id for s in sessions) == sorted(sid_of(fixture(k)) for k in KINDS)
    by_id = {s.id: s for s in sessions}
    tool = by_id[sid_of(fixture("toolcall-0.169.0"))]
    assert tool.title == "RUNTOOL please run pwd" and tool.tool_version == "0.169.0" and tool.cwd_rel == ""
    assert tool.meta["model_provider"] == "fake" and tool.lines == 19
    assert by_id[sid_of(fixture("exec-0.110.0"))].tool_version == "0.110.0"
    assert by_id[sid_of(fixture("exec-0.110.0"))].title == "hello"
    assert [s.last_activity for s in sessions] == sorted((s.last_activity for s in sessions), reverse=True)
    # A parent folder as the repo: cwd_rel says where inside; a sibling with the same prefix is not the repo.
    assert {s.cwd_rel for s in w.export("/home/alice/src")} == {"projA"}
    assert w.export("/home/alice/src/proj") == [] and w.export("/home/alice/src/projA2") == []


def _with_cwds(meta_cwd: str, turn_cwd: str, sid: str) -> bytes:
    out = []
    raw = fixture("exec-0.169.0").read_bytes().replace(sid_of(fixture("exec-0.169.0")).encode(), sid.encode())
    for line in raw.splitlines():
        rec = json.loads(line)
        if rec["type"] == "session_meta":
            rec["payload"]["cwd"] = meta_cwd
        elif rec["type"] == "turn_context":
            rec["payload"]["cwd"] = turn_cwd
        out.append(json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode())
    return b"\n".join(out) + b"\n"


def test_latest_turn_context_cwd_counts_as_well(tmp_path: Path) -> None:
    w = World(tmp_path)
    for n, (meta_cwd, turn_cwd) in enumerate(
        [("/elsewhere", OLD_ROOT + "/sub"), (OLD_ROOT, "/elsewhere"), ("/elsewhere", "/elsewhere")], start=1
    ):
        sid = f"{n}" * 8 + f"-{n}{n}{n}{n}-7{n}{n}{n}-8{n}{n}{n}-" + f"{n}" * 12
        w.put(_with_cwds(meta_cwd, turn_cwd, sid), f"rollout-2026-11-24T00-00-0{n}-{sid}.jsonl")
    # A rollout shorter than the head read: the whole file is already in hand.
    sid4 = "44444444-4444-7444-8444-444444444444"
    tiny = [{"timestamp": "t", "type": "session_meta", "payload": {"id": sid4, "cwd": "/elsewhere"}},
            {"timestamp": "t", "type": "turn_context", "payload": {"cwd": "/elsewhere"}},
            {"timestamp": "t", "type": "turn_context", "payload": {"cwd": OLD_ROOT + "/deep/er"}},
            {"timestamp": "t", "type": "event_msg", "payload": {"type": "task_complete"}}]
    w.put("".join(json.dumps(x, separators=(",", ":")) + "\n" for x in tiny).encode(),
          f"rollout-2026-11-24T00-00-04-{sid4}.jsonl")
    got = {s.id[:1]: s.cwd_rel for s in w.export()}
    assert got == {"1": "sub", "2": "", "4": "deep/er"}


def test_discovery_reads_only_heads_and_tails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """50 rollouts of ~1 MB (a long last turn): the scan reads heads and bounded tails, never the bodies."""
    w = World(tmp_path)
    base = fixture("toolcall-0.169.0").read_bytes()
    filler = json.dumps({"timestamp": "2026-11-24T00:17:04.000Z", "type": "response_item",
                         "payload": {"type": "function_call_output", "output": "x" * 1000}}).encode() + b"\n"
    total = 0
    for i in range(50):
        sid = f"{i:08x}-0000-7000-8000-000000000000"
        body = base.replace(sid_of(fixture("toolcall-0.169.0")).encode(), sid.encode())
        if i % 2:
            body = body.replace(OLD_ROOT.encode(), b"/home/alice/src/other")
        data = body + filler * 1000
        total += len(data)
        w.put(data, f"rollout-2026-11-24T00-17-03-{sid}.jsonl", sub=f"sessions/2026/11/{1 + i % 28:02d}")
    read = {"n": 0}
    real_read, real_pread = os.read, os.pread

    def counting_read(fd: int, n: int) -> bytes:
        b = real_read(fd, n)
        read["n"] += len(b)
        return b

    def counting_pread(fd: int, n: int, off: int) -> bytes:
        b = real_pread(fd, n, off)
        read["n"] += len(b)
        return b

    monkeypatch.setattr(codex_mod.os, "read", counting_read)
    monkeypatch.setattr(codex_mod.os, "pread", counting_pread)
    found = w.src.scan(OLD_ROOT)
    monkeypatch.undo()
    assert len(found) == 25
    # Matching heads stop at HEAD_BYTES; the others look back at most TAIL_MAX_BYTES for a turn_context.
    assert read["n"] <= 25 * HEAD_BYTES + 25 * (HEAD_BYTES + TAIL_MAX_BYTES + 64), (read["n"], total)
    assert read["n"] < total / 5


def test_archived_only_on_request_and_zst(tmp_path: Path) -> None:
    w = World(tmp_path)
    arch = fixture("exec-0.169.0")
    w.put(arch, arch.name, sub="archived_sessions")
    z = fixture("exec-0.110.0")
    w.put(zstandard.ZstdCompressor().compress(z.read_bytes()), z.name + ".zst")
    assert [s.id for s in w.export()] == [sid_of(z)]
    assert w.export()[0].files[0].arcname == f"sessions/{z.name}.zst"
    w.src.include_archived = True
    got = {s.id: s for s in w.export()}
    assert set(got) == {sid_of(z), sid_of(arch)}
    assert got[sid_of(arch)].files[0].arcname == f"archived_sessions/{arch.name}"
    assert got[sid_of(arch)].meta["archived"] is True
    # Both land as plain rollouts under sessions/YYYY/MM/DD with their names kept.
    for s in got.values():
        sm, files = manifest(s)
        st = stage(w.dst, sm, files, w.ctx())
        assert st.transcript.dest == w.dst_home / "sessions/2026/11/24" / s.meta["file_name"].removesuffix(".zst")
        assert st.transcript.staged.read_bytes().startswith(b'{"timestamp"')
    assert CodexAdapter({"CODEX_HOME": str(w.src_home)}, include_archived=False).find_existing(
        sid_of(arch), w.ctx()) == w.src_home / "archived_sessions" / arch.name



def test_compressed_rollout_is_decompressed_whatever_its_payload_file_is_named(tmp_path: Path) -> None:
    """receive keeps a payload's files under names of its own (`f000000`), not their arcnames: a `.zst`
    rollout is still decompressed, from its arcname, and lands plain."""
    w = World(tmp_path)
    z = fixture("exec-0.110.0")
    w.put(zstandard.ZstdCompressor().compress(z.read_bytes()), z.name + ".zst")
    (s,) = w.export()
    sm, files = manifest(s)
    raw = tmp_path / "raw"
    raw.mkdir()
    numbered = {}
    for i, (arc, src) in enumerate(files.items()):
        numbered[arc] = raw / f"f{i:06d}"
        shutil.copyfile(src, numbered[arc])
    (r,) = _import_into(w, _one_session_doc(w, sm), numbered, tmp_path / "in").results
    assert r.action == "new" and r.path.name == z.name
    assert r.path.read_bytes().startswith(b'{"timestamp"')

# -- rewriting --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_stage_rewrites_every_path_and_provider(tmp_path: Path, kind: str) -> None:
    w = World(tmp_path)
    w.put(fixture(kind), fixture(kind).name)
    (s,) = w.export()
    sm, files = manifest(s)
    staged = stage(w.dst, sm, files, w.ctx())
    assert staged.session_id == s.id and staged.resume_cwd == w.target_root
    assert staged.transcript.dest == w.dst_home / "sessions/2026/11/24" / fixture(kind).name
    data = staged.transcript.staged.read_bytes()
    assert_no_old_paths(data, [OLD_ROOT, OLD_HOME, "/home/alice"])
    orig = fixture(kind).read_bytes()
    assert data.count(b"\n") == orig.count(b"\n")
    new_root, new_home = str(w.target_root), str(w.dst_home)
    recs = [json.loads(x) for x in data.splitlines()]
    meta = recs[0]["payload"]
    assert meta["cwd"] == new_root and meta["model_provider"] == "local" and meta["id"] == s.id
    assert meta.get("runtime_workspace_roots", [new_root]) == [new_root]
    assert all(r["payload"]["cwd"] == new_root for r in recs if r["type"] == "turn_context")
    settings = [r["payload"]["thread_settings"] for r in recs if r["payload"].get("type") == "thread_settings_applied"]
    assert all(t["model_provider_id"] == "local" and t["cwd"] == new_root for t in settings)
    assert (kind == "exec-0.110.0") == (not settings)
    assert any(new_home in x for r in recs for x in strings(r))  # skills paths now name this CODEX_HOME
    if kind.startswith("toolcall"):
        (call,) = [r["payload"] for r in recs if r["payload"].get("type") == "function_call"]
        assert json.loads(call["arguments"])["workdir"] == new_root
        (out,) = [r["payload"] for r in recs if r["payload"].get("type") == "function_call_output"]
        assert new_root in out["output"]
        cmds = [r["payload"]["item"] for r in recs if r["payload"].get("type") == "item_completed"
                and r["payload"]["item"].get("type") == "CommandExecution"]
        assert cmds and all(c["cwd"] == "file://" + urllib.parse.quote(new_root) for c in cmds)
        assert all(c["aggregated_output"] == new_root + "\n" for c in cmds)
    # the note travels with the plan (the engine tells it when the session is imported), not on the adapter
    assert any("'fake' rewritten to this machine's 'local'" in n for n in staged.notes)
    assert staged.resume is None and w.dst.resume_command(s.id) == f"codex resume {s.id}"


def test_stage_is_byte_identical_when_nothing_differs(tmp_path: Path) -> None:
    """Same root, home and provider: not one byte changes (the engine's identical/prefix checks rely on it)."""
    w = World(tmp_path, target_provider="fake", target_root="same")
    f = fixture("toolcall-0.169.0")
    w.put(f, f.name)
    (s,) = w.export()
    sm, files = manifest(s)
    ctx = w.ctx()
    ctx.source.repo_root = str(w.target_root)
    ctx.source.tool_home = str(w.dst_home)
    ctx.source.adapter_meta = {}
    sm.meta["recorded_root"] = str(w.target_root)
    staged = stage(w.dst, sm, files, ctx)
    assert staged.transcript.staged.read_bytes() == f.read_bytes()


def test_json_in_json_and_special_characters(tmp_path: Path) -> None:
    """A root with a quote and non-ASCII, escaped twice inside tool-call `arguments` (once as \\uXXXX)."""
    odd = '/home/alice/src/café "q" proj'

    def swap(o: Any) -> Any:
        if isinstance(o, str):
            return o.replace(OLD_ROOT, odd).replace(urllib.parse.quote(OLD_ROOT), urllib.parse.quote(odd))
        if isinstance(o, dict):
            out = {k: swap(v) for k, v in o.items()}
            if out.get("type") == "function_call":
                out["arguments"] = json.dumps(swap(json.loads(o["arguments"])))  # \u00e9 and \" inside
            return out
        if isinstance(o, list):
            return [swap(v) for v in o]
        return o

    lines = [json.dumps(swap(json.loads(x)), separators=(",", ":"), ensure_ascii=False).encode()
             for x in fixture("toolcall-0.169.0").read_bytes().splitlines()]
    data = b"\n".join(lines) + b"\n"
    assert b'caf\\\\u00e9 \\\\\\"q\\\\\\"' in data  # really double-escaped in the arguments
    w = World(tmp_path)
    w.put(data, fixture("toolcall-0.169.0").name)
    (s,) = w.src.find_sessions(Repo(root=Path(odd)))
    sm, files = manifest(s)
    ctx = w.ctx()
    ctx.source.repo_root = odd
    out = stage(w.dst, sm, files, ctx).transcript.staged.read_bytes()
    assert_no_old_paths(out, [odd, OLD_HOME])
    recs = [json.loads(x) for x in out.splitlines()]
    (call,) = [r["payload"] for r in recs if r["payload"].get("type") == "function_call"]
    assert json.loads(call["arguments"])["workdir"] == str(w.target_root)


def test_keep_provider_prints_the_command(tmp_path: Path) -> None:
    w = World(tmp_path)
    f = fixture("exec-0.169.0")
    w.put(f, f.name)
    (s,) = w.export()
    sm, files = manifest(s)
    staged = stage(w.dst, sm, files, w.ctx(keep_provider=True))
    data = staged.transcript.staged.read_bytes()
    assert b'"model_provider":"fake"' in data and b'"model_provider_id":"fake"' in data
    assert b'"model_provider":"local"' not in data and b'"model_provider_id":"local"' not in data
    cmd = staged.resume
    assert cmd == f"codex resume -c 'model_provider=\"fake\"' {s.id}"
    assert w.dst.resume_command(s.id) == f"codex resume {s.id}"  # nothing of this import kept on the adapter
    assert any("kept its model provider 'fake'" in n and cmd in n for n in staged.notes)


def test_default_provider_is_openai(tmp_path: Path) -> None:
    w = World(tmp_path, target_provider=None)
    f = fixture("exec-0.110.0")
    w.put(f, f.name)
    (s,) = w.export()
    sm, files = manifest(s)
    data = stage(w.dst, sm, files, w.ctx()).transcript.staged.read_bytes()
    assert b'"model_provider":"openai"' in data and b'"fake"' not in data


def test_copy_under_new_id(tmp_path: Path) -> None:
    w = World(tmp_path)
    f = fixture("toolcall-0.169.0")
    w.put(f, f.name)
    (w.src_home / "history.jsonl").write_text(json.dumps({"session_id": sid_of(f), "ts": 1, "text": "RUNTOOL"}) + "\n")
    (s,) = w.export()
    sm, files = manifest(s)
    new = w.dst.new_session_id()
    assert new[14] == "7" and new != s.id
    staged = stage(w.dst, sm, files, w.ctx(), new_id=new)
    assert staged.session_id == new and staged.original_id == s.id
    assert staged.transcript.dest.name == f.name.replace(s.id, new)
    data = staged.transcript.staged.read_bytes()
    assert s.id.encode() not in data
    recs = [json.loads(x) for x in data.splitlines()]
    assert recs[0]["payload"]["id"] == new and recs[0]["payload"]["session_id"] == new
    tids = [r["payload"]["thread_id"] for r in recs if "thread_id" in r["payload"]]
    assert tids and set(tids) == {new}
    (hist,) = staged.line_appends
    assert [json.loads(x)["session_id"] for x in hist.lines] == [new]


# -- history / thread names -------------------------------------------------------------------------------
def test_history_and_session_index_lines_travel_and_append(tmp_path: Path) -> None:
    w = World(tmp_path)
    f = fixture("tui-0.169.0")
    w.put(f, f.name)
    sid, other = sid_of(f), "01a20ae8-0000-7000-8000-000000000000"
    hist = [{"session_id": sid, "ts": 1795479300, "text": f"look at {OLD_ROOT}/src/app.py"},
            {"session_id": other, "ts": 1795479301, "text": "someone else's prompt"},
            {"session_id": sid, "ts": 1795479302, "text": "second"}]
    (w.src_home / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in hist))
    (w.src_home / "session_index.jsonl").write_text(
        json.dumps({"id": other, "thread_name": "other", "updated_at": "x"}) + "\n"
        + json.dumps({"id": sid, "thread_name": "my thread", "updated_at": "2026-11-24T00:16:00Z"}) + "\n")
    (s,) = w.export()
    assert s.title == "my thread"
    side = {f.arcname: f.read() for f in s.files if f.role == "sidecar"}
    assert set(side) == {f"history/{sid}.jsonl", f"session_index/{sid}.jsonl"}
    assert other.encode() not in b"".join(side.values())
    assert side[f"history/{sid}.jsonl"].count(b"\n") == 2

    # The receiving machine already has history of its own: lines are appended, once.
    (w.dst_home / "history.jsonl").write_text(json.dumps({"session_id": other, "ts": 5, "text": "local"}) + "\n")
    sm, files = manifest(s)
    manifest_doc = {
        "source": {"os_flavor": "posix", "repo_root": OLD_ROOT, "home": "/home/alice", "tool_home": OLD_HOME,
                   "adapter_meta": w.src.export_meta()},
        "sessions": [{"id": sm.id, "files": sm.files, "cwd_rel": sm.cwd_rel, "meta": sm.meta}],
    }
    for _ in range(2):
        staging = tmp_path / f"st{_}"
        staging.mkdir()
        rep = import_sessions(w.dst, manifest_doc, files, Repo(root=w.target_root), env=w.dst_env, staging=staging)
    assert [r.action for r in rep.results] == ["skip"]
    hist_lines = [json.loads(x) for x in (w.dst_home / "history.jsonl").read_text().splitlines()]
    assert [h["session_id"] for h in hist_lines] == [other, sid, sid]
    assert hist_lines[1]["text"] == f"look at {w.target_root}/src/app.py"
    idx = [json.loads(x) for x in (w.dst_home / "session_index.jsonl").read_text().splitlines()]
    assert idx == [{"id": sid, "thread_name": "my thread", "updated_at": "2026-11-24T00:16:00Z"}]


# -- engine + index ---------------------------------------------------------------------------------------
def _state_db(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE backfill_state (id INTEGER PRIMARY KEY, status TEXT)")
    con.execute("INSERT INTO backfill_state VALUES (1, 'complete')")
    con.execute("CREATE TABLE threads (id TEXT PRIMARY KEY, rollout_path TEXT)")
    con.execute("INSERT INTO threads VALUES ('x', '/somewhere')")
    con.commit()
    con.close()

def _one_session_doc(w: World, sm) -> dict:
    """The manifest of a handoff holding the one session `sm` exported by `w.src`."""
    return {"source": {"os_flavor": "posix", "repo_root": OLD_ROOT, "tool_home": OLD_HOME,
                       "adapter_meta": w.src.export_meta()},
            "sessions": [{"id": sm.id, "files": sm.files, "cwd_rel": sm.cwd_rel, "meta": sm.meta}]}


def _import_into(w: World, doc: dict, files, staging: Path):
    """`doc`'s session imported into `w.dst` through the engine, from a fresh staging folder."""
    staging.mkdir()
    return import_sessions(w.dst, doc, files, Repo(root=w.target_root), env=w.dst_env, staging=staging)



def _rows(path: Path, table: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def test_import_new_then_identical_then_diverged_copy_and_backfill_reset(tmp_path: Path) -> None:
    w = World(tmp_path)
    f = fixture("exec-0.169.0")
    w.put(f, f.name)
    _state_db(w.dst_home / "state_5.sqlite")
    sqlite_home = tmp_path / "sqlite-home"
    _state_db(sqlite_home / "state_5.sqlite")
    w.dst_env["CODEX_SQLITE_HOME"] = str(sqlite_home)
    w.dst = CodexAdapter(w.dst_env)
    (s,) = w.export()
    sm, files = manifest(s)
    doc = _one_session_doc(w, sm)

    def run(n: int):
        return _import_into(w, doc, files, tmp_path / f"staging{n}")

    rep = run(1)
    (r,) = rep.results
    assert r.action == "new" and r.path == w.dst_home / "sessions/2026/11/24" / f.name
    assert r.resume == f"cd {shlex.quote(str(w.target_root))} && codex resume {s.id}"
    assert _rows(w.dst_home / "state_5.sqlite", "backfill_state") == 0
    assert _rows(sqlite_home / "state_5.sqlite", "backfill_state") == 0
    assert _rows(w.dst_home / "state_5.sqlite", "threads") == 1  # Codex's own rows are never touched
    assert any("re-index" in n for n in rep.notes)

    assert [x.action for x in run(2).results] == ["skip"]
    # The session went on on the sending machine: the new handoff fast-forwards the local file.
    with open(w.src_home / "sessions/2026/11/24" / f.name, "ab") as fh:
        fh.write(b'{"timestamp":"2026-11-24T01:00:00.000Z","type":"turn_context","payload":{"cwd":"'
                 + OLD_ROOT.encode() + b'","model":"gpt-5.4"}}\n')
    (s,) = w.export()
    sm, files = manifest(s)
    doc["sessions"] = [{"id": sm.id, "files": sm.files, "cwd_rel": sm.cwd_rel, "meta": sm.meta}]
    (ff,) = run(5).results
    assert ff.action == "fast-forward" and ff.path == r.path
    tail = r.path.read_bytes().splitlines()[-1]
    assert json.loads(tail)["payload"]["cwd"] == str(w.target_root)
    # The session went on here (Codex appended a turn): the handoff is older, nothing to do.
    with open(r.path, "ab") as fh:
        fh.write(b'{"timestamp":"2026-11-25T00:00:00.000Z","type":"event_msg","payload":{"type":"x"}}\n')
    assert [x.action for x in run(3).results] == ["skip"]
    # Diverged: the local file differs inside; the handoff comes in as a copy under a new id.
    data = r.path.read_bytes()
    r.path.write_bytes(data.replace(b"hello", b"HELLO", 1))
    (c,) = run(4).results
    assert c.action == "copy" and c.original_id == s.id and c.id != s.id
    assert c.path.name == f.name.replace(s.id, c.id) and c.path.exists()
    assert w.dst.find_existing(c.id, w.ctx()) == c.path


def _backfill(path: Path) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT * FROM backfill_state").fetchall()
    finally:
        con.close()


def test_backfill_reset_is_journalled_and_undo_puts_the_row_back(tmp_path: Path) -> None:
    """The backfill_state reset is a store operation of the import: `undo` restores the row exactly, in
    every state database (the one in CODEX_HOME and the one in CODEX_SQLITE_HOME); once Codex
    has re-indexed (the row is back) it keeps Codex's newer row instead of refusing."""
    from sync_ai_sessions.commands.undo import undo

    w = World(tmp_path)
    f = fixture("exec-0.169.0")
    w.put(f, f.name)
    dbs = [w.dst_home / "state_5.sqlite", tmp_path / "sqlite-home" / "state_5.sqlite"]
    for db in dbs:
        _state_db(db)
        con = sqlite3.connect(db)
        con.execute("UPDATE backfill_state SET status = 'complete ' || ? WHERE id = 1", [str(db)])
        con.commit()
        con.close()
    before = [_backfill(db) for db in dbs]
    w.dst_env["CODEX_SQLITE_HOME"] = str(dbs[1].parent)
    w.dst = CodexAdapter(w.dst_env)
    (s,) = w.export()
    sm, files = manifest(s)
    doc = _one_session_doc(w, sm)

    def run(n: int):
        return _import_into(w, doc, files, tmp_path / f"staging{n}")

    (r,) = run(1).results
    assert r.action == "new" and [_backfill(db) for db in dbs] == [[], []]
    res = undo(env=w.dst_env)
    assert not r.path.exists()
    assert [_backfill(db) for db in dbs] == before
    assert sorted(x.path for x in res.reverted if x.op == "row-delete") == sorted(map(str, dbs))
    assert _rows(dbs[0], "threads") == 1

    # Imported again, then Codex re-indexed (its backfill row is back in one database): undo still removes
    # the session, keeps Codex's own newer row there and puts the old row back where it is still missing.
    (r,) = run(2).results
    con = sqlite3.connect(dbs[1])
    con.execute("INSERT INTO backfill_state VALUES (1, 'complete')")
    con.commit()
    con.close()
    res = undo(env=w.dst_env)
    assert not r.path.exists()
    assert _backfill(dbs[0]) == before[0] and _backfill(dbs[1]) == [(1, "complete")]
    kept = [x.path for x in res.reverted if x.op == "row-delete" and x.kept]
    assert kept == [str(dbs[1])]


def test_an_index_table_of_another_shape_is_emptied_and_put_back_exactly(tmp_path: Path) -> None:
    """Another Codex version's backfill_state may have no primary key, NULLs, duplicate rows and BLOBs:
    the reset journals every row as it was (bytes included) and `undo` puts back exactly those rows."""
    from sync_ai_sessions.commands.undo import undo

    w = World(tmp_path)
    f = fixture("exec-0.169.0")
    w.put(f, f.name)
    db = w.dst_home / "state_5.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE backfill_state (id INTEGER, status TEXT, cursor BLOB)")
    rows = [(None, "running", b"\x00\xff\x10"), (1, None, None), (1, None, None), (2, "complete", b"")]
    con.executemany("INSERT INTO backfill_state VALUES (?, ?, ?)", rows)
    con.commit()
    con.close()
    (s,) = w.export()
    sm, files = manifest(s)
    (r,) = _import_into(w, _one_session_doc(w, sm), files, tmp_path / "staging1").results
    assert r.action == "new" and _backfill(db) == []
    undo(env=w.dst_env)
    assert not r.path.exists()
    assert sorted(_backfill(db), key=repr) == sorted(rows, key=repr)


def test_undo_after_a_state_database_was_removed_puts_nothing_there(tmp_path: Path) -> None:
    """Codex rebuilds a state database that is gone (a user clearing CODEX_SQLITE_HOME): undo still
    removes the imported session and restores the other database's row, and creates no database file."""
    from sync_ai_sessions.commands.undo import undo

    w = World(tmp_path)
    f = fixture("exec-0.169.0")
    w.put(f, f.name)
    dbs = [w.dst_home / "state_5.sqlite", tmp_path / "sqlite-home" / "state_5.sqlite"]
    for db in dbs:
        _state_db(db)
    before = _backfill(dbs[0])
    w.dst_env["CODEX_SQLITE_HOME"] = str(dbs[1].parent)
    w.dst = CodexAdapter(w.dst_env)
    (s,) = w.export()
    sm, files = manifest(s)
    doc = _one_session_doc(w, sm)
    st = tmp_path / "import-staging"
    st.mkdir()
    (r,) = import_sessions(w.dst, doc, files, Repo(root=w.target_root), env=w.dst_env, staging=st).results
    assert r.action == "new"
    dbs[1].unlink()
    undo(env=w.dst_env)
    assert not r.path.exists()
    assert _backfill(dbs[0]) == before
    assert not dbs[1].exists()


def _with_state_db(tmp_path: Path) -> tuple[World, Path, dict, dict[str, Path]]:
    """A world whose receiving Codex has a state database, and the handoff of one exec session for it."""
    w = World(tmp_path)
    f = fixture("exec-0.169.0")
    w.put(f, f.name)
    db = w.dst_home / "state_5.sqlite"
    _state_db(db)
    w.dst = CodexAdapter(w.dst_env)
    (s,) = w.export()
    sm, files = manifest(s)
    return w, db, _one_session_doc(w, sm), files


def test_a_busy_state_database_refuses_the_import_in_one_line_and_places_nothing(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch
                                                                                  ) -> None:
    """Codex writing its state database while we receive: a busy error (exit 6) that says what to do,
    not an internal error, and nothing placed (the reset is part of the import's plan)."""
    from sync_ai_sessions.errors import ConflictError

    w, db, doc, files = _with_state_db(tmp_path)
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, **{**k, "timeout": 0.2}))
    holder = real_connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # Codex, mid-write
    st = tmp_path / "import-staging"
    st.mkdir()
    try:
        with pytest.raises(ConflictError, match="busy") as err:
            import_sessions(w.dst, doc, files, Repo(root=w.target_root), env=w.dst_env, staging=st)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert err.value.exit_code == 6 and str(db) in err.value.message
    assert not list((w.dst_home / "sessions").rglob("*.jsonl")) and _backfill(db) == [(1, "complete")]


def test_undo_while_codex_writes_its_state_database_refuses_in_one_line(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_ai_sessions.commands.undo import undo
    from sync_ai_sessions.errors import ConflictError

    w, db, doc, files = _with_state_db(tmp_path)
    st = tmp_path / "import-staging"
    st.mkdir()
    (r,) = import_sessions(w.dst, doc, files, Repo(root=w.target_root), env=w.dst_env, staging=st).results
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, **{**k, "timeout": 0.2}))
    holder = real_connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ConflictError, match="busy") as err:
            undo(env=w.dst_env)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert err.value.exit_code == 6 and r.path.exists() and _backfill(db) == []
    undo(env=w.dst_env)  # once Codex is idle
    assert not r.path.exists() and _backfill(db) == [(1, "complete")]


@pytest.mark.parametrize("compressed", [False, True])
def test_rollouts_are_rewritten_in_runs_of_whole_lines(tmp_path: Path, compressed: bool) -> None:
    """`stage` rewrites ~1 MiB runs of whole lines, not line by line: the runs hold every byte, end at a
    line end (a longer line comes whole), and the provider pattern never reaches across a line end."""
    lines = [b'{"a":%d,"model_provider":"p%d"}\n' % (i, i) for i in range(3000)]
    lines[1000] = b'{"huge":"' + b"y" * (3 << 20) + b'"}\n'
    lines[2000] = b'{"bad":1,"model_provider":\n'  # malformed: its value is not on this line
    lines[2001] = b'"x"}\n'
    data = b"".join(lines) + b'{"tail":"no newline"}'
    path = tmp_path / ("r.jsonl.zst" if compressed else "r.jsonl")
    path.write_bytes(zstandard.ZstdCompressor().compress(data) if compressed else data)
    runs = list(codex_mod._open_blocks(path, size=4096))
    assert b"".join(runs) == data
    assert all(r.endswith(b"\n") for r in runs[:-1]) and len(runs) > 10
    assert any(len(r) > 3 << 20 for r in runs)
    by_line = [m.group(2) for ln in data.splitlines(keepends=True) for m in codex_mod._PROVIDER.finditer(ln)]
    by_run = [m.group(2) for r in runs for m in codex_mod._PROVIDER.finditer(r)]
    assert by_run == by_line and b"x" not in by_run and len(by_line) == 2997


@pytest.mark.parametrize("keep", [False, True])
def test_rollouts_are_rewritten_while_they_are_decrypted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         keep: bool) -> None:
    """A version 2 handoff: the rollout is rewritten (paths, provider) on its way in, with no second pass
    over a raw copy; its history lines and the provider note follow once everything has arrived."""
    import io

    from sync_ai_sessions.format.archive import ArchiveReader, ArchiveWriter

    w = World(tmp_path)
    f = fixture("exec-0.169.0")
    w.put(f, f.name)
    sid = sid_of(f)
    (w.src_home / "history.jsonl").write_text(
        json.dumps({"session_id": sid, "ts": 1, "text": f"look at {OLD_ROOT}/src/app.py"}) + "\n")
    (s,) = w.export()
    sm, files = manifest(s)
    doc = {"format": 2, "tool": "codex", "repo": {"remotes": []},
           "source": {"os_flavor": "posix", "repo_root": OLD_ROOT, "home": "/home/alice", "tool_home": OLD_HOME,
                      "adapter_meta": w.src.export_meta()},
           "sessions": [{"id": sm.id, "files": sm.files, "cwd_rel": sm.cwd_rel, "meta": sm.meta}]}
    buf = io.BytesIO()
    arch = ArchiveWriter(buf, doc)
    for fl in sm.files:
        arch.add_file(fl["arcname"], files[fl["arcname"]], fl["size"])
    arch.finish()
    second_pass: list[str] = []  # a staged raw rollout read again
    real = codex_mod._read_blocks

    def spy(path, *a, **kw):
        second_pass.append(Path(path).name)
        return real(path, *a, **kw)

    monkeypatch.setattr(codex_mod, "_read_blocks", spy)
    reader = ArchiveReader(io.BytesIO(buf.getvalue()))
    rep = import_sessions(w.dst, reader.manifest, None, Repo(root=w.target_root), env=w.dst_env,
                          staging=w.staging, options={"keep_provider": keep}, stream=reader)
    assert [r.action for r in rep.results] == ["new"] and second_pass == []
    data = rep.results[0].path.read_bytes()
    assert_no_old_paths(data, [OLD_ROOT])
    want, other = (b"fake", b"local") if keep else (b"local", b"fake")
    assert b'"model_provider":"' + want + b'"' in data and b'"model_provider":"' + other + b'"' not in data
    note = "kept its model provider 'fake'" if keep else "model provider 'fake' rewritten to this machine's 'local'"
    assert any(note in n for n in rep.notes), rep.notes
    hist = (w.dst_home / "history.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in hist] == [
        {"session_id": sid, "ts": 1, "text": f"look at {w.target_root}/src/app.py"}
    ]
    assert ("model_provider" in rep.results[0].resume) == keep


def _summarise_line_by_line(path: Path) -> dict[str, Any]:
    """The reference: what `_summarise` computed reading one line at a time (its first version; the
    prompt's parsing is shared, the reading of lines is what is compared)."""
    title = last_ts = version = provider = None
    lines = 0
    for i, line in enumerate(codex_files._open_text(path)):
        lines += 1
        tm = codex_files._TS.match(line)
        if tm:
            last_ts = tm.group(1).decode()
        if i == 0:
            vm = codex_mod._CLI_VERSION.search(line)
            version = vm.group(1).decode() if vm else None
        for pm in codex_mod._PROVIDER.finditer(line):
            provider = codex_mod._jstr(pm.group(2))
        if title is None and (b'"user_message"' in line or b'"UserMessage"' in line):
            title = codex_mod._prompt_of(line)
    if isinstance(title, str):
        title = " ".join(title.split())[:200] or None
    return {"title": title, "last_activity": last_ts, "lines": lines, "cli_version": version,
            "model_provider": provider}


_LINES = [
    b'{"timestamp":"2026-11-24T01:00:00Z","type":"session_meta","payload":{"cli_version":"0.169.0",'
    b'"model_provider":"fake"}}\n',
    b'{ "timestamp" : "2026-11-24T02:00:00Z","type":"turn_context","payload":{"model_provider_id":"p2"}}\n',
    b'{"timestamp":"2026-11-24T03:00:00Z","type":"event_msg","payload":{"type":"user_message",'
    b'"message":"  fix\\n the bug "}}\n',
    b'{"timestamp":"2026-11-24T04:00:00Z","type":"event_msg","payload":{"type":"user_message","message":null}}\n',
    b'{"timestamp":"2026-11-24T05:00:00Z","payload":{"type":"item_completed","item":{"type":"UserMessage",'
    b'"content":[{"text":"second"}]}}}\n',
    b'{"type":"response_item","payload":{"text":"\\"user_message\\" and \\"model_provider\\" in free text"}}\n',
    b'not json "user_message" {"model_provider":"raw"}\n',
    b'{"timestamp":"unterminated\n',
    b'{\n',
    b'"timestamp":"2026-11-24T06:00:00Z"}\n',
    b'\n',
    b'{"timestamp":"2026-11-24T07:00:00Z","payload":{"model_provider":\n',
    b'"split"}}\n',
    b'{"timestamp":"2026-11-24T08:00:00Z","payload":{"text":"' + b"x" * 300 + b'"}}\n',
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(picks=[0, 8, 9], cut=0, size=1 << 20)  # "{" alone on a line, "timestamp" on the next: no timestamp
@example(picks=[0, 11, 12], cut=0, size=1 << 20)  # a provider key whose value is on the next line
@given(picks=st.lists(st.integers(0, len(_LINES) - 1), max_size=40), cut=st.integers(0, 30),
       size=st.sampled_from([1, 7, 64, 300, 1 << 20]))
def test_summary_in_runs_equals_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             picks: list[int], cut: int, size: int) -> None:
    """Discovery reads runs of whole lines; whatever the lines and wherever the runs end, it finds
    the title, last timestamp, line count, version and provider the line-by-line reading found."""
    data = b"".join(_LINES[i] for i in picks)
    data = data[: len(data) - cut] if cut < len(data) else data  # maybe a last line without newline
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(data)
    real = codex_mod._open_blocks
    monkeypatch.setattr(codex_mod, "_open_blocks", lambda p, size_=size: real(p, size_))
    assert CodexAdapter._summarise(path) == _summarise_line_by_line(path)


def test_history_lines_of_many_sessions_are_appended_in_one_write(tmp_path: Path) -> None:
    """A handoff of many sessions grows each shared file once (one journalled append, one fsync), with
    every session's lines, in the handoff's order."""
    from sync_ai_sessions.engine.journal import journals, read_journal

    w = World(tmp_path)
    f = fixture("tui-0.169.0")
    base = f.read_bytes()
    sids = [f"01a20ae8-4eba-7012-8470-829c5b71bb{i:02d}" for i in range(6)]
    hist = []
    for i, sid in enumerate(sids):
        w.put(base.replace(sid_of(f).encode(), sid.encode()), f.name.replace(sid_of(f), sid))
        hist.append({"session_id": sid, "ts": 1795479300 + i, "text": f"prompt {i} in {OLD_ROOT}"})
    (w.src_home / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in hist))
    (w.dst_home / "history.jsonl").write_text(json.dumps({"session_id": "local", "ts": 5, "text": "x"}) + "\n")
    sessions = w.export()
    docs = [manifest(s) for s in sessions]
    manifest_doc = {
        "source": {"os_flavor": "posix", "repo_root": OLD_ROOT, "home": "/home/alice", "tool_home": OLD_HOME,
                   "adapter_meta": w.src.export_meta()},
        "sessions": [{"id": sm.id, "files": sm.files, "cwd_rel": sm.cwd_rel, "meta": sm.meta} for sm, _ in docs],
    }
    files = {k: v for _, fs in docs for k, v in fs.items()}
    rep = import_sessions(w.dst, manifest_doc, files, Repo(root=w.target_root), env=w.dst_env, staging=w.staging)
    assert sorted(r.action for r in rep.results) == ["new"] * len(sids)
    appends = [op for op in read_journal(journals(w.dst_env)[-1])[1] if op["op"] == "append"]
    assert len(appends) == 1
    got = [json.loads(x) for x in (w.dst_home / "history.jsonl").read_text().splitlines()]
    assert [h["session_id"] for h in got] == ["local", *[s.id for s in sessions]]
    assert all(h["text"].endswith(str(w.target_root)) for h in got[1:])


def test_find_sessions_opens_each_rollout_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery reads a matching rollout on from its head, through the same descriptor: one open and no
    stat by name per rollout (the summary and the size used to open and stat it again), the same result."""
    w = World(tmp_path)
    for k in KINDS:
        w.put(fixture(k), fixture(k).name)
    other = "01a20ae9-0000-7000-8000-000000000001"
    w.put(_with_cwds("/elsewhere", "/elsewhere", other), f"rollout-2026-11-24T00-00-01-{other}.jsonl")
    before = w.export()
    seen: dict[str, int] = {}
    real = {"open": open, "os.open": os.open, "os.stat": os.stat, "os.lstat": os.lstat}

    def counted(name: str) -> Any:
        def f(p: object, *a: Any, **k: Any) -> Any:
            if isinstance(p, (str, os.PathLike)):
                seen[os.fspath(p)] = seen.get(os.fspath(p), 0) + 1
            return real[name](p, *a, **k)
        return f

    monkeypatch.setattr("builtins.open", counted("open"))
    monkeypatch.setattr(os, "open", counted("os.open"))
    monkeypatch.setattr(os, "stat", counted("os.stat"))
    monkeypatch.setattr(os, "lstat", counted("os.lstat"))
    after = w.export()
    monkeypatch.undo()
    assert [(s.id, s.title, s.lines, s.last_activity, s.meta) for s in after] == [
        (s.id, s.title, s.lines, s.last_activity, s.meta) for s in before]
    assert [[(f.arcname, f.size) for f in s.files] for s in after] == [
        [(f.arcname, f.size) for f in s.files] for s in before]
    rollouts = sorted(w.src_home.rglob("rollout-*.jsonl"))
    assert len(rollouts) == 5 and len(after) == 4
    assert {p.name: seen.get(str(p), 0) for p in rollouts} == {p.name: 1 for p in rollouts}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.integers(0, len(_LINES) - 1), max_size=40), cut=st.integers(0, 30),
       size=st.sampled_from([1, 7, 64, 300, 1 << 20]))
def test_summary_of_the_bytes_read_equals_the_files(tmp_path: Path, picks: list[int], cut: int, size: int) -> None:
    """The summary discovery makes of a rollout it read whole is the one `_summarise` reads from the file."""
    data = b"".join(_LINES[i] for i in picks)
    data = data[: len(data) - cut] if cut < len(data) else data
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(data)
    runs = codex_files._runs(codex_files.data_blocks(data, size))
    assert list(runs) == list(codex_files._open_blocks(path, size))
    whole = codex_files._runs(codex_files.data_blocks(data))
    assert CodexAdapter._summarise_runs(whole) == CodexAdapter._summarise(path)
