"""`send`: find the repo's sessions, pack, compress, encrypt, store (file or gist)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync_ai_sessions import __version__, gitstate, gitwork, shells
from sync_ai_sessions.adapters import get_adapter
from sync_ai_sessions.adapters.base import Session
from sync_ai_sessions.config import config_dir, load_config, private_dir
from sync_ai_sessions.engine.bgwrite import BackgroundWriter
from sync_ai_sessions.errors import Declined, IOFailure, NotFoundError, SyncError, UsageError
from sync_ai_sessions.format.archive import FORMAT, ArchiveWriter
from sync_ai_sessions.format.container import EncryptWriter
from sync_ai_sessions.format.header import Key
from sync_ai_sessions.gitrepo import Repo, find_repo
from sync_ai_sessions.ids import resolve
from sync_ai_sessions.passphrase import ENV as PASSPHRASE_ENV
from sync_ai_sessions.passphrase import VerifierCheck, get_passphrase
from sync_ai_sessions.results import SendResult
from sync_ai_sessions.transports.base import Transport
from sync_ai_sessions.ui import UI, absolute, human_size, local_time, one_line

if TYPE_CHECKING:  # secrets loads detect-secrets (0.2 s): only when a scan runs
    from sync_ai_sessions.secrets import BackgroundScan, Finding


def select_sessions(sessions: list[Session], ids: list[str] | None, latest: bool,
                    display_name: str = "", tool: str = "") -> list[Session]:
    """The sessions named by `ids` (whole ids or unique prefixes), else the latest, else all."""
    if ids:
        by_id = {s.id: s for s in sessions}
        listed = f"sync-ai-sessions sessions --tool {tool}" if tool else "sync-ai-sessions sessions"
        return [by_id[i] for i in resolve(ids, list(by_id), where=f"this repo's {display_name or 'local'} sessions",
                                          listed_by=listed)]
    if latest:
        return sorted(sessions, key=lambda s: s.last_activity or "", reverse=True)[:1]
    return sessions


MAX_LISTED = 50
MAX_SHOWN = 20  # sessions named one per line before a send; the rest are counted


def scan_for_secrets(sessions: list[Session], ui: UI, *, redacting: bool = False
                     ) -> tuple[dict[str, Any], set[str]]:
    """Scan what will be uploaded for well-known secret shapes, before packing (--redact, --dry-run)."""
    from sync_ai_sessions.secrets import scan_files

    findings = scan_files([(s.id, f.arcname, f.content) for s in sessions for f in s.files])
    return report_secrets(findings, ui, sessions, redacting=redacting)


def report_secrets(findings: list[Finding], ui: UI, sessions: list[Session], *, redacting: bool = False
                   ) -> tuple[dict[str, Any], set[str]]:
    """Say how many possible secrets, of which kind, and where (the file on this machine, not its name
    inside the handoff); the report for --json and the names of the files that hold them."""
    from sync_ai_sessions.secrets import backend, summarize

    paths = {f.arcname: str(f.source) for s in sessions for f in s.files}
    where = [{**f.to_json(), "path": paths.get(f.arcname)} for f in findings[:MAX_LISTED]]
    report: dict[str, Any] = {"found": len(findings), "types": summarize(findings), "where": where,
                              "detector": backend(), "redacted": 0}
    if findings:
        kinds = ", ".join(f"{n} {t}" for t, n in sorted(report["types"].items()))
        ui.say(f"[yellow]warning:[/yellow] {len(findings)} possible secret(s) in these sessions ({kinds}):")
        for f in findings[:10]:
            ui.say(f"  {paths.get(f.arcname, f.arcname)} line {f.line}: {f.type}")
        if len(findings) > 10:
            ui.say(f"  ... and {len(findings) - 10} more (see --json)")
        if not redacting:
            ui.say("  Encryption protects the gist, but the receiving machine gets them too; "
                   "--redact replaces them in the sent copy.")
    return report, {f.arcname for f in findings}


def redacted_copies(sessions: list[Session], files: set[str], folder: Path) -> tuple[list[Session], int]:
    """The sessions with every file that holds a finding replaced by a redacted copy in `folder`."""
    from sync_ai_sessions.secrets import redact_file

    count = 0
    out: list[Session] = []
    for s in sessions:
        new_files = []
        for i, f in enumerate(s.files):
            if f.arcname in files:
                dst = folder / f"{len(out):04d}-{i:04d}"
                count += redact_file(f.content, dst)
                f = dataclasses.replace(f, source=dst, size=dst.stat().st_size, data=None)
            new_files.append(f)
        out.append(dataclasses.replace(s, files=new_files))
    return out, count


def _result_of(tool: str, repo: Repo, sessions: list[Session], **fields: Any) -> SendResult:
    """The send result for `sessions` (what is known so far: `fields`)."""
    from sync_ai_sessions.commands.sessions import session_info

    return SendResult(tool=tool, repo=repo.normalized_remotes[0] if repo.normalized_remotes else None,
                      repo_root=str(repo.root), sessions=[session_info(s) for s in sessions], **fields)


def build_manifest(tool: str, adapter: Any, repo: Repo, sessions: list[Session],
                   git: dict[str, Any] | None = None) -> dict[str, Any]:
    manifest = {
        "format": FORMAT,
        "tool": tool,
        "tool_version": adapter.tool_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "generator": f"sync-ai-sessions {__version__}",
        "source": {
            "os_flavor": "windows" if os.name == "nt" else "posix",
            "repo_root": str(repo.root),
            "home": str(adapter.user_home()),
            "tool_home": str(adapter.home()),
            "hostname": socket.gethostname(),
            "adapter_meta": adapter.export_meta(),
        },
        "repo": {
            "remotes": repo.normalized_remotes,
            "branch": repo.branch,
            "commit": repo.commit,
            "dirty": repo.dirty,
        },
        "sessions": [
            {
                "id": s.id, "cwd_rel": s.cwd_rel, "title": s.title, "last_activity": s.last_activity,
                "lines": s.lines, "tool_version": s.tool_version, "meta": s.meta,
                "files": [{"arcname": f.arcname, "size": f.size, "role": f.role} for f in s.files],
            }
            for s in sessions
        ],
    }
    if git is not None:
        manifest["git"] = git  # {"sender": gitstate.state, "carry": gitwork.Carried.meta or None}
    return manifest


def write_payload(path: Path, key: Key, tool: str, adapter: Any, repo: Repo,
                  sessions: list[Session], ui: UI, scan: BackgroundScan | None = None,
                  git: dict[str, Any] | None = None, carried: gitwork.Carried | None = None) -> int:
    """Write the encrypted handoff to `path`; returns the plaintext byte count.  With `scan`, every file's
    bytes are also scanned for secrets as they are packed (one read, the search on its own thread).

    Not fsynced, like the output of tar or cp: the transport renames it into place (readers never see
    it half-written) or uploads and deletes it.  A crash right after `send` can lose only this file,
    and the sessions it was made from are still here."""
    total = sum(f.size for s in sessions for f in s.files)
    arch = ArchiveWriter(None, build_manifest(tool, adapter, repo, sessions, git))  # while scrypt may still run
    # The ciphertext is written from a background thread (see bgwrite), overlapping compression.
    with BackgroundWriter() as bw, bw.open(path) as out:
        enc = EncryptWriter(out, key)  # type: ignore[arg-type]  (waits for the key)
        arch.start(enc)
        with ui.progress(total, "Encrypting") as advance:
            for s in sessions:
                for f in s.files:
                    if scan is None:
                        arch.add_file(f.arcname, f.source, f.size, progress=advance, data=f.data)
                        continue
                    scan.begin(s.id, f.arcname, f.content)
                    scan.end(arch.add_file(f.arcname, f.source, f.size, progress=advance, tap=scan.feed,
                                           data=f.data))
        if carried is not None and carried.bundle is not None:  # after the sessions, under a reserved name
            arch.add_file(gitwork.BUNDLE_NAME, carried.bundle, carried.size)
        arch.finish()
        enc.close()
    return enc.plain_bytes


def send(
    *,
    tool: str,
    cwd: str | None = None,
    to: str | None = None,
    transport: Transport | None = None,
    session_ids: list[str] | None = None,
    latest: bool = False,
    env: Mapping[str, str] | None = None,
    passphrase_file: str | None = None,
    ui: UI | None = None,
    choose: Callable[[list[Session]], list[Session]] | None = None,
    include_archived: bool = False,
    scan: bool = True,
    redact: bool = False,
    resume: bool = False,
    with_changes: bool = False,
    dry_run: bool = False,
    overwrite: bool = False,
    confirm_secrets: Callable[[dict[str, Any]], bool] | None = None,
) -> SendResult:
    """Send the repo's sessions; `choose` (the CLI's picker) may narrow them when none were named.
    With `with_changes`, the unpushed commits and uncommitted changes travel too (see gitwork).

    An upload that stopped half-way is continued by the next send of the same sessions, or of the same
    tool and repo with `resume=True` (`send --resume`): see `resume_keys` and the transport's `resumable`.
    `dry_run`: find, select and scan exactly as a real send, then stop: no passphrase, nothing written
    or uploaded.  `confirm_secrets(report)`: asked after packing, before anything is stored, when the
    scan found something; False stops the send (`declined`)."""
    env = dict(os.environ if env is None else env)
    ui = ui or UI()
    # A passphrase that needs no prompt is read now, and its key derived while the sessions are found.  A
    # prompt waits until there is something to send; errors about the passphrase keep their usual place.
    early: tuple[str, str] | None = None
    if not dry_run and (passphrase_file or env.get(PASSPHRASE_ENV)):
        with contextlib.suppress(SyncError):
            early = get_passphrase(env, passphrase_file=passphrase_file, confirm=False, check_weak=True)
    key = Key(early[0]) if early else None  # derived while the sessions are found
    verifier = load_config(env).get("verifier")
    checking = VerifierCheck(early[0], verifier, early[1]) if early and verifier else None
    repo = find_repo(cwd)
    git_state = gitstate.sender_state(repo.root)
    adapter = get_adapter(tool, env)
    if include_archived:
        if not hasattr(adapter, "include_archived"):
            raise UsageError(f"--archived applies to Codex only, not {adapter.display_name}")
        adapter.include_archived = True
    found = adapter.find_sessions(repo)
    if not found:
        raise NotFoundError(
            f"no {adapter.display_name} sessions found for the repo at {repo.root}: open "
            f"{adapter.display_name} once inside the repo, then send again",
            code="no_sessions",
        )
    sessions = select_sessions(found, session_ids, latest, adapter.display_name, tool)
    if choose is not None and not session_ids and not latest and len(sessions) > 1:
        sessions = choose(sessions) or sessions
    if to is not None:
        from sync_ai_sessions.transports import for_send

        transport = for_send(to=to, overwrite=overwrite)
    if transport is None and not dry_run:
        raise UsageError("no transport: pass --to FILE or use the gist transport")
    if transport is not None and (not dry_run or transport.checks_on_dry_run()):
        transport.preflight()
    ui.say(f"{'Would send' if dry_run else 'Sending'} {len(sessions)} {adapter.display_name} session(s) "
           f"of [bold]{repo.root}[/bold]:")
    if not ui.json_mode:  # (thousands of sessions: not even formatted for --json)
        for s in sessions[:MAX_SHOWN]:
            ui.say(f"  {one_line(s.title, 50)}  [dim]{local_time(s.last_activity)}  "
                   f"{human_size(sum(f.size for f in s.files))}  {s.id}[/dim]")
        if len(sessions) > MAX_SHOWN:
            ui.say(f"  [dim]... and {len(sessions) - MAX_SHOWN:,} more (`sync-ai-sessions sessions --tool {tool}` "
                   "lists them all)[/dim]")
    if dry_run:
        return _result_of(tool, repo, sessions, dry_run=True,
                          secrets=scan_for_secrets(sessions, ui)[0] if scan else None,
                          extra=transport.describe() if transport is not None else {})
    everything = len(sessions) == len(found)
    resumable = getattr(transport, "resumable", None)
    keys = ("", send_scope(tool, repo))
    if resumable:  # (a transport that cannot continue an upload needs no key: thousands of files to stat)
        keys = resume_keys(tool, repo, sessions, redact)
        if with_changes:  # the working tree may have changed unseen: only `send --resume` continues it
            keys = (keys[0] + "-work-" + os.urandom(8).hex(), keys[1])
        saved = resumable(key=keys[0], scope=keys[1] if resume else None)
        if saved is not None:
            return _continue(transport, saved, ui)
    if resume:
        raise UsageError("there is no interrupted upload of this repo's sessions to continue: "
                         "run send without --resume", code="nothing_to_resume")
    # --redact needs the findings before packing; otherwise the scan reads what is packed, as it is packed.
    report, secret_files = scan_for_secrets(sessions, ui, redacting=True) if redact else (None, set())
    passphrase, source = early or get_passphrase(env, passphrase_file=passphrase_file, confirm=not verifier,
                                                 check_weak=True)
    if verifier and checking is None:
        checking = VerifierCheck(passphrase, verifier, source)
    secret = key or Key(passphrase)
    staging = config_dir(env) / "staging"
    tmp = transport.scratch(private_dir(staging))
    redacted_dir: Path | None = None
    work_dir: Path | None = None
    carried: gitwork.Carried | None = None
    try:
        if with_changes:
            if git_state is None:
                raise UsageError("--with-changes: git cannot read the state of this clone", code="git")
            work_dir = Path(tempfile.mkdtemp(prefix="work-", dir=private_dir(staging)))
            carried = gitwork.pack_work(repo.root, work_dir, git_state)
            ui.say(f"Carrying {gitwork.describe_carry(carried.meta)} ({carried.size:,} bytes)")
        if redact and secret_files:
            redacted_dir = Path(tempfile.mkdtemp(prefix="redact-", dir=private_dir(staging)))
            sessions, redacted = redacted_copies(sessions, secret_files, redacted_dir)
            assert report is not None
            report["redacted"] = redacted
            ui.say(f"Redacted {report['redacted']} secret(s) in the sent copy; your local sessions are unchanged.")
        if redact and carried is not None and carried.bundle is not None:
            assert work_dir is not None
            if gitwork.scan_carried(repo.root, carried, work_dir):
                raise UsageError("--redact cannot rewrite the carried commits and changes, and they hold possible "
                                 "secrets: remove them, or send without --with-changes", code="secrets_in_changes")
        git_doc = {"sender": git_state, "carry": carried.meta if carried is not None else None}
        try:
            if scan and not redact:
                from sync_ai_sessions.secrets import BackgroundScan, CleanMemo

                memo = CleanMemo(env, keys[1][:32])  # files found clean before, unchanged: not scanned again
                with BackgroundScan(memo=memo) as bg:
                    plain = write_payload(tmp, secret, tool, adapter, repo, sessions, ui, scan=bg, git=git_doc,
                                          carried=carried)
                memo.save(prune=everything)
                hits = bg.findings
                if carried is not None and work_dir is not None:
                    hits += gitwork.scan_carried(repo.root, carried, work_dir)
                report, _ = report_secrets(hits, ui, sessions)
            else:
                plain = write_payload(tmp, secret, tool, adapter, repo, sessions, ui, git=git_doc, carried=carried)
        except OSError as exc:
            raise IOFailure(f"cannot write the handoff: {exc.strerror or exc}") from exc
        summary = _result_of(tool, repo, sessions, plain_bytes=plain, secrets=report,
                             git={"sender": git_state,
                                  "carried": None if carried is None else {
                                      "commits": carried.meta["commits"], "changes": carried.meta["stash"] is not None,
                                      "bytes": carried.size}})
        if checking is not None:
            checking.result()
        if (report is not None and report["found"] and not report["redacted"] and confirm_secrets is not None
                and not confirm_secrets(report)):
            raise Declined("nothing was sent (the sessions hold possible secrets; --redact replaces them)")
        more = {"key": keys[0], "scope": keys[1], "summary": summary.to_json()} if resumable else {}
        with ui.progress(tmp.stat().st_size, "Uploading") as advance, _kept_hint(transport, tmp, ui):
            stored = transport.upload(tmp, progress=absolute(advance), **more)
    finally:
        transport.release(tmp)
        if redacted_dir is not None:
            shutil.rmtree(redacted_dir, ignore_errors=True)
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            staging.rmdir()  # only when empty: nothing else is staging
    return _result(summary, stored)


def send_scope(tool: str, repo: Repo) -> str:
    """The tool and repo of a send, hashed: what names its interrupted upload and its secret-scan memo."""
    return hashlib.sha256(json.dumps([tool, str(repo.root)]).encode()).hexdigest()


def resume_keys(tool: str, repo: Repo, sessions: list[Session], redact: bool) -> tuple[str, str]:
    """(key, scope) of a send, kept only on this machine: `key` changes when any sent file changes (an
    identical send continues an interrupted upload by itself), `scope` is the tool and repo only (what
    `send --resume` continues). Hashes: nothing readable, even in our private config folder."""
    scope = send_scope(tool, repo)
    h = hashlib.sha256(json.dumps([scope, redact]).encode())
    rows: list[list[Any]] = []
    for s in sessions:
        for f in s.files:
            if f.data is not None:  # a part of a shared file: its bytes say whether it changed
                mtime: int | str = hashlib.sha256(f.data).hexdigest()
            else:
                try:
                    mtime = os.stat(f.source).st_mtime_ns
                except OSError:
                    mtime = -1
            rows.append([s.id, f.arcname, f.size, mtime])
    h.update(json.dumps(rows).encode())  # one encoding for all: thousands of files
    return h.hexdigest(), scope


@contextlib.contextmanager
def _kept_hint(transport: Transport, payload: Path, ui: UI) -> Iterator[None]:
    """When an upload stops half-way and the transport kept it, say how to continue."""
    try:
        yield
    except (KeyboardInterrupt, SyncError) as exc:
        kept = getattr(transport, "kept", None)
        if kept is not None and kept(payload):
            tip = "what is uploaded is kept: run the same send again (or `send --resume`) to continue"
            if isinstance(exc, SyncError):
                exc.hint = exc.hint or tip
            else:
                ui.say(f"Interrupted; {tip}.")
        raise


def _continue(transport: Transport, saved: Any, ui: UI) -> SendResult:
    """Continue the interrupted upload `saved` (its ciphertext was kept: no packing, no passphrase)."""
    ui.say(f"Continuing the upload interrupted since {saved.started.replace('T', ' ').rstrip('Z')} UTC "
           f"({saved.done} of {saved.total} gists are on GitHub already); it keeps the passphrase given then")
    try:
        with ui.progress(saved.payload.stat().st_size, "Uploading") as advance, \
                _kept_hint(transport, saved.payload, ui):
            stored = transport.upload(saved.payload, progress=absolute(advance))
    finally:
        transport.release(saved.payload)
    return _result(SendResult.from_json(saved.summary), stored)


def _result(summary: SendResult, stored: Any) -> SendResult:
    """The packed handoff's `summary` completed with where it was stored and how to receive it."""
    summary.bytes = stored.size
    if stored.kind == "file":
        summary.file = stored.ref
        summary.receive = shells.join(["sync-ai-sessions", "receive", "--from", stored.ref],
                                      shells.user_shell(os.environ))
    else:
        summary.gist = stored.ref
        summary.receive = f"sync-ai-sessions receive --gist {stored.ref}"
        summary.extra = dict(stored.extra)
    return summary


def send_command(*, to: str | None = None, dry_run: bool = False, max_gist_mb: float | None = None,
                 copy: bool = False, **options: Any) -> SendResult:
    """The `send` command: the registry's transport (`--to FILE`, else the default one, at most
    `max_gist_mb` MB per gist), `send`, then with `copy` the receive command onto the clipboard."""
    from sync_ai_sessions.transports import for_send
    from sync_ai_sessions.ui import copy_to_clipboard

    transport = None if to is not None or dry_run else for_send(max_mb=max_gist_mb)
    result = send(to=to, dry_run=dry_run, transport=transport, **options)
    if copy and not dry_run:
        result.copied = copy_to_clipboard(result.receive or "")
    return result
