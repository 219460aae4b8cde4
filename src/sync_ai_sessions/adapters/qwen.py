"""Qwen Code adapter.

Where Qwen Code keeps a session (facts checked against the real CLI 0.24.4):
  <RT>/projects/<sanitizeCwd(cwd)>/chats/<sessionId>.jsonl          the transcript (append-only JSON lines)
  <RT>/projects/<sanitizeCwd(cwd)>/chats/<sessionId>.runtime.json   live status (pid, work_dir, ...)
  <RT>/projects/<sanitizeCwd(cwd)>/chats/<sessionId>.{worktree,pr}.json, <sessionId>.ledger.jsonl
  <RT>/tmp/<sha256(cwd)>/tool-results/<callId>.txt                  large tool outputs, named in the transcript
  <GLOBAL>/plans/<sessionId>.md                                     the session's approved plan
GLOBAL is $QWEN_HOME or ~/.qwen.  RT (the runtime dir) is $QWEN_RUNTIME_DIR, else the
`advanced.runtimeOutputDir` setting of GLOBAL/settings.json, else GLOBAL.  `cwd` is the directory
qwen was started in; `sanitizeCwd` replaces every character outside [A-Za-z0-9] by "-" (and lower-cases
on Windows).  Every record carries the absolute `cwd`, and Qwen lists or resumes a session only when the
first record's `cwd` hashes like the current directory, so on import `cwd` is rewritten in every record
(with every other old absolute path) and the file lands in the folder of the new cwd.

Path forms per OS (all translated on import, both ways; see pathflavor / rewrite_cross):
- Linux/macOS: `cwd` in every record, tool args and outputs as `/home/u/app/...`, the project folder
  `-home-u-app`, the temp folder `tmp/<sha256(cwd)>`.
- Windows: `C:\\work\\app` in records; the project folder and the temp hash come from the lower-cased
  path (`c--work-app`, sha256 of `c:\\work\\app`); lower-cased paths may also appear in text.
"""

from __future__ import annotations

import hashlib
import json
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

# Qwen only lists transcripts whose name matches this (and looks them up by it).
SESSION_FILE_RE = re.compile(r"^[0-9a-fA-F-]{32,36}\.jsonl$")
_ID_RE = re.compile(r"^[0-9a-fA-F-]{32,36}$")
# Per-session files next to the transcript (Qwen moves the first three with the session itself).
SIDECAR_SUFFIXES = (".runtime.json", ".worktree.json", ".pr.json", ".ledger.jsonl")
_TOOL_RESULT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_HEAD_LIMIT = 8 << 20  # the first record is read up to this many bytes


def sanitize_cwd(path: str, *, windows: bool = False) -> str:
    """Qwen's folder name for a working directory (`projects/<this>/`)."""
    p = path.lower() if windows else path
    return re.sub(r"[^a-zA-Z0-9]", "-", p)


def project_hash(path: str, *, windows: bool = False) -> str:
    """Qwen's temp-folder name for a working directory (`tmp/<this>/`)."""
    p = path.lower() if windows else path
    return hashlib.sha256(p.encode("utf-8")).hexdigest()


def _first_record(path: Path) -> dict[str, Any] | None:
    """The first JSON line of a file, reading at most `_HEAD_LIMIT` bytes."""
    try:
        with open(path, "rb") as f:
            line = f.readline(_HEAD_LIMIT)
    except OSError:
        return None
    return load_object(line) if line.endswith(b"\n") or len(line) < _HEAD_LIMIT else None


def _prompt_text(d: dict[str, Any]) -> str | None:
    msg = d.get("message")
    if not isinstance(msg, dict):
        return None
    parts = msg.get("parts")
    if not isinstance(parts, list):
        return None
    for part in parts:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            text = part["text"].strip()
            if text and not text.startswith("<"):
                return " ".join(text.split())[:200]
    return None


def _json_inner(s: str) -> bytes:
    return json.dumps(s, ensure_ascii=False)[1:-1].encode("utf-8")


