"""Unit tests of the Gemini CLI adapter on real files Gemini CLI 0.61.0 (JSONL) and <=0.38 (JSON) wrote."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from gemini.helpers import (
    ALICE_GEMINI,
    ALICE_ROOT,
    CHAT_NAME,
    SID,
    context,
    copy_fixture_home,
    fixture_chat,
    legacy_chat,
    manifest_of,
    place,
    sha,
    through_engine,
    tree,
)

from sync_ai_sessions.adapters.gemini import GeminiAdapter, read_chat, slugify
from sync_ai_sessions.commands.undo import undo
from sync_ai_sessions.engine import importer
from sync_ai_sessions.engine import place as engine_place
from sync_ai_sessions.engine.journal import Journal
from sync_ai_sessions.engine.staging import stage
from sync_ai_sessions.errors import ConflictError, UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo


def adapter_for(home: Path) -> GeminiAdapter:
    return GeminiAdapter({"HOME": str(home / "nohome"), "GEMINI_CLI_HOME": str(home)})


def write_registry(gdir: Path, projects: dict[str, str]) -> None:
    gdir.mkdir(parents=True, exist_ok=True)
    (gdir / "projects.json").write_text(json.dumps({"projects": projects}, indent=2))


def marker(gdir: Path, slug: str, owner: str, bases: tuple[str, ...] = ("tmp", "history")) -> None:
    for b in bases:
        (gdir / b / slug).mkdir(parents=True, exist_ok=True)
        (gdir / b / slug / ".project_root").write_text(owner)


# -- reading -----------------------------------------------------------------------------------------


def test_home_honours_gemini_cli_home(tmp_path: Path) -> None:
    assert GeminiAdapter({"HOME": "/h"}).home() == Path("/h/.gemini")
    assert GeminiAdapter({"HOME": "/h", "GEMINI_CLI_HOME": "/g"}).home() == Path("/g/.gemini")


def test_both_formats_replay_to_the_same_session() -> None:
    jl = read_chat(fixture_chat())
    js = read_chat(legacy_chat())
    assert jl and js
    assert (jl.fmt, js.fmt) == ("jsonl", "json")
    assert jl.session_id == js.session_id == SID
    # the JSONL replay ($set snapshots, a record replaced by id) ends with the same 7 messages
    assert [m["id"] for m in jl.messages] == [m["id"] for m in js.messages]
    assert len(jl.messages) == 7 and jl.resumable and js.resumable
    assert jl.last_updated == js.last_updated == "2026-11-24T01:06:21.045Z"
    assert jl.title == "Fake summary"


def test_find_sessions_slug_layout(tmp_path: Path) -> None:
    copy_fixture_home(tmp_path)
    sessions = adapter_for(tmp_path).find_sessions(Repo(root=Path(ALICE_ROOT)))
    assert [s.id for s in sessions] == [SID]
    s = sessions[0]
    assert s.cwd_rel == ""
    assert [(f.arcname, f.role, f.size) for f in s.files] == [
        (f"chats/{CHAT_NAME}", "transcript", fixture_chat().stat().st_size)
    ]
    assert s.meta["project_root"] == ALICE_ROOT
    assert s.meta["temp_dir"] == str(tmp_path / ".gemini" / "tmp" / "myproj")
    # another repo whose path only starts with the same characters is not this repo
    assert adapter_for(tmp_path).find_sessions(Repo(root=Path(ALICE_ROOT[:-1]))) == []
    assert adapter_for(tmp_path).find_sessions(Repo(root=Path(ALICE_ROOT + "-other"))) == []


def test_find_sessions_subfolder_project_and_sidecars(tmp_path: Path) -> None:
    gdir = copy_fixture_home(tmp_path)
    # a second project inside the repo, known only by its markers (projects.json lost its entry)
    sub_sid = "11111111-2222-4333-8444-555555555555"
    marker(gdir, "web", ALICE_ROOT + "/web")
    chats = gdir / "tmp" / "web" / "chats"
    chats.mkdir()
    text = fixture_chat().read_text().replace(SID, sub_sid)
    (chats / "session-2026-11-25T10-00-11111111.jsonl").write_text(text)
    (chats / sub_sid).mkdir()
    (chats / sub_sid / "agent-1.jsonl").write_text('{"sessionId":"agent-1","kind":"subagent"}\n')
    outs = gdir / "tmp" / "web" / "tool-outputs" / f"session-{sub_sid}"
    outs.mkdir(parents=True)
    (outs / "shell_1.txt").write_text("big output\n")
    (gdir / "tmp" / "web" / sub_sid / "plans").mkdir(parents=True)
    (gdir / "tmp" / "web" / sub_sid / "plans" / "plan.md").write_text("# plan\n")
    # a project outside the repo is not sent
    marker(gdir, "elsewhere", "/home/alice/src/elsewhere")
    (gdir / "tmp" / "elsewhere" / "chats").mkdir()
    shutil.copy(fixture_chat(), gdir / "tmp" / "elsewhere" / "chats" / "session-2026-11-26T10-00-99999999.jsonl")

    sessions = {s.id: s for s in adapter_for(tmp_path).find_sessions(Repo(root=Path(ALICE_ROOT)))}
    assert set(sessions) == {SID, sub_sid}  # the "elsewhere" copy of SID did not replace the repo's one
    assert sessions[SID].meta["project_root"] == ALICE_ROOT
    sub = sessions[sub_sid]
    assert sub.cwd_rel == "web"
    assert sorted(f.arcname for f in sub.files if f.role == "sidecar") == [
        f"artifacts/{sub_sid}/plans/plan.md",
        f"chats/{sub_sid}/agent-1.jsonl",
        f"tool-outputs/session-{sub_sid}/shell_1.txt",
    ]


def test_legacy_hash_layout_and_json_format(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    gdir = tmp_path / "home" / ".gemini"
    root_chats = gdir / "tmp" / sha(str(repo)) / "chats"
    sub_chats = gdir / "tmp" / sha(str(repo / "pkg")) / "chats"
    root_chats.mkdir(parents=True)
    sub_chats.mkdir(parents=True)
    shutil.copy(legacy_chat(), root_chats / "session-2026-11-24T01-06-b49d9bf8.json")
    other = "22222222-2222-4333-8444-555555555555"
    (sub_chats / "session-2026-11-20T09-00-22222222.jsonl").write_text(fixture_chat().read_text().replace(SID, other))
    sessions = {s.id: s for s in adapter_for(tmp_path / "home").find_sessions(Repo(root=repo))}
    assert set(sessions) == {SID, other}
    assert sessions[SID].meta["format"] == "json" and sessions[SID].cwd_rel == ""
    assert sessions[other].cwd_rel == "pkg"
    assert sessions[SID].transcript.size == legacy_chat().stat().st_size


def test_files_sharing_a_session_id_send_the_resumable_latest(tmp_path: Path) -> None:
    gdir = copy_fixture_home(tmp_path)
    chats = gdir / "tmp" / "myproj" / "chats"
    lines = fixture_chat().read_bytes().splitlines(keepends=True)
    # the startup stub a later --resume leaves behind: metadata + a snapshot holding only the env context
    (chats / "session-2026-11-24T09-30-b49d9bf8.jsonl").write_bytes(
        lines[0].replace(b"2026-11-24T01:06:19.198Z", b"2026-11-24T09:30:00.000Z") + lines[1]
    )
    # an older resumable copy of the same session (e.g. the legacy migration copy), earlier lastUpdated
    (chats / "session-2026-11-24T01-05-b49d9bf8.jsonl").write_bytes(b"".join(lines[:6]))
    # a line being written right now is not sent
    with open(chats / CHAT_NAME, "ab") as fh:
        fh.write(b'{"id":"partial","type":"user","con')
    (s,) = adapter_for(tmp_path).find_sessions(Repo(root=Path(ALICE_ROOT)))
    assert [f.arcname for f in s.files] == [f"chats/{CHAT_NAME}"]
    assert s.transcript.size == fixture_chat().stat().st_size


# -- short names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "slug"),
    [("Renamed Proj_2", "renamed-proj-2"), ("my--App!", "my-app"), ("...", "project"), ("Ünïcode", "n-code")],
)
def test_slugify(base: str, slug: str) -> None:
    assert slugify(base) == slug


def test_short_name_clashes(tmp_path: Path) -> None:
    gdir = tmp_path / ".gemini"
    write_registry(gdir, {"/a/app": "app", "/b/app": "app-1"})
    marker(gdir, "app-2", "/c/app", bases=("history",))  # on disk only, in history/
    a = adapter_for(tmp_path)
    planned: dict[str, str] = {}  # the names planned in one receive
    assert a.short_name("/x/My App", reserved=planned) == "my-app"
    assert a.short_name("/d/app", reserved=planned) == "app-3"
    assert a.short_name("/a/app", reserved=planned) == "app"  # an existing verified mapping is reused
    # two new projects with the same base name in one receive do not get the same name
    assert a.short_name("/e/app", reserved=planned) == "app-4"
    assert a.short_name("/d/app", reserved=planned) == "app-3"
    assert planned == {"/x/My App": "my-app", "/d/app": "app-3", "/a/app": "app", "/e/app": "app-4"}
    assert a.short_name("/e/app") == "app-3"  # another receive: nothing was planned, nothing is kept on `a`
    assert tree(gdir / "tmp") == {}  # read-only


def test_short_name_stale_mapping_and_marker_only(tmp_path: Path) -> None:
    gdir = tmp_path / ".gemini"
    write_registry(gdir, {"/new/place/app": "app"})
    marker(gdir, "app", "/old/place/app")  # the marker names another owner: Gemini drops the mapping
    marker(gdir, "tool", "/w/tool")  # registry lost it, the marker still says who owns it
    a = adapter_for(tmp_path)
    assert a.short_name("/new/place/app") == "app-1"
    assert a.short_name("/w/tool") == "tool"


# -- staging and registration -------------------------------------------------------------------------


def _send(tmp_path: Path) -> tuple:
    copy_fixture_home(tmp_path / "a")
    (s,) = adapter_for(tmp_path / "a").find_sessions(Repo(root=Path(ALICE_ROOT)))
    s.meta["temp_dir"] = f"{ALICE_GEMINI}/tmp/myproj"  # as on the machine that wrote the fixture
    store = tmp_path / "recv"
    store.mkdir()
    return manifest_of(s, store)


def test_stage_writes_nothing_and_the_engine_registers(tmp_path: Path) -> None:
    m, files = _send(tmp_path)
    home_b = tmp_path / "b"
    target = tmp_path / "work" / "Renamed Proj_2"
    target.mkdir(parents=True)
    a = adapter_for(home_b)
    ctx = context(target, tmp_path / "staging", dict(a.env))
    staged = stage(a, m, files, ctx)
    assert tree(home_b) == {}  # stage wrote nothing in the tool's home
    gdir = home_b / ".gemini"
    assert staged.transcript.dest == gdir / "tmp" / "renamed-proj-2" / "chats" / CHAT_NAME
    assert staged.resume_cwd == target
    assert a.resume_command(SID) == f"gemini --resume {SID}"
    # the registration is part of the plan: both markers, then the projects.json entry as an edit
    assert [p.dest for p in staged.sidecars] == [gdir / b / "renamed-proj-2" / ".project_root"
                                                 for b in ("tmp", "history")]
    (edit,) = staged.edits
    assert edit.dest == gdir / "projects.json" and edit.busy == Path(f"{gdir}/projects.json.lock")

    result, _ = through_engine(a, m, files, ctx)
    assert result.action == "new"
    assert a.finalize(ctx, [result]) == []  # nothing is left for finalize
    assert json.loads((gdir / "projects.json").read_text()) == {"projects": {str(target): "renamed-proj-2"}}
    for base in ("tmp", "history"):
        assert (gdir / base / "renamed-proj-2" / ".project_root").read_text() == str(target)
    assert not (gdir / "projects.json.lock").exists()

    out = staged.transcript.dest.read_bytes()
    assert b"/home/alice" not in out
    assert str(target).encode() in out
    assert f"{gdir}/tmp/renamed-proj-2".encode() in out  # the project temp dir in the env context
    meta_lines = [json.loads(x) for x in out.splitlines() if b'"projectHash"' in x]
    assert len(meta_lines) == 2 and {x["projectHash"] for x in meta_lines} == {sha(str(target))}
    info = read_chat(staged.transcript.dest)
    assert info and info.session_id == SID and len(info.messages) == 7
    tool_call = next(x for x in info.messages if x.get("toolCalls"))
    assert tool_call["toolCalls"][0]["args"]["file_path"] == f"{target}/README.md"
    # everything but the paths is byte for byte the same
    orig = fixture_chat().read_bytes()
    assert out.count(b"\n") == orig.count(b"\n")


def test_registration_keeps_the_registry_and_a_skip_writes_nothing(tmp_path: Path) -> None:
    m, files = _send(tmp_path)
    home_b = tmp_path / "b"
    gdir = home_b / ".gemini"
    write_registry(gdir, {"/other/renamed": "renamed", "/srv/Renamed": "renamed-1"})
    marker(gdir, "renamed", "/other/renamed")
    target = tmp_path / "Renamed"
    target.mkdir()
    a = adapter_for(home_b)
    ctx = context(target, tmp_path / "staging", dict(a.env))
    before = tree(home_b)
    staged = stage(a, m, files, ctx)
    assert staged.transcript.dest.parent.parent.name == "renamed-2"
    assert tree(home_b) == before
    result, _ = through_engine(a, m, files, ctx)
    assert result.action == "new"
    reg = json.loads((gdir / "projects.json").read_text())["projects"]
    assert reg == {"/other/renamed": "renamed", "/srv/Renamed": "renamed-1", str(target): "renamed-2"}
    # the same session again is skipped, and its registration with it: not a byte changes
    after = tree(home_b)
    again, imp = through_engine(a, m, files, context(target, tmp_path / "staging2", dict(a.env)))
    assert again.action == "skip" and not imp.has_changes
    assert tree(home_b) == after


@pytest.mark.parametrize("before, after", [
    # another version's key is kept, in its place, as Gemini keeps what it loaded
    (b'{"version": 2, "projects": {"/w/x": "x"}, "z": [1]}',
     {"version": 2, "projects": {"/w/x": "x", "TARGET": "proj"}, "z": [1]}),
    (b'{"projects": {}, "note": "kept"}', {"projects": {"TARGET": "proj"}, "note": "kept"}),
    # a document Gemini resets to empty: so do we, with our entry
    (b'{"projects": {"/w/x": "Not A Slug"}, "note": "dropped"}', {"projects": {"TARGET": "proj"}}),
    (b"not json", {"projects": {"TARGET": "proj"}}),
])
def test_registration_keeps_what_gemini_keeps(tmp_path: Path, before: bytes, after: dict) -> None:
    from sync_ai_sessions.adapters.gemini_files import registration

    got = json.loads(registration("TARGET", "proj")(before))
    assert got == after and list(got) == list(after)


def test_a_name_taken_between_plan_and_apply_refuses_and_leaves_nothing(tmp_path: Path) -> None:
    m, files = _send(tmp_path)
    home_b = tmp_path / "b"
    target = tmp_path / "proj"
    target.mkdir()
    a = adapter_for(home_b)
    ctx = context(target, tmp_path / "staging", dict(a.env))
    _, imp = through_engine(a, m, files, ctx, apply=False)
    marker(home_b / ".gemini", "proj", "/someone/else/proj", bases=("history",))  # a Gemini run claimed it
    before = tree(home_b / ".gemini")
    journal = Journal.start(ctx.env, a.name, a.home())
    with pytest.raises(ConflictError):
        imp.apply(journal)
    journal.abandon()
    assert tree(home_b / ".gemini") == before  # rolled back; receiving again plans `proj-1`
    result, _ = through_engine(a, m, files, context(target, tmp_path / "st2", dict(a.env)))
    assert result.path == home_b / ".gemini" / "tmp" / "proj-1" / "chats" / CHAT_NAME


def test_the_engine_waits_for_geminis_lock_and_never_takes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    m, files = _send(tmp_path)
    home_b = tmp_path / "b"
    gdir = home_b / ".gemini"
    write_registry(gdir, {})
    lock = gdir / "projects.json.lock"
    lock.mkdir()
    target = tmp_path / "proj"
    target.mkdir()
    a = adapter_for(home_b)
    monkeypatch.setattr(engine_place, "BUSY_WAIT_S", 0.3)
    _, imp = through_engine(a, m, files, context(target, tmp_path / "st", dict(a.env)), apply=False)
    journal = Journal.start(a.env, a.name, a.home())
    started = time.monotonic()
    with pytest.raises(ConflictError, match="locked"):
        imp.apply(journal)
    journal.abandon()
    assert time.monotonic() - started >= 0.3
    assert lock.is_dir() and json.loads((gdir / "projects.json").read_text()) == {"projects": {}}
    old = time.time() - 60
    os.utime(lock, (old, old))  # a crashed Gemini's lock goes stale after 10 s
    result, _ = through_engine(a, m, files, context(target, tmp_path / "st2", dict(a.env)))
    assert result.action == "new"
    assert json.loads((gdir / "projects.json").read_text()) == {"projects": {str(target): "proj"}}
    assert lock.is_dir()  # someone else's lock is left alone


def test_undo_gives_projects_json_its_old_bytes(tmp_path: Path) -> None:
    m, files = _send(tmp_path)
    home_b = tmp_path / "b"
    gdir = home_b / ".gemini"
    gdir.mkdir(parents=True)
    (gdir / "projects.json").write_bytes(b'{ "projects": {"/w/x": "x"} }\r\n')  # not as we would write it
    target = tmp_path / "proj"
    target.mkdir()
    a = adapter_for(home_b)
    before = tree(gdir)
    through_engine(a, m, files, context(target, tmp_path / "st", dict(a.env)))
    assert json.loads((gdir / "projects.json").read_text())["projects"] == {"/w/x": "x", str(target): "proj"}
    undo(env=a.env)
    assert tree(gdir) == before


def test_a_failed_import_gives_projects_json_back_its_bytes_and_its_mode(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    m, files = _send(tmp_path)
    home_b = tmp_path / "b"
    gdir = home_b / ".gemini"
    write_registry(gdir, {"/w/x": "x"})
    (gdir / "projects.json").chmod(0o600)  # the user keeps it private
    target = tmp_path / "proj"
    target.mkdir()
    a = adapter_for(home_b)
    before = tree(gdir)
    _, imp = through_engine(a, m, files, context(target, tmp_path / "st", dict(a.env)), apply=False)

    def disk_full(*_a: object, **_k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(importer.Importer, "_create_run", disk_full)  # after the edit, before the transcript
    journal = Journal.start(a.env, a.name, a.home())
    with pytest.raises(OSError):
        imp.apply(journal)
    journal.abandon()
    assert tree(gdir) == before
    assert (gdir / "projects.json").stat().st_mode & 0o777 == 0o600


def test_copy_under_new_id(tmp_path: Path) -> None:
    m, files = _send(tmp_path)
    m.files.append({"arcname": f"tool-outputs/session-{SID}/out.txt", "size": 0, "sha256": "", "role": "sidecar"})
    files[f"tool-outputs/session-{SID}/out.txt"] = tmp_path / "out.txt"
    (tmp_path / "out.txt").write_text(f"see {ALICE_GEMINI}/tmp/myproj/tool-outputs/session-{SID}/out.txt\n")
    home_b = tmp_path / "b"
    target = tmp_path / "proj"
    target.mkdir()
    a = adapter_for(home_b)
    ctx = context(target, tmp_path / "staging", dict(a.env))
    new = "abcdef12-0000-4000-8000-000000000000"
    staged = stage(a, m, files, ctx, new_id=new)
    assert staged.session_id == new and staged.original_id == SID
    assert staged.transcript.dest.name == "session-2026-11-24T01-06-abcdef12.jsonl"
    out = staged.transcript.staged.read_bytes()
    assert SID.encode() not in out
    assert out.count(f'"sessionId":"{new}"'.encode()) == 3  # two metadata lines and a $set
    *markers, side = staged.sidecars  # the project's markers first, then the session's own files
    gdir = home_b / ".gemini"
    assert [mk.dest.name for mk in markers] == [".project_root"] * 2
    assert side.dest == gdir / "tmp" / "proj" / "tool-outputs" / f"session-{new}" / "out.txt"
    assert side.staged.read_text() == f"see {gdir}/tmp/proj/tool-outputs/session-{new}/out.txt\n"
    place(staged)
    info = read_chat(staged.transcript.dest)
    assert info and info.session_id == new


def test_legacy_json_stages_as_json(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    gdir = tmp_path / "a" / ".gemini"
    chats = gdir / "tmp" / sha(ALICE_ROOT) / "chats"
    chats.mkdir(parents=True)
    shutil.copy(legacy_chat(), chats / "session-2026-11-24T01-06-b49d9bf8.json")
    a_send = adapter_for(tmp_path / "a")
    # the legacy folder is found by hashing the repo's folders; the sender's repo is at ALICE_ROOT
    a_send._legacy_dirs = lambda root: {gdir / "tmp" / sha(ALICE_ROOT): ALICE_ROOT}  # type: ignore[method-assign]
    (s,) = a_send.find_sessions(Repo(root=Path(ALICE_ROOT)))
    store = tmp_path / "recv"
    store.mkdir()
    m, files = manifest_of(s, store)
    b = adapter_for(tmp_path / "b")
    staged = stage(b, m, files, context(repo, tmp_path / "st", dict(b.env)))
    assert staged.transcript.dest.name == "session-2026-11-24T01-06-b49d9bf8.json"
    doc = json.loads(staged.transcript.staged.read_text())
    assert doc["projectHash"] == sha(str(repo))
    assert doc["messages"][4]["toolCalls"][0]["args"]["file_path"] == f"{repo}/README.md"
    assert "/home/alice/src" not in staged.transcript.staged.read_text()


@pytest.mark.parametrize(
    "arc",
    ["chats/../../x.jsonl", "/etc/passwd", "chats/other/x.jsonl", "tool-outputs/session-zzz/a", "memory/x"],
)
def test_unsafe_names_are_refused(tmp_path: Path, arc: str) -> None:
    m, files = _send(tmp_path)
    m.files.append({"arcname": arc, "size": 1, "sha256": "", "role": "sidecar"})
    files[arc] = tmp_path / "x"
    (tmp_path / "x").write_text("x")
    a = adapter_for(tmp_path / "b")
    (tmp_path / "p").mkdir()
    with pytest.raises(UnsafePayloadError):
        a.stage(m, files, context(tmp_path / "p", tmp_path / "st", dict(a.env)))


def test_cwd_rel_leaving_the_repo_is_refused(tmp_path: Path) -> None:
    m, files = _send(tmp_path)
    m.cwd_rel = "../x"
    a = adapter_for(tmp_path / "b")
    (tmp_path / "p").mkdir()
    with pytest.raises(UnsafePayloadError):
        a.stage(m, files, context(tmp_path / "p", tmp_path / "st", dict(a.env)))


def test_directories_and_missing_subfolder(tmp_path: Path) -> None:
    m, files = _send(tmp_path)
    t_arc = m.files[0]["arcname"]
    extra = b'{"$set":{"directories":["/home/alice/src/myproj/lib","/home/alice/src/myproj"]}}\n'
    files[t_arc].write_bytes(files[t_arc].read_bytes() + extra)
    m.cwd_rel = "gone/away"  # the session ran in a folder this clone does not have: use the root
    m.meta["project_root"] = ALICE_ROOT + "/gone/away"
    target = tmp_path / "clone"
    target.mkdir()
    a = adapter_for(tmp_path / "b")
    staged = stage(a, m, files, context(target, tmp_path / "st", dict(a.env)))
    assert staged.resume_cwd == target
    last = json.loads(staged.transcript.staged.read_bytes().splitlines()[-1])
    assert last == {"$set": {"directories": [f"{target}/lib", str(target)]}}


def test_the_plan_does_geminis_legacy_migration_it_would_block(tmp_path: Path) -> None:
    m, files = _send(tmp_path)
    target = tmp_path / "proj"
    target.mkdir()
    gdir = tmp_path / "b" / ".gemini"
    old_chats = gdir / "tmp" / sha(str(target)) / "chats"
    old_chats.mkdir(parents=True)
    other = "33333333-2222-4333-8444-555555555555"
    (old_chats / "session-2025-01-01T00-00-33333333.json").write_text(legacy_chat().read_text().replace(SID, other))
    (gdir / "history" / sha(str(target))).mkdir(parents=True)
    (gdir / "history" / sha(str(target)) / "HEAD").write_text("ref: refs/heads/main\n")
    a = adapter_for(tmp_path / "b")
    ctx = context(target, tmp_path / "st", dict(a.env))
    through_engine(a, m, files, ctx)
    chats = gdir / "tmp" / "proj" / "chats"
    assert sorted(p.name for p in chats.iterdir()) == sorted([CHAT_NAME, "session-2025-01-01T00-00-33333333.json"])
    assert (gdir / "history" / "proj" / "HEAD").read_text() == "ref: refs/heads/main\n"
    # Gemini itself would now find both sessions for this project
    ids = {read_chat(p).session_id for p in chats.iterdir()}
    assert ids == {SID, other}


def test_a_long_chat_is_read_in_flat_memory(tmp_path: Path) -> None:
    """Sessions of hundreds of MB: discovery keeps a brief of each message, not the message, and reads
    line by line; the replay rules ($rewindTo, $set, records replaced by id, a half-written last line)
    still hold."""
    import tracemalloc

    big = "x" * (1 << 20)

    def msg(i: int, kind: str, text: str) -> dict:
        return {"id": f"m{i}", "type": kind, "content": [{"text": text}], "timestamp": "2026-11-24T01:00:00Z"}

    recs: list[dict] = [{"sessionId": SID, "projectHash": "h" * 64, "startTime": "2026-11-24T01:00:00Z",
                         "lastUpdated": "2026-11-24T01:00:00Z", "kind": "main"}]
    recs += [msg(0, "user", "/help"), msg(1, "user", "  first   real\nprompt  " + big)]
    recs += [msg(i, "gemini", big) for i in range(2, 44)]
    recs.append({"$rewindTo": "m30"})  # drops m30..m43
    recs.append(msg(2, "gemini", "m2 replaced in place"))
    recs.append({"$set": {"lastUpdated": "2026-11-24T02:00:00Z"}})
    path = tmp_path / f"session-2026-11-24T01-00-{SID[:8]}.jsonl"
    with open(path, "w") as fh:
        for r in recs:
            fh.write(json.dumps(r) + "\n")
        fh.write('{"id": "m99", "type": "user", "content": "half wri')  # being appended: not counted
    whole = path.stat().st_size - len('{"id": "m99", "type": "user", "content": "half wri')
    assert whole > 40 << 20

    tracemalloc.start()
    try:
        info = read_chat(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info is not None
    assert peak < 8 << 20, f"read_chat held {peak >> 20} MiB for a {whole >> 20} MiB chat"
    assert (info.session_id, info.fmt, info.size, info.lines) == (SID, "jsonl", whole, len(recs))
    assert info.last_updated == "2026-11-24T02:00:00Z" and info.resumable
    assert info.title == ("first real prompt " + big)[:200]
    assert len(info.briefs) == 30 and info.briefs[0] == (False, None)
    full = info.messages  # the full replay, for whoever needs the messages themselves
    assert [m["id"] for m in full] == [f"m{i}" for i in range(30)]
    assert full[2]["content"] == [{"text": "m2 replaced in place"}]
