"""The one small interface every AI-tool adapter implements.

It is kept in one module (~520 lines) on purpose: an adapter author reads here, top to bottom, every
type a plan is made of and every rule the engine holds it to.

Send side:   `find_sessions(repo)` -> the repo's sessions, each with the files that travel with it.
Receive side: `stage(...)` plans a session for this machine and writes nothing: for each file, a
`Recipe` (which bytes, rewritten how, staged under which name) and where it must land, which lines go to
shared append-only files (`LineAppend`) and which shared documents change (`FileEdit`: an index such as
Gemini's projects.json).  The shared import engine carries the recipes out, in one place
(`sync_ai_sessions.engine.staging`): while the payload is decrypted when the adapter `streams`, else
right after `stage` returns, then calls `complete` for what needs the staged bytes; it then decides
(`sync_ai_sessions.engine.importer`), on bytes, new / skip / fast-forward / copy, and places files
atomically without ever overwriting, every change journalled for `undo`.  When a session must become a
copy, the engine calls `stage(..., new_id=...)` again.  `finalize` runs once after anything was
imported, for notes only; an index the tool must rebuild is a planned store operation (`RowsReset`,
from `index_resets`).  Neither is called when nothing was imported.

A tool that keeps sessions in an SQLite database (OpenCode) stages `StagedRows` instead: the rows the
session needs, and the ordered "units" (one per message) that the engine compares the way it compares a
transcript's bytes; the engine then writes the rows in one transaction, journalled for `undo` (see
"Store operations" in `sync_ai_sessions.engine.importer`).

Rules every adapter keeps:
- `arcname`s are POSIX, relative, without `..`, and start with a top folder the adapter owns
  (e.g. `projects/...`); they are names inside the payload, not paths on this machine.
- Every `Placement.dest` lies inside `self.home()`; the engine re-checks and refuses anything else.
- `stage` and `complete` write nothing, not even into `ctx.staging`: every staged file is a `Recipe`
  the engine carries out, and every change to the tool's home is in the plan they return (placements,
  line appends, file edits, rows), so that `undo` and a killed import see it.  They may read the payload
  files (an adapter that `streams` does not, in `stage`) and the tool's home.
- No per-import state on `self`: what an adapter remembers across the sessions of one import (names it
  planned, indexes of local files) lives in `ctx.lookups` (or in the returned plan).
"""

from __future__ import annotations

import itertools
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sync_ai_sessions import osops, pathflavor
from sync_ai_sessions.engine.rewrite import PathRewriter, copy_file
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo


def is_inside(child: str, root: str, fl: pathflavor.Flavor | None = None) -> bool:
    """True when the path `child` is `root` or below it, under the comparison rules of flavour `fl`
    (this machine's by default: case-insensitive on Windows and macOS); no file system access."""
    return pathflavor.is_inside(child, root, fl or pathflavor.local())


def real_case(root: Path, rel: str) -> str | None:
    """`rel` (POSIX, below the folder `root`) spelled as the folders on disk are, matching each component
    case-insensitively when it does not exist as written (a Windows sender's tools may have lower-cased
    it); None when some component is not there."""
    cur = root
    out: list[str] = []
    for part in [p for p in rel.split("/") if p]:
        if (cur / part).is_dir():
            hit = part
        else:
            try:
                names = [e.name for e in os.scandir(cur) if e.is_dir()]
            except OSError:
                return None
            want = pathflavor.key(part, "windows")
            hit = next((n for n in sorted(names) if pathflavor.key(n, "windows") == want), None)
            if hit is None:
                return None
        out.append(hit)
        cur = cur / hit
    return "/".join(out)


def arc_parts(arcname: str) -> list[str]:
    """The components of a payload name, refusing anything that could leave a folder."""
    parts = arcname.split("/")
    if (
        not arcname
        or arcname.startswith("/")
        or any(p in ("", ".", "..") or "\\" in p or "\x00" in p or ":" in p for p in parts)
    ):
        raise UnsafePayloadError(f"refusing unsafe file name in the payload: {arcname!r}")
    return parts


# Roles of files inside a session.  Exactly one "transcript" per session: the file whose bytes decide
# new / identical / fast-forward / diverged.
ROLE_TRANSCRIPT = "transcript"
ROLE_SIDECAR = "sidecar"  # subagents, tool outputs, file-history, memory, ...


