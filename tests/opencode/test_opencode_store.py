"""The engine's store operations, through the OpenCode adapter, on databases made from OpenCode 1.18.33's
real schema (tests/fixtures/opencode/1.18.33/schema.sql), driven by our CLI (send --to FILE / receive / undo).

Discovery by `session.directory` (root, subfolder, not a look-alike sibling), send reads only; receive
inserts the rows in one transaction with the paths rewritten; re-receive is a no-op; a session that went
on is fast-forwarded (new rows added, the head row updated); a diverged one becomes a copy with new
session, message and part ids; `undo` restores the database row for row and refuses when a row it wrote
changed since; a database of another version (unknown column) and a machine where OpenCode never ran are
refused with one clear error and nothing written; hostile rows are refused.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fixtures import fixtures_dir
from support.machines import Machine, two_machines

from sync_ai_sessions.adapters.base import ImportContext, SessionManifest, SourceInfo
from sync_ai_sessions.adapters.opencode import OpenCodeAdapter
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo

SCHEMA = fixtures_dir() / "opencode" / "1.18.33" / "schema.sql"
PID = "6b7fca399c21a88af99cc35f533b72626a25e6d5"
SID = "ses_df4ed1807ffesTNuLCMiV4dc7L"
OTHER = "ses_df4ed1807fffaaaaaaaaaaaaaa"
SUB = "ses_df4ed1807ffdbbbbbbbbbbbbbb"
TABLES = ("session", "message", "part", "project", "project_directory", "todo")


def db_of(m: Machine) -> Path:
    return m.home / ".local" / "share" / "opencode" / "opencode.db"


def make_db(m: Machine) -> Path:
    p = db_of(m)
    p.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(p)
    con.executescript(SCHEMA.read_text())
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    return p


def add_session(db: Path, sid: str, directory: str, worktree: str, n_msgs: int, *, first: int = 0,
                tag: str = "") -> None:
    con = sqlite3.connect(db)
    with con:
        con.execute("insert or ignore into project (id, worktree, vcs, time_created, time_updated, sandboxes) "
                    "values (?, ?, 'git', 1, 1, '[]')", (PID, worktree))
        con.execute("insert or ignore into project_directory (project_id, directory, time_created) values (?, ?, 1)",
                    (PID, worktree))
        con.execute("insert or replace into session (id, project_id, slug, directory, path, title, version, "
                    "time_created, time_updated) values (?, ?, 'calm-planet', ?, '', 'hello', '1.18.33', 1, ?)",
                    (sid, PID, directory, 100 + first + n_msgs))
        for i in range(first, first + n_msgs):
            mid = f"msg_{i:012x}{sid[-10:]}{tag:x<4}"[:30]
            data = {"role": "user" if i % 2 == 0 else "assistant", "time": {"created": i},
                    "path": {"cwd": directory, "root": worktree}}
            con.execute("insert into message (id, session_id, time_created, time_updated, data) values (?, ?, ?, ?, ?)",
                        (mid, sid, 1000 + i, 1000 + i, json.dumps(data)))
            part = {"type": "text", "text": f"turn {i}{tag} see {directory}/src/app.py"}
            con.execute("insert into part (id, message_id, session_id, time_created, time_updated, data) "
                        "values (?, ?, ?, ?, ?, ?)",
                        (f"prt_{i:012x}{sid[-10:]}{tag:x<4}"[:30], mid, sid, 1000 + i, 1000 + i, json.dumps(part)))
    con.close()


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = sqlite3.connect(db)
    try:
        return {t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        con.close()


@pytest.fixture
def ab(tmp_path: Path) -> tuple[Machine, Machine, Path, Path]:
    a, b, ra, rb = two_machines(tmp_path, "work/OC Proj_2", "https://github.com/o/r")
    (ra / "sub").mkdir()
    (rb / "sub").mkdir()
    return a, b, ra, rb


def send(m: Machine, repo: Path, out: Path, *extra: str) -> dict:
    rc, doc = m.run_json("send", "--tool", "opencode", "--cwd", str(repo), "--to", str(out), *extra)
    assert rc == 0, doc
    return doc


def receive(m: Machine, repo: Path, src: Path) -> tuple[int, dict]:
    return m.run_json("receive", "--from", str(src), "--cwd", str(repo))


def test_send_finds_the_repo_sessions_and_only_reads(ab: tuple[Machine, Machine, Path, Path], tmp_path: Path) -> None:
    a, _b, ra, _rb = ab
    db = make_db(a)
    add_session(db, SID, str(ra), str(ra), 2)
    add_session(db, SUB, str(ra / "sub"), str(ra), 2)
    add_session(db, OTHER, str(ra) + "-other", str(ra) + "-other", 2)
    before = dump(db)
    doc = send(a, ra, tmp_path / "h.bin")
    assert {s["id"]: s["cwd"] for s in doc["sessions"]} == {SID: "", SUB: "sub"}
    assert dump(db) == before
    assert not (a.home / ".sync-ai-sessions" / "staging").exists() or not any(
        (a.home / ".sync-ai-sessions" / "staging").iterdir())  # the exported rows do not outlive send


def test_receive_skip_fast_forward_copy_and_undo(ab: tuple[Machine, Machine, Path, Path], tmp_path: Path) -> None:
    a, b, ra, rb = ab
    adb, bdb = make_db(a), make_db(b)
    add_session(adb, SID, str(ra), str(ra), 2)
    add_session(adb, SUB, str(ra / "sub"), str(ra), 1)
    send(a, ra, tmp_path / "h1.bin")
    assert dump(bdb)["session"] == []

    rc, doc = receive(b, rb, tmp_path / "h1.bin")
    assert rc == 0 and {(i["id"], i["action"]) for i in doc["imported"]} == {(SID, "new"), (SUB, "new")}, doc
    rows = dump(bdb)
    assert {r[0]: (r[5], r[6]) for r in rows["session"]} == {SID: (str(rb), ""), SUB: (str(rb / "sub"), "sub")}
    assert rows["project"][0][1] == str(rb) and rows["project_directory"][0][1] == str(rb)
    text = json.dumps(rows)
    assert str(ra) not in text and str(rb / "sub") in text
    assert len(rows["message"]) == 3 and len(rows["part"]) == 3

    rc, doc = receive(b, rb, tmp_path / "h1.bin")  # again: nothing changes
    assert rc == 0 and doc["imported"] == [] and len(doc["skipped"]) == 2
    assert dump(bdb) == rows

    # A went on: B fast-forwards (two rows each added, the session row updated, nothing else touched)
    add_session(adb, SID, str(ra), str(ra), 2, first=2)
    send(a, ra, tmp_path / "h2.bin", "--session", SID)
    rc, doc = receive(b, rb, tmp_path / "h2.bin")
    assert rc == 0 and [(i["id"], i["action"]) for i in doc["imported"]] == [(SID, "fast-forward")], doc
    ff = dump(bdb)
    assert set(rows["message"]) < set(ff["message"]) and len(ff["message"]) == 5
    head = {r[0]: r for r in ff["session"]}[SID]
    assert head != {r[0]: r for r in rows["session"]}[SID]  # the head row follows the session (time_updated)
    rc, undone = b.run_json("undo")
    assert rc == 0 and dump(bdb) == rows, undone  # back to before the fast-forward, row for row
    rc, doc = receive(b, rb, tmp_path / "h2.bin")
    assert rc == 0 and dump(bdb) == ff

    # Both went on: B's own turn, A's own turn -> a copy with new ids, B's session untouched
    add_session(bdb, SID, str(rb), str(rb), 1, first=4, tag="b")
    add_session(adb, SID, str(ra), str(ra), 1, first=4, tag="a")
    send(a, ra, tmp_path / "h3.bin", "--session", SID)
    before = dump(bdb)
    rc, doc = receive(b, rb, tmp_path / "h3.bin")
    [imp] = doc["imported"]
    assert rc == 0 and imp["action"] == "copy" and imp["original_id"] == SID and imp["id"] != SID, doc
    new = imp["id"]
    assert new.startswith("ses_df4ed1807ffe") and len(new) == len(SID)
    after = dump(bdb)
    assert set(before["message"]) <= set(after["message"]) and set(before["part"]) <= set(after["part"])
    con = sqlite3.connect(bdb)
    copied = con.execute("select id, data from message where session_id = ?", (new,)).fetchall()
    orig_ids = {r[0] for r in con.execute("select id from message where session_id = ?", (SID,))}
    parts = con.execute("select id, message_id, data from part where session_id = ?", (new,)).fetchall()
    con.close()
    assert len(copied) == 5 and not {r[0] for r in copied} & orig_ids
    assert {p[1] for p in parts} == {r[0] for r in copied}  # parts point at the copy's messages
    assert "turn 4a" in json.dumps(parts) and "turn 4b" not in json.dumps(parts)
    rc, doc = receive(b, rb, tmp_path / "h3.bin")  # the same diverged handoff again: the same copy
    assert rc == 0 and doc["imported"] == [] and "copy" in doc["skipped"][0]["reason"]

    # undo refuses once a row it wrote changed (the copy was resumed), and changes nothing
    con = sqlite3.connect(bdb)
    with con:
        con.execute("update session set title = 'renamed' where id = ?", (new,))
    con.close()
    changed = dump(bdb)
    rc, doc = b.run_json("undo")
    assert rc == 6 and doc["error"]["code"] == "changed_since", doc
    assert dump(bdb) == changed


def test_undo_refuses_when_the_database_it_wrote_was_removed(ab: tuple[Machine, Machine, Path, Path],
                                                               tmp_path: Path) -> None:
    a, b, ra, rb = ab
    adb, bdb = make_db(a), make_db(b)
    add_session(adb, SID, str(ra), str(ra), 2)
    send(a, ra, tmp_path / "h.bin")
    rc, doc = receive(b, rb, tmp_path / "h.bin")
    assert rc == 0 and [i["action"] for i in doc["imported"]] == ["new"], doc
    for p in bdb.parent.glob(bdb.name + "*"):  # the database and its -wal / -shm
        p.unlink()
    rc, doc = b.run_json("undo")
    assert rc == 6 and doc["error"]["code"] == "changed_since" and str(bdb) in doc["error"]["message"], doc
    assert not bdb.exists()  # undo does not leave an empty database where OpenCode keeps its own


def test_no_database_and_another_schema_are_refused(ab: tuple[Machine, Machine, Path, Path], tmp_path: Path) -> None:
    a, b, ra, rb = ab
    adb = make_db(a)
    add_session(adb, SID, str(ra), str(ra), 2)
    send(a, ra, tmp_path / "h.bin")
    rc, doc = receive(b, rb, tmp_path / "h.bin")
    assert rc == 3 and doc["error"]["code"] == "no_database", doc
    assert not db_of(b).exists()
    bdb = make_db(b)
    con = sqlite3.connect(bdb)
    con.execute("alter table part rename to part_old")  # an older OpenCode: no such table / column
    con.execute("create table part (id text primary key, message_id text, session_id text, data text)")
    con.close()
    before = dump(bdb)
    rc, doc = receive(b, rb, tmp_path / "h.bin")
    assert rc == 6 and doc["error"]["code"] == "schema" and "column" in doc["error"]["message"], doc
    assert dump(bdb) == before


def _ctx(tmp_path: Path, repo: Path) -> ImportContext:
    return ImportContext(target=Repo(root=repo), source=SourceInfo(os_flavor="posix", repo_root="/home/alice/p"),
                         staging=tmp_path / "st", env={})


@pytest.mark.parametrize("line", [
    {"table": "account", "row": {"id": "x"}},  # a table the adapter never writes
    {"table": "message", "row": {"id": "msg_1", "session_id": "ses_other00000aaaaaaaaaaaaaa"}},
    {"table": "message", "row": {"session_id": SID}},  # no key
    {"table": "part", "row": {"id": "prt_1", "session_id": SID, "data": {"nested": 1}}},
    "not json",
])
def test_hostile_rows_are_refused(tmp_path: Path, line: Any) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    f = tmp_path / "rows.jsonl"
    head = {"table": "session", "row": {"id": SID, "project_id": PID, "directory": "/home/alice/p"}}
    f.write_text(json.dumps(head) + "\n" + (json.dumps(line) if not isinstance(line, str) else line) + "\n")
    sm = SessionManifest(id=SID, files=[{"arcname": f"sessions/{SID}.jsonl", "role": "transcript"}])
    with pytest.raises(UnsafePayloadError):
        OpenCodeAdapter({"HOME": str(tmp_path)}).stage(sm, {f"sessions/{SID}.jsonl": f}, _ctx(tmp_path, repo))


@pytest.mark.parametrize("sid,arc", [("../x", "sessions/../x.jsonl"), (SID, "sessions/other.jsonl")])
def test_unsafe_ids_and_names_are_refused(tmp_path: Path, sid: str, arc: str) -> None:
    sm = SessionManifest(id=sid, files=[{"arcname": arc, "role": "transcript"}])
    with pytest.raises(UnsafePayloadError):
        OpenCodeAdapter({"HOME": str(tmp_path)}).stage(sm, {arc: tmp_path}, _ctx(tmp_path, tmp_path))


_values = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["", SID, "/home/alice/p/x", "{}", "[1]"]),
                    st.text(max_size=8), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
_rows = st.fixed_dictionaries({
    "table": st.sampled_from(["session", "message", "part", "todo", "project", "project_directory", "event", "x"]),
    "row": st.dictionaries(st.sampled_from(["id", "session_id", "message_id", "project_id", "directory", "data",
                                            "position", "worktree", "a\"b"]), _values, max_size=6),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(_rows, st.text(max_size=20)), max_size=6))
def test_any_payload_rows_are_refused_or_staged_safely(tmp_path: Path, lines: list[Any]) -> None:
    """Untrusted rows: stage either refuses them (UnsafePayloadError) or stages only whitelisted tables,
    the session's own row first, every own row keyed to this session, and nothing outside the database."""
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    f = tmp_path / "rows.jsonl"
    head = {"table": "session", "row": {"id": SID, "project_id": PID, "directory": "/home/alice/p"}}
    f.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x.replace("\n", " ")
                           for x in [head, *lines]) + "\n")
    a = OpenCodeAdapter({"HOME": str(tmp_path / "h")})
    sm = SessionManifest(id=SID, files=[{"arcname": f"sessions/{SID}.jsonl", "role": "transcript"}])
    try:
        staged = a.stage(sm, {f"sessions/{SID}.jsonl": f}, _ctx(tmp_path, repo))
    except UnsafePayloadError:
        return
    assert staged.db == a.db_path()
    assert staged.rows[0].table == "session" and staged.rows[0].values["id"] == SID
    assert staged.rows[0].values["directory"] == str(repo)
    for r in staged.rows:
        assert r.table in ("session", "message", "part", "todo", "project", "project_directory")
        assert all(isinstance(v, str | int | float | type(None)) for v in r.values.values())
        if r.table in ("message", "part", "todo"):
            assert r.values["session_id"] == SID
    assert len(staged.units) == sum(r.table == "message" for r in staged.rows)
