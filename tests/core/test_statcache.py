"""The discovery cache: an unchanged session file is decided without being read; any change is seen."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sync_ai_sessions.adapters.claude import ClaudeAdapter
from sync_ai_sessions.adapters.codex import CodexAdapter
from sync_ai_sessions.gitrepo import Repo
from sync_ai_sessions.statcache import StatCache

SID = "5f0c1c56-3a1e-4b7e-9d52-7a1c2b3c4d5e"
CODEX_SID = "01a20ae9-7e9b-7f80-aab9-acfbe801e500"


def _claude_line(repo: Path, text: str, ts: str, **extra) -> str:
    rec = {"type": "user", "message": {"role": "user", "content": text}, "cwd": str(repo), "sessionId": SID,
           "timestamp": ts, "version": "2.0.77", **extra}
    return json.dumps(rec, separators=(",", ":")) + "\n"


def _reads(monkeypatch, module, name):
    """Count the calls of `module.name` (the adapter's one read of a transcript for discovery)."""
    calls: list[str] = []
    real = getattr(module, name)

    def spy(path, *a, **k):
        calls.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_claude_discovery_remembers_until_the_file_changes(tmp_path, monkeypatch):
    from sync_ai_sessions.adapters import claude as claude_mod

    repo, other = tmp_path / "repo", tmp_path / "rep2"  # same length: a rewrite in place keeps the size
    repo.mkdir()
    other.mkdir()
    env = {"HOME": str(tmp_path / "home"), "CLAUDE_CONFIG_DIR": str(tmp_path / "home" / ".claude")}
    folder = tmp_path / "home" / ".claude" / "projects" / "-repo"
    folder.mkdir(parents=True)
    t = folder / f"{SID}.jsonl"
    t.write_text(_claude_line(repo, "hello there", "2026-11-24T00:00:01Z"))
    reads = _reads(monkeypatch, claude_mod, "read_session")
    ad = ClaudeAdapter(env)

    def found(root: Path):
        return {s.id: s for s in ad.find_sessions(Repo(root=root))}

    (s,) = found(repo).values()
    assert (s.title, s.lines) == ("hello there", 1) and len(reads) == 1
    cache = tmp_path / "home" / ".sync-ai-sessions" / "cache" / "claude-discovery.jsonl"
    assert cache.is_file() and cache.stat().st_mode & 0o777 == 0o600
    assert found(other) == {} and len(reads) == 1  # decided from what was remembered: not opened
    (s,) = found(repo).values()
    assert (s.title, s.lines, s.last_activity) == ("hello there", 1, "2026-11-24T00:00:01Z") and len(reads) == 1
    # appended to: read again, and the new answers are seen
    with open(t, "a") as fh:
        fh.write(json.dumps({"type": "custom-title", "customTitle": "renamed", "sessionId": SID},
                            separators=(",", ":")) + "\n")
        fh.write(_claude_line(repo, "more", "2026-11-24T00:00:09Z"))
    (s,) = found(repo).values()
    assert (s.title, s.lines, s.last_activity) == ("renamed", 3, "2026-11-24T00:00:09Z") and len(reads) == 2
    # rewritten to belong to another folder (same size, same mtime: the ctime and inode still tell)
    st = t.stat()
    moved = t.read_text().replace(str(repo), str(other))
    assert len(moved) == len(t.read_text())
    t.unlink()
    t.write_text(moved)
    os.utime(t, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert found(repo) == {} and len(reads) == 3
    assert set(found(other)) == {SID}
    # a damaged cache is ignored
    cache.write_bytes(b"{not json")
    assert set(found(other)) == {SID} and len(reads) == 4


def _j(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))  # as the CLIs write their lines


def _rollout(day: Path, meta_cwd: Path, *turn_cwds: Path) -> Path:
    meta = {"timestamp": "2026-11-24T00:16:44.219Z", "type": "session_meta",
            "payload": {"id": CODEX_SID, "timestamp": "2026-11-24T00:16:44.195Z", "cwd": str(meta_cwd),
                        "originator": "codex_exec", "cli_version": "0.169.0"}}
    lines = [_j(meta)] + [_j({"timestamp": "2026-11-24T00:17:00.000Z", "type": "turn_context",
                              "payload": {"cwd": str(c)}}) for c in turn_cwds]
    p = day / f"rollout-2026-11-24T00-16-44-{CODEX_SID}.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_codex_discovery_remembers_the_turn_cwd_and_sees_a_move(tmp_path, monkeypatch):
    from sync_ai_sessions.adapters import codex as codex_mod

    repo, other = tmp_path / "repo", tmp_path / "other"
    repo.mkdir()
    other.mkdir()
    home = tmp_path / "home" / ".codex"
    day = home / "sessions" / "2026" / "11" / "24"
    day.mkdir(parents=True)
    p = _rollout(day, other, repo)  # started elsewhere, continued in the repo: Codex lists it there
    probes = _reads(monkeypatch, codex_mod.CodexAdapter, "_probe")
    ad = CodexAdapter({"HOME": str(tmp_path / "home"), "CODEX_HOME": str(home)})
    assert [s.id for s in ad.find_sessions(Repo(root=repo))] == [CODEX_SID] and len(probes) == 1
    assert [s.id for s in ad.find_sessions(Repo(root=repo))] == [CODEX_SID] and len(probes) == 1
    assert ad.find_sessions(Repo(root=tmp_path / "elsewhere")) == [] and len(probes) == 1
    with open(p, "a") as fh:  # it moved on, out of the repo
        fh.write(_j({"timestamp": "2026-11-24T00:18:00.000Z", "type": "turn_context",
                     "payload": {"cwd": str(tmp_path / "elsewhere")}}) + "\n")
    assert ad.find_sessions(Repo(root=repo)) == [] and len(probes) == 2
    assert [s.id for s in ad.find_sessions(Repo(root=tmp_path / "elsewhere"))] == [CODEX_SID]


def test_a_cache_of_another_schema_is_not_used(tmp_path):
    env = {"HOME": str(tmp_path)}
    f = tmp_path / "f"
    f.write_text("x")
    c = StatCache(env, "t", 1)
    c.put(str(f), f.stat(), {"cwd": "/a"})
    c.save()
    assert StatCache(env, "t", 1).get(str(f), f.stat()) == {"cwd": "/a"}
    assert StatCache(env, "t", 2).get(str(f), f.stat()) is None


def test_any_file_name_and_answer_round_trip(tmp_path):
    """Names with tabs, line breaks, quotes, backslashes, non-UTF-8 bytes (POSIX), and answers of any text:
    each comes back as it was, and an unchanged file's line is written back as it was read."""
    env = {"HOME": str(tmp_path)}
    names = ["plain", "tab\there", "line\nbreak", 'quote"d', "back\\slash", "ünï", os.fsdecode(b"raw\xff")]
    files = []
    for n in names:
        f = tmp_path / n
        f.write_text("x")
        files.append(f)
    c = StatCache(env, "t", 1)
    for f in files:
        c.put(str(f), f.stat(), {"cwd": str(f), "title": "tab\t nl\n \u2028 end"})
    c.save()
    first = next((tmp_path / ".sync-ai-sessions" / "cache").iterdir()).read_bytes()
    c = StatCache(env, "t", 1)
    for f in files:
        assert c.get(str(f), f.stat()) == {"cwd": str(f), "title": "tab\t nl\n \u2028 end"}
    c.put(str(files[0]), files[0].stat(), {"cwd": "changed"})
    c.save()
    c = StatCache(env, "t", 1)
    assert c.get(str(files[0]), files[0].stat()) == {"cwd": "changed"}
    assert all(c.get(str(f), f.stat()) is not None for f in files[1:])
    assert len(first.splitlines()) == len(names) + 1
