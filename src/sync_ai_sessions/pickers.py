"""Questions on a terminal: the tool and session pickers and yes/no questions.

On a capable terminal the pickers are full-screen lists (questionary: arrow keys, space to select, typing
filters); on a dumb one (`TERM=dumb`, or `SYNC_AI_SESSIONS_PLAIN_PROMPTS=1`) they are numbered lists
with a typed answer, asked again after a typo.  Without a terminal nothing is ever asked (`can_ask` is
False and the callers fail clearly or take the default).  Everything is drawn on stderr, so `--json`
keeps stdout to its one document.  Ctrl-C and Ctrl-D at any question raise KeyboardInterrupt, which the
CLI reports as "interrupted; nothing was changed" (exit 130).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

from sync_ai_sessions.ui import human_size, local_time, one_line

PLAIN_ENV = "SYNC_AI_SESSIONS_PLAIN_PROMPTS"


def can_ask() -> bool:
    """A person can answer: stdin and stderr are a terminal, and this is not CI."""
    return sys.stdin.isatty() and sys.stderr.isatty() and not os.environ.get("CI")


def full_screen() -> bool:
    """The terminal can draw a list the arrow keys move through."""
    if os.environ.get(PLAIN_ENV) or os.environ.get("TERM", "") in ("", "dumb"):
        return False
    try:
        import questionary  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class ToolChoice:
    name: str  # the --tool value
    display: str
    sessions: int
    bytes: int


def _ask(question: Any) -> Any:
    """Run a questionary question; Ctrl-C (and Ctrl-D) become KeyboardInterrupt."""
    try:
        answer = question.unsafe_ask()
    except EOFError:
        raise KeyboardInterrupt from None
    if answer is None:
        raise KeyboardInterrupt
    return answer


def _on_stderr() -> dict[str, Any]:
    """Draw on stderr: stdout is for data (the --json document)."""
    from prompt_toolkit.output import create_output

    return {"output": create_output(stdout=sys.stderr)}


def _typed(text: str, **kw: Any) -> Any:
    """click.prompt on stderr; its Abort (Ctrl-C, Ctrl-D) becomes KeyboardInterrupt."""
    try:
        return click.prompt(text, err=True, **kw)
    except click.exceptions.Abort:
        click.echo(file=sys.stderr)
        raise KeyboardInterrupt from None


def pick_tool(choices: Sequence[ToolChoice]) -> str:
    """Which tool's sessions to send, among the tools that have some for this repo."""
    if full_screen():
        import questionary

        q = questionary.select(
            "Send which tool's sessions?",
            choices=[questionary.Choice(f"{c.display}  ({c.sessions} session(s), {human_size(c.bytes)})", c.name)
                     for c in choices],
            use_jk_keys=False, **_on_stderr(),
        )
        return str(_ask(q))
    for i, c in enumerate(choices, 1):
        click.echo(f"  {i}. {c.display} ({c.name}): {c.sessions} session(s), {human_size(c.bytes)}", err=True)
    n = _typed("Send which tool's sessions?", type=click.IntRange(1, len(choices)), default=1)
    return choices[int(n) - 1].name


def _label(s: Any) -> str:
    size = human_size(sum(f.size for f in s.files))
    where = f"  [{s.cwd_rel}]" if s.cwd_rel else ""
    return f"{one_line(s.title, 50)}  {local_time(s.last_activity)}  {size}{where}"


def parse_numbers(answer: str, count: int) -> list[int] | str:
    """1-based numbers from "1,3" / "2 4" / "1-3" / "all"; an error message for a typo."""
    answer = answer.strip().lower()
    if answer in ("", "all", "a"):
        return list(range(1, count + 1))
    out: list[int] = []
    for part in answer.replace(",", " ").split():
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return f"{part!r} is not a number from the list"
        a, b = int(lo), int(hi or lo)
        if not (1 <= a <= count and 1 <= b <= count and a <= b):
            return f"there is no session {part} in the list (1-{count})"
        out.extend(n for n in range(a, b + 1) if n not in out)
    return out or f"pick at least one session (1-{count})"


def pick_sessions(sessions: list[Any]) -> list[Any]:
    """Which sessions to send, newest first; all are selected to begin with (Enter sends them all)."""
    ordered = sorted(sessions, key=lambda s: s.last_activity or "", reverse=True)
    if full_screen():
        import questionary

        q = questionary.checkbox(
            "Send which sessions? (space toggles, type to filter, Enter sends)",
            choices=[questionary.Choice(_label(s), s.id, checked=True) for s in ordered],
            use_jk_keys=False, use_search_filter=True,
            validate=lambda picked: bool(picked) or "pick at least one session (space)", **_on_stderr(),
        )
        picked = set(_ask(q))
        return [s for s in ordered if s.id in picked]
    for i, s in enumerate(ordered, 1):
        click.echo(f"  {i:>2}. {_label(s)}  ({s.id})", err=True)
    while True:
        answer = _typed("Send which sessions? (e.g. 1,3 or 2-4; Enter = all)", default="all", show_default=False)
        got = parse_numbers(str(answer), len(ordered))
        if isinstance(got, list):
            return [ordered[n - 1] for n in got]
        click.echo(f"{got}; try again", err=True)


def confirm(question: str) -> bool:
    """A yes/no question whose default is no."""
    try:
        return click.confirm(question, default=False, err=True)
    except click.exceptions.Abort:
        click.echo(file=sys.stderr)
        raise KeyboardInterrupt from None
