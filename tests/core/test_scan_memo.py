"""The secret scan remembers the files it found clean (secrets.CleanMemo): an unchanged file is packed but
not scanned again; a changed one, a recent one, one with a finding or any file after a change of rules is."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support.machines import git_repo, make_machine, write_demo_session

from sync_ai_sessions import secrets
from sync_ai_sessions.secrets import BackgroundScan, CleanMemo

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
HOUR_NS = 3600 * 10**9


def _settled(path: Path) -> None:
    """As a session last written an hour ago (the memo ignores files changed in the last two seconds)."""
    t = time.time_ns() - HOUR_NS
    os.utime(path, ns=(t, t))


def _one_file(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A home and one clean, settled session file."""
    a = tmp_path / "a.jsonl"
    a.write_text('{"text": "hello"}\n')
    _settled(a)
    return {"HOME": str(tmp_path)}, a


def _scan(env: dict[str, str], paths: list[Path], *, prune: bool = True) -> tuple[BackgroundScan, list[str]]:
    """What `send` does for each file: its bytes fed as packed, then its status after the read."""
    memo = CleanMemo(env, "scope")
    with BackgroundScan(memo=memo) as bg:
        for p in paths:
            bg.begin("s", p.name, p)
            data = p.read_bytes()
            bg.feed(data)
            bg.end(os.stat(p))
    memo.save(prune=prune)
    return bg, [f.arcname for f in bg.findings]


def test_a_clean_file_is_scanned_once_until_it_changes(tmp_path):
    env = {"HOME": str(tmp_path)}
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"text": "hello"}\n')
    b.write_text('{"text": "world"}\n')
    _settled(a)
    _settled(b)
    bg, found = _scan(env, [a, b])
    assert bg.remembered == 0 and found == []
    bg, found = _scan(env, [a, b])
    assert bg.remembered == 2 and found == []
    # A secret written in, with the old mtime put back: its ctime moved, so it is scanned again.
    st = a.stat()
    a.write_text(f'{{"t":"{TOKEN}"}}\n')
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    bg, found = _scan(env, [a, b])
    assert bg.remembered == 1 and found == ["a.jsonl"]
    # A file with a finding is never remembered: found again and again.
    bg, found = _scan(env, [a, b])
    assert bg.remembered == 1 and found == ["a.jsonl"]


def test_a_file_changed_moments_ago_is_not_remembered(tmp_path):
    """Its next write could fall in the same timestamp tick and leave its status as it was (git's racy
    rule); a session being written as it is sent is always scanned."""
    env = {"HOME": str(tmp_path)}
    a = tmp_path / "a.jsonl"
    a.write_text('{"text": "hello"}\n')
    _scan(env, [a])
    bg, _ = _scan(env, [a])
    assert bg.remembered == 0


def test_another_set_of_rules_forgets_everything(tmp_path, monkeypatch):
    env, a = _one_file(tmp_path)
    _scan(env, [a])
    monkeypatch.setattr(secrets, "_RULES", secrets._RULES + "-other")  # e.g. a detect-secrets upgrade
    bg, _ = _scan(env, [a])
    assert bg.remembered == 0


def test_a_partial_send_keeps_the_others_remembered(tmp_path):
    env = {"HOME": str(tmp_path)}
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for p in (a, b):
        p.write_text('{"text": "hello"}\n')
        _settled(p)
    _scan(env, [a, b])
    _scan(env, [a], prune=False)  # send --session a
    bg, _ = _scan(env, [a, b])
    assert bg.remembered == 2
    _scan(env, [a])  # everything sent was a: b is gone
    bg, _ = _scan(env, [a, b])
    assert bg.remembered == 1


@pytest.mark.parametrize("grown", [True, False])
def test_only_the_status_of_the_bytes_scanned_counts(tmp_path, grown):
    """The status must be that of exactly the bytes fed: a file that grew after its packed prefix was read
    is neither remembered nor taken as remembered."""
    env, a = _one_file(tmp_path)
    memo = CleanMemo(env, "scope")
    with BackgroundScan(memo=memo) as bg:
        bg.begin("s", "a", a)
        bg.feed(a.read_bytes()[:5] if grown else a.read_bytes())
        bg.end(os.stat(a))
    memo.save()
    assert CleanMemo(env, "scope").clean(a, a.stat()) is (not grown)


def test_send_twice_finds_a_secret_added_between(tmp_path):
    """End to end: the memo never hides a secret written into a session after the last send."""
    m = make_machine(tmp_path, "A")
    repo = git_repo(m.root / "proj", "git@github.com:o/r.git")
    local = write_demo_session(m, repo, "s1", lines=[{"text": "hello"}])
    _settled(local)
    h = tmp_path / "h.sais"
    for _ in range(2):
        rc, doc = m.run_json("send", "--tool", "demo", "--cwd", str(repo), "--to", str(h), "--force")
        assert rc == 0 and doc["secrets"]["found"] == 0
    memos = list((m.home / ".sync-ai-sessions" / "cache").glob("secrets-*.jsonl"))
    assert len(memos) == 1 and str(local) in memos[0].read_text()
    with open(local, "a") as fh:
        fh.write(f'{{"text": "export GITHUB_TOKEN={TOKEN}"}}\n')
    _settled(local)
    rc, doc = m.run_json("send", "--tool", "demo", "--cwd", str(repo), "--to", str(h), "--force")
    assert rc == 0 and doc["secrets"]["found"] >= 1 and TOKEN not in memos[0].read_text()


def test_files_all_remembered_need_no_detectors(tmp_path, monkeypatch):
    """Nothing to scan, nothing to load: detect-secrets (0.1 s to import) is imported by the first scan."""
    env, a = _one_file(tmp_path)
    _scan(env, [a])
    monkeypatch.setattr(secrets, "_loaded", None)
    bg, _ = _scan(env, [a])
    assert bg.remembered == 1 and secrets._loaded is None
    assert secrets.backend() in ("detect-secrets", "builtin")
    secrets.Scanner()
    assert secrets._loaded is not None


def test_rules_other_than_the_ones_named_are_not_remembered(tmp_path, monkeypatch):
    """detect-secrets installed but failing to load (the built-in set scans instead): _RULES names the
    installed library, so nothing found clean by the other rules is remembered under it."""
    env, a = _one_file(tmp_path)
    secrets.Scanner()  # the rules in use, loaded
    predicted = None if secrets._loaded.backend == "detect-secrets" else os.stat(a)
    monkeypatch.setattr(secrets, "_DETECT_SECRETS", predicted)
    _scan(env, [a])
    bg, _ = _scan(env, [a])
    assert bg.remembered == 0
