"""Gemini CLI adapter.

Reading Gemini's own files (chat replay, projects.json, short names) is in `gemini_files.py`; what stays
here (~540 lines) is the adapter itself: finding a project's sessions, choosing the one file of an id,
and planning an import (short name, registration, rewriting), one sequence that reads best whole.

Storage (checked against Gemini CLI 0.61.0, see the format notes):
- data lives under `<GEMINI_CLI_HOME or ~>/.gemini`;
- a project is the *cwd* Gemini was started in; since 0.29 its per-project folder is `tmp/<short name>/`,
  the short name kept in `projects.json` (`{"projects": {"<abs path>": "<name>"}}`) and confirmed by the
  ownership markers `tmp/<name>/.project_root` and `history/<name>/.project_root`; before 0.29 the folder
  was `tmp/<sha256(abs path)>/` (Gemini copies it into the slug folder once);
- chats are `tmp/<name>/chats/session-<YYYY-MM-DDTHH-MM>-<id8>.jsonl` (JSONL since 0.39) or `.json` (one
  document, before 0.39); subagent chats sit in `chats/<sessionId>/`; a session's large tool outputs in
  `tool-outputs/session-<id>/` and its plans/tracker/tasks in `<id>/`.

Several chat files can hold the same sessionId: every `--resume` first writes a startup record, which
lands in a separate two-line file when the minute changed.  Like Gemini's own session picker we keep, per
sessionId, the file with resumable content (a real user or model message, not a subagent) and the latest
`lastUpdated`; that file travels as the one ROLE_TRANSCRIPT.  The other files of the same id are *dropped*:
startup stubs hold no conversation and older resumable copies (e.g. left behind by the legacy-folder
migration) are ones Gemini itself never shows.

Import: the target project path is the repo root on this machine plus the session's cwd relative to the
repo (the root itself when that folder does not exist here).  `stage` works out, read-only, the short name
Gemini would give that path (same algorithm as Gemini: existing verified mapping, else a folder whose marker
names the path, else `slugify(basename)` with `-1`, `-2`... on clashes; the names planned in one import
are kept in `ctx.lookups`) and plans the registration with the session, for the engine to carry out and
journal like any other change: both `.project_root` markers as new files, the `projects.json` entry as
a `FileEdit` (replaced atomically only if unchanged since it was read; `undo` gives back its old bytes).
We never take Gemini's lock (`projects.json.lock`, a proper-lockfile directory): a receive killed while
holding it would leave it behind; the engine waits while Gemini holds it instead, and should Gemini
rewrite the file in the instant between our check and our rename, the markers we wrote still name the
project, which is what Gemini's own lookup falls back on.

Every string is rewritten from the old repo root / project path / project temp folder to the new ones,
and `projectHash` becomes sha256 of the new project path.  A copy under a new id gets the new id in every
`sessionId`, in the file name's id8, and in its sidecar folder names.

Path forms per OS (all translated on import, both ways; see pathflavor / rewrite_cross):
- Linux: `path.resolve(cwd)` everywhere (registry keys, markers, chat `directories`, tool args).
- macOS: the same strings; Gemini compares them lower-cased (`normalizePath`) but stores them as given.
- Windows: `C:\\work\\app`; `projects.json` keys and `.project_root` markers are lower-cased
  (`c:\\work\\app`, ProjectRegistry.normalizePath) and so is what `cwd_rel` is read from (its case is
  taken from the folders on disk); `projectHash` is sha256 of the real-case resolved path; tool
  arguments as the model wrote them (either separator).  On a Windows target the registry and markers
  are written lower-cased as Gemini does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from sync_ai_sessions import osops, pathflavor
from sync_ai_sessions.adapters.base import (
    ROLE_SIDECAR,
    ROLE_TRANSCRIPT,
    Adapter,
    ExportFile,
    FileEdit,
    ImportContext,
    Placement,
    Recipe,
    Session,
    SessionManifest,
    StagedSession,
    real_case,
)
from sync_ai_sessions.adapters.gemini_files import (
    ChatInfo,
    key_of,
    load_registry,
    pick_transcript,
    project_hash,
    read_chat,
    registration,
    slugify,
)
from sync_ai_sessions.engine.rewrite import PathRewriter, Rule
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo

PROJECT_ROOT_FILE = ".project_root"
_HASH_DIR = re.compile(r"^[0-9a-f]{64}$")
_CHAT_NAME = re.compile(r"^session-.*\.jsonl?$")
_ID8_TAIL = re.compile(r"^(session-.*-)([^-/]{1,8})(\.jsonl?)$")
_PROJECT_HASH = re.compile(rb'"projectHash"\s*:\s*"([0-9a-fA-F]{64})"')
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_TEXT_SUFFIXES = {".json", ".jsonl", ".md", ".txt", ".log", ".yaml", ".yml", ""}
_MAX_WALK_DIRS = 20000


# -- the adapter ----------------------------------------------------------------------------------


class GeminiAdapter(Adapter):
    name = "gemini"
    display_name = "Gemini CLI"

    # -- locations ---------------------------------------------------------------------------
    def gemini_home(self) -> Path:
        return Path(self.env.get("GEMINI_CLI_HOME") or self.user_home())

    def home(self) -> Path:
        """The runtime folder (`tmp/`, `history/`, `projects.json`): `<home>/.gemini`, except under the macOS
        seatbelt sandbox, where Gemini keeps it in `<home>/.cache/.gemini` (`Storage.getGlobalRuntimeDir`:
        inside the sandbox SANDBOX=sandbox-exec; outside it, GEMINI_SANDBOX=true|1|sandbox-exec on macOS
        is what makes Gemini start there)."""
        if self.seatbelt():
            return self.gemini_home() / ".cache" / ".gemini"
        return self.gemini_home() / ".gemini"

    def seatbelt(self) -> bool:
        if self.env.get("SANDBOX"):
            return self.env["SANDBOX"] == "sandbox-exec"
        wanted = self.env.get("GEMINI_SANDBOX", "").strip().lower()
        return osops.MACOS and wanted in ("1", "true", "sandbox-exec")

    @property
    def registry_path(self) -> Path:
        return self.home() / "projects.json"

    @property
    def base_dirs(self) -> list[Path]:
        return [self.home() / "tmp", self.home() / "history"]

    def export_meta(self) -> dict[str, Any]:
        return {"runtime_dir": str(self.home())}

    def tool_version(self) -> str | None:
        return None  # chat files do not record the CLI version

    # -- projects on this machine ------------------------------------------------------------
    def _marker_owner(self, base: Path, slug: str) -> str | None:
        try:
            return (base / slug / PROJECT_ROOT_FILE).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            return ""  # unreadable: Gemini treats it as owned by someone else

    def _projects(self, fl: pathflavor.Flavor | None = None) -> dict[Path, str]:
        """Project temp folder -> project path, from projects.json and the ownership markers (paths compared
        as a machine of flavour `fl` does, this one's by default)."""
        fl = fl or pathflavor.local()
        out: dict[Path, str] = {}
        tmp = self.home() / "tmp"
        for path, slug in load_registry(self.registry_path).items():
            owner = self._marker_owner(tmp, slug)
            if owner is None or key_of(owner, fl) == key_of(path, fl):
                out[tmp / slug] = path
        if tmp.is_dir():
            for d in tmp.iterdir():
                if d in out or _HASH_DIR.match(d.name):
                    continue
                owner = self._marker_owner(tmp, d.name)
                if owner:
                    out[d] = owner
        return out

    def _legacy_dirs(self, repo_root: Path) -> dict[Path, str]:
        """Pre-0.29 `tmp/<sha256(path)>` folders whose path is the repo root or a folder inside it."""
        tmp = self.home() / "tmp"
        hashes = {d.name: d for d in tmp.iterdir() if _HASH_DIR.match(d.name)} if tmp.is_dir() else {}
        out: dict[Path, str] = {}
        if not hashes:
            return out
        for seen, (dirpath, dirnames, _files) in enumerate(os.walk(repo_root), 1):
            dirnames[:] = [d for d in dirnames if d not in (".git", "node_modules")]
            h = project_hash(dirpath)
            if h in hashes:
                out[hashes[h]] = dirpath
            if seen >= _MAX_WALK_DIRS or len(out) == len(hashes):
                break
        return out

    @staticmethod
    def _rel_to(root: Path, project: str) -> str | None:
        here = pathflavor.local()  # on win32 Gemini's keys are lower-cased: compare as the OS does
        for cand in (project, os.path.realpath(project)):
            rel = pathflavor.relative(cand, str(root), here)
            if rel is not None:
                if rel and here.folds_case:
                    rel = real_case(root, rel) or rel  # `Sub`, not the key's `sub`
                return rel
        return None

    # -- send side ---------------------------------------------------------------------------
    def find_sessions(self, repo: Repo) -> list[Session]:
        root = Path(repo.root)
        projects = {**self._legacy_dirs(root), **self._projects()}
        by_id: dict[str, list[tuple[ChatInfo, Path, str]]] = {}
        for temp_dir, project in projects.items():
            rel = self._rel_to(root, project)
            if rel is None:
                continue
            chats_dir = temp_dir / "chats"
            if not chats_dir.is_dir():
                continue
            for f in sorted(chats_dir.iterdir()):
                if not _CHAT_NAME.match(f.name) or not f.is_file():
                    continue
                info = read_chat(f)
                if info and info.session_id:
                    by_id.setdefault(info.session_id, []).append((info, temp_dir, rel))
        sessions: list[Session] = []
        for sid, entries in by_id.items():
            best = pick_transcript([e[0] for e in entries])
            if best is None or not _SAFE_ID.match(sid):
                continue
            _, temp_dir, rel = next(e for e in entries if e[0] is best)
            files = [ExportFile(f"chats/{best.path.name}", best.path, best.size, ROLE_TRANSCRIPT)]
            files += self._sidecars(temp_dir, sid)
            sessions.append(
                Session(
                    id=sid,
                    files=files,
                    cwd_rel=rel,
                    title=best.title,
                    last_activity=best.last_updated,
                    lines=best.lines,
                    meta={
                        "project_root": projects[temp_dir],
                        "temp_dir": str(temp_dir),
                        "format": best.fmt,
                        "start_time": best.start_time,
                    },
                )
            )
        sessions.sort(key=lambda s: s.last_activity or "", reverse=True)
        return sessions

    def _sidecars(self, temp_dir: Path, sid: str) -> list[ExportFile]:
        out: list[ExportFile] = []
        for src_dir, prefix in (
            (temp_dir / "chats" / sid, f"chats/{sid}"),
            (temp_dir / "tool-outputs" / f"session-{sid}", f"tool-outputs/session-{sid}"),
            (temp_dir / sid, f"artifacts/{sid}"),
        ):
            if not src_dir.is_dir() or src_dir.is_symlink():
                continue
            for dirpath, dirnames, filenames in os.walk(src_dir):
                dirnames.sort()
                for fn in sorted(filenames):
                    p = Path(dirpath) / fn
                    if p.is_symlink() or not p.is_file():
                        continue
                    rel = p.relative_to(src_dir).as_posix()
                    out.append(ExportFile(f"{prefix}/{rel}", p, p.stat().st_size, ROLE_SIDECAR))
        return out

    def session_count(self) -> int | None:
        tmp = self.home() / "tmp"
        if not tmp.is_dir():
            return 0
        ids = set()
        for chats in tmp.glob("*/chats"):
            for f in chats.iterdir():
                m = _ID8_TAIL.match(f.name)
                if m:
                    ids.add((chats, m.group(2)))
        return len(ids)

    # -- short names (read-only) -------------------------------------------------------------
    def _owner_ok(self, slug: str, project: str, fl: pathflavor.Flavor) -> bool:
        for base in self.base_dirs:
            owner = self._marker_owner(base, slug)
            if owner is not None and key_of(owner, fl) != key_of(project, fl):
                return False
        return True

    def _existing_slug(self, project: str, registry: dict[str, str], fl: pathflavor.Flavor) -> str | None:
        slug = registry.get(key_of(project, fl))
        if slug and self._owner_ok(slug, project, fl):
            return slug
        for base in self.base_dirs:
            if not base.is_dir():
                continue
            for d in sorted(base.iterdir()):
                owner = self._marker_owner(base, d.name)
                if owner and key_of(owner, fl) == key_of(project, fl):
                    return d.name
        return None

    def _claim_slug(self, project: str, registry: dict[str, str], taken: set[str], fl: pathflavor.Flavor) -> str:
        base = slugify(pathflavor.basename(project, fl) or "project")
        used = set(registry.values()) | taken
        n = 0
        while True:
            cand = base if n == 0 else f"{base}-{n}"
            n += 1
            if cand not in used and self._owner_ok(cand, project, fl):
                return cand

    def short_name(self, project: str, *, fl: pathflavor.Flavor | None = None,
                   reserved: dict[str, str] | None = None) -> str:
        """The short name Gemini would give `project` now, without writing anything.

        `reserved`: the names already planned in this import (project -> name); the answer is added to it,
        so that two new projects of one import with the same base name do not get the same name."""
        fl = fl or pathflavor.local()
        reserved = {} if reserved is None else reserved
        if project in reserved:
            return reserved[project]
        registry = load_registry(self.registry_path)
        k = key_of(project, fl)
        if registry.get(k) and not self._owner_ok(registry[k], project, fl):
            del registry[k]
        taken = {s for p, s in reserved.items() if p != project}
        slug = self._existing_slug(project, registry, fl)
        if slug is None or slug in taken:
            slug = self._claim_slug(project, registry, taken, fl)
        reserved[project] = slug
        return slug

    # -- receive side ------------------------------------------------------------------------
    def _target_project(self, session: SessionManifest, ctx: ImportContext) -> str:
        return str(self.target_cwd(session, ctx))

    def _find_in(self, chats_dir: Path, session_id: str) -> Path | None:
        if not chats_dir.is_dir():
            return None
        found = []
        for f in chats_dir.iterdir():
            if _CHAT_NAME.match(f.name) and f.stem.endswith("-" + session_id[:8]) and f.is_file():
                info = read_chat(f)
                if info and info.session_id == session_id:
                    found.append(info)
        best = pick_transcript(found)
        return best.path if best else None

    @staticmethod
    def _reserved(ctx: ImportContext) -> dict[str, str]:
        """The short names planned in this import (project -> name), kept in `ctx.lookups` while the engine
        plans; a fresh dict outside it."""
        return ctx.lookups.setdefault("gemini-short-names", {}) if ctx.lookups is not None else {}

    def find_existing(self, session_id: str, ctx: ImportContext | None = None) -> Path | None:
        """The chat file of `session_id` in a project of the clone `ctx.target` (without `ctx`: any)."""
        if ctx is None:
            dirs = list(self._projects())
        else:
            root = Path(ctx.target.root)
            dirs = [d for d, p in self._projects(ctx.target_flavor).items() if self._rel_to(root, p) is not None]
            dirs += [self.home() / "tmp" / s for s in self._reserved(ctx).values()]
        for d in dict.fromkeys(dirs):
            hit = self._find_in(d / "chats", session_id)
            if hit:
                return hit
        return None

    def stage(
        self,
        session: SessionManifest,
        files: Mapping[str, Path],
        ctx: ImportContext,
        new_id: str | None = None,
    ) -> StagedSession:
        sid = session.id
        out_id = new_id or sid
        if not _SAFE_ID.match(sid) or not _SAFE_ID.match(out_id):
            raise UnsafePayloadError(f"session id {sid!r} is not a Gemini session id")
        fl = ctx.target_flavor
        existing = None if new_id else self.find_existing(sid, ctx)
        if existing is not None:
            temp_dir = existing.parent.parent
            project = self._projects(fl).get(temp_dir) or self._target_project(session, ctx)
            slug = temp_dir.name
        else:
            project = self._target_project(session, ctx)
            slug = self.short_name(project, fl=fl, reserved=self._reserved(ctx))
            temp_dir = self.home() / "tmp" / slug

        transcripts = [f for f in session.files if f.get("role") == ROLE_TRANSCRIPT]
        if len(transcripts) != 1:
            raise UnsafePayloadError(f"session {sid}: expected one transcript, got {len(transcripts)}")
        t_arc = transcripts[0]["arcname"]
        t_name = self._check_arc(t_arc, sid)[1]
        if existing is not None:
            t_name = existing.name
        elif new_id:
            m = _ID8_TAIL.match(t_name)
            t_name = f"{m.group(1)}{out_id[:8]}{m.group(3)}" if m else f"session-{out_id[:8]}.jsonl"

        rewriter = self._rewriter(session, ctx, files[t_arc], project, temp_dir, sid, out_id)
        staging = ctx.staging / f"gemini-{out_id}"
        staged_t = staging / "transcript"
        recipes = [Recipe(staged_t, files[t_arc], rewriter)]
        transcript = Placement(temp_dir / "chats" / t_name, staged_t)

        # The project's registration goes first (a run killed half-way then leaves the project registered,
        # and the next one places the rest into the same folder), then the session's own files.
        sidecars = self._registration(project, slug, staging, ctx, recipes)
        for i, f in enumerate(session.files):
            arc = f["arcname"]
            if arc == t_arc:
                continue
            kind, rel = self._check_arc(arc, sid)
            if kind == "subagent":
                dest = temp_dir / "chats" / out_id / rel
            elif kind == "tool-outputs":
                dest = temp_dir / "tool-outputs" / f"session-{out_id}" / rel
            elif kind == "artifacts":
                dest = temp_dir / out_id / rel
            else:
                raise UnsafePayloadError(f"session {sid}: a second chat file {arc!r}")
            staged = staging / f"s{i}"
            text = Path(rel).suffix.lower() in _TEXT_SUFFIXES  # other files are copied as they are
            recipes.append(Recipe(staged, files[arc], rewriter if text else None))
            sidecars.append(Placement(dest, staged))

        key = key_of(project, fl)
        edit = FileEdit(self.registry_path, registration(key, slug),
                        busy=Path(os.path.realpath(self.registry_path) + ".lock"))
        return StagedSession(
            session_id=out_id,
            original_id=sid,
            transcript=transcript,
            sidecars=sidecars,
            edits=[edit],
            resume_cwd=Path(project),
            recipes=recipes,
        )

    def _registration(self, project: str, slug: str, staging: Path, ctx: ImportContext,
                      recipes: list[Recipe]) -> list[Placement]:
        """The files that make `slug` the project's folder: Gemini's one-time copy of a pre-0.29 folder
        (see `_legacy_copies`) and the two `.project_root` markers that are not there yet (their recipes
        added to `recipes`)."""
        out = self._legacy_copies(project, slug, staging, ctx, recipes)
        key = key_of(project, ctx.target_flavor)
        for base in self.base_dirs:
            if self._marker_owner(base, slug) is None:
                staged = staging / f"marker-{base.name}"
                recipes.append(Recipe(staged, data=key.encode("utf-8")))  # as Gemini writes it (lower-cased on win32)
                out.append(Placement(base / slug / PROJECT_ROOT_FILE, staged))
        return out

    def _legacy_copies(self, project: str, slug: str, staging: Path, ctx: ImportContext,
                       recipes: list[Recipe]) -> list[Placement]:
        """Gemini's one-time copy of a pre-0.29 `<sha256(path)>` folder, which our import would block.

        Gemini copies `tmp/<hash>` (and `history/<hash>`) into the new short-name folder only while that folder
        holds nothing but `.project_root`; the chats we place there would hide this machine's older sessions
        of the same project for good.  So while the short-name folders hold nothing else (files copied by a
        run that was killed half-way aside), the copy is planned with the session; existing files are never
        replaced.  Planned once per project and import."""
        done = ctx.lookups.setdefault("gemini-legacy", set()) if ctx.lookups is not None else set()
        h = project_hash(project)
        pairs = [(base / h, base / slug) for base in self.base_dirs]
        if slug in done or not all(self._holds_only_copies(target, legacy) for legacy, target in pairs):
            return []
        done.add(slug)
        out: list[Placement] = []
        for legacy, target in pairs:
            if not legacy.is_dir() or legacy.is_symlink():
                continue
            for dirpath, dirnames, filenames in os.walk(legacy):
                dirnames.sort()
                rel = Path(dirpath).relative_to(legacy)
                for fn in sorted(filenames):
                    src, dst = Path(dirpath) / fn, target / rel / fn
                    if src.is_symlink() or dst.exists():
                        continue
                    staged = staging / f"legacy-{len(out)}"
                    recipes.append(Recipe(staged, src))  # copied as it is
                    out.append(Placement(dst, staged))
        return out

    @staticmethod
    def _holds_only_copies(target: Path, legacy: Path) -> bool:
        """`target` holds no file but `.project_root` and files equal to those at the same place in `legacy`."""
        if not target.is_dir():
            return True
        for dirpath, _dirnames, filenames in os.walk(target):
            rel = Path(dirpath).relative_to(target)
            for fn in filenames:
                if rel == Path(".") and fn == PROJECT_ROOT_FILE:
                    continue
                twin = legacy / rel / fn
                try:
                    if not twin.is_file() or twin.read_bytes() != (Path(dirpath) / fn).read_bytes():
                        return False
                except OSError:
                    return False
        return True

    @staticmethod
    def _check_arc(arc: str, sid: str) -> tuple[str, str]:
        p = PurePosixPath(arc)
        if p.is_absolute() or ".." in p.parts or "\\" in arc or any(x in ("", ".") for x in p.parts):
            raise UnsafePayloadError(f"unsafe name in payload: {arc!r}")
        parts = p.parts
        if len(parts) == 2 and parts[0] == "chats" and _CHAT_NAME.match(parts[1]):
            return "chat", parts[1]
        if len(parts) >= 3 and parts[0] == "chats" and parts[1] == sid:
            return "subagent", "/".join(parts[2:])
        if len(parts) >= 3 and parts[0] == "tool-outputs" and parts[1] == f"session-{sid}":
            return "tool-outputs", "/".join(parts[2:])
        if len(parts) >= 3 and parts[0] == "artifacts" and parts[1] == sid:
            return "artifacts", "/".join(parts[2:])
        raise UnsafePayloadError(f"unexpected file in a Gemini session: {arc!r}")

    def _rewriter(
        self,
        session: SessionManifest,
        ctx: ImportContext,
        transcript: Path,
        project: str,
        temp_dir: Path,
        sid: str,
        out_id: str,
    ) -> PathRewriter:
        src = ctx.source
        rules: list[Rule] = []
        old_temp = session.meta.get("temp_dir")
        if isinstance(old_temp, str) and old_temp:
            if out_id != sid:
                outs = "tool-outputs/session-"
                rules.append(Rule(f"{old_temp}/{outs}{sid}", f"{temp_dir}/{outs}{out_id}"))
                rules.append(Rule(f"{old_temp}/{sid}", f"{temp_dir}/{out_id}"))
            rules.append(Rule(old_temp, str(temp_dir)))
        old_project = session.meta.get("project_root")
        if isinstance(old_project, str) and old_project:
            rules.append(Rule(old_project, project))
        if src.repo_root:
            rules.append(Rule(src.repo_root, str(ctx.target.root)))
        new_hash = project_hash(project)
        with open(transcript, "rb") as fh:
            head = fh.read(64 << 20)
        for h in dict.fromkeys(m.group(1).decode() for m in _PROJECT_HASH.finditer(head)):
            if h != new_hash:
                rules.append(Rule(h, new_hash, kind="token"))
        if out_id != sid:
            rules.append(Rule(f"session-{sid}", f"session-{out_id}", kind="token"))
            rules.append(Rule(sid, out_id, kind="token"))
        return PathRewriter(rules, source_flavor=src.os_flavor or "posix", target_flavor=ctx.target_flavor)

    def resume_command(self, session_id: str) -> str:
        return f"gemini --resume {session_id}"
