"""`list`, `delete ID`, `prune --older-than DAYS`: manage our handoff gists; nothing is ever decrypted.

Each is a complete click command (own `--json`, `--hostname`; failures become one line on stderr, or
`{"ok": false, "error": {...}}` on stdout with --json, and the error's documented exit code). The library
functions `list_handoffs`, `delete_handoff` and `prune_handoffs` return the JSON documents.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

import click

from sync_ai_sessions.errors import UsageError
from sync_ai_sessions.transports import handoff_store
from sync_ai_sessions.transports.base import Transport
from sync_ai_sessions.transports.gist import Handoff
from sync_ai_sessions.ui import emit_json, human_size

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _transport(env: Mapping[str, str] | None, hostname: str | None) -> Transport:
    return handoff_store(env, hostname)


def list_handoffs(env: Mapping[str, str] | None = None, hostname: str | None = None) -> dict[str, Any]:
    items = _transport(env, hostname).list_handoffs()
    return {"ok": True, "handoffs": [h.to_json() for h in items]}


def delete_handoff(ref: str, env: Mapping[str, str] | None = None, hostname: str | None = None) -> dict[str, Any]:
    deleted = _transport(env, hostname).delete(ref)
    return {"ok": True, "deleted": deleted}


def prune_handoffs(
    older_than_days: float, env: Mapping[str, str] | None = None, hostname: str | None = None, dry_run: bool = False
) -> dict[str, Any]:
    if older_than_days < 0:
        raise UsageError("--older-than must be 0 or more days", code="bad_days")
    victims = _transport(env, hostname).prune(older_than_days, dry_run=dry_run)
    return {
        "ok": True,
        "dry_run": dry_run,
        "deleted": [] if dry_run else [h.to_json() for h in victims],
        "would_delete": [h.to_json() for h in victims] if dry_run else [],
    }


def human_age(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds}s ago"
    if seconds < 5400:
        return f"{seconds // 60}m ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _row(h: Handoff) -> str:
    label = "" if h.kind == "handoff" else "  (leftover part of a failed or deleted handoff)"
    return f"{h.id}  {h.created_at:20}  {human_age(h.age_seconds):>8}  {human_size(h.size):>9}{label}"


def _command(fn: Callable[..., dict[str, Any]]) -> Callable[..., None]:
    """--json, --debug and --hostname, and every failure as one clear line + the documented exit code
    (`sync_ai_sessions.clicommon`, as every other command)."""
    from sync_ai_sessions.clicommon import common

    @click.option("--hostname", metavar="HOST", help="GitHub host (default: gh's, e.g. GH_HOST).")
    @common
    @functools.wraps(fn)
    def wrapper(*args: Any, ui: Any, hostname: str | None, **kwargs: Any) -> None:
        fn(*args, json_mode=ui.json_mode, hostname=hostname, **kwargs)

    return wrapper


@click.command("list", context_settings=CONTEXT,
               epilog="\b\nExamples:\n  sync-ai-sessions list\n  sync-ai-sessions list --json")
@_command
def list_cmd(json_mode: bool, hostname: str | None) -> None:
    """List your handoff gists, newest first, with size and age (nothing is decrypted)."""
    doc = list_handoffs(os.environ, hostname)
    if json_mode:
        emit_json(doc)
        return
    items = [Handoff(**h) for h in doc["handoffs"]]
    if not items:
        click.echo("No handoff gists.", err=True)
        return
    click.echo(f"{'GIST ID':32}  {'CREATED':20}  {'AGE':>8}  {'SIZE':>9}")
    for h in items:
        click.echo(_row(h))


@click.command("delete", context_settings=CONTEXT,
               epilog="\b\nExamples:\n  sync-ai-sessions delete 5d41402abc4b2a76b9719d911017c592")
@click.argument("gist_id", metavar="ID")
@_command
def delete_cmd(gist_id: str, json_mode: bool, hostname: str | None) -> None:
    """Delete the handoff gist ID (and its part gists)."""
    doc = delete_handoff(gist_id, os.environ, hostname)
    if json_mode:
        emit_json(doc)
    else:
        click.echo(f"Deleted {len(doc['deleted'])} gist(s): {' '.join(doc['deleted'])}", err=True)


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
def prune_cmd(older_than: float, dry_run: bool, json_mode: bool, hostname: str | None) -> None:
    """Delete your handoff gists older than DAYS days (and leftover parts of failed uploads)."""
    doc = prune_handoffs(older_than, os.environ, hostname, dry_run=dry_run)
    if json_mode:
        emit_json(doc)
        return
    items = doc["would_delete"] if dry_run else doc["deleted"]
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {len(items)} handoff gist(s).", err=True)
    for h in items:
        click.echo(_row(Handoff(**h)))


__all__ = ["delete_cmd", "delete_handoff", "list_cmd", "list_handoffs", "prune_cmd", "prune_handoffs"]
