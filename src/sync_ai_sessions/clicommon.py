"""What every command of the CLI shares: `--json`, `--debug`, one-line failures with documented exit
codes, and interruption at a prompt.

`common` wraps a command function that returns a typed result (`sync_ai_sessions.results`) and renders it
once (`results.render`): with `--json` its document (or `{"ok": false, "error": {...}}`) is the only thing
on stdout, else its messages; the process exits with the result's exit code.  A SyncError becomes
"error: <message>" on stderr (plus a hint line when it has one) and its exit code; Ctrl-C or Ctrl-D
anywhere, a prompt included, becomes "interrupted; nothing was changed" and exit 130; anything else is an internal error
(exit 1) whose traceback `--debug` shows.  Usage errors found by click itself are turned into the same
JSON document by `cli.Main`.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from sync_ai_sessions.errors import SyncError
from sync_ai_sessions.memtune import collect_less, reuse_freed_blocks
from sync_ai_sessions.results import render
from sync_ai_sessions.ui import UI, emit_json, utf8_output

INTERRUPTED = "interrupted; nothing was changed"


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add --json and --debug, and turn every failure into one clear line and a documented exit code."""

    @click.option("--json", "json_mode", is_flag=True, help="Print one JSON document on stdout.")
    @click.option("--debug", is_flag=True, help="Show tracebacks and technical details on errors.")
    @functools.wraps(fn)
    def wrapper(*args: Any, json_mode: bool, debug: bool, **kwargs: Any) -> None:
        utf8_output()
        ui = UI(json_mode=json_mode, debug=debug)
        _route_gh_notices(ui)
        reuse_freed_blocks()
        collect_less()
        try:
            code = render(fn(*args, ui=ui, **kwargs), ui)
        except SyncError as exc:
            fail(ui, exc.code, exc.message, exc.exit_code, exc.hint)
        except (KeyboardInterrupt, EOFError, click.exceptions.Abort):
            if not ui.json_mode:
                print(file=sys.stderr)  # end the line the prompt was on
            fail(ui, "interrupted", INTERRUPTED, 130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # an internal error: still one line unless --debug
            if ui.debug:
                traceback.print_exc()
            fail(ui, "internal", f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", 1)
        if code:
            sys.exit(code)

    return wrapper


def _route_gh_notices(ui: UI) -> None:
    """GitHub waits and retries ("GitHub asked us to wait 60 s ...") go to the UI (plain stderr with --json)."""
    from sync_ai_sessions import ghpace

    ghpace.set_notifier(None if ui.json_mode else ui.info)


def fail(ui: UI, code: str, message: str, exit_code: int, hint: str | None = None) -> None:
    if ui.debug and sys.exc_info()[0] is not None:
        traceback.print_exc()
    if ui.json_mode:
        emit_json({"ok": False, "error": {"code": code, "message": message, "exit_code": exit_code}})
    else:
        print(f"error: {message}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
    sys.exit(exit_code)
