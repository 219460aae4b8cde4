"""`receive`: fetch, decrypt and verify everything, find the local clone by remote URL, import."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sync_ai_sessions import gitreceive, gitstate, gitwork, osops
from sync_ai_sessions.adapters import REGISTRY, get_adapter
from sync_ai_sessions.adapters.base import SessionResult
from sync_ai_sessions.config import config_dir, private_dir
from sync_ai_sessions.engine.importer import ImportReport
from sync_ai_sessions.engine.intake import import_sessions
from sync_ai_sessions.engine.journal import Journal
from sync_ai_sessions.errors import (
    ConflictError,
    FormatError,
    Interrupted,
    IOFailure,
    NotFoundError,
    SyncError,
    UsageError,
)
from sync_ai_sessions.format.archive import ArchiveReader
from sync_ai_sessions.format.container import DecryptReader
from sync_ai_sessions.gitrepo import Repo, find_repo
from sync_ai_sessions.ids import resolve
from sync_ai_sessions.passphrase import get_passphrase
from sync_ai_sessions.results import HandoffInfo, HandoffSession, Imported, InspectResult, ReceiveResult, Skipped
from sync_ai_sessions.transports import for_receive
from sync_ai_sessions.transports.base import Transport
from sync_ai_sessions.ui import UI, absolute, human_size


def _cleanup_stale_staging(base: Path) -> None:
    """Remove staging folders left by killed runs (their pid is gone)."""
    for d in base.glob("recv-*"):
        try:
            pid = int(d.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not osops.pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def _progress(ui_advance: Callable[[int], None], reader: DecryptReader) -> Callable[[int], None]:
    """Advance a progress bar over the ciphertext as plaintext is read."""
    last = [0]

    def prog(_n: int) -> None:
        ui_advance(reader.cipher_bytes - last[0])
        last[0] = reader.cipher_bytes

    return prog


def find_target(manifest: dict[str, Any], cwd: str | None) -> Repo:
    wanted: list[str] = manifest["repo"]["remotes"]
    shown = wanted[0] if wanted else "(no remote)"
    try:
        repo = find_repo(cwd, require_remote=False)
    except NotFoundError:
        if cwd:
            raise
        raise NotFoundError(
            f"this handoff is for {shown}: cd into your clone of it or pass --cwd /path/to/clone "
            f"(clone it first if it is not on this machine)",
            code="no_matching_repo",
        ) from None
    if not repo.matches(wanted):
        have = ", ".join(repo.normalized_remotes) or "no remote"
        raise NotFoundError(
            f"the repo at {repo.root} ({have}) is not {shown}: pass --cwd with your clone of {shown}",
            code="no_matching_repo",
        )
    return repo


def manifest_sessions(manifest: dict[str, Any]) -> list[HandoffSession]:
    """The handoff's sessions as every command shows them (the same fields as `send` and `sessions`)."""
    return [
        HandoffSession(id=s["id"], title=s.get("title"), cwd=s.get("cwd_rel", ""), last_activity=s.get("last_activity"),
                       files=len(s["files"]), bytes=sum(int(f.get("size") or 0) for f in s["files"]))
        for s in manifest["sessions"]
    ]


def describe_handoff(manifest: dict[str, Any]) -> HandoffInfo:
    """What a handoff says about where it comes from (all of it from inside the ciphertext)."""
    src, repo = manifest.get("source") or {}, manifest.get("repo") or {}
    remotes = repo.get("remotes") or []
    return HandoffInfo(
        tool=manifest["tool"],
        tool_version=manifest.get("tool_version"),
        created=manifest.get("created"),
        generator=manifest.get("generator"),
        host=src.get("hostname"),
        os=src.get("os_flavor"),
        repo=remotes[0] if remotes else None,
        remotes=remotes,
        branch=repo.get("branch"),
        commit=repo.get("commit"),
        dirty=repo.get("dirty"),
    )


def plan(report: ImportReport, manifest: dict[str, Any]) -> tuple[list[Imported], list[Skipped]]:
    """What receive did (or would do) with each session, from the import engine's report: the same
    function for a real import and a dry run, so what a dry run shows is what receive prints."""
    about = {s["id"]: s for s in manifest["sessions"]}

    def described(r: SessionResult) -> dict[str, Any]:
        s = about.get(r.original_id) or {}
        return {"title": s.get("title"), "last_activity": s.get("last_activity")}

    imported = [Imported(id=r.id, original_id=r.original_id, path=str(r.path) if r.path else None, action=r.action,
                         resume=r.resume, **described(r), note=r.reason or None)
                for r in report.results if r.action != "skip"]
    skipped = [Skipped(id=r.id, original_id=r.original_id, reason=r.reason, path=str(r.path) if r.path else None,
                       resume=r.resume, **described(r))
               for r in report.results if r.action == "skip"]
    return imported, skipped


def _drain(arch: ArchiveReader) -> None:
    """Read (and so verify) the rest of a version 2 handoff without keeping anything."""
    for _name, blocks in arch.entries():
        for _ in blocks:
            pass


