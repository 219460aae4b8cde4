"""A tiny file-based "tool" used by the core tests: the smallest complete adapter.

Home: `$SAIS_DEMO_HOME`, else `~/.sais-demo`.  A session is `sessions/<enc(cwd)>/<id>.jsonl`, one JSON
object per line, each with `cwd` and `sessionId`; an optional sidecar folder `sessions/<enc>/<id>/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

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
)
from sync_ai_sessions.engine.rewrite import PathRewriter, Rule
from sync_ai_sessions.gitrepo import Repo


def enc(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", path)


class DemoAdapter(Adapter):
    name = "demo"
    display_name = "Demo tool"
    streams = True

    def home(self) -> Path:
        return Path(self.env.get("SAIS_DEMO_HOME") or self.user_home() / ".sais-demo")

    def _head_cwd(self, path: Path) -> str | None:
        with open(path, "rb") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("cwd"), str):
                    return rec["cwd"]
        return None

    def find_sessions(self, repo: Repo) -> list[Session]:
        root = str(repo.root)
        out: list[Session] = []
        base = self.home() / "sessions"
        for f in sorted(base.glob("*/*.jsonl")) if base.is_dir() else []:
            cwd = self._head_cwd(f)
            if cwd is None or not (cwd == root or cwd.startswith(root + "/")):
                continue
            sid = f.stem
            files = [ExportFile(f"sessions/{sid}.jsonl", f, f.stat().st_size, ROLE_TRANSCRIPT)]
            side = f.with_suffix("")
            if side.is_dir():
                for p in sorted(side.rglob("*")):
                    if p.is_file() and not p.is_symlink():
                        rel = p.relative_to(side).as_posix()
                        files.append(ExportFile(f"sessions/{sid}/{rel}", p, p.stat().st_size, ROLE_SIDECAR))
            out.append(Session(id=sid, files=files, cwd_rel=cwd[len(root):].lstrip("/"),
                               last_activity=None, lines=None))
        return out

    def find_existing(self, session_id: str, ctx: ImportContext | None = None) -> Path | None:
        hits = sorted((self.home() / "sessions").glob(f"*/{session_id}.jsonl"))
        return hits[0] if hits else None

    def stage(self, session: SessionManifest, files: Mapping[str, Path], ctx: ImportContext,
              new_id: str | None = None) -> StagedSession:
        sid = new_id or session.id
        cwd = ctx.target.root / session.cwd_rel if session.cwd_rel else ctx.target.root
        rules = [Rule(ctx.source.repo_root, str(ctx.target.root))]
        if new_id:
            rules.append(Rule(session.id, new_id, kind="token"))
        rw = PathRewriter(rules, source_flavor=ctx.source.os_flavor)
        folder = self.home() / "sessions" / enc(str(cwd))
        out = StagedFiles(ctx.staging, f"demo-{sid}-", rw, None)
        for f in session.files:
            if f["role"] == ROLE_TRANSCRIPT:
                dest = folder / f"{sid}.jsonl"
            else:
                dest = folder / sid / f["arcname"].split("/", 2)[2]
            out.add(Path(files[f["arcname"]]), dest, role=f["role"])
        return out.result(sid, session.id, cwd)

    def resume_command(self, session_id: str) -> str:
        return f"demo-tool --resume {session_id}"
