"""Getting the passphrase: prompt (twice when creating), `SYNC_AI_SESSIONS_PASSPHRASE`, or a file.

Never from argv, never written anywhere except as an optional scrypt verifier (see README, Security).
Strength rule (a gist is an offline target): at least 16 characters, at least 8 distinct characters, and
not one character class repeated, e.g. "aaaaaaaaaaaaaaaa" or "1234567890123456" are refused.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions.errors import AuthError, CryptoError, UsageError

ENV = "SYNC_AI_SESSIONS_PASSPHRASE"
MIN_LENGTH = 16
MIN_DISTINCT = 8
_CONSONANTS = "bdfghjklmnprstvz"
_VOWELS = "aeiou"


def strength_problem(p: str) -> str | None:
    if len(p) < MIN_LENGTH:
        return f"it has {len(p)} characters; use at least {MIN_LENGTH} (e.g. several random words)"
    if len(set(p)) < MIN_DISTINCT:
        return f"it uses only {len(set(p))} distinct characters; use at least {MIN_DISTINCT}"
    if p.isdigit():
        return "it is only digits"
    return None


def check_strength(p: str) -> None:
    problem = strength_problem(p)
    if problem:
        raise UsageError(
            f"passphrase too weak: {problem}. A gist can be attacked offline; "
            "`sync-ai-sessions install --generate` makes a strong one",
            code="weak_passphrase",
        )


def generate(words: int = 6) -> str:
    """A random passphrase of pronounceable 6-letter words: about 19.6 bits a word, 117 bits for 6."""
    out = []
    for _ in range(words):
        out.append("".join(secrets.choice(_CONSONANTS) + secrets.choice(_VOWELS) for _ in range(3)))
    return "-".join(out)


def _interactive(env: Mapping[str, str]) -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty() and not env.get("CI")


def given_passphrase(env: Mapping[str, str], *, passphrase_file: str | None = None) -> tuple[str, str] | None:
    """(passphrase, "file" | "env") when one is given without asking (a file wins over the environment),
    else None."""
    if passphrase_file:
        try:
            return Path(passphrase_file).read_text("utf-8").rstrip("\r\n"), "file"
        except OSError as exc:
            raise UsageError(f"cannot read --passphrase-file {passphrase_file}: {exc.strerror}") from exc
    if env.get(ENV):
        return env[ENV], "env"
    return None


def get_passphrase(
    env: Mapping[str, str], *, passphrase_file: str | None = None, confirm: bool = False,
    check_weak: bool = False, prompt: str = "Passphrase",
) -> tuple[str, str]:
    """Return (passphrase, where it came from: "env" | "file" | "prompt")."""
    given = given_passphrase(env, passphrase_file=passphrase_file)
    if given is not None:
        p, source = given
    elif _interactive(env):
        p = getpass.getpass(f"{prompt}: ", stream=sys.stderr)
        if confirm:
            again = getpass.getpass(f"{prompt} (again): ", stream=sys.stderr)
            if again != p:
                raise UsageError("the two passphrases differ; nothing was done", code="passphrase_mismatch")
        source = "prompt"
    else:
        raise AuthError(
            f"no passphrase: set {ENV} or pass --passphrase-file FILE (no terminal to ask on)",
            code="no_passphrase",
        )
    if not p:
        raise UsageError("the passphrase is empty", code="weak_passphrase")
    if check_weak:
        check_strength(p)
    return p, source


# -- optional verifier kept by `install` --------------------------------------------------------------
VERIFIER_LOG2N = 18


def make_verifier(p: str, log2_n: int = VERIFIER_LOG2N) -> dict[str, Any]:
    salt = secrets.token_bytes(16)
    n = 1 << log2_n
    key = hashlib.scrypt(p.encode(), salt=salt, n=n, r=8, p=1, maxmem=128 * 8 * n + (16 << 20), dklen=32)
    return {"kdf": "scrypt", "log2_n": log2_n, "r": 8, "p": 1, "salt": salt.hex(),
            "check": hmac.new(key, b"sync-ai-sessions verifier", "sha256").hexdigest()}


def check_verifier(p: str, v: dict[str, Any]) -> None:
    try:
        n = 1 << int(v["log2_n"])
        r, par = int(v["r"]), int(v["p"])
        if n > 1 << 20 or r > 16 or par > 4:
            return
        key = hashlib.scrypt(p.encode(), salt=bytes.fromhex(v["salt"]), n=n, r=r, p=par,
                             maxmem=128 * r * n + (16 << 20), dklen=32)
        ok = hmac.compare_digest(hmac.new(key, b"sync-ai-sessions verifier", "sha256").hexdigest(), v["check"])
    except (KeyError, ValueError, TypeError):
        return
    if not ok:
        raise CryptoError(
            "this passphrase differs from the one set with `install` on this device: nothing was sent "
            "(re-run `sync-ai-sessions install` to change it)",
            code="wrong_passphrase",
        )


def env_without_secret(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != ENV}


def clear_from_environ() -> None:
    os.environ.pop(ENV, None)