def receive(
    *,
    from_file: str | None = None,
    gist: str | None = None,
    transport: Transport | None = None,
    tool: str | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    passphrase_file: str | None = None,
    options: dict[str, Any] | None = None,
    ui: UI | None = None,
    with_changes: bool = False,
    sessions: list[str] | None = None,
    dry_run: bool = False,
    inspect: bool = False,
) -> ReceiveResult:
    """Receive a handoff; what it did is the result (an `InspectResult` with `inspect`).  `sessions`: ids
    or unique prefixes of the sessions to import (default all).

    `dry_run`: everything `receive` does except placing files: the same engine decides (see
    `import_sessions(dry_run=True)`), the result is the one receive would give, with `dry_run` set,
    and nothing is written outside a temporary folder of the system's (not our config folder: no
    staging, lock or journal there).  `inspect`: a dry run that also describes the handoff and still
    succeeds when this machine has no clone of its repo (the plan is then null).

    Git is only read (to say where the code stands), unless `with_changes` (and not a dry run): then the
    carried commits and changes are brought in after the sessions (gitreceive.receive_work) and journalled;
    a dry run still checks that they fit the limit and that this clone has what they build on."""
    env = dict(os.environ if env is None else env)
    ui = ui or UI()
    dry_run = dry_run or inspect
    if tool is not None and tool not in REGISTRY:
        raise UsageError(f"unknown tool {tool!r}", code="unknown_tool")
    if bool(from_file) == bool(gist):
        raise UsageError("give exactly one of --gist ID or --from FILE")
    ref = from_file or gist or ""
    if transport is None or from_file:
        transport, ref = for_receive(from_file=from_file, gist=gist)
    local = transport.local(ref)
    if dry_run:
        base = Path(tempfile.mkdtemp(prefix="sais-dry-"))
    else:
        base = private_dir(config_dir(env) / "staging")
        _cleanup_stale_staging(base)
    staging = Path(tempfile.mkdtemp(prefix=f"recv-{os.getpid()}-", dir=base))
    target: Repo | None = None
    report: ImportReport | None = None
    missing_clone: str | None = None
    git: dict[str, Any] | None = None
    try:
        payload = local or staging / "payload"
        if local is None:
            with ui.progress(None, "Downloading") as advance:
                transport.download(ref, payload, progress=absolute(advance))
        passphrase, _ = get_passphrase(env, passphrase_file=passphrase_file)
        work = staging / "work"
        work.mkdir()
        with open(payload, "rb") as fh, DecryptReader(fh, passphrase, threaded=True) as reader:
            try:
                arch = ArchiveReader(reader)
                files: dict[str, Path] | None = None
                if arch.version == 1:  # manifest last: stage everything first
                    files_dir = staging / "files"
                    files_dir.mkdir()
                    with ui.progress(payload.stat().st_size, "Decrypting") as advance:
                        _, files = arch.stage_all(files_dir, progress=_progress(advance, reader))
            except OSError as exc:
                raise IOFailure(f"cannot stage the handoff: {exc.strerror or exc}") from exc
            manifest = arch.manifest
            assert manifest is not None
            name = manifest["tool"]
            if name not in REGISTRY:
                raise FormatError(f"this handoff is for the tool {name!r}, which this version does not know")
            if tool is not None and tool != name:
                raise UsageError(f"this handoff holds {name} sessions, not {tool}: drop --tool or use --tool {name}",
                                 code="tool_mismatch")
            only = None
            if sessions:
                listed = "sync-ai-sessions inspect " + (f"--gist {gist}" if gist else f"--from {from_file}")
                only = set(resolve(sessions, [s["id"] for s in manifest["sessions"]],
                                   where="the sessions of this handoff", listed_by=listed))
            try:
                target = find_target(manifest, cwd)
            except NotFoundError as exc:
                if not inspect:
                    raise
                missing_clone = exc.message
            if target is None:
                if files is None:
                    _drain(arch)
            else:
                adapter = get_adapter(name, env)
                git_manifest = manifest.get("git") or {}
                git = gitstate.compare(git_manifest.get("sender"), target.root)
                carry = git_manifest.get("carry") if with_changes else None
                if carry:
                    _check_carry(carry, target)
                    if dry_run:
                        carry = None  # checked, never applied
                    else:
                        arch.carry_dir = staging / "carry"
                        arch.carry_dir.mkdir()
                # Version 2: the files are decrypted, rewritten and staged inside the import, in one pass.
                bar = (ui.progress(payload.stat().st_size, "Receiving") if files is None
                       else contextlib.nullcontext(None))
                try:
                    with bar as advance:
                        report = import_sessions(
                            adapter, manifest, files, target, env=env, staging=work, options=options,
                            stream=arch if files is None else None,
                            progress=_progress(advance, reader) if advance else None,
                            only=only, dry_run=dry_run,
                        )
                except OSError as exc:
                    raise IOFailure(f"import failed, nothing was changed: {exc.strerror or exc}") from exc
                git["changes"] = "none"
                if carry:
                    try:
                        git.update(_receive_work(carry, arch.carried.get(gitwork.BUNDLE_NAME), target, staging,
                                                 env, name, adapter.home(), report.journal,
                                                 manifest["source"].get("hostname")))
                    except KeyboardInterrupt:  # not "nothing was changed": the sessions are in
                        raise Interrupted("interrupted while bringing in the carried commits and changes, after "
                                          "the sessions' import had finished; `sync-ai-sessions undo` reverts "
                                          "this receive") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            base.rmdir()  # only when no other run is staging
    handoff = describe_handoff(manifest)
    imported, skipped = plan(report, manifest) if report is not None else (None, None)
    git_journal = git.pop("_journal", None) if git else None
    return (InspectResult if inspect else ReceiveResult)(
        tool=name,
        repo=handoff.repo,
        repo_root=str(target.root) if target is not None else None,
        handoff=handoff,
        sessions=manifest_sessions(manifest) if inspect else None,
        imported=imported,
        skipped=skipped,
        notes=list(report.notes) if report is not None else [missing_clone] if missing_clone else [],
        journal=str(report.journal) if report is not None and report.journal else git_journal,
        git=git,
        dry_run=dry_run,
        with_changes=with_changes,
    )


