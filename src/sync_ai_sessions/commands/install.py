"""`install`: prepare this device (config folder, gh check, optional passphrase check)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sync_ai_sessions.commands.doctor import gh_fix
from sync_ai_sessions.config import config_dir, load_config, private_dir, save_config
from sync_ai_sessions.errors import AuthError, ConflictError, CryptoError
from sync_ai_sessions.passphrase import check_strength, check_verifier, generate, get_passphrase, make_verifier
from sync_ai_sessions.results import InstallResult
from sync_ai_sessions.ui import UI


def install(*, generate: bool = False, passphrase_file: str | None = None, no_passphrase: bool = False,
            force: bool = False, transport: str | None = None,
            env: Mapping[str, str] | None = None, ui: UI | None = None) -> InstallResult:
    """Prepare this device.  A passphrase check that exists is replaced only with `force` (a second
    `--generate` on another device would otherwise make a second, different passphrase); `transport`
    ("gist" | "file") records how this device sends, so that `doctor` knows whether gh is required."""
    env = dict(os.environ if env is None else env)
    ui = ui or UI()
    d = private_dir(config_dir(env))
    cfg = load_config(env)
    gh = _gh_status(env)
    result = InstallResult(config_dir=str(d), gh=gh, transport=transport,
                           gh_fix=gh_fix(gh.get("code"), gh.get("fix")) if gh.get("problem") else None)
    generated = None
    if transport is not None:
        cfg["transport"] = transport
    if not no_passphrase:
        existing = cfg.get("verifier")
        if existing and generate and not force:
            raise ConflictError(
                "this device already has a passphrase check; --generate would make a second, different "
                "passphrase. To use the passphrase of your first device here, run `sync-ai-sessions install` "
                "and type it (or pass --passphrase-file FILE); to replace the check, add --force; "
                "--no-passphrase keeps no check",
                code="verifier_exists",
            )
        if generate:
            generated = passphrase = _gen()
            check_strength(passphrase)
        else:
            try:
                passphrase, source = get_passphrase(env, passphrase_file=passphrase_file, confirm=True,
                                                    check_weak=True, prompt="Choose a passphrase")
            except AuthError as exc:
                raise AuthError(f"{exc.message}; or `sync-ai-sessions install --no-passphrase` to keep no check",
                                code=exc.code) from None
            if existing and not force:
                try:
                    check_verifier(passphrase, existing, source)
                except CryptoError:
                    raise ConflictError(
                        "this passphrase differs from the one this device's check was set with: nothing was "
                        "changed (add --force to replace the check)",
                        code="verifier_exists",
                    ) from None
        cfg["verifier"] = make_verifier(passphrase)
        result.passphrase_check = True
    save_config(cfg, env)
    result.passphrase = generated
    return result


def _gen() -> str:
    return generate()


def _gh_status(env: Mapping[str, str]) -> dict[str, Any]:
    try:
        from sync_ai_sessions.ghauth import check_gh
    except ModuleNotFoundError:
        return {"installed": None, "problem": "gh support not available in this build", "fix": None}
    st = check_gh(env)
    return {k: v for k, v in vars(st).items() if not k.startswith("_")} if hasattr(st, "__dict__") else dict(st)