@dataclass
class ExportFile:
    arcname: str  # name inside the payload (POSIX, relative)
    source: Path  # file to read on this machine
    size: int  # bytes to carry: read exactly this many (append-only files may grow while we read)
    role: str = ROLE_SIDECAR
    # The bytes to carry when they are not the file at `source` but a part of it (a session's lines of a
    # shared file such as Codex's history.jsonl): `size` is then len(data), and `source` only says where they
    # came from (in messages).  Kept in memory: for small extracts only.
    data: bytes | None = None

    @property
    def content(self) -> Path | bytes:
        """What to read: the file at `source`, or `data` when set (the secret scan takes either)."""
        return self.source if self.data is None else self.data

    def read(self) -> bytes:
        """The bytes this file carries (tests and small files: everything in memory)."""
        if self.data is not None:
            return self.data
        with open(self.source, "rb") as fh:
            return fh.read(self.size)


@dataclass
class Session:
    """One session found on the sending machine."""

    id: str
    files: list[ExportFile]
    cwd_rel: str = ""  # the session's cwd relative to the repo root, POSIX ("" = the root itself)
    title: str | None = None  # title or first prompt (shown on receive, kept inside the ciphertext)
    last_activity: str | None = None  # ISO-8601 UTC
    lines: int | None = None
    tool_version: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # adapter-specific, JSON-serialisable

    @property
    def transcript(self) -> ExportFile:
        return next(f for f in self.files if f.role == ROLE_TRANSCRIPT)


@dataclass
class SessionManifest:
    """A session as read back from a payload's manifest on the receiving machine."""

    id: str
    files: list[dict[str, Any]]  # {"arcname", "size", "sha256", "role"}
    cwd_rel: str = ""
    title: str | None = None
    last_activity: str | None = None
    lines: int | None = None
    tool_version: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceInfo:
    """Facts about the sending machine, from the manifest."""

    os_flavor: str  # "posix" or "windows"
    repo_root: str
    home: str | None = None
    tool_home: str | None = None  # the adapter's home() on the sender
    hostname: str | None = None
    adapter_meta: dict[str, Any] = field(default_factory=dict)  # export_meta() of the sending adapter


@dataclass
class Recipe:
    """How one staged file gets its bytes, which the engine writes (adapters only plan, see the rules):
    the bytes of the file `src` (a payload file, or one of the tool's own), rewritten by `rewriter` (with
    `replace`, then `post`) or copied as they are; or `data`, bytes the adapter made (a marker file).
    A payload file is the `src` of one Recipe at most (a file staged while it is decrypted is not kept)."""

    staged: Path  # where the engine writes them (inside ctx.staging); the Placement names it
    src: Path | None = None
    rewriter: PathRewriter | None = None
    replace: tuple[bytes, bytes] | None = None
    post: Callable[[bytes], bytes] | None = None  # the adapter's own edit after the rewrite (whole lines)
    data: bytes | None = None  # instead of `src`
    # How to read `src` when not as it is (Codex: a zstd-compressed rollout, decompressed); such a file is
    # staged from the whole payload file, after it arrived, never while it is decrypted.
    read: Callable[[Path], Iterable[bytes]] | None = None

    def apply(self) -> None:
        """Write the staged file, reading `src` once (the engine calls it; see `engine.staging`)."""
        if self.data is not None:
            with open(self.staged, "wb") as out:
                out.write(self.data)
            return
        assert self.src is not None, f"a Recipe for {self.staged} without src or data"
        if self.read is not None:
            with open(self.staged, "wb") as out:
                self.write(self.read(self.src), out)
        elif self.rewriter is None:
            copy_file(self.src, self.staged)
        else:
            self.rewriter.rewrite_file(self.src, self.staged, replace=self.replace, post=self.post)

    def write(self, blocks: Iterable[bytes], out: Any) -> None:
        """Stage bytes arriving as `blocks` into `out` (a writable file, opened on `staged`)."""
        if self.rewriter is None:
            for block in blocks:
                out.write(block)
        else:
            self.rewriter.rewrite_stream(blocks, out, replace=self.replace, post=self.post)


