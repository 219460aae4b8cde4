"""`list`, `delete ID`, `prune --older-than DAYS`: manage our stored handoffs; nothing is ever decrypted.

They work on the registry's handoff store (`transports.handoff_store`) and return typed results
(`sync_ai_sessions.results`); the click commands here are ordinary commands of the CLI: `common` gives
them `--json`, `--debug`, one-line failures with their exit codes and Ctrl-C = exit 130, as every other.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

import click

from sync_ai_sessions.clicommon import common
from sync_ai_sessions.errors import UsageError
from sync_ai_sessions.results import DeleteResult, ListResult, PruneResult, Result
from sync_ai_sessions.transports import handoff_store

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def list_handoffs(env: Mapping[str, str] | None = None, hostname: str | None = None) -> ListResult:
    return ListResult(handoffs=handoff_store(env, hostname).list_handoffs())


def delete_handoff(ref: str, env: Mapping[str, str] | None = None, hostname: str | None = None) -> DeleteResult:
    return DeleteResult(deleted=handoff_store(env, hostname).delete(ref))


def prune_handoffs(
    older_than_days: float, env: Mapping[str, str] | None = None, hostname: str | None = None, dry_run: bool = False
) -> PruneResult:
    if older_than_days < 0:
        raise UsageError("--older-than must be 0 or more days", code="bad_days")
    victims = handoff_store(env, hostname).prune(older_than_days, dry_run=dry_run)
    return PruneResult(dry_run=dry_run, handoffs=victims)


def _command(fn: Callable[..., Result]) -> Callable[..., Result]:
    """--hostname, then `common` (the CLI's --json, --debug, errors and rendering)."""

    @click.option("--hostname", metavar="HOST", help="GitHub host (default: gh's, e.g. GH_HOST).")
    @common
    @functools.wraps(fn)
    def wrapper(*args: Any, ui: Any, **kwargs: Any) -> Result:
        return fn(*args, **kwargs)

    return wrapper


@click.command("list", context_settings=CONTEXT,
               epilog="\b\nExamples:\n  sync-ai-sessions list\n  sync-ai-sessions list --json")
@_command
def list_cmd(hostname: str | None) -> Result:
    """List your handoff gists, newest first, with size and age (nothing is decrypted)."""
    return list_handoffs(os.environ, hostname)


@click.command("delete", context_settings=CONTEXT,
               epilog="\b\nExamples:\n  sync-ai-sessions delete 5d41402abc4b2a76b9719d911017c592")
@click.argument("gist_id", metavar="ID")
@_command
def delete_cmd(gist_id: str, hostname: str | None) -> Result:
    """Delete the handoff gist ID (and its part gists)."""
    return delete_handoff(gist_id, os.environ, hostname)


@click.command("prune", context_settings=CONTEXT,
               epilog="\b\nExamples:\n  sync-ai-sessions prune --older-than 7 --dry-run\n"
                      "  sync-ai-sessions prune --older-than 30")
@click.option(
    "--older-than",
    "older_than",
    type=float,
    required=True,
    metavar="DAYS",
    help="Delete handoffs created more than DAYS days ago.",
)
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
@_command
def prune_cmd(older_than: float, dry_run: bool, hostname: str | None) -> Result:
    """Delete your handoff gists older than DAYS days (and leftover parts of failed uploads)."""
    return prune_handoffs(older_than, os.environ, hostname, dry_run=dry_run)


__all__ = ["delete_cmd", "delete_handoff", "list_cmd", "list_handoffs", "prune_cmd", "prune_handoffs"]
