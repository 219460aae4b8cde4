"""Getting the passphrase: prompt (twice when creating), `SYNC_AI_SESSIONS_PASSPHRASE`, or a file.

Never from argv, never written anywhere except as an optional scrypt verifier (see README, Security).
Strength rule (a gist is an offline target): at least 16 characters, at least 8 distinct characters, and
not one character class repeated, e.g. "aaaaaaaaaaaaaaaa" or "1234567890123456" are refused.
"""

from __future__ import annotations

import codecs
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
from sync_ai_sessions.lookahead import Job

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


_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def decode_passphrase_file(raw: bytes, name: str) -> str:
    """The passphrase in a file as editors and shells write it: UTF-8, or with a byte-order mark UTF-8 or
    UTF-16 (PowerShell's `Out-File`/`>` and Notepad write those), without the line end after it."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            raw, enc = raw[len(bom):], encoding
            break
    else:
        enc = "utf-8"
        if b"\0" in raw:  # no UTF-8 text holds a NUL: UTF-16 without a mark (zeros on the high bytes)
            enc = "utf-16-le" if raw[1::2].count(0) >= raw[0::2].count(0) else "utf-16-be"
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError:
        raise UsageError(f"--passphrase-file {name} is not UTF-8 or UTF-16 text: save it as UTF-8") from None
    return text.rstrip("\r\n")


def _interactive(env: Mapping[str, str]) -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty() and not env.get("CI")


def given_passphrase(env: Mapping[str, str], *, passphrase_file: str | None = None) -> tuple[str, str] | None:
    """(passphrase, "file" | "env") when one is given without asking (a file wins over the environment),
    else None."""
    if passphrase_file:
        try:
            raw = Path(passphrase_file).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read --passphrase-file {passphrase_file}: {exc.strerror}") from exc
        return decode_passphrase_file(raw, passphrase_file), "file"
    if env.get(ENV):
        return env[ENV], "env"
    return None


ATTEMPTS = 3


def _ask(prompt: str) -> str:
    """One hidden prompt on the terminal.  Ctrl-D (end of input) is an interruption, as Ctrl-C is."""
    try:
        return getpass.getpass(f"{prompt}: ", stream=sys.stderr)
    except EOFError:
        print(file=sys.stderr)
        raise KeyboardInterrupt from None


def get_passphrase(
    env: Mapping[str, str], *, passphrase_file: str | None = None, confirm: bool = False,
    check_weak: bool = False, prompt: str = "Passphrase",
) -> tuple[str, str]:
    """Return (passphrase, where it came from: "env" | "file" | "prompt").

    On a terminal a weak or empty passphrase, or a confirmation that differs, is said and asked again
    (three tries); from the environment or a file it is an error, as there is nobody to ask."""
    given = given_passphrase(env, passphrase_file=passphrase_file)
    if given is not None:
        p, source = given
        if not p:
            raise UsageError("the passphrase is empty", code="weak_passphrase")
        if check_weak:
            check_strength(p)
        return p, source
    if not _interactive(env):
        raise AuthError(
            f"no passphrase: set {ENV} or pass --passphrase-file FILE (no terminal to ask on); "
            "`sync-ai-sessions install --generate` makes a strong one",
            code="no_passphrase",
        )
    for attempt in range(ATTEMPTS):
        last = attempt == ATTEMPTS - 1
        p = _ask(prompt)
        problem = "it is empty" if not p else (strength_problem(p) if check_weak else None)
        if problem:
            if last and not p:
                raise UsageError("the passphrase is empty", code="weak_passphrase")
            if last:
                check_strength(p)
            print(f"That passphrase is too weak: {problem}. Try again "
                  "(`sync-ai-sessions install --generate` makes a strong one).", file=sys.stderr)
            continue
        if confirm and _ask(f"{prompt} (again)") != p:
            if last:
                raise UsageError("the two passphrases differ; nothing was done", code="passphrase_mismatch")
            print("The two passphrases differ. Try again.", file=sys.stderr)
            continue
        return p, "prompt"
    raise AssertionError("unreachable")


# -- optional verifier kept by `install` --------------------------------------------------------------
VERIFIER_LOG2N = 18


def make_verifier(p: str, log2_n: int = VERIFIER_LOG2N) -> dict[str, Any]:
    salt = secrets.token_bytes(16)
    n = 1 << log2_n
    key = hashlib.scrypt(p.encode(), salt=salt, n=n, r=8, p=1, maxmem=128 * 8 * n + (16 << 20), dklen=32)
    return {"kdf": "scrypt", "log2_n": log2_n, "r": 8, "p": 1, "salt": salt.hex(),
            "check": hmac.new(key, b"sync-ai-sessions verifier", "sha256").hexdigest()}


SOURCE_NAMES = {"prompt": "this passphrase", "env": f"the passphrase in {ENV}",
                "file": "the passphrase in --passphrase-file"}


def check_verifier(p: str, v: dict[str, Any], source: str = "prompt") -> None:
    """Raise `wrong_passphrase` when `p` is not the passphrase `install` set on this device."""
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
            f"{SOURCE_NAMES.get(source, 'this passphrase')} differs from the one set with `install` on this "
            "device: nothing was sent (`sync-ai-sessions install --force` changes it)",
            code="wrong_passphrase",
        )


class VerifierCheck:
    """`check_verifier` on a thread (scrypt releases the GIL), so a passphrase given without a prompt is
    checked while the sessions are found and packed; `result()` waits and raises what it found."""

    def __init__(self, p: str, v: dict[str, Any], source: str):
        self._job: Job[None] = Job(lambda: check_verifier(p, v, source), name="sais-verifier")

    def result(self) -> None:
        self._job.result()


def env_without_secret(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != ENV}


def clear_from_environ() -> None:
    os.environ.pop(ENV, None)
