"""The pickers' typed fallback (a dumb terminal) and the tool picker's choices; the full-screen pickers are
driven through a real terminal in test_terminal.py."""

from __future__ import annotations

import pytest
from support.machines import git_repo, make_machine, write_demo_session

from sync_ai_sessions import pickers
from sync_ai_sessions.adapters.base import ExportFile, Session
from sync_ai_sessions.commands import sessions
from sync_ai_sessions.errors import NotFoundError, UsageError


def _s(i: int, when: str) -> Session:
    return Session(id=f"id{i}", files=[ExportFile("x", None, 10 * (i + 1))], title=f"t{i}",  # type: ignore[arg-type]
                   last_activity=when)


@pytest.fixture
def plain(monkeypatch):
    monkeypatch.setenv(pickers.PLAIN_ENV, "1")


@pytest.mark.parametrize(("answer", "want"), [("all", ["id2", "id1", "id0"]), ("1", ["id2"]), ("3, 1", ["id0", "id2"]),
                                              ("1-2", ["id2", "id1"])])
def test_session_picker(plain, monkeypatch, answer, want):
    monkeypatch.setattr(pickers.click, "prompt", lambda *a, **k: answer)
    got = pickers.pick_sessions([_s(0, "2026-01-01"), _s(1, "2026-01-02"), _s(2, "2026-01-03")])
    assert [s.id for s in got] == want


def test_session_picker_asks_again_after_a_typo(plain, monkeypatch, capsys):
    answers = iter(["7", "x", "2"])
    monkeypatch.setattr(pickers.click, "prompt", lambda *a, **k: next(answers))
    got = pickers.pick_sessions([_s(0, "2026-01-01"), _s(1, "2026-01-02")])
    assert [s.id for s in got] == ["id0"]
    err = capsys.readouterr().err
    assert "there is no session 7 in the list (1-2); try again" in err and "'x' is not a number" in err


def test_parse_numbers():
    assert pickers.parse_numbers("", 3) == [1, 2, 3]
    assert pickers.parse_numbers("2 3 2", 3) == [2, 3]
    assert isinstance(pickers.parse_numbers("0", 3), str) and isinstance(pickers.parse_numbers("3-1", 3), str)


def test_tool_picker_offers_only_tools_with_sessions_here(tmp_path, monkeypatch):
    m = make_machine(tmp_path, "M")
    repo = git_repo(m.root / "r", "git@github.com:o/r.git")
    write_demo_session(m, repo, "s1")
    for k, v in m.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(pickers, "can_ask", lambda: True)
    offered = []
    monkeypatch.setattr(pickers, "pick_tool", lambda choices: offered.extend(choices) or choices[0].name)
    monkeypatch.setattr(sessions, "tool_names", lambda: ["claude", "codex", "demo"])
    # only the demo tool has sessions for this repo: chosen without a question
    assert sessions.pick_tool(None, str(repo)) == "demo" and offered == []
    other = git_repo(m.root / "other", "git@github.com:o/other.git")
    with pytest.raises(NotFoundError) as e:
        sessions.pick_tool(None, str(other))
    assert e.value.code == "no_sessions"


def test_tool_picker_without_terminal_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(pickers, "can_ask", lambda: False)
    with pytest.raises(UsageError) as e:
        sessions.pick_tool(None)
    assert "--tool" in e.value.message