@dataclass
class ImportContext:
    target: Repo  # the local clone (root is the physical path)
    source: SourceInfo
    staging: Path  # a private folder for staged files; removed by the engine afterwards
    env: Mapping[str, str]
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"keep_provider": True} for codex
    # Set by the engine while it plans an import (nothing is placed meanwhile): adapters may keep here what
    # they look up per session (the local transcripts by id, an index file's entries), built once per
    # import instead of once per session.  None outside planning: look on disk.
    lookups: dict[str, Any] | None = None

    def realpath(self, path: str | Path) -> str:
        """`os.path.realpath`, remembered while the engine plans (the clone does not move meanwhile)."""
        if self.lookups is None:
            return os.path.realpath(path)
        cache = self.lookups.setdefault("realpath", {})
        key = str(path)
        found = cache.get(key)
        if found is None:
            found = cache[key] = os.path.realpath(key)
        return found
    # How paths are spelled and compared on this (receiving) machine: a value, so that tests (and a
    # simulated machine) can run either direction on any OS.
    target_flavor: pathflavor.Flavor = field(default_factory=pathflavor.local)


@dataclass
class Placement:
    dest: Path  # absolute, inside the adapter's home
    staged: Path  # the rewritten bytes to place there


@dataclass
class LineAppend:
    """Lines to add to a shared append-only file (e.g. Codex history.jsonl) unless already present."""

    dest: Path
    lines: list[bytes]  # each without the trailing newline


@dataclass
class FileEdit:
    """A change to a small shared document the tool keeps whole (Gemini's projects.json).

    `edit(current bytes, or None when the file is absent)` returns the bytes the file must hold (the
    bytes it was given: nothing to do); it must be a pure function of them.  The engine applies the
    edits of every session of one import to one file in order, at planning, to the bytes it reads then;
    when applying it checks the file still holds those bytes (else "changed while importing") and
    replaces it atomically, journalled with the old bytes so that `undo` restores them exactly.
    `busy`: a lock folder the tool holds while it writes the file (proper-lockfile's `<file>.lock`):
    the engine waits while it is there and fresh, and never takes it (a killed import would leave it).
    """

    dest: Path
    edit: Callable[[bytes | None], bytes]
    busy: Path | None = None


@dataclass
class StagedSession:
    session_id: str  # the id the tool will know it by (new id for a copy)
    original_id: str
    transcript: Placement
    sidecars: list[Placement] = field(default_factory=list)
    line_appends: list[LineAppend] = field(default_factory=list)
    edits: list[FileEdit] = field(default_factory=list)
    resume_cwd: Path | None = None  # folder to run the resume command in
    resume: str | None = None  # the resume command when not `Adapter.resume_command(session_id)`
    notes: list[str] = field(default_factory=list)  # told to the user when the session is imported
    # How each staged file (every `Placement.staged` above) gets its bytes: the engine carries them out.
    recipes: list[Recipe] = field(default_factory=list)
    # The adapter's own, from its `stage` to its `complete` (e.g. the rewriter it planned with).
    carry: Any = None


# How the engine treats a staged row that is already in the database (same primary key):
ROW_OWN = "own"  # the session's own row (message, part): absent -> insert; identical -> nothing; else conflict
ROW_SHARED = "shared"  # a row other sessions share (project, project_directory): inserted only when missing
ROW_LATEST = "latest"  # the session's head row (session): inserted, or updated to these values on fast-forward


@dataclass
class Row:
    """One row of a tool's SQLite database, as a store operation writes it."""

    table: str
    key: tuple[str, ...]  # the primary-key columns (their values are in `values`)
    values: dict[str, Any]  # column -> value (str, int, float or None); absent columns take the table's default
    mode: str = ROW_OWN


@dataclass
class StagedRows:
    """A database-backed session staged for this machine: rows instead of files.

    `units` decide new / identical / fast-forward / diverged exactly as a transcript's bytes do: the engine
    asks `Adapter.store_units` for the local session's units and compares the two lists (a strict prefix is
    a fast-forward).  `rows` are every row the session needs, parents before children.
    """

    session_id: str
    original_id: str
    db: Path  # the tool's database, inside `Adapter.home()`
    units: list[str]
    rows: list[Row]
    resume_cwd: Path | None = None
    resume: str | None = None  # as in StagedSession
    notes: list[str] = field(default_factory=list)


@dataclass
class RowsReset:
    """Empty one table of a tool's own index database (Codex's `backfill_state`, so that it re-scans its
    sessions on its next start).  A store operation: the engine deletes the rows in its write
    transaction, journalling each with its old values so that `undo` puts it back exactly.  `db` is the
    adapter's own (it may lie outside the home, as Codex's CODEX_SQLITE_HOME does), never from the payload;
    a table that is missing or empty is left alone.  `note` is told to the user when rows were deleted."""

    db: Path
    table: str
    note: str | None = None


