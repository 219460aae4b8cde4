"""`sessions`: this repo's local sessions, per tool, without sending anything.

The same discovery `send` uses (`Adapter.find_sessions`), so what is listed is what `send` would pack.
Sessions that an earlier `receive` placed here are marked with the host they came from (from the
import journals in our config folder; nothing is written).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions.adapters import REGISTRY, get_adapter, tool_names
from sync_ai_sessions.adapters.base import Session
from sync_ai_sessions.engine.journal import journals, read_journal
from sync_ai_sessions.errors import NotFoundError, SyncError, UsageError
from sync_ai_sessions.gitrepo import find_repo
from sync_ai_sessions.ids import short_ids
from sync_ai_sessions.results import SessionInfo, SessionRow, SessionsResult
from sync_ai_sessions.ui import UI


def session_info(s: Session) -> SessionInfo:
    """One session as `send` and `sessions` show it."""
    return SessionInfo(id=s.id, title=s.title, cwd=s.cwd_rel, last_activity=s.last_activity, lines=s.lines,
                       files=len(s.files), bytes=sum(f.size for f in s.files))


def imported_from(env: Mapping[str, str]) -> dict[str, str]:
    """Real path of each session file a completed import placed -> the host it came from."""
    out: dict[str, str] = {}
    for j in journals(env):
        try:
            _header, _ops, done = read_journal(j)
        except (OSError, ValueError):
            continue
        for s in (done or {}).get("sessions") or []:
            if isinstance(s, dict) and s.get("path") and s.get("host"):
                out[os.path.realpath(s["path"])] = str(s["host"])
    return out


def repo_sessions(tool: str, repo: Any, env: Mapping[str, str]) -> list[Session]:
    """`tool`'s sessions for `repo`, newest first ([] when the tool keeps none here)."""
    adapter = get_adapter(tool, env)
    if not adapter.home().exists():
        return []
    found = adapter.find_sessions(repo)
    return sorted(found, key=lambda s: (s.last_activity or "", s.id), reverse=True)


def list_sessions(*, tool: str | None = None, all_tools: bool = False, cwd: str | None = None,
                  env: Mapping[str, str] | None = None, ui: UI | None = None) -> SessionsResult:
    env = dict(os.environ if env is None else env)
    if tool and all_tools:
        raise UsageError("give --tool or --all-tools, not both")
    if tool and tool not in REGISTRY:
        raise UsageError(f"unknown tool {tool!r}: choose one of {', '.join(tool_names())}", code="unknown_tool")
    repo = find_repo(cwd)
    names = [tool] if tool else tool_names()
    hosts = imported_from(env)
    found_here: list[tuple[str, SessionInfo, str | None]] = []
    counts: dict[str, int] = {}
    for name in names:
        try:
            found = repo_sessions(name, repo, env)
        except SyncError:
            if tool:
                raise
            continue
        counts[name] = len(found)
        for s in found:
            found_here.append((name, session_info(s),
                               hosts.get(os.path.realpath(s.transcript.source)) if s.files else None))
    shorts = short_ids(info.id for _, info, _ in found_here)
    return SessionsResult(repo=repo.normalized_remotes[0] if repo.normalized_remotes else None,
                          repo_root=str(Path(repo.root)), tools=counts,
                          sessions=[SessionRow(tool=name, session=info, imported_from=host, short_id=shorts[info.id])
                                    for name, info, host in found_here])


def _check_tool(tool: str) -> str:
    if tool not in REGISTRY:
        raise UsageError(f"unknown tool {tool!r}: choose one of {', '.join(tool_names())}", code="unknown_tool")
    return tool


def pick_tool(tool: str | None, cwd: str | None = None, env: Any = None) -> str:
    """`send`'s tool: --tool, else a picker among the tools that have sessions for this repo (a terminal
    only; "Only X has sessions" is said at once, as the picker's question would be)."""
    import click

    from sync_ai_sessions import pickers

    if tool:
        return _check_tool(tool)
    if not pickers.can_ask():
        raise UsageError(f"which tool? pass --tool ({'|'.join(tool_names())})", code="no_tool")
    repo = find_repo(cwd)
    env = dict(os.environ if env is None else env)
    choices = []
    for name in tool_names():
        try:
            found = repo_sessions(name, repo, env)
        except Exception:  # a tool whose sessions cannot be read is not offered
            continue
        if found:
            choices.append(pickers.ToolChoice(name, REGISTRY[name][2], len(found),
                                              sum(f.size for s in found for f in s.files)))
    if not choices:
        raise NotFoundError(f"no sessions of any tool ({', '.join(tool_names())}) for the repo at {repo.root}: "
                            "open your AI tool once inside the repo, then send again", code="no_sessions")
    if len(choices) == 1:
        click.echo(f"Only {choices[0].display} has sessions for this repo.", err=True)
        return choices[0].name
    return pickers.pick_tool(choices)