def _check_carry(carry: dict[str, Any], target: Repo) -> None:
    """Before anything is imported: the carried work fits the limit and this clone has what it builds on."""
    size = (carry.get("bundle") or {}).get("size", 0)
    if size > gitwork.max_changes():
        raise UsageError(f"the carried work is {human_size(size)}, over this machine's limit of "
                         f"{human_size(gitwork.max_changes())} ({gitwork.MAX_ENV}); receive without "
                         "--with-changes, or raise the limit",
                         code="changes_too_large")
    gitreceive.check_prerequisites(target.root, carry)


def _receive_work(carry: dict[str, Any], bundle: Path | None, target: Repo, staging: Path, env: dict[str, str],
                  tool: str, home: Path, journal_path: Path | None, host: str | None) -> dict[str, Any]:
    """Run gitreceive.receive_work with its changes journalled: after the import's own records, or in a
    journal of their own when no session changed."""
    journal = Journal.reopen(journal_path) if journal_path else Journal.start(env, tool, home)
    try:
        done = gitreceive.receive_work(target.root, carry, bundle, staging,
                                    lambda **op: journal.record(op="git", repo=str(target.root), **op), host=host)
    finally:
        if journal_path:
            journal.close()
        elif journal.ops:
            journal.complete([])
        else:
            journal.abandon()
    if not journal_path and journal.ops:
        done["_journal"] = str(journal.path)
    return done


def receive_error_is_safe(exc: BaseException) -> bool:
    return isinstance(exc, SyncError)


def receive_command(*, from_file: str | None = None, gist: str | None = None, delete_after: bool = False,
                    with_changes: bool = False, inspect: bool = False, options: dict[str, Any] | None = None,
                    **kw: Any) -> ReceiveResult | InspectResult:
    """The `receive` (or with `inspect`, `inspect`) command: `receive`, then with `delete_after` (and not
    a dry run) the handoff removed through its transport's delete capability.  With `delete_after` the
    import is durable (its files reach the disk) before the only other copy goes."""
    options = {**(options or {}), "durable": delete_after}
    if delete_after and kw.get("sessions") and not inspect:
        # The handoff holds the other sessions too: deleting it for the ones asked for would lose those.
        raise UsageError("--delete removes the whole handoff, so it does not go with --session: receive all of "
                         "it, or remove it afterwards (the file, or the gist with `sync-ai-sessions delete ID`)",
                         code="usage")
    if inspect:
        return receive(from_file=from_file, gist=gist, inspect=True, **kw)
    read = _identity(from_file) if delete_after and from_file else None
    result = receive(from_file=from_file, gist=gist, with_changes=with_changes, options=options, **kw)
    if delete_after and not result.dry_run:
        if from_file and _identity(from_file) != read:
            # A synced folder delivered another handoff under this name meanwhile: nobody received that one.
            raise ConflictError(f"--delete: {from_file} changed while it was received, so it was kept; the "
                                "import itself succeeded", code="changed_since")
        transport, ref = for_receive(from_file=from_file, gist=gist)
        try:
            result.deleted = transport.delete(ref)
        except NotImplementedError:
            raise UsageError(f"--delete: this handoff's transport ({transport.kind}) cannot delete; the import "
                             "itself succeeded", code="cannot_delete") from None
        except SyncError as exc:  # offline, no permission, ...: say that what matters did happen
            exc.message = f"--delete: {exc.message}; the import itself succeeded"
            raise
        except KeyboardInterrupt:
            raise Interrupted("interrupted while deleting the handoff, which may still be there; the import "
                              "itself succeeded") from None
    return result


def _identity(path: str) -> tuple[int, int, int, int] | None:
    """Which file `path` names now (device, inode, size, mtime); None when it names none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
