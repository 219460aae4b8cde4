"""Helpers for the Gemini adapter tests: a sender home from the real fixtures, and the engine played."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from support.fixtures import fixtures_dir

from sync_ai_sessions.adapters.base import (
    Adapter,
    ImportContext,
    Session,
    SessionManifest,
    SessionResult,
    SourceInfo,
    StagedSession,
)
from sync_ai_sessions.engine.importer import Importer
from sync_ai_sessions.engine.journal import Journal
from sync_ai_sessions.gitrepo import Repo

ALICE_ROOT = "/home/alice/src/myproj"
ALICE_GEMINI = "/home/alice/.gemini"
SID = "b49d9bf8-a231-4155-b82d-3eb3dd18d73b"
CHAT_NAME = "session-2026-11-24T01-06-b49d9bf8.jsonl"


def fixture_chat() -> Path:
    return fixtures_dir() / "gemini" / "0.61.0" / ".gemini" / "tmp" / "myproj" / "chats" / CHAT_NAME


def legacy_chat() -> Path:
    return fixtures_dir() / "gemini" / "legacy-json" / "session-legacy.json"


def sha(p: str) -> str:
    return hashlib.sha256(p.encode()).hexdigest()


def copy_fixture_home(dst_home: Path) -> Path:
    """The real 0.61.0 `.gemini` (projects.json, markers, chat) copied writable under dst_home."""
    src = fixtures_dir() / "gemini" / "0.61.0" / ".gemini"
    shutil.copytree(src, dst_home / ".gemini")
    for p in (dst_home / ".gemini").rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    (dst_home / ".gemini").chmod(0o755)
    return dst_home / ".gemini"


def manifest_of(session: Session, store: Path) -> tuple[SessionManifest, dict[str, Path]]:
    """What the receiving side gets for `session`: its manifest and the exact bytes sent."""
    files: dict[str, Path] = {}
    entries = []
    for i, f in enumerate(session.files):
        data = f.read()
        p = store / f"recv{i}"
        p.write_bytes(data)
        files[f.arcname] = p
        entries.append(
            {"arcname": f.arcname, "size": f.size, "sha256": hashlib.sha256(data).hexdigest(), "role": f.role}
        )
    m = SessionManifest(
        id=session.id,
        files=entries,
        cwd_rel=session.cwd_rel,
        title=session.title,
        last_activity=session.last_activity,
        lines=session.lines,
        meta=dict(session.meta),
    )
    return m, files


def context(
    target_root: Path,
    staging: Path,
    env: dict[str, str],
    *,
    repo_root: str = ALICE_ROOT,
    tool_home: str = ALICE_GEMINI,
) -> ImportContext:
    staging.mkdir(parents=True, exist_ok=True)
    return ImportContext(
        target=Repo(root=target_root),
        source=SourceInfo(os_flavor="posix", repo_root=repo_root, home="/home/alice", tool_home=tool_home),
        staging=staging,
        env=env,
    )


def through_engine(adapter: Adapter, m: SessionManifest, files: dict[str, Path], ctx: ImportContext,
                   *, apply: bool = True) -> tuple[SessionResult, Importer]:
    """Plan one session with the import engine, as receive does, and (with `apply`) carry the plan out,
    journalled; returns the engine's decision and the engine."""
    imp = Importer(adapter, ctx)
    ctx.lookups = {}
    try:
        result = imp.plan_session(m, files)
    finally:
        ctx.lookups = None
    if apply and imp.has_changes:
        journal = Journal.start(ctx.env, adapter.name, adapter.home())
        imp.apply(journal)
        journal.complete([])
    return result, imp


def place(staged: StagedSession, action: str = "new") -> SessionResult:
    """Place staged files the way the engine does for a new session: never overwrite."""
    for pl in [staged.transcript, *staged.sidecars]:
        assert not pl.dest.exists(), pl.dest
        pl.dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pl.staged, pl.dest)
    return SessionResult(
        id=staged.session_id, original_id=staged.original_id, action=action, path=staged.transcript.dest
    )


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for folders), to prove nothing was written."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}
