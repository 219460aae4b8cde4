"""`undo`: revert the last import exactly, or refuse if any of its files changed since."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops
from sync_ai_sessions.errors import ConflictError
from sync_ai_sessions.journal import import_lock, latest_journal, read_journal, sha256_file
from sync_ai_sessions.ui import UI


def _changed(op: dict[str, Any], inodes: dict[str, int]) -> str | None:
    p = Path(op["path"])
    kind = op["op"]
    if kind in ("create", "extend"):
        if not p.is_file():
            return f"{p} is gone"
        st = p.stat()
        ino = inodes.get(op["path"], op.get("ino"))
        if (st.st_size != op["size"] or ("sha256" in op and sha256_file(p) != op["sha256"])
                or (ino is not None and st.st_ino != ino)):
            return f"{p} changed since it was imported (was the session resumed?)"
    elif kind == "append" and (not p.is_file() or p.stat().st_size != op["size"]):
        return f"{p} changed since the import"
    return None


def _never_done(op: dict[str, Any]) -> bool:
    p = Path(op["path"])
    if op["op"] == "create":
        return not p.exists()
    if op["op"] in ("extend", "append"):
        return not p.exists() or p.stat().st_size == op["old_size"]
    return False


def undo(*, env: Mapping[str, str] | None = None, ui: UI | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    ui = ui or UI()
    jpath = latest_journal(env)
    header, ops, done = read_journal(jpath)
    home = Path(header.get("home", "/"))
    with import_lock(env, Path(os.path.realpath(home))):
        if done is None:
            # An interrupted import: an op is journalled before it is done, so a file it names may
            # never have been placed. Those are not changes since; there is just nothing to revert.
            ops = [op for op in ops if not _never_done(op)]
        # A file placed by copying (staging on another file system) has the copy's inode.
        inodes = {op["path"]: op["ino"] for op in ops if op["op"] == "inode"}
        ops = [op for op in ops if op["op"] != "inode"]
        problems = [m for op in ops if (m := _changed(op, inodes))]
        if problems:
            raise ConflictError(f"cannot undo the last import: {problems[0]}", code="changed_since")
        reverted: list[dict[str, Any]] = []
        for op in reversed(ops):
            p = Path(op["path"])
            kind = op["op"]
            if kind == "create":
                osops.remove(p)
            elif kind in ("extend", "append"):
                if kind == "append" and op["old_size"] == 0:
                    osops.remove(p)
                else:
                    os.truncate(p, op["old_size"])
            elif kind == "temp":
                p.unlink(missing_ok=True)
                continue
            elif kind == "mkdir":
                with contextlib.suppress(OSError):
                    p.rmdir()
            reverted.append({"op": kind, "path": str(p)})
            if kind != "mkdir":
                ui.say(f"reverted {kind}: {p}")
        jpath.rename(jpath.with_suffix(".undone"))
    return {"ok": True, "journal": str(jpath), "complete": done is not None, "reverted": reverted,
            "sessions": (done or {}).get("sessions", [])}
