"""Carrying out an adapter's plan into the staging folder: the one place staged files are written.

An adapter's `stage` only plans (see the rules in `sync_ai_sessions.adapters.base`): each staged file is a
`Recipe`.  The engine writes them here, the same way for every adapter, at one of two moments:
  - a session that streams (`Adapter.streams`, no local session with its id): its payload files'
    recipes are written while the payload is decrypted (`intake.stream_in`, through `Recipe.write`), the
    others right after it was planned, with `write_recipes`;
  - every other session (staged from files already on disk, a copy re-staged under a new id): `stage`
    below writes every recipe as soon as the adapter's `stage` returns (`Recipe.apply` reads each source
    file once, as the rewrite needs it).
Then `Adapter.complete` finishes the plan from the staged bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from sync_ai_sessions.adapters.base import (
    Adapter,
    ImportContext,
    Recipe,
    SessionManifest,
    StagedRows,
    StagedSession,
)


def make_folders(recipes: Iterable[Recipe], ctx: ImportContext) -> None:
    """Make the folders the recipes stage into, each once per import while the engine plans (thousands of
    sessions share one folder: no stat per session)."""
    made: set[Path] = ctx.lookups.setdefault("staged_dirs", set()) if ctx.lookups is not None else set()
    for r in recipes:
        folder = r.staged.parent
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)


def write_recipes(recipes: Iterable[Recipe], ctx: ImportContext) -> None:
    """Write the staged file of each recipe, from its source file (or its own bytes)."""
    recipes = list(recipes)
    make_folders(recipes, ctx)
    for r in recipes:
        r.apply()


def carry_out(adapter: Adapter, staged: StagedSession | StagedRows, session: SessionManifest,
              files: Mapping[str, Path], ctx: ImportContext) -> StagedSession | StagedRows:
    """The plan `adapter.stage` returned for `session` (from `files`, on disk), carried out: its recipes
    written, then completed by the adapter.  Rows have nothing to stage."""
    if isinstance(staged, StagedRows):
        return staged
    write_recipes(staged.recipes, ctx)
    return adapter.complete(staged, session, files, ctx)


def stage(adapter: Adapter, session: SessionManifest, files: Mapping[str, Path], ctx: ImportContext,
          new_id: str | None = None) -> StagedSession | StagedRows:
    """The session staged from `files` (on disk): planned by `adapter.stage`, then carried out."""
    return carry_out(adapter, adapter.stage(session, files, ctx, new_id=new_id), session, files, ctx)