_SEQ = itertools.count()


def refuse_unportable(dest: Path) -> None:
    """On Windows, refuse a destination Windows cannot hold (`osops.windows_name_problem`): checked for
    every file an import writes while it is planned, so the import stops before anything is written."""
    if osops.WINDOWS:
        problem = osops.windows_dest_problem(dest)
        if problem:
            raise UnsafePayloadError(f"cannot import {dest} on Windows: {problem}; nothing was imported")


class StagedFiles:
    """A session's files as `stage` plans them: a Recipe for the bytes for this machine (paths rewritten,
    or copied as they are), staged under a private name in `ctx.staging`, and where each lands."""

    def __init__(self, staging: Path, prefix: str, rewriter: PathRewriter, replace: tuple[bytes, bytes] | None):
        # One folder per staging folder, not one per session (thousands of sessions: a mkdir and an rmdir
        # each; the engine makes it); every staged name is made unique by a per-process sequence number
        # and `prefix`.
        self.folder = staging / "staged"
        self.prefix = f"{prefix}{next(_SEQ):06d}-"
        self.rewriter = rewriter
        self.replace = replace  # (old id, new id) when staging a copy
        self.transcript: Placement | None = None
        self.sidecars: list[Placement] = []
        self.recipes: list[Recipe] = []

    @classmethod
    def of(cls, ctx: ImportContext, tool: str, sid: str, out_id: str, rewriter: PathRewriter) -> StagedFiles:
        """The staged files of the session `sid`, to be known as `out_id` (a copy renames the id in them)."""
        ids = (sid.encode(), out_id.encode()) if out_id != sid else None
        return cls(ctx.staging, f"{tool}-{out_id}-", rewriter, ids)

    def add(self, src: Path, dest: Path, *, role: str | None, rewrite: bool = True, replace_id: bool = True) -> None:
        """The file `src` (a payload file) lands at `dest`, rewritten unless `rewrite` is False."""
        refuse_unportable(dest)
        n = len(self.sidecars) + (self.transcript is not None)
        staged = self.folder / f"{self.prefix}{n:05d}-{dest.name}"
        self.recipes.append(Recipe(staged, src, self.rewriter if rewrite else None,
                                   self.replace if rewrite and replace_id else None))
        placement = Placement(dest=dest, staged=staged)
        if role == ROLE_TRANSCRIPT:
            self.transcript = placement
        else:
            self.sidecars.append(placement)

    def result(self, session_id: str, original_id: str, resume_cwd: Path | None) -> StagedSession:
        if self.transcript is None:
            raise UnsafePayloadError(f"session {original_id} has no transcript in the payload")
        return StagedSession(session_id=session_id, original_id=original_id, transcript=self.transcript,
                             sidecars=self.sidecars, resume_cwd=resume_cwd, recipes=self.recipes)


@dataclass
class SessionResult:
    """What the engine did with one session; handed to `finalize` and reported to the user."""

    id: str
    original_id: str
    action: str  # "new" | "fast-forward" | "copy" | "skip"
    path: Path | None
    reason: str | None = None
    resume: str | None = None


