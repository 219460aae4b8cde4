"""Thousands of small sessions: what is built or looked up once per handoff gives the same answers as
doing it per session (rewrite plans, the adapters' local-session lookups, the send-side index files)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_ai_sessions.adapters.base import ImportContext, SourceInfo
from sync_ai_sessions.adapters.claude import ClaudeAdapter
from sync_ai_sessions.adapters.codex import CodexAdapter
from sync_ai_sessions.engine.rewrite import PathRewriter, Rule, _overlaps
from sync_ai_sessions.gitrepo import Repo


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=12), st.binary(max_size=12), st.sampled_from([b"ab/", b"/\\n", b"a"]))
def test_overlaps_equals_the_definition(a, b, alphabet):
    # Over a small alphabet overlaps are frequent; map the random bytes onto it.
    a = bytes(alphabet[x % len(alphabet)] for x in a)
    b = bytes(alphabet[x % len(alphabet)] for x in b)
    assert _overlaps(a, b) == [k for k in range(1, min(len(a), len(b))) if a.endswith(b[:k])]


def test_rewriters_of_one_rule_set_share_their_plan_and_rewrite_alike():
    rules = [Rule("/home/alice/src/app", "/w/app"), Rule("/home/alice", "/home/bob"),
             Rule("-home-alice-src-app", "-w-app", kind="token")]
    one, two = PathRewriter(rules), PathRewriter(list(rules))
    assert one._fast is two._fast and one._re is two._re  # built once
    other = PathRewriter([*rules, Rule("/tmp/x", "/tmp/y")])
    assert other._re is not one._re
    data = b'{"cwd":"/home/alice/src/app","f":"/home/alice/x","d":"-home-alice-src-app","t":"/tmp/x/1"}\n'
    assert one.rewrite(data) == two.rewrite(data) == b'{"cwd":"/w/app","f":"/home/bob/x","d":"-w-app","t":"/tmp/x/1"}\n'
    assert other.rewrite(data).endswith(b'"t":"/tmp/y/1"}\n')
    assert PathRewriter(rules, source_flavor="windows")._re is not one._re


def _ctx(tmp_path: Path, lookups: dict | None) -> ImportContext:
    return ImportContext(target=Repo(root=tmp_path), source=SourceInfo(os_flavor="posix", repo_root="/x"),
                         staging=tmp_path / "staging", env={}, lookups=lookups)


def test_claude_lookups_indexed_once_agree_with_the_disk(tmp_path):
    home = tmp_path / "home"
    projects = home / ".claude" / "projects"
    ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(6)]
    for name, sid in (("-b", ids[0]), ("-a", ids[0]), ("-a", ids[1]), ("-c", ids[2])):
        (projects / name).mkdir(parents=True, exist_ok=True)
        (projects / name / f"{sid}.jsonl").write_text("{}\n")
    (projects / "-c" / ids[3]).mkdir()  # a folder named like a session, not a transcript
    (projects / "-c" / f"{ids[4]}.jsonl").mkdir()
    (projects / "file.jsonl").write_text("")
    ad = ClaudeAdapter({"HOME": str(home)})
    indexed = _ctx(tmp_path, {})
    for sid in [*ids, "not an id", "../x"]:
        assert ad.find_existing(sid, indexed) == ad.find_existing(sid, _ctx(tmp_path, None)), sid
    assert ad.find_existing(ids[0], indexed) == projects / "-a" / f"{ids[0]}.jsonl"  # first folder by name
    (projects / "-c" / f"{ids[5]}.jsonl").write_text("{}\n")  # after the index was built: not seen by it
    assert ad.find_existing(ids[5], indexed) is None
    assert ad.find_existing(ids[5], _ctx(tmp_path, None)) == projects / "-c" / f"{ids[5]}.jsonl"


def test_codex_lookups_indexed_once_agree_with_the_disk(tmp_path):
    home = tmp_path / "codex"
    ids = ["01a20ae9-7e9b-7f80-aab9-acfbe801e5b" + str(i) for i in range(4)]
    day = home / "sessions" / "2026" / "11" / "24"
    day.mkdir(parents=True)
    (day / f"rollout-2026-11-24T00-16-44-{ids[0]}.jsonl").write_text("{}\n")
    (day / f"rollout-2026-11-24T00-16-45-{ids[1].upper()}.jsonl.zst").write_bytes(b"")
    arch = home / "archived_sessions"
    arch.mkdir()
    (arch / f"rollout-2026-11-24T00-16-46-{ids[2]}.jsonl").write_text("{}\n")
    ad = CodexAdapter({"HOME": str(tmp_path), "CODEX_HOME": str(home)})
    indexed = _ctx(tmp_path, {})
    for sid in [*ids, ids[1].upper(), "nope"]:
        assert ad.find_existing(sid, indexed) == ad.find_existing(sid, _ctx(tmp_path, None)), sid
    assert ad.find_existing(ids[2], indexed) is not None


def test_codex_send_reads_history_and_index_once_for_all_sessions(tmp_path, monkeypatch):
    """The history and session-index lines travel with their own session only, and each shared file is
    read once for the whole send, not once per session."""
    home = tmp_path / "codex"
    repo = tmp_path / "repo"
    repo.mkdir()
    ids = [f"01a20ae9-7e9b-7f80-aab9-acfbe801e5{i:02d}" for i in range(5)]
    day = home / "sessions" / "2026" / "11" / "24"
    day.mkdir(parents=True)
    for i, sid in enumerate(ids):
        meta = {"timestamp": "2026-11-24T00:16:44.219Z", "type": "session_meta",
                "payload": {"id": sid, "timestamp": "2026-11-24T00:16:44.195Z", "cwd": str(repo),
                            "originator": "codex_exec", "cli_version": "0.169.0"}}
        (day / f"rollout-2026-11-24T00-16-{i:02d}-{sid}.jsonl").write_text(json.dumps(meta) + "\n")
    hist = [{"session_id": ids[i % 3], "ts": i, "text": f"prompt {i}"} for i in range(7)]
    hist.append({"session_id": "someone-else", "ts": 9, "text": ids[0]})  # names the id in its text only
    (home / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in hist) + "not json\n")
    (home / "session_index.jsonl").write_text(json.dumps({"id": ids[4], "thread_name": "named"}) + "\n")
    reads: list[str] = []
    real = CodexAdapter._lines_by_id

    def spy(path, key, wanted):
        reads.append(Path(path).name)
        return real(path, key, wanted)

    monkeypatch.setattr(CodexAdapter, "_lines_by_id", staticmethod(spy))
    ad = CodexAdapter({"HOME": str(tmp_path), "CODEX_HOME": str(home)})
    found = {s.id: s for s in ad.find_sessions(Repo(root=repo))}
    assert sorted(reads) == ["history.jsonl", "session_index.jsonl"]
    assert set(found) == set(ids)
    for i, sid in enumerate(ids):
        side = {f.arcname: f.data for f in found[sid].files if f.role != "transcript"}
        # Carried from memory (no temporary file per session), and said to come from the shared files.
        assert {f.source.name for f in found[sid].files if f.role != "transcript"} <= {
            "history.jsonl", "session_index.jsonl"}
        want = [json.dumps(h).encode() for h in hist if h["session_id"] == sid]
        got = side.get(f"history/{sid}.jsonl", b"").splitlines()
        assert got == want, i
    assert found[ids[4]].title == "named"


_PIECES = [b"https://example.com/a", b"file:///home/u/x", b"https://user:hunter2pass@host.example/x",
           b"://a:b@", b"claude-opus-4", b"-us", b"0123456789abcdef0123456789abcdef-us12",
           b"0123456789abcdef0123456789abcdef-usx", b"-usq0csp-abcdefghijklmnopqrstuvwxyz012345",
           b"xoxb-us1234567890abcdef", b"AKIA1234567890ABCDEF", b" ", b"\\n", b'\\"', b'"', b"\n", b"x" * 40]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_skipping_windows_that_cannot_hold_a_secret_finds_the_same(tmp_path_factory, pieces):
    """The quick checks for `://` and `-us` (secrets._cannot_start) change what is examined, not what is
    found: the same findings as examining every window."""
    import sync_ai_sessions.secrets as S

    p = tmp_path_factory.mktemp("s") / "f.jsonl"
    p.write_bytes(b"".join(pieces))
    fast = [(f.type, f.line) for f in S.scan_file(p)]
    real = S._cannot_start
    try:
        S._cannot_start = lambda *a: False
        slow = [(f.type, f.line) for f in S.scan_file(p)]
    finally:
        S._cannot_start = real
    assert sorted(fast) == sorted(slow)


def test_the_quick_checks_still_find_basic_auth_and_mailchimp(tmp_path):
    import sync_ai_sessions.secrets as S

    p = tmp_path / "f.jsonl"
    p.write_bytes(b'{"a":"see https://bob:s3cretpass@example.com/x and claude-opus"}\n'
                  b'{"k":"0123456789abcdef0123456789abcdef-us12"}\n')
    got = {(f.type, f.line) for f in S.scan_file(p)}
    if S.backend() == "detect-secrets":
        assert got == {("Basic Auth Credentials", 1), ("Mailchimp Access Key", 2)}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["claude --resume {}", "codex resume -c 'model_provider=\"x y\"' {}", "tool --s={} \"a b\"",
                        "t '{}'", "t \"{}\\\"\" {}", "t {}{}", "t 'SAIS0SESSION0ID' {}"]),
       st.text(alphabet="abc019-_.' \"\\", min_size=1, max_size=12))
def test_resume_commands_split_once_per_shape_as_shlex_does(shape, sid):
    import shlex

    from sync_ai_sessions.engine.importer import split_resume

    cache: dict[str, list[str]] = {}
    for n in range(3):  # the second and third come from the cache
        one = f"{sid}{n}" if n else sid
        cmd = shape.replace("{}", one)
        try:
            want = shlex.split(cmd)
        except ValueError:  # an unbalanced quote in the generated id: shlex refuses, and so must we
            try:
                split_resume(cmd, one, cache)
            except ValueError:
                continue
            raise AssertionError(f"split {cmd!r} that shlex refuses") from None
        assert split_resume(cmd, one, cache) == want, cmd


def test_rewriters_kept_per_import_rewrite_each_session_as_its_own_would(tmp_path):
    """Claude and Codex keep one rewriter per distinct input while planning; sessions of other working
    directories, project folders or copy ids still get their own rules."""
    from sync_ai_sessions.adapters.base import SessionManifest

    claude = ClaudeAdapter({"HOME": str(tmp_path / "home")})
    codex = CodexAdapter({"HOME": str(tmp_path), "CODEX_HOME": str(tmp_path / "codex")})
    sid = "01a20ae9-7e9b-7f80-aab9-acfbe801e5b0"
    sessions = [
        SessionManifest(id=sid, files=[], cwd_rel="", meta={}),
        SessionManifest(id=sid, files=[], cwd_rel="sub", meta={}),
        SessionManifest(id=sid, files=[], cwd_rel="", meta={"cwd": "/x/other", "recorded_root": "/x/../x"}),
        SessionManifest(id=sid, files=[], cwd_rel="", meta={"project_dir": "-old-proj"}),
    ]
    data = (b'{"cwd":"/x","a":"/x/sub/f","b":"/x/other/g","p":"-x-sub","q":"-old-proj","r":"/x/../x/h",'
            b'"id":"' + sid.encode() + b'"}\n')
    shared = _ctx(tmp_path, {})
    for sm in sessions * 2:  # the second round comes from the cache
        cwd = tmp_path / sm.cwd_rel if sm.cwd_rel else tmp_path
        alone = claude._rewriter(sm, _ctx(tmp_path, None), cwd).rewrite(data)
        assert claude._rewriter(sm, shared, cwd).rewrite(data) == alone
        for out_id in (sid, "01a20ae9-7e9b-7f80-aab9-acfbe801e5b1"):
            alone = codex.rewriter(sm, _ctx(tmp_path, None), sid, out_id).rewrite(data)
            assert codex.rewriter(sm, shared, sid, out_id).rewrite(data) == alone, (sm, out_id)
    assert len(shared.lookups["claude-rewriters"]) == 4 and len(shared.lookups["codex-rewriters"]) == 4


def test_interrupted_journals_found_from_their_ends_agree_with_reading_them_whole(tmp_path):
    import json as _json

    from sync_ai_sessions.config import ENV_HOME
    from sync_ai_sessions.engine.journal import interrupted_journals, journals, read_journal

    env = {"HOME": str(tmp_path), ENV_HOME: str(tmp_path / "cfg")}
    home = tmp_path / "tool"
    head = _json.dumps({"journal": 1, "tool": "claude", "home": str(home)})
    other = _json.dumps({"journal": 1, "tool": "claude", "home": str(tmp_path / "else")})
    op = _json.dumps({"op": "create", "path": str(home / "a"), "size": 1, "ino": 2})
    done = _json.dumps({"status": "complete", "sessions": []})
    git = _json.dumps({"op": "git", "repo": "/r"})
    bodies = {
        "complete": [head, op, op, done], "interrupted": [head, op, op], "torn": [head, op, op[:9]],
        "torn then marked": [head, op, op[:9] + done], "git after complete": [head, op, done, git],
        "other home": [other, op], "other home complete": [other, op, done], "only a header": [head],
        "empty": [], "blank lines and CRLF": ["", head, "", op, done, ""], "not json": ["{nope", op, done],
        "status first": [done, op],
        "torn status": [head, op, done[:20]], "torn status then marked": [head, op, done[:20] + done],
        "status cut after a brace": [head, op, '{"status": "complete", "sessions": [{"id": "x"}'],
        "marked twice": [head, op, done, done],
        "torn then marked apart": [head, op, op[:9], done],  # as mark_complete writes it now: complete
    }
    d = tmp_path / "cfg" / "journal"
    for i, (name, lines) in enumerate(bodies.items()):
        sep = "\r\n" if "CRLF" in name else "\n"
        d.mkdir(parents=True, exist_ok=True)
        torn = ("torn" in name or "cut" in name) and "marked" not in name
        end = "" if torn or not lines else sep  # a torn record has no newline after it
        (d / f"2026{i:04d}-{name.replace(' ', '_')}.jsonl").write_bytes((sep.join(lines) + end).encode())
    found = journals(env)
    assert len(found) == len(bodies), found  # the test writes where journals() looks

    def whole(p):  # what interrupted_journals did before: every record parsed
        header, _ops, status = read_journal(p)
        return status is None and header.get("home") == str(home)

    got = interrupted_journals(env, home)
    assert got == [p for p in found if whole(p)]
    assert [p.name.split("-", 1)[1] for p in got] == [
        "interrupted.jsonl", "torn.jsonl", "torn_then_marked.jsonl", "only_a_header.jsonl", "torn_status.jsonl",
        "torn_status_then_marked.jsonl", "status_cut_after_a_brace.jsonl"]


def test_a_completed_journal_is_told_without_parsing_its_records(tmp_path, monkeypatch):
    from sync_ai_sessions.config import ENV_HOME
    from sync_ai_sessions.engine import journal as J

    env = {"HOME": str(tmp_path), ENV_HOME: str(tmp_path / "cfg")}
    home = tmp_path / "tool"
    done = J.Journal.start(env, "claude", home)
    done.record_many([{"op": "create", "path": str(home / f"{i}.jsonl"), "size": 1, "ino": i} for i in range(50)])
    done.complete([{"id": str(i), "action": "new"} for i in range(50)])
    J.mark_complete(done.path, [])  # and marked again by a later recovery: still whole
    open_one = J.Journal.start(env, "claude", home)
    open_one.record(op="mkdir", path=str(home / "p"))
    parsed: list[str] = []
    real = J.read_journal
    monkeypatch.setattr(J, "read_journal", lambda p: (parsed.append(p.name), real(p))[1])
    assert J.interrupted_journals(env, home) == [open_one.path]
    assert parsed == [open_one.path.name]


def test_a_torn_journal_marked_complete_by_a_recovery_stays_complete(tmp_path):
    # A crash mid-record leaves a torn last line; the next receive completes that import and marks its
    # journal. The mark must count: else every later receive "completes" the same sessions again (and,
    # for Codex, resets its index again).
    import json as _json

    from sync_ai_sessions.config import ENV_HOME
    from sync_ai_sessions.engine import journal as J

    env = {"HOME": str(tmp_path), ENV_HOME: str(tmp_path / "cfg")}
    home = tmp_path / "tool"
    j = J.Journal.start(env, "claude", home)
    j.record(op="create", path=str(home / "a.jsonl"), size=1, ino=2)
    j.close()
    with open(j.path, "ab") as fh:
        fh.write(_json.dumps({"op": "create", "path": str(home / "b.jsonl")}).encode()[:17])  # torn
    assert J.interrupted_journals(env, home) == [j.path]
    J.mark_complete(j.path, [])
    header, ops, done = J.read_journal(j.path)
    assert done is not None and done.get("recovered") is True
    assert header["home"] == str(home) and [op["path"] for op in ops] == [str(home / "a.jsonl")]
    assert J.interrupted_journals(env, home) == []


def test_safe_arcname_refuses_every_control_character_and_only_those():
    import pytest

    from sync_ai_sessions.errors import UnsafePayloadError
    from sync_ai_sessions.format.archive import safe_arcname

    for code in range(0x3000):
        name = f"projects/a{chr(code)}b.jsonl"
        if code < 0x20 or chr(code) == "\\":
            with pytest.raises(UnsafePayloadError):
                safe_arcname(name)
        elif not (0xD800 <= code <= 0xDFFF):
            assert safe_arcname(name) == name


def test_send_names_the_first_sessions_and_counts_the_rest(tmp_path):
    """Thousands of sessions are not thousands of lines on the terminal: the newest MAX_SHOWN are named,
    the rest counted, with the command that lists them all; --json still holds every one."""
    from support.machines import git_repo, make_machine, write_demo_session

    from sync_ai_sessions.commands.send import MAX_SHOWN

    a = make_machine(tmp_path, "A")
    ra = git_repo(a.root / "proj", "git@github.com:o/r.git")
    n = MAX_SHOWN + 5
    for i in range(n):
        write_demo_session(a, ra, f"s{i:03d}", lines=[{"type": "user", "text": f"prompt {i}"}])
    p = a.run("send", "--tool", "demo", "--cwd", str(ra), "--to", str(tmp_path / "h.sais"))
    assert p.returncode == 0, p.stderr
    named = [line for line in p.stderr.splitlines() if line.rstrip().split("  ")[-1].startswith("s0")]
    assert len(named) == MAX_SHOWN, p.stderr
    assert "... and 5 more (`sync-ai-sessions sessions --tool demo` lists them all)" in p.stderr
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(tmp_path / "h2.sais"))
    assert rc == 0 and len(doc["sessions"]) == n
