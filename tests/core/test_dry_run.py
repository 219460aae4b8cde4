"""`receive --dry-run` and `inspect` predict exactly what the real `receive` then does, and write nothing.

Machine B holds, of the sessions in the handoff: an identical copy, a newer copy (the handoff is older),
a diverged copy, an older copy (fast-forward), and lacks one (new).  The dry run's document, and
inspect's plan, must equal the real receive's document, and B's whole home (tool folder and our config
folder) must be byte for byte the same after the dry run and after inspect.
"""

from __future__ import annotations

import json

import pytest
from support.machines import two_machines, write_demo_session


def tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def dirs(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())


def append(path, rec):
    with open(path, "a") as fh:
        fh.write(json.dumps(rec) + "\n")


@pytest.fixture
def handoff(tmp_path):
    """B after a first handoff and local work; the second handoff `h2` from A."""
    a, b, ra, rb = two_machines(tmp_path, "work/clone", "https://github.com/O/R")
    lines = [{"type": "user", "text": "start"}]
    paths = {sid: write_demo_session(a, ra, sid, lines=lines) for sid in ("same", "older", "diverged", "ff")}
    h1 = tmp_path / "h1.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h1))[0] == 0
    assert b.run_json("receive", "--from", str(h1), "--cwd", str(rb))[0] == 0
    local = {p.stem: p for p in (b.home / ".sais-demo").rglob("*.jsonl")}
    append(local["older"], {"cwd": str(rb), "sessionId": "older", "text": "went on at B"})  # B is newer
    append(local["diverged"], {"cwd": str(rb), "sessionId": "diverged", "text": "B's turn"})
    append(paths["diverged"], {"cwd": str(ra), "sessionId": "diverged", "text": "A's turn"})
    append(paths["ff"], {"cwd": str(ra), "sessionId": "ff", "text": "went on at A"})
    write_demo_session(a, ra, "fresh")
    h2 = tmp_path / "h2.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h2))[0] == 0
    return b, rb, h2


def test_dry_run_and_inspect_predict_the_real_receive(handoff):
    b, rb, h2 = handoff
    before, before_dirs = tree(b.home), dirs(b.home)
    rc, dry = b.run_json("receive", "--from", str(h2), "--cwd", str(rb), "--dry-run")
    assert rc == 0 and dry["dry_run"] is True and dry["journal"] is None
    rc, insp = b.run_json("inspect", "--from", str(h2), "--cwd", str(rb))
    assert rc == 0
    # nothing written anywhere in B's home: tool folder, journal, config, no staging or lock left
    assert tree(b.home) == before and dirs(b.home) == before_dirs

    rc, real = b.run_json("receive", "--from", str(h2), "--cwd", str(rb))
    assert rc == 0 and real["journal"]
    actions = {i["original_id"]: i["action"] for i in real["imported"]}
    assert actions == {"diverged": "copy", "ff": "fast-forward", "fresh": "new"}
    reasons = {i["id"]: i["reason"] for i in real["skipped"]}
    assert reasons["same"].startswith("already here") and "newer" in reasons["older"]
    assert set(reasons) == {"same", "older"}

    assert {k: v for k, v in dry.items() if k not in ("dry_run", "journal")} == \
        {k: v for k, v in real.items() if k != "journal"}
    assert insp["imported"] == real["imported"] and insp["skipped"] == real["skipped"]
    assert insp["notes"] == real["notes"] and insp["dry_run"] is True
    # inspect also says what the handoff is
    assert {s["id"] for s in insp["sessions"]} == {"same", "older", "diverged", "ff", "fresh"}
    assert all(set(s) >= {"id", "title", "last_activity", "bytes", "cwd", "files"} for s in insp["sessions"])
    assert insp["handoff"]["repo"] == "github.com/o/r" and insp["handoff"]["host"]
    assert insp["repo"] == real["repo"] == "github.com/o/r" and real["repo_root"] == str(rb)

    # after the real receive, a dry run of the same handoff predicts the no-op it now is
    rc, again = b.run_json("receive", "--from", str(h2), "--cwd", str(rb), "--dry-run")
    assert rc == 0 and again["imported"] == []


def test_receive_only_the_named_sessions_by_prefix(handoff):
    b, rb, h2 = handoff
    rc, dry = b.run_json("receive", "--from", str(h2), "--cwd", str(rb), "--session", "fr", "--dry-run")
    assert rc == 0 and [i["id"] for i in dry["imported"]] == ["fresh"] and dry["skipped"] == []
    rc, real = b.run_json("receive", "--from", str(h2), "--cwd", str(rb), "--session", "fr")
    assert rc == 0 and [i["id"] for i in real["imported"]] == ["fresh"]
    assert not any(p.name.startswith("ff") and p.stat().st_size > 200 for p in (b.home / ".sais-demo").rglob("*"))
    # a prefix that names nothing: the error points to inspect, not to a command that uploads
    rc, doc = b.run_json("receive", "--from", str(h2), "--cwd", str(rb), "--session", "zzz")
    assert rc == 3 and doc["error"]["code"] == "no_session" and "inspect --from" in doc["error"]["message"]


def test_human_receive_names_sessions_and_resumes_those_already_here(handoff):
    b, rb, h2 = handoff
    p = b.run("receive", "--from", str(h2), "--cwd", str(rb))
    assert p.returncode == 0, p.stderr
    assert "fast-forwarded" in p.stderr and "skipped" in p.stderr and "imported as a copy" in p.stderr
    resume = p.stderr.split("Continue with:")[1]
    for sid in ("same", "older", "ff", "fresh"):  # already-here sessions too
        assert f"demo-tool --resume {sid}" in resume


def test_inspect_without_a_clone_still_describes_the_handoff(handoff, tmp_path):
    b, _rb, h2 = handoff
    elsewhere = tmp_path / "nowhere"
    elsewhere.mkdir()
    p = b.run("inspect", "--from", str(h2), "--json", cwd=elsewhere)
    doc = json.loads(p.stdout)
    assert p.returncode == 0 and doc["imported"] is None and len(doc["sessions"]) == 5
    assert "github.com/o/r" in doc["notes"][0]
