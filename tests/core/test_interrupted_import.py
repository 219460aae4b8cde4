"""An import killed after placing its files but before `finalize` is finished by the next receive,
and `undo` of an interrupted import reverts what was done without tripping on what was not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync_ai_sessions.adapters.demo import DemoAdapter
from sync_ai_sessions.commands.undo import undo
from sync_ai_sessions.engine.intake import import_sessions
from sync_ai_sessions.engine.journal import journals, read_journal
from sync_ai_sessions.gitrepo import Repo


class Killed(BaseException):
    pass


class Recording(DemoAdapter):
    calls: list[list[str]] = []  # noqa: RUF012
    die = False

    def finalize(self, ctx, results):
        if Recording.die:
            raise Killed
        Recording.calls.append(sorted(r.id for r in results))
        return []


def _setup(tmp_path: Path):
    target = tmp_path / "clone"
    target.mkdir()
    env = {"HOME": str(tmp_path / "home"), "SYNC_AI_SESSIONS_HOME": str(tmp_path / "cfg")}
    staged = tmp_path / "in"
    staged.mkdir()
    files, sessions = {}, []
    for sid in ("s1", "s2"):
        p = staged / sid
        p.write_text(json.dumps({"cwd": "/old", "sessionId": sid}) + "\n")
        files[f"sessions/{sid}.jsonl"] = p
        sessions.append({"id": sid, "files": [{"arcname": f"sessions/{sid}.jsonl", "size": p.stat().st_size,
                                                "sha256": "", "role": "transcript"}]})
    manifest = {"tool": "demo", "source": {"os_flavor": "posix", "repo_root": "/old"}, "repo": {"remotes": []},
                "sessions": sessions}
    return env, manifest, files, Repo(root=target)


def _run(tmp_path, env, manifest, files, repo, name):
    work = tmp_path / name
    work.mkdir()
    return import_sessions(Recording(env), manifest, files, repo, env=env, staging=work)


def test_finalize_runs_on_the_next_receive_after_a_kill(tmp_path):
    env, manifest, files, repo = _setup(tmp_path)
    Recording.calls, Recording.die = [], True
    with pytest.raises(Killed):
        _run(tmp_path, env, manifest, files, repo, "w1")
    [j] = journals(env)
    assert read_journal(j)[2] is None  # interrupted: no "complete" record
    Recording.die = False
    report = _run(tmp_path, env, manifest, files, repo, "w2")
    assert [r.action for r in report.results] == ["skip", "skip"]
    assert Recording.calls == [["s1", "s2"]]
    assert any("interrupted" in n for n in report.notes)
    assert read_journal(j)[2] is not None and report.journal is None
    # and only once: a third receive is a pure no-op
    _run(tmp_path, env, manifest, files, repo, "w3")
    assert Recording.calls == [["s1", "s2"]]


def test_undo_of_an_interrupted_import(tmp_path):
    env, manifest, files, repo = _setup(tmp_path)
    Recording.die = False
    report = _run(tmp_path, env, manifest, files, repo, "w1")
    placed = [r.path for r in report.results]
    [j] = journals(env)
    lines = j.read_text().splitlines()
    # as if killed right after journalling a third file, before placing it
    ghost = {"op": "create", "path": str(placed[0].with_name("never.jsonl")), "size": 1, "sha256": "x"}
    j.write_text("\n".join([*lines[:-1], json.dumps(ghost)]) + "\n")
    doc = undo(env=env).to_json()
    assert doc["ok"] and not doc["complete"]
    assert not any(p.exists() for p in placed)
