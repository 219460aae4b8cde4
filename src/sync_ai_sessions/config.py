"""Our own config folder: `~/.sync-ai-sessions` (as the reference), or `$SYNC_AI_SESSIONS_HOME`.

It holds `config.json` (no secrets; an optional passphrase verifier), `journal/` (undo records), `locks/`
and short-lived `staging/` folders.  Folders are created 0700, files 0600.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops

ENV_HOME = "SYNC_AI_SESSIONS_HOME"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_HOME):
        return Path(env[ENV_HOME])
    return osops.user_home(env) / ".sync-ai-sessions"


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents with mode 0700 (folders that existed keep their mode,
    except `path` itself, which is made 0700)."""
    missing: list[Path] = []
    cur = path
    while not cur.exists():
        missing.append(cur)
        cur = cur.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)  # mkdir's mode is filtered by the umask
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Atomically write `data` to `path` with mode 0600."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = osops.open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            osops.fsync(fh.fileno())
        osops.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    p = config_dir(env) / "config.json"
    try:
        data = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_config(cfg: dict[str, Any], env: Mapping[str, str] | None = None) -> Path:
    p = config_dir(env) / "config.json"
    write_private(p, json.dumps(cfg, indent=2, sort_keys=True).encode("utf-8") + b"\n")
    return p
