"""Receiving a payload into the engine: `import_sessions` plans every session, streams a version 2
payload's files into staging (or into a comparison with the local file, so a session already here is
not written at all), then applies the plan under the import lock and one journal (see `importer.py`)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_ai_sessions.adapters.base import (
    Adapter,
    ImportContext,
    Recipe,
    SessionManifest,
    SessionResult,
    SourceInfo,
    StagedSession,
)
from sync_ai_sessions.engine.bgwrite import BackgroundWriter
from sync_ai_sessions.engine.decide import IDENTICAL, INCOMING_PREFIX, Compare
from sync_ai_sessions.engine.importer import Importer, ImportReport
from sync_ai_sessions.engine.journal import (
    Journal,
    import_lock,
    interrupted_journals,
    mark_complete,
    read_journal,
)
from sync_ai_sessions.engine.place import planning_exists
from sync_ai_sessions.engine.staging import make_folders, write_recipes
from sync_ai_sessions.errors import SyncError
from sync_ai_sessions.format.archive import ArchiveReader
from sync_ai_sessions.gitrepo import Repo


class _Spool:
    """The raw bytes of one payload file, kept in memory (up to `limit`) until it is known whether they
    are needed; past the limit they go to `path` through the writer."""

    def __init__(self, path: Path, writer: BackgroundWriter, limit: int = 4 << 20):
        self.path, self._writer, self._limit = path, writer, limit
        self._blocks: list[bytes] | None = []
        self._size = 0
        self._out: Any = None

    def tee(self, blocks: Iterator[bytes]) -> Iterator[bytes]:
        for block in blocks:
            if self._out is not None:
                self._out.write(block)
            else:
                assert self._blocks is not None
                self._blocks.append(block)
                self._size += len(block)
                if self._size > self._limit:
                    self._spill()
            yield block

    def _spill(self) -> None:
        self._out = self._writer.open(self.path)
        for block in self._blocks or ():
            self._out.write(block)
        self._blocks = None

    def keep(self) -> None:
        if self._out is None:
            self._spill()
        self._out.close()

    def drop(self) -> None:
        self._blocks = None
        if self._out is not None:
            self._out.close()  # written past the limit: left in the staging folder, removed with it


@dataclass
class _Decided:
    """A session that was already here, compared while the payload streamed in."""

    staged: StagedSession  # as planned (nothing of it was written)
    existing: Path
    relation: str


_SKIP = {IDENTICAL: "already here: identical",
         INCOMING_PREFIX: "the local copy is newer: it already holds everything in this handoff"}


def stream_in(
    imp: Importer,
    sessions: list[SessionManifest],
    reader: ArchiveReader,
    raw_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Path], dict[str, StagedSession], dict[str, _Decided]]:
    """Read a version 2 payload's files, staging each one once, or not at all when it is already here.

    Sessions that no local session shares an id with, of adapters that stream, are planned before the data
    arrives (the adapter's `stage` returns a Recipe per file) and each payload file is rewritten into its
    staged place while it is decrypted; their other recipes (bytes the adapter made, a file it reads
    whole) are written once the payload is in.  A session whose transcript is already here is planned the
    same way, but its transcript is rewritten into a comparison with the local file: when that shows the
    local one holds it all (identical, or newer), nothing of the session is written.  Otherwise, and for
    every other file, the bytes are kept as they came in `raw_dir` for the usual `staging.stage`.
    Returns the raw files, the sessions already staged and the sessions decided while streaming.
    """
    adapter, ctx = imp.adapter, imp.ctx
    raw: dict[str, Path] = {}
    for sm in sessions:
        for f in sm.files:
            raw[f["arcname"]] = raw_dir / f"f{len(raw):06d}"
    recipes: dict[Path, Recipe] = {}  # raw file -> its recipe, carried out while it is decrypted
    after: list[Recipe] = []  # the recipes of streamed sessions that are not (carried out at the end)
    staged: dict[str, StagedSession] = {}
    compare: dict[Path, tuple[str, Recipe, Path]] = {}  # raw transcript -> (session, recipe, local file)
    owner: dict[Path, str] = {}  # raw file of a session that is already here -> the session
    planned: dict[str, StagedSession] = {}
    if adapter.streams:
        for sm in sessions:
            if not adapter.streams_session(sm):
                continue
            existing = adapter.find_existing(sm.id, ctx)
            sfiles = {f["arcname"]: raw[f["arcname"]] for f in sm.files}  # none of them written yet
            st = adapter.stage(sm, sfiles, ctx)
            assert isinstance(st, StagedSession), f"{adapter.name} streams rows"
            own = set(sfiles.values())
            # A payload file whose recipe reads it as it comes is rewritten while it is decrypted.
            plan = {r.src: r for r in st.recipes if r.src in own and r.read is None and r.data is None}
            if existing is None and planning_exists(ctx, st.transcript.dest):
                existing = st.transcript.dest
            if existing is None:
                make_folders(st.recipes, ctx)
                recipes.update(plan)
                after += [r for r in st.recipes if plan.get(r.src) is not r]
                staged[sm.id] = st
                continue
            # Already here: compared on bytes while streaming; the raw files are kept only if needed.
            t_raw = next((src for src, r in plan.items() if r.staged == st.transcript.staged), None)
            if t_raw is None or not existing.is_file():
                continue
            compare[t_raw] = (sm.id, plan[t_raw], existing)
            planned[sm.id] = st
            for f in sm.files:
                owner[raw[f["arcname"]]] = sm.id
    decided: dict[str, _Decided] = {}
    with BackgroundWriter() as writer:
        for name, blocks in reader.entries():
            if progress is not None:
                blocks = _counted(blocks, progress)
            if name not in raw:  # a file of a session not asked for (`receive --session`): read, not kept
                for _ in blocks:
                    pass
                continue
            path = raw[name]
            cmp = compare.get(path)
            if cmp is not None:
                sid, recipe, local = cmp
                spool = _Spool(path, writer)
                sink = Compare(local)
                recipe.write(spool.tee(blocks), sink)
                rel = sink.result()
                if rel in _SKIP:
                    spool.drop()
                    decided[sid] = _Decided(planned[sid], local, rel)
                else:
                    spool.keep()
                continue
            sid = owner.get(path)
            if sid is not None and sid in decided:
                for _ in blocks:  # a file of a session that is already here: not needed
                    pass
                continue
            recipe = recipes.get(path) or Recipe(path)  # no recipe: kept raw, as it is
            with writer.open(recipe.staged) as out:
                recipe.write(blocks, out)
    write_recipes(after, ctx)
    return raw, staged, decided


def _counted(blocks: Iterator[bytes], progress: Callable[[int], None]) -> Iterator[bytes]:
    for block in blocks:
        progress(len(block))
        yield block


def import_sessions(
    adapter: Adapter,
    manifest: dict[str, Any],
    files: Mapping[str, Path] | None,
    target: Repo,
    *,
    env: Mapping[str, str],
    staging: Path,
    options: dict[str, Any] | None = None,
    on_session: Callable[[SessionResult], None] | None = None,
    stream: ArchiveReader | None = None,
    progress: Callable[[int], None] | None = None,
    only: Collection[str] | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import the sessions of a verified `manifest`: from staged raw `files`, or (version 2) from `stream`,
    which is read to its end here, under the import lock.

    `only`: the ids of the sessions to import (the others are read past and left out of the report).
    `dry_run`: decide exactly as a real import does, with the same code, and stop there: nothing is
    placed, journalled or finalized, no lock is taken (it would write into our config folder), and the
    report holds what a real import would do now.  Only `staging` is written to."""
    src = manifest["source"]
    source = SourceInfo(
        os_flavor=src["os_flavor"], repo_root=src["repo_root"], home=src.get("home"),
        tool_home=src.get("tool_home"), hostname=src.get("hostname"),
        adapter_meta=src.get("adapter_meta") or {},
    )
    ctx = ImportContext(target=target, source=source, staging=staging, env=env, options=dict(options or {}))
    home = adapter.home()
    lock = contextlib.nullcontext() if dry_run else import_lock(env, Path(os.path.realpath(home)))
    with lock:
        imp = Importer(adapter, ctx)
        results: list[SessionResult] = []
        sessions = [
            SessionManifest(
                id=s["id"], files=s["files"], cwd_rel=s.get("cwd_rel", ""), title=s.get("title"),
                last_activity=s.get("last_activity"), lines=s.get("lines"), tool_version=s.get("tool_version"),
                meta=s.get("meta") or {},
            )
            for s in manifest["sessions"]
            if only is None or s["id"] in only
        ]
        pre: dict[str, StagedSession] = {}
        decided: dict[str, _Decided] = {}
        ctx.lookups = {}  # planning: nothing is placed until apply, so per-session lookups may be indexed
        if stream is not None:
            raw_dir = staging / "raw"
            raw_dir.mkdir(exist_ok=True)
            files, pre, decided = stream_in(imp, sessions, stream, raw_dir, progress)
        assert files is not None
        for sm in sessions:
            d = decided.get(sm.id)
            if d is not None:
                r = imp._result(d.staged, "skip", d.existing, _SKIP[d.relation])
                results.append(r)
                if on_session:
                    on_session(r)
                continue
            sfiles = {f["arcname"]: files[f["arcname"]] for f in sm.files}
            st = pre.get(sm.id)
            if st is not None:
                st = adapter.complete(st, sm, sfiles, ctx)
            r = imp.plan_session(sm, sfiles, st)
            results.append(r)
            if on_session:
                on_session(r)
        ctx.lookups = None
        # An import killed after placing its files never reset the tool's index (`index_resets`, planned
        # below) nor ran `finalize`, and its sessions now look "already here": complete them with this run.
        interrupted = interrupted_journals(env, home)
        placed = {op["path"] for j in interrupted for op in read_journal(j)[1] if op.get("op") in ("create", "extend")}
        recovered = [dataclasses.replace(r, action="new") for r in results
                     if r.action == "skip" and r.path is not None and str(r.path) in placed]
        if dry_run or (not imp.has_changes and not recovered):
            return ImportReport(results=results, notes=imp.notes, journal=None)
        imported = [r for r in results if r.action != "skip"]
        imp.plan_resets(adapter.index_resets(ctx, imported + recovered))
        journal = Journal.start(env, adapter.name, home) if imp.has_changes else None
        if journal is not None:
            try:
                imp.apply(journal)
            except BaseException:
                journal.abandon()
                raise
        notes = list(imp.notes)
        try:
            notes += adapter.finalize(ctx, imported + recovered)
        except (SyncError, OSError) as exc:
            notes.append(f"warning: imported, but the {adapter.display_name} index step failed: {exc}")
        for j in interrupted:
            mark_complete(j, [])
        if recovered:
            notes.append(f"completed {len(recovered)} session(s) of an import that was interrupted")
        if journal is None:
            return ImportReport(results=results, notes=notes, journal=None)
        journal.complete([
            {"id": r.id, "original_id": r.original_id, "action": r.action, "path": str(r.path),
             "host": source.hostname}
            for r in imported
        ])
        return ImportReport(results=results, notes=notes, journal=journal.path)