class QwenAdapter(Adapter):
    name = "qwen"
    display_name = "Qwen Code"
    streams = True

    # -- locations ---------------------------------------------------------------------------
    def _expand(self, p: str) -> Path:
        if p == "~":
            return self.user_home()
        if p.startswith(("~/", "~\\")):
            return self.user_home() / p[2:]
        return Path(os.path.abspath(p))

    def global_dir(self) -> Path:
        """`$QWEN_HOME` or `~/.qwen`: settings, plans, credentials."""
        env_dir = self.env.get("QWEN_HOME")
        if env_dir:
            return self._expand(env_dir)
        return self.user_home() / ".qwen"

    def _settings_runtime_dir(self) -> Path | None:
        """`advanced.runtimeOutputDir` from the user settings (absolute or `~` values only)."""
        try:
            raw = (self.global_dir() / "settings.json").read_text(encoding="utf-8")
            settings = json.loads(raw)
        except (OSError, ValueError):
            return None
        advanced = settings.get("advanced") if isinstance(settings, dict) else None
        value = advanced.get("runtimeOutputDir") if isinstance(advanced, dict) else None
        if not isinstance(value, str) or not value.strip():
            return None
        value = value.strip()
        if value == "~" or value.startswith(("~/", "~\\")) or os.path.isabs(value):
            return self._expand(value)
        return None  # relative to each project: not a single home we could confine imports to

    def runtime_dir(self) -> Path:
        env_dir = self.env.get("QWEN_RUNTIME_DIR")
        if env_dir:
            return self._expand(env_dir)
        return self._settings_runtime_dir() or self.global_dir()

    def home(self) -> Path:
        return self.runtime_dir()

    def projects_dir(self) -> Path:
        return self.runtime_dir() / "projects"

    def chats_dir(self, cwd: str) -> Path:
        return self.projects_dir() / sanitize_cwd(cwd, windows=os.name == "nt") / "chats"

    def tool_results_dir(self, cwd: str) -> Path:
        return self.runtime_dir() / "tmp" / project_hash(cwd, windows=os.name == "nt") / "tool-results"

    def _transcripts(self) -> Iterator[Path]:
        try:
            dirs = sorted(os.scandir(self.projects_dir()), key=lambda e: e.name)
        except OSError:
            return
        for d in dirs:
            if not d.is_dir(follow_symlinks=False):
                continue
            chats = os.path.join(d.path, "chats")
            if os.path.islink(chats):
                continue
            try:
                entries = sorted(os.scandir(chats), key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                if SESSION_FILE_RE.match(e.name) and e.is_file(follow_symlinks=False):
                    yield Path(e.path)

    # -- send side ---------------------------------------------------------------------------
    def find_sessions(self, repo: Repo) -> list[Session]:
        root = os.path.realpath(repo.root)
        sessions: list[Session] = []
        for path in self._transcripts():
            first = _first_record(path)
            cwd = first.get("cwd") if first else None
            if not isinstance(cwd, str) or not cwd or not is_inside(cwd, root):
                continue
            session = self._describe(path, cwd, root)
            if session is not None:
                sessions.append(session)
        sessions.sort(key=lambda s: (s.last_activity or "", s.id), reverse=True)
        return sessions

    def _describe(self, path: Path, cwd: str, root: str) -> Session | None:
        sid = path.name[: -len(".jsonl")]
        if not _ID_RE.match(sid):
            return None
        st = path.stat()
        size = complete_size(path, st.st_size)
        tmp_hash = project_hash(cwd, windows=os.name == "nt")
        tool_dir = self.runtime_dir() / "tmp" / tmp_hash / "tool-results"
        info = self._scan(path, size, tool_dir)
        files = [ExportFile(f"chats/{sid}.jsonl", path, size, ROLE_TRANSCRIPT)]
        for suffix in SIDECAR_SUFFIXES:
            p = path.parent / f"{sid}{suffix}"
            if p.is_file() and not p.is_symlink():
                files.append(ExportFile(f"chats/{sid}{suffix}", p, p.stat().st_size, ROLE_SIDECAR))
        for name in sorted(info["tool_results"]):
            p = tool_dir / name
            if p.is_file() and not p.is_symlink():
                files.append(ExportFile(f"tool-results/{sid}/{name}", p, p.stat().st_size, ROLE_SIDECAR))
        plan = self.global_dir() / "plans" / f"{sid}.md"
        if plan.is_file() and not plan.is_symlink():
            files.append(ExportFile(f"plans/{sid}.md", plan, plan.stat().st_size, ROLE_SIDECAR))
        return described(sid, files, cwd, root, info, st.st_mtime,
                         {"cwd": cwd, "project_dir": path.parent.parent.name, "tmp_hash": tmp_hash})

    def _scan(self, path: Path, size: int, tool_dir: Path) -> dict[str, Any]:
        """One pass over a matched transcript: lines, title, last timestamp, version, tool-result files."""
        lines = 0
        first_prompt = title = timestamp = version = None
        tool_results: set[str] = set()
        needle = _json_inner(str(tool_dir) + os.sep)
        name_re = re.compile(re.escape(needle) + rb"([A-Za-z0-9][A-Za-z0-9._-]{0,199})")
        with open(path, "rb") as f:
            remaining = size
            for line in f:
                if remaining <= 0:
                    break
                if len(line) > remaining:
                    line = line[:remaining]
                remaining -= len(line)
                lines += 1
                if needle in line:
                    for m in name_re.finditer(line):
                        name = m.group(1).decode("ascii").rstrip(".")
                        if _TOOL_RESULT_NAME_RE.match(name):
                            tool_results.add(name)
                need_prompt = first_prompt is None and b'"type":"user"' in line
                need_title = b'"subtype":"custom_title"' in line
                if not (need_prompt or need_title or b'"timestamp":"' in line):
                    continue
                d = load_object(line)
                if not d:
                    continue
                if need_prompt and d.get("type") == "user":
                    first_prompt = _prompt_text(d)
                if need_title:
                    payload = d.get("systemPayload")
                    t = payload.get("customTitle") if isinstance(payload, dict) else None
                    if isinstance(t, str) and t.strip():
                        title = " ".join(t.split())[:200]
                if isinstance(d.get("timestamp"), str):
                    timestamp = d["timestamp"]
                if isinstance(d.get("version"), str):
                    version = d["version"]
        return {
            "lines": lines,
            "title": title or first_prompt,
            "timestamp": timestamp,
            "version": version,
            "tool_results": tool_results,
        }

    def export_meta(self) -> dict[str, Any]:
        return {
            "runtime_dir": str(self.runtime_dir()),
            "global_dir": str(self.global_dir()),
            "home": str(self.user_home()),
        }

    def tool_version(self) -> str | None:
        last = newest(self._transcripts())
        if last is None:
            return None
        # The last record names the version that wrote last (a session may outlive an upgrade).
        try:
            with open(last, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - (1 << 16)))
                tail = f.read()
        except OSError:
            return None
        for line in reversed(tail.splitlines()):
            d = load_object(line) if b'"version":"' in line else None
            if d and isinstance(d.get("version"), str):
                return d["version"]
        first = _first_record(last)
        v = first.get("version") if first else None
        return v if isinstance(v, str) else None

    def session_count(self) -> int | None:
        return sum(1 for _ in self._transcripts())

    # -- receive side ------------------------------------------------------------------------
    def find_existing(self, session_id: str, ctx: ImportContext | None = None) -> Path | None:
        """The local transcript of `session_id` for this repo (any project folder inside it)."""
        if not _ID_RE.match(session_id or ""):
            return None
        name = f"{session_id}.jsonl"
        root = os.path.realpath(ctx.target.root) if ctx is not None else None
        preferred = self.chats_dir(root) / name if root else None
        if preferred is not None and preferred.is_file():
            return preferred
        try:
            dirs = sorted(os.scandir(self.projects_dir()), key=lambda e: e.name)
        except OSError:
            return None
        for d in dirs:
            p = Path(d.path, "chats", name)
            if not (d.is_dir(follow_symlinks=False) and p.is_file()):
                continue
            if root is None:
                return p
            first = _first_record(p)
            cwd = first.get("cwd") if first else None
            if isinstance(cwd, str) and is_inside(cwd, root):
                return p
        return None

    def _rules(self, session: SessionManifest, ctx: ImportContext, target_cwd: Path) -> list[Rule]:
        src = ctx.source
        meta = src.adapter_meta or {}
        win = src.os_flavor == "windows"
        here_win = ctx.target_flavor.windows
        new_sep = ctx.target_flavor.sep
        mv = moved(session, ctx, target_cwd)
        sep, old_cwd, new_cwd = mv.sep, mv.old_cwd, mv.new_cwd
        old_dir = session.meta.get("project_dir")
        if not isinstance(old_dir, str) or not old_dir:
            old_dir = sanitize_cwd(old_cwd, windows=win)
        old_hash = session.meta.get("tmp_hash")
        if not isinstance(old_hash, str) or not old_hash:
            old_hash = project_hash(old_cwd, windows=win)
        new_dir = sanitize_cwd(new_cwd, windows=here_win)
        new_hash = project_hash(new_cwd, windows=here_win)
        new_rt = str(self.runtime_dir())
        rules = mv.rules()
        old_rt = meta.get("runtime_dir")
        if isinstance(old_rt, str) and old_rt:
            rules += [
                Rule(old_rt + sep + "projects" + sep + old_dir, new_rt + new_sep + "projects" + new_sep + new_dir),
                Rule(old_rt + sep + "tmp" + sep + old_hash, new_rt + new_sep + "tmp" + new_sep + new_hash),
                Rule(old_rt, new_rt),
            ]
        old_global = meta.get("global_dir")
        if isinstance(old_global, str) and old_global:
            rules.append(Rule(old_global, str(self.global_dir())))
        rules += home_rule(src.home or meta.get("home"), str(self.user_home()))
        # Bare folder names: the project folder and the temp hash, when text names them alone.
        if len(old_dir) >= 4 and old_dir.strip("-"):
            rules.append(Rule(old_dir, new_dir, kind="token"))
        rules.append(Rule(old_hash, new_hash, kind="token"))
        return rules

    def stage(
        self,
        session: SessionManifest,
        files: Mapping[str, Path],
        ctx: ImportContext,
        new_id: str | None = None,
    ) -> StagedSession:
        sid, out_id = check_ids(session, new_id, _ID_RE)
        target_cwd = self.target_cwd(session, ctx)
        chats = self.chats_dir(str(target_cwd))
        tool_dir = self.tool_results_dir(str(target_cwd))
        plans = self.global_dir() / "plans"
        plans_ok = is_inside(str(plans), str(self.home()))
        rewriter = PathRewriter(
            self._rules(session, ctx, target_cwd), source_flavor=ctx.source.os_flavor, target_flavor=ctx.target_flavor
        )
        out = StagedFiles.of(ctx, "qwen", sid, out_id, rewriter)
        for arcname, parts, src, role in payload_files(session, files):
            rewrite = True
            replace_id = True  # a copy renames the session id in this file
            if role == ROLE_TRANSCRIPT:
                if parts != ["chats", f"{sid}.jsonl"]:
                    raise UnsafePayloadError(f"unexpected transcript name in the payload: {arcname!r}")
                dest = chats / f"{out_id}.jsonl"
            elif len(parts) == 2 and parts[0] == "chats" and parts[1] in {f"{sid}{s}" for s in SIDECAR_SUFFIXES}:
                dest = chats / (out_id + parts[1][len(sid) :])
            elif (
                len(parts) == 3
                and parts[:2] == ["tool-results", sid]
                and _TOOL_RESULT_NAME_RE.match(parts[2])
            ):
                dest = tool_dir / parts[2]
                # Tool output as the model saw it: paths are rewritten in text, other files kept byte for byte.
                rewrite = parts[2].endswith(".txt")
                replace_id = False
            elif parts == ["plans", f"{sid}.md"]:
                if not plans_ok:
                    continue  # the plans folder is outside the runtime dir imports are confined to
                dest = plans / f"{out_id}.md"
            else:
                raise UnsafePayloadError(f"unexpected file in a Qwen Code session: {arcname!r}")
            out.add(src, dest, role=role, rewrite=rewrite, replace_id=replace_id)
        return out.result(out_id, sid, target_cwd)


    def resume_command(self, session_id: str) -> str:
        return f"qwen --resume {session_id}"
