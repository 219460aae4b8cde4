"""Transports carry the finished ciphertext file somewhere and back, behind `transports.base.Transport`.

`cli.py` and `commands/` never name a concrete transport: they ask this registry.  A transport joins by
adding one line to `REGISTRY` (its kind -> "module:Class"); the module is imported only when used, so a
build without the gist transport still sends and receives files.  How the CLI options map onto a
transport: `--to FILE` / `--from FILE` -> "file" (the reference is the path), `--gist ID` -> "gist"
(the reference is the gist id or URL).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from sync_ai_sessions.errors import UsageError
from sync_ai_sessions.transports.base import Transport

REGISTRY: dict[str, str] = {
    "file": "sync_ai_sessions.transports.file:FileTransport",
    "gist": "sync_ai_sessions.transports.gist:GistTransport",
}


def transport_class(kind: str) -> type[Transport]:
    """The class registered as `kind`; UsageError when unknown or not available in this build."""
    target = REGISTRY.get(kind)
    if target is None:
        raise UsageError(f"unknown transport {kind!r}", code="unknown_transport")
    module, _, name = target.partition(":")
    try:
        cls: type[Transport] = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError:
        raise UsageError(f"the {kind} transport is not available in this build: use --to FILE / --from FILE"
                         ) from None
    return cls


def for_send(*, to: str | None = None, overwrite: bool = False, max_mb: float | None = None) -> Transport:
    """The transport `send` stores into: `--to FILE`, else the gist (at most `max_mb` MB per gist)."""
    if to is not None:
        return transport_class("file")(to, overwrite=overwrite)  # type: ignore[call-arg]
    cls = transport_class("gist")
    return cls() if max_mb is None else cls(max_size=int(max_mb * 1_000_000))  # type: ignore[call-arg]


def for_receive(*, from_file: str | None = None, gist: str | None = None) -> tuple[Transport, str]:
    """The transport and reference `receive`/`inspect` read from: exactly one of `--from FILE`, `--gist ID`."""
    if bool(from_file) == bool(gist):
        raise UsageError("give exactly one of --gist ID or --from FILE")
    if from_file:
        return transport_class("file")(from_file), from_file  # type: ignore[call-arg]
    return transport_class("gist")(), gist or ""


def handoff_store(env: Mapping[str, str] | None = None, hostname: str | None = None, **extra: Any) -> Transport:
    """The transport whose handoffs `list`, `delete` and `prune` manage (today: our secret gists)."""
    return transport_class("gist")(env, hostname=hostname, check=False, **extra)  # type: ignore[call-arg]
