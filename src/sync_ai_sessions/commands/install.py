"""`install`: prepare this device (config folder, gh check, optional passphrase check)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sync_ai_sessions.config import config_dir, load_config, private_dir, save_config
from sync_ai_sessions.passphrase import check_strength, generate, get_passphrase, make_verifier
from sync_ai_sessions.ui import UI


def install(*, generate: bool = False, passphrase_file: str | None = None, no_passphrase: bool = False,
            env: Mapping[str, str] | None = None, ui: UI | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    ui = ui or UI()
    d = private_dir(config_dir(env))
    cfg = load_config(env)
    doc: dict[str, Any] = {"ok": True, "config_dir": str(d)}
    gh = _gh_status(env)
    doc["gh"] = gh
    if gh.get("problem"):
        ui.say(f"[yellow]gh:[/yellow] {gh['problem']} — fix: [bold]{gh.get('fix')}[/bold] (only needed for gists)")
    else:
        ui.say(f"gh: logged in as {gh.get('user') or '?'} on {gh.get('host') or 'github.com'}, gist scope ok")
    generated = None
    if not no_passphrase:
        if generate:
            generated = generator_passphrase = _gen()
            check_strength(generator_passphrase)
            passphrase = generator_passphrase
        else:
            passphrase, _ = get_passphrase(env, passphrase_file=passphrase_file, confirm=True, check_weak=True,
                                           prompt="Choose a passphrase")
        cfg["verifier"] = make_verifier(passphrase)
        doc["passphrase_check"] = True
    save_config(cfg, env)
    if generated:
        doc["passphrase"] = generated
        ui.say("Your new passphrase (write it down; it is shown once and never stored):")
        ui.say(f"  [bold]{generated}[/bold]")
        ui.say("Use the same passphrase on your other devices.")
    ui.say(f"Ready. Config in {d}")
    return doc


def _gen() -> str:
    return generate()


def _gh_status(env: Mapping[str, str]) -> dict[str, Any]:
    try:
        from sync_ai_sessions.gh import check_gh
    except ModuleNotFoundError:
        return {"installed": None, "problem": "gh support not available in this build", "fix": None}
    st = check_gh(env)
    return {k: v for k, v in vars(st).items() if not k.startswith("_")} if hasattr(st, "__dict__") else dict(st)
