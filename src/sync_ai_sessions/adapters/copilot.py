"""GitHub Copilot CLI adapter.

Where Copilot CLI keeps a session (facts checked against the real CLI 1.0.102, closed source, so from
observation; see the formats notes, section 4):
  <CH>/session-state/<uuid>/events.jsonl       the transcript: an append-only log of {type,data,id,timestamp,parentId}
  <CH>/session-state/<uuid>/workspace.yaml     id, cwd, git_root, branch, name, created_at, updated_at (CLI-written)
  <CH>/session-state/<uuid>/checkpoints/, rewind-file-snapshots/, files/, research/   per-session extras
  <CH>/session-state/<uuid>/*.lock, <CH>/session-state/.session-operation-locks/       live locks (never carried)
  <CH>/session-store.db                          an SQLite index (sessions, turns, FTS search) the CLI keeps
CH is $COPILOT_HOME, else ~/.copilot.  A session belongs to the repo its recorded cwd lies in: the
`context.cwd` of its `session.start` event, or of a later `session.resume` (the CLI records where it was
resumed).  `--resume=<id>` restores the recorded working directory, so on import every path is rewritten
(events, workspace.yaml, snapshots); the files alone are enough for the CLI: `--resume=<id>` and
`--continue` (the most recent session: run in the root, it took one started in a subfolder) find a session that
session-store.db does not list yet, and the CLI adds it to the index itself the first time it runs it
(proven by tests/copilot/test_copilot_e2e.py), so the index is left to the CLI.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions.adapters.base import (
    ROLE_SIDECAR,
    ROLE_TRANSCRIPT,
    Adapter,
    ExportFile,
    ImportContext,
    Session,
    SessionManifest,
    StagedFiles,
    StagedSession,
    is_inside,
)
from sync_ai_sessions.adapters.jsonl import (
    check_ids,
    complete_size,
    described,
    home_rule,
    load_object,
    moved,
    newest,
    payload_files,
)
from sync_ai_sessions.engine.rewrite import PathRewriter, Rule
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo

_ID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$")
_TS_RE = re.compile(rb'"timestamp":"([0-9T:.+Z-]{10,40})"')
_MAX_DEPTH = 4  # session folders are shallow; deeper trees are not Copilot's
_MAX_FILES = 10_000


def _carried(name: str) -> bool:
    """Files of a session folder that travel: not the CLI's live lock files."""
    return bool(_NAME_RE.match(name)) and not name.endswith(".lock")


