"""Claude Code adapter.

Where Claude Code keeps a session (facts checked against the real CLI 2.1.330, 2.0.77, 1.0.128):
  <CFG>/projects/<enc(cwd)>/<sessionId>.jsonl     the transcript (append-only JSON lines)
  <CFG>/projects/<enc(cwd)>/<sessionId>/          subagents/, tool-results/
  <CFG>/projects/<enc(cwd)>/agent-<aid>.jsonl     older (<=2.0) subagent files, matched by sessionId
  <CFG>/file-history/<sessionId>/                 rewind backups (raw file contents)
  <CFG>/projects/<enc(git root)>/memory/          per-project auto-memory
CFG is $CLAUDE_CONFIG_DIR or ~/.claude.  `cwd` is the physical working directory at launch, and
`enc` replaces every UTF-16 code unit outside [A-Za-z0-9] by "-" (names over 200 characters are cut and
get a hash suffix).  The encoding is lossy, so a session's repo is decided by the `cwd` recorded inside
the file (or its latest `relocated` record), never by the folder name.

Path forms per OS (all translated on import, both ways; see pathflavor / rewrite_cross):
- Linux: `cwd` and tool inputs/outputs as `/home/u/app/...`; temp folder `/tmp/claude-<uid>/<enc(cwd)>/`.
- macOS: as Linux, but paths are physical: `/private/tmp/claude-<uid>`, `/private/var/...` for `/tmp`, `/var`.
- Windows: `C:\\work\\app` (JSON-escaped backslashes; drive case kept, so `enc` gives `C--work-app` or
  `c--work-app`); the Bash tool runs Git-Bash, so commands and outputs hold `/c/work/app/...`; Node may
  write `C:/work/app` and `\\\\?\\C:\\...`; the temp folder is `%TEMP%\\claude\\<enc(cwd)>\\` (no uid).

The project folder name and the fast transcript readers are in `claude_files.py`; this module (~570
lines) is the adapter: discovery, the rewriting rules and staging, which share the layout above.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops, pathflavor
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
from sync_ai_sessions.adapters.claude_files import (
    _NEVER,
    _count_and_last,
    _ends_cwd,
    _head_value,
    _last_value,
    _line_at,
    _Mapped,
    _prompt_text,
    _walk_files,
    complete_len,
    count_and_last_of,
    cwd_in,
    encode_project_dir,
    read_session,
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
from sync_ai_sessions.statcache import StatCache

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_OVERRIDE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WIN_DEVICE_RE = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)$", re.IGNORECASE)

_TITLE_TYPES = (b'"type":"custom-title"', b'"type":"ai-title"', b'"type":"summary"')
_CACHE_SCHEMA = 1  # what a discovery cache entry holds: {"cwd"} and, for a session of a repo sent, "size", "info"


def _real_dir(p: Path) -> bool:
    """A folder, not a symlink to one (one lstat: `is_dir() and not is_symlink()` took two stats)."""
    try:
        return stat.S_ISDIR(os.lstat(p).st_mode)
    except OSError:
        return False


def _real_dirs(folder: Path) -> set[str]:
    """The names of the real folders (not symlinks) in `folder`, from one listing; empty when it is none."""
    if not _real_dir(folder):
        return set()
    try:
        with os.scandir(folder) as it:
            return {e.name for e in it if e.is_dir(follow_symlinks=False)}
    except OSError:
        return set()


class ClaudeAdapter(Adapter):
    name = "claude"
    display_name = "Claude Code"
    streams = True
    _newest_seen: tuple[Path | None] | None = None  # set by find_sessions, taken by tool_version

    # -- locations ---------------------------------------------------------------------------
    def _expand(self, p: str) -> Path:
        if p == "~" or p.startswith(("~/", "~\\")):
            return self.user_home() / p[2:] if len(p) > 1 else self.user_home()
        return Path(p)

    def config_dir(self) -> Path:
        """Claude's config dir; with the projects-folder override, the folder that holds it."""
        override = self.env.get("SYNC_AI_SESSIONS_SESSION_DIR")
        if override:
            return self._expand(override).parent
        cfg = self.env.get("CLAUDE_CONFIG_DIR")
        if cfg:
            return self._expand(cfg)
        return self.user_home() / ".claude"

    def projects_dir(self) -> Path:
        override = self.env.get("SYNC_AI_SESSIONS_SESSION_DIR")
        if override:
            return self._expand(override)
        return self.config_dir() / "projects"

    def home(self) -> Path:
        return self.config_dir()

    def tmp_dir(self, fl: pathflavor.Flavor | None = None) -> str:
        """Where the CLI puts task output (`<tmp>/claude-<uid>/<enc(cwd)>/<id>/tasks/`), as it records it.

        POSIX: `$CLAUDE_CODE_TMPDIR` or `/tmp`, plus `claude-<uid>`; the recorded path is the physical one,
        so on macOS `/private/tmp/claude-<uid>`.  Windows: `%TEMP%\\claude` (no uid there)."""
        fl = fl or pathflavor.local()
        override = self.env.get("CLAUDE_CODE_TMPDIR")
        if fl.windows:
            base = override or self.env.get("TEMP") or self.env.get("TMP") or tempfile.gettempdir()
            return pathflavor.join(base, "claude", fl)
        base = override or "/tmp"
        if fl.system == "darwin" and base in ("/tmp", "/var/tmp"):
            base = "/private" + base
        uid = osops.getuid()
        return pathflavor.join(base, f"claude-{uid}", fl)

    def project_dir_name(self, cwd: str) -> str:
        """The folder under `projects/` the CLI uses for `cwd` (honours CLAUDE_CODE_PROJECT_DIR_NAME)."""
        override = self.env.get("CLAUDE_CODE_PROJECT_DIR_NAME")
        if (
            override
            and self.env.get("CLAUDE_CONFIG_DIR")
            and _OVERRIDE_NAME_RE.match(override)
            and not _WIN_DEVICE_RE.match(override)
        ):
            return override
        return encode_project_dir(cwd)

    def _transcripts(self) -> Iterator[Path]:
        for p in self._transcript_paths():
            yield Path(p)

    def _transcript_paths(self) -> Iterator[str]:
        """Main transcripts (`projects/*/<id>.jsonl`, not `agent-*`), as strings: cheap among thousands."""
        for _, paths, _ in self._project_folders():
            yield from paths

    def _project_folders(self) -> Iterator[tuple[str, list[str], set[str]]]:
        """Each project folder: (its path, its main transcripts, the names of the real folders in it).  The
        folder names come from the same listing (no stat): a session's `<id>/` sidecar folder is one."""
        projects = self.projects_dir()
        try:
            dirs = sorted(os.scandir(projects), key=lambda e: e.name)
        except OSError:
            return
        for d in dirs:
            if not d.is_dir(follow_symlinks=False):
                continue
            try:
                entries = sorted(os.scandir(d.path), key=lambda e: e.name)
            except OSError:
                continue
            paths: list[str] = []
            folders: set[str] = set()
            for e in entries:
                name = e.name
                if name.endswith(".jsonl"):
                    if not name.startswith("agent-") and e.is_file(follow_symlinks=False):
                        paths.append(e.path)
                elif e.is_dir(follow_symlinks=False):
                    folders.add(name)
            yield d.path, paths, folders

    # -- send side ---------------------------------------------------------------------------
    def session_cwd(self, path: Path | str) -> str | None:
        """The session's working directory: its latest `relocated` cwd, else the first recorded cwd.

        Fast path: a 64 KiB window at each end of the file, when both hold a whole line with a cwd, they
        agree, and no `relocated` record follows.  Otherwise the file is searched (memory-mapped), the
        whole of it for `relocated` records only when the tail shows the session went on elsewhere.
        """
        try:
            fast = _ends_cwd(path)
            if fast is not None:
                return fast
            with _Mapped(Path(path)) as mm:
                return None if mm is None else cwd_in(mm)
        except (OSError, ValueError):
            return None

    def find_sessions(self, repo: Repo) -> list[Session]:
        root = os.path.realpath(repo.root)
        sessions: list[Session] = []
        agents: dict[str, dict[str, list[Path]]] = {}  # per project folder: its agent files by session
        best: tuple[float, str] | None = None  # the newest transcript, as `newest` picks it (for tool_version)
        history = self.config_dir() / "file-history"
        with_history = _real_dirs(history)  # one listing, not a stat per session
        cache = StatCache(self.env, "claude-discovery", _CACHE_SCHEMA)
        for folder, paths, sub in self._project_folders():
            for path in paths:
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if best is None or st.st_mtime > best[0]:
                    best = (st.st_mtime, path)
                known = cache.get(path, st)  # unchanged since a discovery before: its answers, unread
                if known is not None:
                    cwd = known["cwd"]
                    if cwd is None or not is_inside(cwd, root):
                        continue
                    data = None
                else:
                    # One open: both ends settle the cwd, and a small matching transcript is read whole
                    # there, every question below asked of that buffer.
                    try:
                        st, settled, cwd, data = read_session(path, lambda c: is_inside(c, root))
                    except (OSError, ValueError):
                        continue
                    if not settled:
                        cwd = self.session_cwd(path)
                    known = {"cwd": cwd}
                    cache.put(path, st, known)
                    if cwd is None or not is_inside(cwd, root):
                        continue
                sid = path[len(folder) + 1: -len(".jsonl")]
                described = "info" in known
                session = self._describe(Path(path), cwd, root, agents, st, data,
                                         sidecars=sid in sub, history=history if sid in with_history else None,
                                         known=known)
                if not described and "info" in known:
                    cache.put(path, st, known)
                if session is not None:
                    sessions.append(session)
        cache.save()
        self._newest_seen = (Path(best[1]) if best else None,)
        # Project memory travels with every session (each under its own names: the payload refuses
        # duplicates); on import the first session of the handoff that carries it places it.
        memory = self._memory_files(root)
        for s in sessions:
            s.files.extend(
                ExportFile(f"memory/{s.id}/{rel}", p, size, ROLE_SIDECAR) for rel, p, size in memory
            )
        sessions.sort(key=lambda s: (s.last_activity or "", s.id), reverse=True)
        return sessions

    def _memory_files(self, root: str) -> list[tuple[str, Path, int]]:
        folder = self.projects_dir() / self.project_dir_name(root) / "memory"
        out = []
        if folder.is_dir() and not folder.is_symlink():
            for p in _walk_files(folder):
                out.append((p.relative_to(folder).as_posix(), p, p.stat().st_size))
        return out

    def _describe(self, path: Path, cwd: str, root: str,
                  agents: dict[str, dict[str, list[Path]]] | None = None,
                  st: os.stat_result | None = None, data: bytes | None = None, *,
                  sidecars: bool | None = None, history: Path | bool | None = True,
                  known: dict[str, Any] | None = None) -> Session | None:
        """The session of the transcript at `path`; with `data` (the file read whole, `st` its status)
        nothing of it is read again.  `sidecars`: whether its `<id>/` folder exists (None: look);
        `history`: the file-history folder when this session has one there (None: it has none; True: look).
        `known`: the discovery cache's entry for the file in status `st`: its "size" and "info" are taken
        from there when it has them, else computed and kept there."""
        sid = path.name[: -len(".jsonl")]
        if not _ID_RE.match(sid):
            return None
        if known is not None and st is not None and "info" in known:
            size, info = known["size"], known["info"]
        elif data is not None and st is not None:
            size = complete_len(data)
            info = self._scan_in(data, size, *count_and_last_of(data, size, _TITLE_TYPES))
        else:
            st = path.stat()
            size = complete_size(path, st.st_size)
            info = self._scan(path, size)
        if known is not None and "info" not in known:
            known.update(size=size, info=info)
        files = [ExportFile(f"projects/{sid}.jsonl", path, size, ROLE_TRANSCRIPT)]
        folder = path.parent  # one Path for the session's names (thousands of sessions: each costs)
        sibling = folder / sid if sidecars or sidecars is None else None
        if sibling is not None and (sidecars or _real_dir(sibling)):
            for p in _walk_files(sibling):
                rel_p = p.relative_to(sibling).as_posix()
                files.append(ExportFile(f"projects/{sid}/{rel_p}", p, p.stat().st_size, ROLE_SIDECAR))
        for p in self._old_agent_files(str(folder), sid, agents):
            files.append(ExportFile(f"agents/{sid}/{p.name}", p, p.stat().st_size, ROLE_SIDECAR))
        if history is True:
            history = self.config_dir() / "file-history"
            history = history if _real_dir(history / sid) else None
        if history:
            h = history / sid
            for p in _walk_files(h):
                rel_p = p.relative_to(h).as_posix()
                files.append(ExportFile(f"file-history/{sid}/{rel_p}", p, p.stat().st_size, ROLE_SIDECAR))
        return described(sid, files, cwd, root, info, st.st_mtime, {"cwd": cwd, "project_dir": folder.name})

    def _old_agent_files(self, folder: str, sid: str, cache: dict[str, dict[str, list[Path]]] | None = None
                         ) -> list[Path]:
        """Old-style subagent transcripts (`agent-*.jsonl` beside the session) whose head names `sid`.

        With `cache`, each folder's agent files are read once for all its sessions."""
        if cache is not None:
            by_sid = cache.get(folder)
            if by_sid is None:
                by_sid = cache[folder] = {}
                for p in self._agent_files(folder):
                    owner = self._agent_owner(p)
                    if owner is not None:
                        by_sid.setdefault(owner, []).append(p)
            return by_sid.get(sid, [])
        return [p for p in self._agent_files(folder) if self._agent_owner(p) == sid]

    @staticmethod
    def _agent_files(folder: str | Path) -> list[Path]:
        folder = Path(folder)
        try:
            names = sorted(e.name for e in os.scandir(folder)
                           if e.name.startswith("agent-") and e.name.endswith(".jsonl"))
        except OSError:
            return []
        return [p for p in (folder / n for n in names) if not p.is_symlink() and p.is_file()]

    @staticmethod
    def _agent_owner(p: Path) -> str | None:
        try:
            with _Mapped(p) as mm:
                return _head_value(mm, "sessionId", 1 << 20) if mm is not None else None
        except (OSError, ValueError):
            return None

    def _scan(self, path: Path, size: int) -> dict[str, Any]:
        """Line count, title, last timestamp and version of a matched transcript, at byte level: one
        backward pass counts newlines and finds the last title record; only the few lines that hold the
        answers are parsed."""
        lines, last = _count_and_last(path, size, _TITLE_TYPES)
        if not size:
            return self._scan_in(b"", size, lines, last)
        with _Mapped(path) as mm:
            return self._scan_in(mm if mm is not None else b"", size, lines, last)

    @staticmethod
    def _scan_in(mm: Any, size: int, lines: int, last: dict[bytes, int]) -> dict[str, Any]:
        """`_scan` of the file's bytes `mm` (mapped, or read whole), given its line count and the last
        title records' positions."""
        title = first_prompt = timestamp = version = None
        if size and len(mm):
            end = min(size, len(mm))
            for pos in sorted(last.values(), reverse=True):  # the last title record wins
                d = load_object(_line_at(mm, pos))
                title = next((d[k].strip()[:200] for k in ("customTitle", "aiTitle", "title", "summary")
                              if d and isinstance(d.get(k), str) and d[k].strip()), None)
                if title:
                    break
            pos = mm.find(b'"type":"user"', 0, end)
            tries = 0
            while pos >= 0 and first_prompt is None and tries < 50:
                tries += 1
                d = load_object(_line_at(mm, pos))
                if d and d.get("type") == "user":
                    first_prompt = _prompt_text(d)
                pos = mm.find(b'"type":"user"', pos + 1, end)
            parsed: dict[int, dict[str, Any] | None] = {}
            timestamp = _last_value(mm, "timestamp", end, parsed)
            version = _last_value(mm, "version", end, parsed)
        return {"lines": lines, "title": title or first_prompt, "timestamp": timestamp, "version": version}

    def export_meta(self) -> dict[str, Any]:
        return {
            "config_dir": str(self.config_dir()),
            "projects_dir": str(self.projects_dir()),
            "tmp_dir": self.tmp_dir(),
            "home": str(self.user_home()),
        }

    def tool_version(self) -> str | None:
        # Right after `find_sessions` (send), the newest transcript it saw (its fstat gave every mtime)
        # instead of a stat of every transcript again; once, so that a later call looks afresh.
        seen, self._newest_seen = self._newest_seen, None
        last = seen[0] if seen is not None else newest(self._transcripts())
        if last is None:
            return None
        try:
            with _Mapped(last) as mm:
                if mm is None:
                    return None
                pos = mm.rfind(b'"version":"')
                while pos >= 0:
                    d = load_object(_line_at(mm, pos))
                    if d and isinstance(d.get("version"), str):
                        return d["version"]
                    pos = mm.rfind(b'"version":"', 0, pos)
        except (OSError, ValueError):
            return None
        return None

    def session_count(self) -> int | None:
        return sum(1 for _ in self._transcripts())

    # -- receive side ------------------------------------------------------------------------
    def find_existing(self, session_id: str, ctx: ImportContext | None = None) -> Path | None:
        if not _ID_RE.match(session_id or ""):
            return None
        if ctx is not None and ctx.lookups is not None:
            index = ctx.lookups.get("claude-transcripts")
            if index is None:
                index = ctx.lookups["claude-transcripts"] = self._transcript_index()
            return index.get(session_id)
        projects = self.projects_dir()
        try:
            dirs = sorted(os.scandir(projects), key=lambda e: e.name)
        except OSError:
            return None
        for d in dirs:
            p = Path(d.path, f"{session_id}.jsonl")
            if d.is_dir(follow_symlinks=False) and p.is_file():
                return p
        return None

    def _transcript_index(self) -> dict[str, Path]:
        """What `find_existing` answers for every id at once: `<id>.jsonl` in the first project folder
        (by name) that holds it as a file."""
        index: dict[str, Path] = {}
        try:
            dirs = sorted(os.scandir(self.projects_dir()), key=lambda e: e.name)
        except OSError:
            return index
        for d in dirs:
            if not d.is_dir(follow_symlinks=False):
                continue
            try:
                entries = list(os.scandir(d.path))
            except OSError:
                continue
            for e in entries:
                name = e.name
                if name.endswith(".jsonl") and name[:-6] not in index and e.is_file():
                    index[name[:-6]] = Path(e.path)
        return index

    def _rewriter(self, session: SessionManifest, ctx: ImportContext, target_cwd: Path) -> PathRewriter:
        """The rewriter of `_rules`; while the engine plans (`ctx.lookups`), once per distinct input of
        `_rules` (the sessions of a handoff share a few working directories), not once per session."""
        meta = session.meta
        key = (str(target_cwd), session.cwd_rel, meta.get("cwd") if isinstance(meta.get("cwd"), str) else None,
               meta.get("project_dir") if isinstance(meta.get("project_dir"), str) else None)
        cache = ctx.lookups.setdefault("claude-rewriters", {}) if ctx.lookups is not None else None
        rw = cache.get(key) if cache is not None else None
        if rw is None:
            rw = PathRewriter(self._rules(session, ctx, target_cwd), source_flavor=ctx.source.os_flavor,
                              target_flavor=ctx.target_flavor)
            if cache is not None:
                cache[key] = rw
        return rw

    def _rules(self, session: SessionManifest, ctx: ImportContext, target_cwd: Path) -> list[Rule]:
        src = ctx.source
        meta = src.adapter_meta or {}
        win = src.os_flavor == "windows"
        mv = moved(session, ctx, target_cwd)
        sep, old_root, old_cwd, target_root, new_cwd = mv.sep, mv.old_root, mv.old_cwd, mv.new_root, mv.new_cwd
        enc_old_root, enc_new_root = encode_project_dir(old_root), self.project_dir_name(target_root)
        enc_old_cwd, enc_new_cwd = encode_project_dir(old_cwd), self.project_dir_name(new_cwd)
        new_projects, new_tmp = str(self.projects_dir()), self.tmp_dir(ctx.target_flavor)
        new_sep = ctx.target_flavor.sep
        rules = mv.rules()
        old_projects = meta.get("projects_dir")
        old_cfg = meta.get("config_dir")
        old_tmp = meta.get("tmp_dir")
        if old_projects:
            rules += [
                Rule(old_projects + sep + enc_old_root, new_projects + new_sep + enc_new_root),
                Rule(old_projects + sep + enc_old_cwd, new_projects + new_sep + enc_new_cwd),
                Rule(old_projects, new_projects),
            ]
        if old_cfg:
            rules.append(Rule(old_cfg, str(self.config_dir())))
        old_tmps = [old_tmp] if old_tmp else []
        if old_tmp and win and old_tmp.rstrip("\\").lower().endswith("\\claude-0"):
            # Earlier senders reported `%TEMP%\\claude-0`; Claude on Windows writes `%TEMP%\\claude`.
            old_tmps.append(old_tmp.rstrip("\\")[: -len("-0")])
        for old_t in old_tmps:
            rules += [
                Rule(old_t + sep + enc_old_cwd, new_tmp + new_sep + enc_new_cwd),
                Rule(old_t + sep + enc_old_root, new_tmp + new_sep + enc_new_root),
                Rule(old_t, new_tmp),
            ]
        rules += home_rule(src.home or meta.get("home"), str(self.user_home()))
        # Bare folder names (e.g. inside text that names them without the parent path).
        tokens = {enc_old_root: enc_new_root, enc_old_cwd: enc_new_cwd}
        if isinstance(session.meta.get("project_dir"), str):
            tokens.setdefault(session.meta["project_dir"], enc_new_cwd)
        for old, new in tokens.items():
            if len(old) >= 4 and old.strip("-"):
                rules.append(Rule(old, new, kind="token"))
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
        target_root = Path(ctx.realpath(ctx.target.root))
        projects = self.projects_dir()
        project = projects / self.project_dir_name(str(target_cwd))
        # Claude refuses an id that exists in two project folders; keep the one file where it already is.
        existing = None if new_id else self.find_existing(sid, ctx)
        if existing is not None:
            project = existing.parent
        memory = projects / self.project_dir_name(str(target_root)) / "memory"
        history = self.config_dir() / "file-history" / out_id
        rewriter = self._rewriter(session, ctx, target_cwd)
        ids = out_id != sid
        out = StagedFiles.of(ctx, "claude", sid, out_id, rewriter)
        for arcname, parts, src, role in payload_files(session, files):
            rewrite = True
            if role == ROLE_TRANSCRIPT:
                if parts != ["projects", f"{sid}.jsonl"]:
                    raise UnsafePayloadError(f"unexpected transcript name in the payload: {arcname!r}")
                dest = project / f"{out_id}.jsonl"
            elif parts[0] == "projects" and len(parts) >= 3 and parts[1] == sid:
                dest = project.joinpath(out_id, *parts[2:])
            elif parts[0] == "agents" and len(parts) == 3 and parts[1] == sid:
                name = parts[2]
                if ids and name.endswith(".jsonl"):
                    name = f"{name[: -len('.jsonl')]}-{out_id[:8]}.jsonl"
                dest = project / name
            elif parts[0] == "file-history" and len(parts) >= 3 and parts[1] == sid:
                dest = history.joinpath(*parts[2:])
                rewrite = False  # raw copies of the user's files, restored byte for byte by /rewind
            elif parts[0] == "memory" and len(parts) >= 3 and parts[1] == sid:
                dest = memory.joinpath(*parts[2:])
            else:
                raise UnsafePayloadError(f"unexpected file in a Claude Code session: {arcname!r}")
            if parts[-1] in _NEVER:
                continue
            out.add(src, dest, role=role, rewrite=rewrite)
        return out.result(out_id, sid, target_cwd)


    def resume_command(self, session_id: str) -> str:
        return f"claude --resume {session_id}"