class Adapter(ABC):
    name: ClassVar[str]  # "claude", "codex", ... (the --tool value)
    display_name: ClassVar[str]  # "Claude Code"
    # True when `stage` reads no payload file (its recipes name them; what needs their bytes is left to
    # `complete`).  The engine may then call it before the data arrives and carry out each payload file's
    # Recipe while decrypting it, in one pass.  Otherwise (Gemini reads the transcript to plan) the engine
    # calls it once the payload files are on disk and carries the recipes out right after.
    streams: ClassVar[bool] = False

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env: Mapping[str, str] = dict(os.environ if env is None else env)

    # -- locations ---------------------------------------------------------------------------
    def user_home(self) -> Path:
        """The home folder as the tool finds it on this OS (USERPROFILE on Windows, HOME elsewhere)."""
        return osops.user_home(self.env)

    @abstractmethod
    def home(self) -> Path:
        """Root of the tool's data that imports are confined to (honours the tool's overrides)."""

    # -- send side ---------------------------------------------------------------------------
    @abstractmethod
    def find_sessions(self, repo: Repo) -> list[Session]:
        """Sessions whose recorded cwd is `repo.root` or inside it, newest first."""

    def export_meta(self) -> dict[str, Any]:
        """Adapter-level facts the receiving side needs (config dir, temp dir, provider, ...)."""
        return {}

    def tool_version(self) -> str | None:
        return None

    def session_count(self) -> int | None:
        """Total sessions on this machine (for doctor); None when unknown."""
        return None

    # -- receive side ------------------------------------------------------------------------
    @abstractmethod
    def find_existing(self, session_id: str, ctx: ImportContext | None = None) -> Path | None:
        """The local transcript (a database-backed tool: the database) already holding `session_id`.

        With `ctx`, the import's context: while `ctx.lookups` is a dict (the engine is planning), the answer
        may come from an index of the local transcripts built on the first call and kept there, and an
        adapter may prefer the places of `ctx.target`.  Without it (doctor, tests), look on disk."""

    @abstractmethod
    def stage(
        self,
        session: SessionManifest,
        files: Mapping[str, Path],
        ctx: ImportContext,
        new_id: str | None = None,
    ) -> StagedSession | StagedRows:
        """Plan `session` for this machine, writing nothing: how each file is staged (`Recipe`, in
        `StagedSession.recipes`) and where it goes (or, for a database-backed tool, which rows it needs:
        `StagedRows`).  The engine writes the staged files and then calls `complete`.

        `files` maps each manifest arcname to the file that holds (or, while the engine streams, will hold)
        its verified bytes.  With `new_id`, plan a copy known to the tool under that id everywhere it reads
        the id (file names included).
        """

    def streams_session(self, session: SessionManifest) -> bool:
        """Whether this session may be staged before its bytes arrive (see `streams`)."""
        return self.streams

    def complete(self, staged: StagedSession, session: SessionManifest, files: Mapping[str, Path],
                 ctx: ImportContext) -> StagedSession:
        """Finish the plan of `stage` once the engine has written its recipes, for what needs bytes
        (Codex: the model provider its rewrite saw, the history lines of other payload files); it writes
        nothing either.  `files`: as given to `stage`; a payload file that has a Recipe is there only when
        the session did not stream, so read only the others."""
        return staged

    def target_cwd(self, session: SessionManifest, ctx: ImportContext) -> Path:
        """Where the session continues here: the clone's physical root plus the session's relative cwd,
        or the root itself when that folder does not exist in this clone."""
        cache = ctx.lookups.setdefault("target_cwd", {}) if ctx.lookups is not None else None
        if cache is not None and session.cwd_rel in cache:
            return cache[session.cwd_rel]
        root = Path(ctx.realpath(ctx.target.root))
        found = root
        if session.cwd_rel:
            rel = session.cwd_rel
            arc_parts(rel)
            if ctx.source.os_flavor == "windows" or ctx.target_flavor.folds_case:
                rel = real_case(root, rel) or rel  # the sender's case may not be the folder's
            cand = Path(os.path.realpath(root.joinpath(*arc_parts(rel))))
            if cand.is_dir() and is_inside(str(cand), str(root)):
                found = cand
        if cache is not None:
            cache[session.cwd_rel] = found
        return found

    def new_session_id(self, seed: str | None = None) -> str:
        """A fresh id for a copy.  With `seed` (the engine passes "<original id>\n<sha256 of the
        incoming transcript>") the id is deterministic, so receiving the same handoff twice finds the
        copy made the first time instead of making another."""
        import hashlib
        import uuid

        if seed is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))

    def store_units(self, con: Any, session_id: str) -> list[str] | None:
        """Database-backed adapters: the units (see `StagedRows`) of the local session `session_id`, read
        through the open sqlite3 connection `con` (inside the engine's transaction), or None when the
        database holds no such session.  Must compute them exactly as `stage` does for incoming rows."""
        raise NotImplementedError

    def index_resets(self, ctx: ImportContext, results: list[SessionResult]) -> list[RowsReset]:
        """Planned once when at least one session is imported (or an interrupted import is completed),
        before anything is written: the index tables of the tool's own to empty (see `RowsReset`)."""
        return []

    def finalize(self, ctx: ImportContext, results: list[SessionResult]) -> list[str]:
        """Run once after at least one session was imported; returns notes for the user.  It writes
        nothing: every change is in the plan (see the module's rules), so `undo` reverts all of it."""
        return []

    @abstractmethod
    def resume_command(self, session_id: str) -> str:
        """The command that continues the session, to run in `StagedSession.resume_cwd`, in POSIX sh syntax
        (`shlex.quote` for any argument that needs it): the importer splits it and renders it for the
        user's shell (`sync_ai_sessions.shells`)."""