class CopilotAdapter(Adapter):
    name = "copilot"
    display_name = "GitHub Copilot CLI"
    streams = True

    # -- locations ---------------------------------------------------------------------------
    def home(self) -> Path:
        env_dir = self.env.get("COPILOT_HOME")
        if env_dir:
            return Path(os.path.abspath(os.path.expanduser(env_dir)))
        return self.user_home() / ".copilot"

    def state_dir(self) -> Path:
        return self.home() / "session-state"

    def _session_dirs(self) -> Iterator[Path]:
        try:
            entries = sorted(os.scandir(self.state_dir()), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if _ID_RE.match(e.name) and e.is_dir(follow_symlinks=False):
                events = Path(e.path, "events.jsonl")
                if events.is_file() and not events.is_symlink():
                    yield Path(e.path)

    # -- send side ---------------------------------------------------------------------------
    def find_sessions(self, repo: Repo) -> list[Session]:
        root = os.path.realpath(repo.root)
        sessions: list[Session] = []
        for d in self._session_dirs():
            session = self._describe(d, root)
            if session is not None:
                sessions.append(session)
        sessions.sort(key=lambda s: (s.last_activity or "", s.id), reverse=True)
        return sessions

    def _scan(self, path: Path, size: int) -> dict[str, Any]:
        """One pass over events.jsonl: the last recorded cwd, the first prompt, the last timestamp."""
        info: dict[str, Any] = {"cwd": None, "git_root": None, "title": None, "timestamp": None, "lines": 0,
                                "version": None}
        with open(path, "rb") as f:
            remaining = size
            for line in f:
                if remaining <= 0:
                    break
                line = line[:remaining]
                remaining -= len(line)
                info["lines"] += 1
                head = line[:40]
                ctx_event = b'"session.start"' in head or b'"session.resume"' in head
                prompt = info["title"] is None and b'"user.message"' in head
                m = _TS_RE.search(line[-200:])
                if m:
                    info["timestamp"] = m.group(1).decode("ascii")
                if not (ctx_event or prompt):
                    continue
                d = load_object(line)
                if not d:
                    continue
                data = d.get("data") if isinstance(d.get("data"), dict) else {}
                if ctx_event:
                    c = data.get("context")
                    if isinstance(c, dict) and isinstance(c.get("cwd"), str) and c["cwd"]:
                        info["cwd"] = c["cwd"]
                        info["git_root"] = c.get("gitRoot") if isinstance(c.get("gitRoot"), str) else None
                    if isinstance(data.get("copilotVersion"), str):
                        info["version"] = data["copilotVersion"]
                if prompt and isinstance(data.get("content"), str) and data["content"].strip():
                    info["title"] = " ".join(data["content"].split())[:200]
        return info

    def _files(self, d: Path, sid: str) -> list[ExportFile]:
        out: list[ExportFile] = []

        def walk(folder: Path, rel: list[str], depth: int) -> None:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return
            for e in entries:
                if len(out) >= _MAX_FILES or not _carried(e.name):
                    continue
                if e.is_dir(follow_symlinks=False):
                    if depth < _MAX_DEPTH:
                        walk(Path(e.path), [*rel, e.name], depth + 1)
                elif e.is_file(follow_symlinks=False) and not (depth == 0 and e.name == "events.jsonl"):
                    p = Path(e.path)
                    out.append(ExportFile("/".join(["session-state", sid, *rel, e.name]), p, p.stat().st_size))

        walk(d, [], 0)
        return out

    def _describe(self, d: Path, root: str) -> Session | None:
        sid = d.name
        events = d / "events.jsonl"
        try:
            st = events.stat()
        except OSError:
            return None
        size = complete_size(events, st.st_size)
        info = self._scan(events, size)
        cwd = info["cwd"]
        if not isinstance(cwd, str) or not is_inside(cwd, root):
            return None
        files = [ExportFile(f"session-state/{sid}/events.jsonl", events, size, ROLE_TRANSCRIPT),
                 *self._files(d, sid)]
        for f in files[1:]:
            f.role = ROLE_SIDECAR
        return described(sid, files, cwd, root, info, st.st_mtime, {"cwd": cwd, "git_root": info["git_root"]})

    def export_meta(self) -> dict[str, Any]:
        return {"copilot_home": str(self.home()), "home": str(self.user_home())}

    def tool_version(self) -> str | None:
        p = newest(d / "events.jsonl" for d in self._session_dirs())
        if p is None:
            return None
        try:
            v = self._scan(p, p.stat().st_size)["version"]
        except OSError:
            return None
        return v if isinstance(v, str) else None

    def session_count(self) -> int | None:
        return sum(1 for _ in self._session_dirs())

    # -- receive side ------------------------------------------------------------------------
    def find_existing(self, session_id: str, ctx: ImportContext | None = None) -> Path | None:
        if not _ID_RE.match(session_id or ""):
            return None
        p = self.state_dir() / session_id / "events.jsonl"
        return p if p.is_file() else None

    def _rules(self, session: SessionManifest, ctx: ImportContext, target_cwd: Path) -> list[Rule]:
        src = ctx.source
        meta = src.adapter_meta or {}
        rules = moved(session, ctx, target_cwd).rules()
        old_home = src.tool_home or meta.get("copilot_home")
        if isinstance(old_home, str) and old_home:
            rules.append(Rule(old_home, str(self.home())))
        return rules + home_rule(src.home or meta.get("home"), str(self.user_home()))

    def stage(
        self,
        session: SessionManifest,
        files: Mapping[str, Path],
        ctx: ImportContext,
        new_id: str | None = None,
    ) -> StagedSession:
        sid, out_id = check_ids(session, new_id, _ID_RE)
        target_cwd = self.target_cwd(session, ctx)
        rewriter = PathRewriter(
            self._rules(session, ctx, target_cwd), source_flavor=ctx.source.os_flavor,
            target_flavor=ctx.target_flavor,
        )
        out = StagedFiles.of(ctx, "copilot", sid, out_id, rewriter)
        folder = self.state_dir() / out_id
        for arcname, parts, src, role in payload_files(session, files):
            if len(parts) < 3 or parts[:2] != ["session-state", sid] or len(parts) > 3 + _MAX_DEPTH or not all(
                _carried(p) for p in parts[2:]
            ):
                raise UnsafePayloadError(f"unexpected file in a Copilot CLI session: {arcname!r}")
            if (role == ROLE_TRANSCRIPT) != (parts[2:] == ["events.jsonl"]):
                raise UnsafePayloadError(f"unexpected transcript name in the payload: {arcname!r}")
            out.add(src, folder.joinpath(*parts[2:]), role=role)
        return out.result(out_id, sid, target_cwd)

    def resume_command(self, session_id: str) -> str:
        return f"copilot --resume={session_id}"
