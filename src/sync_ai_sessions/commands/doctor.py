"""`doctor`: check python, git, the repo and its remote, gh, each tool's session folder, our config."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Mapping

from sync_ai_sessions.adapters import REGISTRY, get_adapter, tool_names
from sync_ai_sessions.config import config_dir, load_config
from sync_ai_sessions.errors import SyncError
from sync_ai_sessions.gitrepo import Repo, find_repo
from sync_ai_sessions.results import Check, DoctorResult, ToolHome
from sync_ai_sessions.ui import UI


def doctor(*, cwd: str | None = None, env: Mapping[str, str] | None = None, ui: UI | None = None
           ) -> DoctorResult:
    env = dict(os.environ if env is None else env)
    ui = ui or UI()
    checks: list[Check] = []
    v = sys.version_info
    checks.append(Check("python", "ok" if v >= (3, 11) else "fail", f"{v.major}.{v.minor}.{v.micro}",
                         None if v >= (3, 11) else "install Python 3.11 or newer"))
    git = shutil.which("git")
    checks.append(Check("git", "ok" if git else "fail", git or "not found",
                         None if git else "install git (e.g. apt-get install git)"))
    repo: Repo | None = None
    if git:
        try:
            repo = find_repo(cwd)
            checks.append(Check("repo", "ok", f"{repo.root} ({', '.join(repo.normalized_remotes)})"))
        except SyncError as exc:
            checks.append(Check("repo", "warn", exc.message, "cd into your repo or pass --cwd PATH"))
    cfg = load_config(env)
    gist_required = cfg.get("transport") == "gist"
    try:
        from sync_ai_sessions.ghauth import check_gh

        gh = check_gh(env)
        if getattr(gh, "problem", None):
            # gh is needed for gists only: `--to FILE` works without it, so it fails the check only when
            # this device was set up to send by gist (`install --transport gist`).
            why = "" if gist_required else " (needed for gists only; --to FILE works without it)"
            checks.append(Check("gh", "fail" if gist_required else "warn", f"{gh.problem}{why}",
                                 gh_fix(getattr(gh, "code", None), getattr(gh, "fix", None))))
        else:
            checks.append(Check("gh", "ok", f"logged in as {getattr(gh, 'user', '?')} on "
                                 f"{getattr(gh, 'host', 'github.com')} with the gist scope"))
    except ModuleNotFoundError:
        checks.append(Check("gh", "warn", "gist support not available in this build"))
    tools: dict[str, ToolHome] = {}
    for name in tool_names():
        try:
            a = get_adapter(name, env)
        except SyncError:
            continue
        home = a.home()
        count = None
        try:
            count = a.session_count()
        except (OSError, SyncError):
            count = None
        here: int | None = None
        if repo is not None and home.exists():
            try:
                here = len(a.find_sessions(repo))
            except (OSError, SyncError):
                here = None
        tools[name] = ToolHome(home=str(home), exists=home.exists(), sessions=count, repo_sessions=here,
                               counted_here=repo is not None and home.exists())
        if not home.exists():
            detail = f"{home} missing (no sessions yet)"
        elif repo is None:
            detail = f"{home}"
        else:
            detail = f"{here if here is not None else '?'} session(s) for this repo in {home}"
        checks.append(Check(f"tool:{name}", "ok" if home.exists() else "info", f"{REGISTRY[name][2]}: {detail}"))
    d = config_dir(env)
    if d.exists():
        mode = stat.S_IMODE(d.stat().st_mode)
        private = mode & 0o077 == 0
        checks.append(Check("config", "ok" if private else "warn", f"{d} (mode {mode:o})",
                             None if private else f"chmod 700 {d}"))
        checks.append(Check("passphrase_check", "ok" if cfg.get("verifier") else "info",
                             "set" if cfg.get("verifier") else "not set (optional)",
                             None if cfg.get("verifier") else "sync-ai-sessions install"))
    else:
        checks.append(Check("config", "warn", f"{d} missing", "sync-ai-sessions install"))
    return DoctorResult(checks=checks, tools=tools,
                        repo=repo.normalized_remotes[0] if repo is not None and repo.normalized_remotes else None,
                        repo_root=str(repo.root) if repo is not None else None, transport=cfg.get("transport"),
                        config_dir=str(d))


def gh_fix(code: str | None, fix: str | None, platform: str | None = None) -> str | None:
    """The command that fixes a gh problem on this OS: how to install gh when it is missing (gh's own
    `auth login` advice only applies once it is there), else gh's fix."""
    if code != "gh_missing":
        return fix
    platform = platform or sys.platform
    if platform == "darwin":
        return "brew install gh"
    if platform.startswith("win"):
        return "winget install --id GitHub.cli"
    return "sudo apt install gh (Debian/Ubuntu; dnf install gh on Fedora; others: https://cli.github.com)"
