"""The command line: a thin layer over `sync_ai_sessions.commands`.

Every command takes --json (one JSON document on stdout, success or failure, usage errors included) and
--debug (tracebacks); see `sync_ai_sessions.clicommon`.  Commands are listed in the order people use
them, each with examples.  Exit codes: see `sync_ai_sessions.errors` and the README.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from click.shell_completion import CompletionItem

from sync_ai_sessions import __version__
from sync_ai_sessions.adapters import REGISTRY, tool_names
from sync_ai_sessions.clicommon import INTERRUPTED, common
from sync_ai_sessions.results import Result
from sync_ai_sessions.ui import UI, emit_json, utf8_output

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# The order commands are listed in: the order a person meets them.
ORDER = ["install", "sessions", "send", "inspect", "receive", "undo", "list", "delete", "prune", "doctor", "demo"]


class Main(click.Group):
    """The program: commands in order of use, and one JSON document for click's own usage errors."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = list(self.commands)
        return [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        utf8_output()
        argv = list(sys.argv[1:] if args is None else args)
        json_mode = "--json" in argv
        try:
            rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              **extra)
        except click.ClickException as exc:  # usage errors, bad values: exit 2
            if json_mode:
                emit_json({"ok": False, "error": {"code": "usage", "message": exc.format_message(),
                                                  "exit_code": exc.exit_code}})
            else:
                exc.show()
            sys.exit(exc.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt, EOFError):
            if json_mode:
                emit_json({"ok": False, "error": {"code": "interrupted", "message": INTERRUPTED, "exit_code": 130}})
            else:
                print(f"\nerror: {INTERRUPTED}", file=sys.stderr)
            sys.exit(130)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def complete_tool(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion for --tool: the tools of the adapter registry."""
    return [CompletionItem(n, help=REGISTRY[n][2]) for n in tool_names() if n.startswith(incomplete)]


def tool_option(help_text: str) -> Any:
    return click.option("--tool", metavar="TOOL", shell_complete=complete_tool,
                        help=f"{help_text} ({', '.join(tool_names())}).")


def examples(*lines: str) -> str:
    """A help epilog of examples, kept as written."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


@click.group(cls=Main, context_settings=CONTEXT, invoke_without_command=True,
             epilog=examples("sync-ai-sessions install", "sync-ai-sessions sessions",
                             "sync-ai-sessions send --tool claude", "sync-ai-sessions inspect --gist <id>",
                             "sync-ai-sessions receive --gist <id>")
             + "\n\n\b\nShell completion (commands, options and tool names), in your shell's startup file:\n"
             '  bash: eval "$(_SYNC_AI_SESSIONS_COMPLETE=bash_source sync-ai-sessions)"\n'
             '  zsh:  eval "$(_SYNC_AI_SESSIONS_COMPLETE=zsh_source sync-ai-sessions)"\n'
             "  fish: _SYNC_AI_SESSIONS_COMPLETE=fish_source sync-ai-sessions | source")
@click.version_option(__version__, "-V", "--version", prog_name="sync-ai-sessions")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Carry AI coding sessions (Claude Code, Codex CLI, Gemini CLI, Qwen Code) to another machine,
    encrypted end to end, and resume them there.

    \b
    On device A, in your repo:   sync-ai-sessions send --tool claude
    On device B, in your clone:  sync-ai-sessions receive --gist <id>
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(0)


@main.command(context_settings=CONTEXT, epilog=examples(
    "sync-ai-sessions sessions",
    "sync-ai-sessions sessions --tool codex --json",
    "sync-ai-sessions sessions --cwd ~/src/app"))
@tool_option("Only this tool's sessions")
@click.option("--all-tools", is_flag=True, help="Every tool's sessions (the default).")
@click.option("--cwd", type=click.Path(file_okay=False), help="Use the repo at this path (default: here).")
@common
def sessions(tool: str | None, all_tools: bool, cwd: str | None, ui: UI) -> Result:
    """List this repo's local sessions: short id, title, last activity, size (nothing is sent)."""
    from sync_ai_sessions.commands.sessions import list_sessions

    return list_sessions(tool=tool, all_tools=all_tools, cwd=cwd, ui=ui)


@main.command(context_settings=CONTEXT, epilog=examples(
    "sync-ai-sessions send --tool claude",
    "sync-ai-sessions send --tool codex --latest --to /media/usb/handoff.sais",
    "sync-ai-sessions send --tool claude --session 3f2a91c0 --redact",
    "sync-ai-sessions send --tool gemini --dry-run"))
@tool_option("Which tool's sessions to send")
@click.option("--cwd", type=click.Path(file_okay=False), help="Use the repo at this path (default: here).")
@click.option("--to", "to", type=click.Path(dir_okay=False), help="Write the handoff to FILE instead of a gist.")
@click.option("--force", is_flag=True, help="With --to: replace FILE if it exists.")
@click.option("--session", "session_ids", multiple=True, metavar="ID",
              help="Send only this session (an id or a unique prefix; repeatable).")
@click.option("--latest", is_flag=True, help="Send only the most recent session.")
@click.option("--archived", is_flag=True, help="Codex: include archived sessions too.")
@click.option("--redact", is_flag=True, help="Replace secrets found by the scan in the sent copy.")
@click.option("--no-scan", is_flag=True, help="Skip the scan for secrets.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent (sessions, sizes, secrets); send nothing.")
@click.option("-y", "--yes", is_flag=True, help="Ask nothing: all sessions found, even if secrets were found.")
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
def send(tool: str | None, cwd: str | None, to: str | None, force: bool, session_ids: tuple[str, ...],
         latest: bool, archived: bool, redact: bool, no_scan: bool, dry_run: bool, yes: bool, copy_cmd: bool,
         with_changes: bool, passphrase_file: str | None,
         max_gist_mb: float | None, resume: bool, ui: UI) -> Result:
    """Pack this repo's sessions, encrypt them locally and store them (secret gist, or --to FILE)."""
    from sync_ai_sessions import pickers
    from sync_ai_sessions.commands.send import send_command
    from sync_ai_sessions.commands.sessions import pick_tool

    tool = pick_tool(tool, cwd)
    ask = pickers.can_ask() and not yes
    return send_command(tool=tool, cwd=cwd, to=os.path.abspath(to) if to else None, max_gist_mb=max_gist_mb,
                        copy=copy_cmd, session_ids=list(session_ids) or None, latest=latest,
                        passphrase_file=passphrase_file, ui=ui, include_archived=archived, scan=not no_scan,
                        redact=redact, resume=resume, dry_run=dry_run, overwrite=force, with_changes=with_changes,
                        choose=pickers.pick_sessions if ask else None,
                        confirm_secrets=(lambda _report: pickers.confirm("Send anyway?")) if ask else None)



@main.command(context_settings=CONTEXT, epilog=examples(
    "sync-ai-sessions inspect --gist 5d41402abc4b2a76b9719d911017c592",
    "sync-ai-sessions inspect --from /media/usb/handoff.sais --json"))
@click.option("--gist", help="The gist id printed by send.")
@click.option("--from", "from_file", type=click.Path(dir_okay=False), help="Read the handoff from FILE.")
@click.option("--cwd", type=click.Path(file_okay=False), help="Your clone of the repo (default: here).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Read the passphrase from FILE.")
@common
def inspect(gist: str | None, from_file: str | None, cwd: str | None, passphrase_file: str | None,
            ui: UI) -> Result:
    """Decrypt a handoff and show what it holds and what receive would do here (writes nothing)."""
    from sync_ai_sessions.commands.receive import receive_command

    return receive_command(from_file=from_file, gist=gist, cwd=cwd, passphrase_file=passphrase_file, ui=ui,
                           inspect=True)


@main.command(context_settings=CONTEXT, epilog=examples(
    "sync-ai-sessions receive --gist 5d41402abc4b2a76b9719d911017c592",
    "sync-ai-sessions receive --from /media/usb/handoff.sais --cwd ~/src/app",
    "sync-ai-sessions receive --gist <id> --session 3f2a91c0 --dry-run"))
@click.option("--gist", help="The gist id printed by send.")
@click.option("--from", "from_file", type=click.Path(dir_okay=False), help="Read the handoff from FILE.")
@click.option("--session", "session_ids", multiple=True, metavar="ID",
              help="Import only this session (an id or a unique prefix; repeatable).")
@tool_option("Optional: must match the handoff's tool")
@click.option("--cwd", type=click.Path(file_okay=False), help="Your clone of the repo (default: here).")
@click.option("--dry-run", is_flag=True, help="Print what receive would do (same document), write nothing.")
@click.option("--delete", "delete_after", is_flag=True,
              help="Delete the handoff once imported (the gist, or the --from FILE).")
@click.option("--keep-provider", is_flag=True, help="Codex: keep the session's model provider as recorded.")
@click.option("--with-changes", is_flag=True, help="Bring in the commits and changes sent with --with-changes.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Read the passphrase from FILE.")
@common
def receive(gist: str | None, from_file: str | None, session_ids: tuple[str, ...], tool: str | None, cwd: str | None,
            dry_run: bool, delete_after: bool, keep_provider: bool, with_changes: bool, passphrase_file: str | None,
            ui: UI) -> Result:
    """Download a handoff, decrypt and verify it, and import its sessions into your local clone."""
    from sync_ai_sessions.commands.receive import receive_command

    return receive_command(from_file=from_file, gist=gist, tool=tool, cwd=cwd, passphrase_file=passphrase_file,
                           sessions=list(session_ids) or None, dry_run=dry_run, delete_after=delete_after,
                           options={"keep_provider": keep_provider}, ui=ui, with_changes=with_changes)


@main.command(context_settings=CONTEXT, epilog=examples(
    "sync-ai-sessions install                   # first device: choose a passphrase",
    "sync-ai-sessions install --generate        # first device: make a strong one",
    "sync-ai-sessions install                   # other devices: type the same passphrase",
    "sync-ai-sessions install --transport file  # this device carries handoffs as files"))
@click.option("--generate", is_flag=True, help="Generate a strong random passphrase and show it once.")
@click.option("--force", is_flag=True, help="Replace this device's passphrase check if it has one.")
@click.option("--transport", type=click.Choice(["gist", "file"]),
              help="How this device sends (doctor then requires gh only for gist).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Read the passphrase from FILE.")
@click.option("--no-passphrase", is_flag=True, help="Do not set a passphrase check on this device.")
@common
def install(generate: bool, force: bool, transport: str | None, passphrase_file: str | None, no_passphrase: bool,
            ui: UI) -> Result:
    """Prepare this device: config folder, gh check, and an optional passphrase check."""
    from sync_ai_sessions.commands.install import install as do_install

    return do_install(generate=generate, passphrase_file=passphrase_file, no_passphrase=no_passphrase, force=force,
                      transport=transport, ui=ui)


@main.command(context_settings=CONTEXT, epilog=examples("sync-ai-sessions undo", "sync-ai-sessions undo --json"))
@common
def undo(ui: UI) -> Result:
    """Revert the last import exactly (refuses if those files changed since)."""
    from sync_ai_sessions.commands.undo import undo as do_undo

    return do_undo(ui=ui)


@main.command(context_settings=CONTEXT, epilog=examples("sync-ai-sessions doctor",
                                                         "sync-ai-sessions doctor --cwd ~/src/app --json"))
@click.option("--cwd", type=click.Path(file_okay=False), help="Check the repo at this path (default: here).")
@common
def doctor(cwd: str | None, ui: UI) -> Result:
    """Check the setup and say what to fix (gh only fails it when gists are this device's transport)."""
    from sync_ai_sessions.commands.doctor import doctor as do_doctor

    return do_doctor(cwd=cwd, ui=ui)


@main.command(context_settings=CONTEXT, epilog=examples("sync-ai-sessions demo", "sync-ai-sessions demo --keep"))
@click.option("--tool", type=click.Choice(["claude", "demo"]), default="claude", show_default=True)
@click.option("--keep", is_flag=True, help="Keep the temporary machines to look at.")
@common
def demo(tool: str, keep: bool, ui: UI) -> Result:
    """Show the whole send -> file -> receive path between two temporary machines (touches nothing of yours)."""
    from sync_ai_sessions.commands.demo import demo as do_demo

    return do_demo(tool=tool, keep=keep, ui=ui)


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
