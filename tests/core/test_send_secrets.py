"""send scans what it uploads for secrets, says where, and --redact keeps them out of the sent copy."""

from __future__ import annotations

import json

from support.machines import git_repo, make_machine, write_demo_session

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_scan_reports_where_and_redact_keeps_secrets_out(tmp_path):
    a = make_machine(tmp_path, "A")
    b = make_machine(tmp_path, "B")
    ra = git_repo(a.root / "proj", "git@github.com:o/r.git")
    rb = git_repo(b.root / "proj", "https://github.com/o/r")
    local = write_demo_session(a, ra, "s1", lines=[{"text": "hello"}, {"text": f"export GITHUB_TOKEN={TOKEN}"}])
    original = local.read_bytes()
    h = tmp_path / "h.sais"
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h))
    assert rc == 0
    sec = doc["secrets"]
    assert sec["found"] >= 1 and sec["redacted"] == 0
    first = {k: v for k, v in sec["where"][0].items() if k != "type"}
    # where it is: the name inside the handoff, and the real file on this machine
    assert first == {"session": "s1", "file": "sessions/s1.jsonl", "line": 2, "path": str(local)}
    assert TOKEN not in json.dumps(doc)
    p = a.run("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h), "--force")
    assert "possible secret" in p.stderr and f"{local} line 2" in p.stderr and TOKEN not in p.stderr
    assert "--redact replaces" in p.stderr
    # --redact: the receiving machine never gets the token; the local original is untouched
    p = a.run("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h), "--redact", "--force")
    assert "possible secret" in p.stderr and "--redact replaces" not in p.stderr  # no advice to do what it does
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h), "--redact", "--force")
    assert rc == 0 and doc["secrets"]["redacted"] >= 1
    assert local.read_bytes() == original
    assert b.run_json("receive", "--from", str(h), "--cwd", str(rb))[0] == 0
    got = next((b.home / ".sais-demo").rglob("s1.jsonl")).read_text()
    assert TOKEN not in got and "[REDACTED:" in got
    assert all(json.loads(line) for line in got.splitlines())
    # --no-scan skips it
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h), "--no-scan", "--force")
    assert rc == 0 and "secrets" not in doc


def test_gist_send_checks_gh_before_asking_for_anything(tmp_path):
    # an empty gh config: gh refuses before making any request (checked with strace: no connect())
    a = make_machine(tmp_path, "A", GH_CONFIG_DIR=str(tmp_path / "gh"))
    ra = git_repo(a.root / "proj", "git@github.com:o/r.git")
    write_demo_session(a, ra, "s1")
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), env={"SYNC_AI_SESSIONS_PASSPHRASE": ""})
    assert rc == 5 and doc["error"]["code"] == "gh_logged_out" and "gh auth login" in doc["error"]["message"]


def test_secrets_in_a_sessions_lines_of_a_shared_file_are_found_and_redacted(tmp_path):
    """Codex keeps every session's prompts in one history.jsonl: send carries a session's own lines from
    memory, and the scan (while packing, and --dry-run's) and --redact see exactly those bytes."""
    a = make_machine(tmp_path, "A")
    b = make_machine(tmp_path, "B")
    ra = git_repo(a.root / "proj", "git@github.com:o/r.git")
    rb = git_repo(b.root / "proj", "https://github.com/o/r")
    sid = "01a20ae9-7e9b-7f80-aab9-acfbe801e500"
    day = a.home / ".codex" / "sessions" / "2026" / "11" / "24"
    day.mkdir(parents=True)
    meta = {"timestamp": "2026-11-24T00:16:44.219Z", "type": "session_meta",
            "payload": {"id": sid, "timestamp": "2026-11-24T00:16:44.195Z", "cwd": str(ra),
                        "originator": "codex_exec", "cli_version": "0.169.0"}}
    (day / f"rollout-2026-11-24T00-16-44-{sid}.jsonl").write_text(json.dumps(meta) + "\n")
    hist = a.home / ".codex" / "history.jsonl"
    hist.write_text("".join(json.dumps(h) + "\n" for h in [
        {"session_id": "someone-else", "ts": 1, "text": "not this one"},
        {"session_id": sid, "ts": 2, "text": "hello"},
        {"session_id": sid, "ts": 3, "text": f"export GITHUB_TOKEN={TOKEN}"}]))
    original = hist.read_bytes()
    h = tmp_path / "h.sais"
    for extra in (["--dry-run"], ["--to", str(h)]):
        rc, doc = a.run_json("send", "--tool", "codex", "--cwd", str(ra), *extra)
        assert rc == 0, doc
        where = [w for w in doc["secrets"]["where"] if w["file"] == f"history/{sid}.jsonl"]
        # the line of the session's part that was scanned, and the shared file it came from
        assert where and {(w["line"], w["path"]) for w in where} == {(2, str(hist))}, where
        assert TOKEN not in json.dumps(doc)
    rc, doc = a.run_json("send", "--tool", "codex", "--cwd", str(ra), "--to", str(h), "--redact", "--force")
    assert rc == 0 and doc["secrets"]["redacted"] >= 1
    assert hist.read_bytes() == original
    assert b.run_json("receive", "--from", str(h), "--cwd", str(rb))[0] == 0
    got = (b.home / ".codex" / "history.jsonl").read_text()
    assert "hello" in got and TOKEN not in got and "[REDACTED:" in got and "not this one" not in got
