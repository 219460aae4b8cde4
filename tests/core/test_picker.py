"""The interactive pickers (tool and sessions), driven with a scripted answer."""

from __future__ import annotations

import pytest

from sync_ai_sessions import cli
from sync_ai_sessions.adapters.base import Session
from sync_ai_sessions.errors import UsageError


def _s(i: int, when: str) -> Session:
    return Session(id=f"id{i}", files=[], title=f"t{i}", last_activity=when)


@pytest.mark.parametrize(("answer", "want"), [("all", ["id2", "id1", "id0"]), ("1", ["id2"]), ("3, 1", ["id0", "id2"])])
def test_session_picker(monkeypatch, answer, want):
    monkeypatch.setattr(cli.click, "prompt", lambda *a, **k: answer)
    got = cli._pick_sessions([_s(0, "2026-01-01"), _s(1, "2026-01-02"), _s(2, "2026-01-03")])
    assert [s.id for s in got] == want


def test_session_picker_rejects_a_bad_number(monkeypatch):
    monkeypatch.setattr(cli.click, "prompt", lambda *a, **k: "7")
    with pytest.raises(UsageError):
        cli._pick_sessions([_s(0, "x")])


def test_tool_picker_lists_every_tool(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    monkeypatch.setattr(cli.click, "prompt", lambda *a, **k: 2)
    assert cli.pick_tool(None) == "codex"
    shown = capsys.readouterr().err
    for name in ("Claude Code", "Codex CLI", "Gemini CLI", "Qwen Code"):
        assert name in shown


def test_tool_picker_without_terminal_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: False)
    with pytest.raises(UsageError) as e:
        cli.pick_tool(None)
    assert "--tool" in e.value.message
