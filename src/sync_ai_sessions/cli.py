"""The command line: a thin layer over `sync_ai_sessions.commands`.

Every command takes --json (one JSON document on stdout, success or failure) and --debug (tracebacks).
Exit codes: see `sync_ai_sessions.errors` and the README.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from sync_ai_sessions import __version__
from sync_ai_sessions.adapters import REGISTRY, tool_names
from sync_ai_sessions.errors import SyncError, UsageError
from sync_ai_sessions.memtune import reuse_freed_blocks
from sync_ai_sessions.ui import UI, emit_json

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add --json and --debug, and turn every failure into one clear line and a documented exit code."""

    @click.option("--json", "json_mode", is_flag=True, help="Print one JSON document on stdout.")
    @click.option("--debug", is_flag=True, help="Show tracebacks and technical details on errors.")
    @functools.wraps(fn)
    def wrapper(*args: Any, json_mode: bool, debug: bool, **kwargs: Any) -> None:
        ui = UI(json_mode=json_mode, debug=debug)
        _route_gh_notices(ui)
        reuse_freed_blocks()
        try:
            doc = fn(*args, ui=ui, **kwargs)
        except SyncError as exc:
            _fail(ui, exc.code, exc.message, exc.exit_code, exc.hint)
        except KeyboardInterrupt:
            _fail(ui, "interrupted", "interrupted; nothing was changed", 130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # an internal error: still one line unless --debug
            if ui.debug:
                traceback.print_exc()
            _fail(ui, "internal", f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", 1)
        else:
            if doc is not None and json_mode:
                emit_json(doc)

    return wrapper


def _route_gh_notices(ui: UI) -> None:
    """GitHub waits and retries ("GitHub asked us to wait 60 s ...") go to the UI (plain stderr with --json)."""
    from sync_ai_sessions import gh

    gh.set_notifier(None if ui.json_mode else ui.info)


def _fail(ui: UI, code: str, message: str, exit_code: int, hint: str | None = None) -> None:
    if ui.debug and sys.exc_info()[0] is not None:
        traceback.print_exc()
    if ui.json_mode:
        emit_json({"ok": False, "error": {"code": code, "message": message, "exit_code": exit_code}})
    else:
        print(f"error: {message}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
    sys.exit(exit_code)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty() and not os.environ.get("CI")


def _pick_sessions(sessions: list[Any]) -> list[Any]:
    """The session picker: newest first; Enter sends them all."""
    ordered = sorted(sessions, key=lambda s: s.last_activity or "", reverse=True)
    for i, s in enumerate(ordered, 1):
        title = (s.title or "(untitled)").replace("\n", " ")[:60]
        when = (s.last_activity or "")[:16].replace("T", " ")
        where = f"  [{s.cwd_rel}]" if s.cwd_rel else ""
        print(f"  {i:>2}. {when}  {title}{where}  ({s.id})", file=sys.stderr)
    answer = click.prompt("Send which sessions? (e.g. 1,3; Enter = all)", default="all", err=True,
                          show_default=False)
    if answer.strip().lower() in ("", "all", "a"):
        return ordered
    picked: list[Any] = []
    for part in answer.replace(" ", "").split(","):
        if not part.isdigit() or not 1 <= int(part) <= len(ordered):
            raise UsageError(f"no session number {part!r} in the list")
        picked.append(ordered[int(part) - 1])
    return picked


def pick_tool(tool: str | None) -> str:
    if tool:
        if tool not in REGISTRY:
            raise UsageError(f"unknown tool {tool!r}: choose one of {', '.join(tool_names())}", code="unknown_tool")
        return tool
    if not _interactive():
        raise UsageError(f"which tool? pass --tool ({'|'.join(tool_names())})", code="no_tool")
    names = tool_names()
    for i, n in enumerate(names, 1):
        print(f"  {i}. {REGISTRY[n][2]} ({n})", file=sys.stderr)
    choice = click.prompt("Which sessions to send?", type=click.IntRange(1, len(names)), default=1,
                          err=True)
    return names[choice - 1]


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="sync-ai-sessions")
def main() -> None:
    """Carry AI coding sessions (Claude Code, Codex CLI, Gemini CLI, Qwen Code) to another machine,
    encrypted end to end, and resume them there.

    \b
    On device A, in your repo:   sync-ai-sessions send --tool claude
    On device B, in your clone:  sync-ai-sessions receive --gist <id>
    """


@main.command(context_settings=CONTEXT)
@click.option("--tool", metavar=f"[{'|'.join(tool_names())}]", help="Which tool's sessions to send.")
@click.option("--cwd", type=click.Path(file_okay=False), help="Use the repo at this path (default: here).")
@click.option("--to", "to", type=click.Path(dir_okay=False), help="Write the handoff to FILE instead of a gist.")
@click.option("--session", "session_ids", multiple=True, metavar="ID", help="Send only this session (repeatable).")
@click.option("--latest", is_flag=True, help="Send only the most recent session.")
@click.option("--archived", is_flag=True, help="Codex: include archived sessions too.")
@click.option("--redact", is_flag=True, help="Replace secrets found by the scan in the sent copy.")
@click.option("--no-scan", is_flag=True, help="Skip the scan for secrets.")
@click.option("--copy", "copy_cmd", is_flag=True, help="Copy the receive command to the clipboard.")
@click.option("--with-changes", is_flag=True, help="Also carry unpushed commits and uncommitted changes.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Read the passphrase from FILE.")
@click.option("--max-gist-mb", type=click.FloatRange(min=0, min_open=True), metavar="MB",
              help="Raise the 100 MB ceiling for a gist handoff (ciphertext). At your own risk: GitHub's "
                   "Acceptable Use Policies forbid placing undue burden on its servers, and bulk uploads can get "
                   "your account throttled or suspended. Prefer --to FILE for big handoffs.")
@click.option("--resume", is_flag=True,
              help="Continue this repo's interrupted gist upload even if its sessions changed since "
                   "(an identical send continues by itself).")
@common
def send(tool: str | None, cwd: str | None, to: str | None, session_ids: tuple[str, ...], latest: bool,
         archived: bool, redact: bool, no_scan: bool, copy_cmd: bool, with_changes: bool, passphrase_file: str | None,
         max_gist_mb: float | None, resume: bool, ui: UI) -> dict[str, Any]:
    """Pack this repo's sessions, encrypt them locally and store them (secret gist, or --to FILE)."""
    from sync_ai_sessions.commands.send import send as do_send

    tool = pick_tool(tool)
    transport = None
    if to is None:
        transport = _gist_transport(max_gist_mb)
    doc = do_send(tool=tool, cwd=cwd, to=to, transport=transport, session_ids=list(session_ids) or None,
                  latest=latest, passphrase_file=passphrase_file, ui=ui, include_archived=archived,
                  scan=not no_scan, redact=redact, resume=resume, with_changes=with_changes,
                  choose=None if ui.json_mode or not _interactive() else _pick_sessions)
    where = f"gist [bold]{doc['gist']}[/bold]" if "gist" in doc else f"[bold]{doc['file']}[/bold]"
    ui.say(f"Sent {len(doc['sessions'])} session(s), {doc['bytes']:,} bytes encrypted, to {where}")
    from sync_ai_sessions.gitwork import describe_state

    ui.info(f"Code: {describe_state(doc['git']['sender'])}")
    ui.say(f"On the other machine, in your clone of the repo, run:\n  [bold]{doc['receive']}[/bold]")
    if copy_cmd:
        doc["copied"] = _copy_to_clipboard(doc["receive"])
        ui.info("Copied to the clipboard." if doc["copied"] else "Could not reach a clipboard; copy it by hand.")
    return doc


@main.command(context_settings=CONTEXT)
@click.option("--gist", help="The gist id printed by send.")
@click.option("--from", "from_file", type=click.Path(dir_okay=False), help="Read the handoff from FILE.")
@click.option("--tool", metavar=f"[{'|'.join(tool_names())}]", help="Optional: must match the handoff's tool.")
@click.option("--cwd", type=click.Path(file_okay=False), help="Your clone of the repo (default: here).")
@click.option("--delete", "delete_after", is_flag=True, help="Delete the gist once imported.")
@click.option("--keep-provider", is_flag=True, help="Codex: keep the session's model provider as recorded.")
@click.option("--with-changes", is_flag=True, help="Bring in the commits and changes sent with --with-changes.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Read the passphrase from FILE.")
@common
def receive(gist: str | None, from_file: str | None, tool: str | None, cwd: str | None, delete_after: bool,
            keep_provider: bool, with_changes: bool, passphrase_file: str | None, ui: UI) -> dict[str, Any]:
    """Download a handoff, decrypt and verify it, and import its sessions into your local clone."""
    from sync_ai_sessions.commands.receive import receive as do_receive

    transport = _gist_transport() if gist else None
    doc = do_receive(from_file=from_file, gist=gist, transport=transport, tool=tool, cwd=cwd,
                     passphrase_file=passphrase_file,
                     options={"keep_provider": keep_provider, "durable": delete_after}, ui=ui,
                     with_changes=with_changes)
    for item in doc["imported"]:
        label = {"new": "imported", "fast-forward": "fast-forwarded", "copy": "imported as a copy"}[item["action"]]
        extra = f" (copy of {item['original_id']})" if item["action"] == "copy" else ""
        ui.say(f"[green]{label}[/green] {item['id']}{extra}")
    for item in doc["skipped"]:
        ui.say(f"[yellow]skipped[/yellow] {item['id']}: {item['reason']}")
    for note in doc["notes"]:
        ui.info(note)
    from sync_ai_sessions.gitwork import say_where

    say_where(doc["git"], ui.say, with_changes=with_changes)
    if doc["imported"]:
        ui.say("Continue with:")
        for item in doc["imported"]:
            ui.say(f"  [bold]{item['resume']}[/bold]")
    if gist and delete_after and transport is not None:
        transport.delete(gist)
        doc["deleted"] = True
        ui.info(f"Deleted gist {gist}.")
    return doc


@main.command(context_settings=CONTEXT)
@click.option("--generate", is_flag=True, help="Generate a strong random passphrase and show it once.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Read the passphrase from FILE.")
@click.option("--no-passphrase", is_flag=True, help="Do not set a passphrase check on this device.")
@common
def install(generate: bool, passphrase_file: str | None, no_passphrase: bool, ui: UI) -> dict[str, Any]:
    """Prepare this device: config folder, gh check, and an optional passphrase check."""
    from sync_ai_sessions.commands.install import install as do_install

    return do_install(generate=generate, passphrase_file=passphrase_file, no_passphrase=no_passphrase, ui=ui)


@main.command(context_settings=CONTEXT)
@click.option("--cwd", type=click.Path(file_okay=False), help="Check the repo at this path (default: here).")
@common
def doctor(cwd: str | None, ui: UI) -> dict[str, Any]:
    """Check the setup and say what to fix."""
    from sync_ai_sessions.commands.doctor import doctor as do_doctor

    doc = do_doctor(cwd=cwd, ui=ui)
    if not doc["ok"]:
        if ui.json_mode:
            emit_json(doc)
        sys.exit(3)
    return doc


@main.command(context_settings=CONTEXT)
@common
def undo(ui: UI) -> dict[str, Any]:
    """Revert the last import exactly (refuses if those files changed since)."""
    from sync_ai_sessions.commands.undo import undo as do_undo

    doc = do_undo(ui=ui)
    return doc


@main.command(context_settings=CONTEXT)
@click.option("--tool", type=click.Choice(["claude", "demo"]), default="claude", show_default=True)
@click.option("--keep", is_flag=True, help="Keep the temporary machines to look at.")
@common
def demo(tool: str, keep: bool, ui: UI) -> dict[str, Any]:
    """Show the whole send -> file -> receive path between two temporary machines (touches nothing of yours)."""
    from sync_ai_sessions.commands.demo import demo as do_demo

    return do_demo(tool=tool, keep=keep, ui=ui)


def _gist_transport(max_gist_mb: float | None = None) -> Any:
    try:
        from sync_ai_sessions.transports.gist import GistTransport
    except ModuleNotFoundError:
        raise UsageError("the gist transport is not available in this build: use --to FILE / --from FILE") from None
    if max_gist_mb is None:
        return GistTransport()
    return GistTransport(max_size=int(max_gist_mb * 1_000_000))


def _copy_to_clipboard(text: str) -> bool:
    import shutil
    import subprocess

    for cmd in (["pbcopy"], ["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "-b", "-i"], ["clip"]):
        if shutil.which(cmd[0]):
            try:
                subprocess.run(cmd, input=text.encode(), check=True, timeout=5)
                return True
            except (OSError, subprocess.SubprocessError):
                continue
    return False


def _register_handoff_commands() -> None:
    import importlib

    try:
        handoffs = importlib.import_module("sync_ai_sessions.commands.handoffs")
    except ImportError:
        return
    for name in ("list_cmd", "delete_cmd", "prune_cmd"):
        cmd = getattr(handoffs, name, None)
        if isinstance(cmd, click.Command):
            main.add_command(cmd)


_register_handoff_commands()

if __name__ == "__main__":
    main()
