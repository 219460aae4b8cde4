"""What each command returns: a typed result that carries its data and the human messages it says.

A command function (`commands/*.py`) does the work and returns one of these dataclasses (lists of records
are small dataclasses of their own: a session row, an imported or skipped session, a doctor check);
`render` is the one place that turns a result into output: with `--json` its `to_json()` document, made
from the fields, on stdout (the keys, their order and values are a contract scripts rely on, pinned by
tests/core/snapshots), otherwise its `messages()`, made from the same fields (human lines on stderr,
tables on stdout).  `from_json` turns a document back into its result: the tests check that it gives
back the very same document, and send continues an interrupted upload from the summary it kept.
Progress and warnings said *during* long work (bars, "Sending 3 sessions", secrets found) are not results
and still go through `ui.UI` as the work happens.  The exit code of a result that is not a failure but
still says "not fine" (doctor) is the result's `exit_code`.

Why this module stays whole (~740 lines): it is the whole output contract of the command line, one
section per command, each a few records, their `to_json`, `from_json` and `messages`; a reader checking
what a script may rely on, or how a message is worded, reads one file, and the sections share the
rendering helpers (times, sizes, the handoff line) without importing one another.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from sync_ai_sessions.transports.base import Handoff
from sync_ai_sessions.ui import UI, console, emit_json, human_size, local_time, one_line, shown_command


class Stream(enum.Enum):
    SAY = "say"    # stderr, Rich markup
    INFO = "info"  # stderr, dimmed
    ERR = "err"    # stderr, plain text
    OUT = "out"    # stdout, plain text (tables a script may cut)


@dataclass(frozen=True)
class Message:
    text: str
    stream: Stream = Stream.SAY


def say(text: str) -> Message:
    return Message(text)


def info(text: str) -> Message:
    return Message(text, Stream.INFO)


@dataclass(kw_only=True)
class Result:
    """The base: a JSON document and the messages for people; `exit_code` 0 unless the result says otherwise."""

    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def messages(self) -> list[Message]:
        return []


def render(result: Result, ui: UI) -> int:
    """Print `result` once, as JSON or as its messages; return its exit code."""
    if ui.json_mode:
        emit_json(result.to_json())
        return result.exit_code
    import click

    for m in result.messages():
        if m.stream is Stream.SAY:
            console().print(m.text)
        elif m.stream is Stream.INFO:
            console().print(f"[dim]{m.text}[/dim]")
        else:
            click.echo(m.text, err=m.stream is Stream.ERR)
    return result.exit_code


# -- sessions ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionInfo:
    """One local session as `send` and `sessions` show it (`cwd`: its folder relative to the repo root)."""

    id: str
    title: str | None
    cwd: str
    last_activity: str | None
    lines: int | None
    files: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "cwd": self.cwd, "last_activity": self.last_activity,
                "lines": self.lines, "files": self.files, "bytes": self.bytes}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SessionInfo:
        return cls(id=d["id"], title=d["title"], cwd=d["cwd"], last_activity=d["last_activity"], lines=d["lines"],
                   files=d["files"], bytes=d["bytes"])


@dataclass(frozen=True)
class SessionRow:
    """A row of `sessions`: the tool, the session, the host an earlier receive brought it from, its short id."""

    tool: str
    session: SessionInfo
    imported_from: str | None
    short_id: str

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, **self.session.to_json(), "imported_from": self.imported_from,
                "short_id": self.short_id}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SessionRow:
        return cls(tool=d["tool"], session=SessionInfo.from_json(d), imported_from=d["imported_from"],
                   short_id=d["short_id"])


@dataclass(kw_only=True)
class SessionsResult(Result):
    """`tools`: how many sessions each tool that could be read has for the repo (0 included)."""

    repo: str | None
    repo_root: str
    tools: dict[str, int]
    sessions: list[SessionRow]

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "repo": self.repo, "repo_root": self.repo_root, "tools": dict(self.tools),
                "sessions": [r.to_json() for r in self.sessions]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SessionsResult:
        return cls(repo=doc["repo"], repo_root=doc["repo_root"], tools=dict(doc["tools"]),
                   sessions=[SessionRow.from_json(d) for d in doc["sessions"]])

    def messages(self) -> list[Message]:
        out: list[Message] = []
        if not self.sessions:
            out.append(Message(f"No sessions for the repo at {self.repo_root}.", Stream.ERR))
        rows = [("TOOL", "ID", "LAST ACTIVITY", "LINES", "SIZE", "TITLE")]
        for r in self.sessions:
            s = r.session
            title = one_line(s.title, 50)
            if r.imported_from:
                title += f"  (imported from {r.imported_from})"
            rows.append((r.tool, r.short_id, local_time(s.last_activity),
                         "" if s.lines is None else str(s.lines), human_size(s.bytes), title))
        if len(rows) > 1:
            widths = [max(len(r[i]) for r in rows) for i in range(5)]
            for r in rows:
                out.append(Message("  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                                              r[3].rjust(widths[3]), r[4].rjust(widths[4]), r[5]]).rstrip(),
                                   Stream.OUT))
        return out


# -- send -------------------------------------------------------------------------------------------------

_SEND_KEYS = ("ok", "tool", "repo", "repo_root", "sessions", "dry_run", "plain_bytes", "git", "secrets", "bytes",
              "file", "gist", "receive", "copied")


@dataclass(kw_only=True)
class SendResult(Result):
    """What send sent (or with `dry_run` would send).  `plain_bytes`, `git` (the sender's code state and
    what was carried) are there once the handoff is packed; `bytes`, `file` or `gist`, and `receive` (the
    command to run on the other machine) once it is stored; `secrets`: the scan's report when one ran;
    `extra`: the transport's own keys (in a dry run its `describe()`, after an upload what it says about
    what it stored, e.g. a gist's url and parts); `copied`: whether the receive command reached the
    clipboard, when it was to be copied."""

    tool: str
    repo: str | None
    repo_root: str
    sessions: list[SessionInfo]
    dry_run: bool = False
    plain_bytes: int | None = None
    git: dict[str, Any] | None = None
    secrets: dict[str, Any] | None = None
    bytes: int | None = None
    file: str | None = None
    gist: str | None = None
    receive: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    copied: bool | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": True, "tool": self.tool, "repo": self.repo, "repo_root": self.repo_root,
                             "sessions": [s.to_json() for s in self.sessions]}
        if self.dry_run:
            d["dry_run"] = True
            if self.secrets is not None:
                d["secrets"] = self.secrets
            d.update(self.extra)
            return d
        d["plain_bytes"] = self.plain_bytes
        d["git"] = self.git
        if self.secrets is not None:
            d["secrets"] = self.secrets
        for key in ("bytes", "file", "gist", "receive"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        d.update({k: v for k, v in self.extra.items() if k not in d})
        if self.copied is not None:
            d["copied"] = self.copied
        return d

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SendResult:
        """The result a document describes: a send's, a dry run's, or the summary of a packed handoff that
        an interrupted upload kept (no `bytes` yet)."""
        common = {"tool": doc["tool"], "repo": doc["repo"], "repo_root": doc["repo_root"],
                  "sessions": [SessionInfo.from_json(s) for s in doc["sessions"]], "secrets": doc.get("secrets")}
        if doc.get("dry_run"):
            known: tuple[str, ...] = ("ok", "tool", "repo", "repo_root", "sessions", "dry_run", "secrets")
            return cls(**common, dry_run=True, extra={k: v for k, v in doc.items() if k not in known})
        return cls(**common, plain_bytes=doc.get("plain_bytes"), git=doc.get("git"), bytes=doc.get("bytes"),
                   file=doc.get("file"), gist=doc.get("gist"), receive=doc.get("receive"), copied=doc.get("copied"),
                   extra={k: v for k, v in doc.items() if k not in _SEND_KEYS})

    def messages(self) -> list[Message]:
        if self.dry_run:
            total = sum(s.bytes for s in self.sessions)
            return [say(f"Dry run: {len(self.sessions)} session(s), {human_size(total)} before compression; "
                        "nothing was sent or written.")]
        where = f"gist [bold]{self.gist}[/bold]" if self.gist is not None else f"[bold]{self.file}[/bold]"
        out = [say(f"Sent {len(self.sessions)} session(s), {self.bytes or 0:,} bytes encrypted, to {where}")]
        if self.git:
            from sync_ai_sessions.gitstate import describe_state

            out.append(info(f"Code: {describe_state(self.git['sender'])}"))
        out.append(say("On the other machine, in your clone of the repo, run:\n"
                       f"  [bold]{shown_command(self.receive or '')}[/bold]"))
        if self.copied is not None:
            out.append(info("Copied to the clipboard." if self.copied
                            else "Could not reach a clipboard; copy it by hand."))
        return out


# -- inspect, receive -------------------------------------------------------------------------------------

LABELS = {"new": "import", "fast-forward": "fast-forward", "copy": "import as a copy"}
DONE = {"new": "imported", "fast-forward": "fast-forwarded", "copy": "imported as a copy"}


@dataclass(frozen=True)
class HandoffInfo:
    """What a handoff says about where it comes from (all of it from inside the ciphertext)."""

    tool: str
    tool_version: str | None
    created: str | None
    generator: str | None
    host: str | None
    os: str | None
    repo: str | None
    remotes: list[str]
    branch: str | None
    commit: str | None
    dirty: bool | None

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "tool_version": self.tool_version, "created": self.created,
                "generator": self.generator, "host": self.host, "os": self.os, "repo": self.repo,
                "remotes": list(self.remotes), "branch": self.branch, "commit": self.commit, "dirty": self.dirty}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HandoffInfo:
        return cls(tool=d["tool"], tool_version=d["tool_version"], created=d["created"], generator=d["generator"],
                   host=d["host"], os=d["os"], repo=d["repo"], remotes=list(d["remotes"]), branch=d["branch"],
                   commit=d["commit"], dirty=d["dirty"])


@dataclass(frozen=True)
class HandoffSession:
    """A session inside a handoff as `inspect` lists it (the fields `send` shows, without the line count)."""

    id: str
    title: str | None
    cwd: str
    last_activity: str | None
    files: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "cwd": self.cwd, "last_activity": self.last_activity,
                "files": self.files, "bytes": self.bytes}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HandoffSession:
        return cls(id=d["id"], title=d["title"], cwd=d["cwd"], last_activity=d["last_activity"], files=d["files"],
                   bytes=d["bytes"])


@dataclass(frozen=True)
class Imported:
    """A session receive placed (or in a dry run would place): `action` new | fast-forward | copy; `id` is
    the copy's own id for a copy; `note`: what the engine said about it, if anything."""

    id: str
    original_id: str
    path: str | None
    action: str
    resume: str | None
    title: str | None
    last_activity: str | None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = {"id": self.id, "original_id": self.original_id, "path": self.path, "action": self.action,
             "resume": self.resume, "title": self.title, "last_activity": self.last_activity}
        if self.note:
            d["note"] = self.note
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Imported:
        return cls(id=d["id"], original_id=d["original_id"], path=d["path"], action=d["action"], resume=d["resume"],
                   title=d["title"], last_activity=d["last_activity"], note=d.get("note"))


@dataclass(frozen=True)
class Skipped:
    """A session receive left alone, and why; `path` and `resume` when a version of it is here."""

    id: str
    original_id: str
    reason: str | None
    path: str | None
    resume: str | None
    title: str | None
    last_activity: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "original_id": self.original_id, "reason": self.reason, "path": self.path,
                "resume": self.resume, "title": self.title, "last_activity": self.last_activity}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Skipped:
        return cls(id=d["id"], original_id=d["original_id"], reason=d["reason"], path=d["path"], resume=d["resume"],
                   title=d["title"], last_activity=d["last_activity"])


@dataclass(kw_only=True)
class ReceiveResult(Result):
    """What receive did (or, in a dry run, would do) with each session, by title and date, then the command
    that resumes every session of the handoff that is on this machine, those already here included.

    `imported`/`skipped` are None when there was no plan (inspect without a clone of the repo; `notes` then
    says why); `sessions`: the handoff's sessions (inspect only); `git`: where the code stands
    (`gitstate.compare`, and what `--with-changes` did); `deleted`: the references the transport removed
    after the import (`receive --delete`; None when nothing was to be deleted); `with_changes` only
    changes what is said about the code."""

    tool: str
    repo: str | None
    repo_root: str | None
    handoff: HandoffInfo
    sessions: list[HandoffSession] | None = None
    imported: list[Imported] | None
    skipped: list[Skipped] | None
    notes: list[str] = field(default_factory=list)
    journal: str | None = None
    git: dict[str, Any] | None = None
    dry_run: bool = False
    deleted: list[str] | None = None
    with_changes: bool = False

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": True, "tool": self.tool, "repo": self.repo, "repo_root": self.repo_root,
                             "handoff": self.handoff.to_json()}
        if self.sessions is not None:
            d["sessions"] = [s.to_json() for s in self.sessions]
        d["imported"] = None if self.imported is None else [i.to_json() for i in self.imported]
        d["skipped"] = None if self.skipped is None else [i.to_json() for i in self.skipped]
        d["notes"] = list(self.notes)
        d["journal"] = self.journal
        d["git"] = self.git
        if self.dry_run:
            d["dry_run"] = True
        if self.deleted is not None:
            d["deleted"] = True
        return d

    @classmethod
    def from_json(cls, doc: dict[str, Any], **kw: Any) -> ReceiveResult:
        """The result a document describes (`kw`: what the document does not hold, e.g. `with_changes`)."""
        sessions, imported, skipped = doc.get("sessions"), doc["imported"], doc["skipped"]
        return cls(tool=doc["tool"], repo=doc["repo"], repo_root=doc["repo_root"],
                   handoff=HandoffInfo.from_json(doc["handoff"]),
                   sessions=None if sessions is None else [HandoffSession.from_json(s) for s in sessions],
                   imported=None if imported is None else [Imported.from_json(i) for i in imported],
                   skipped=None if skipped is None else [Skipped.from_json(i) for i in skipped],
                   notes=list(doc["notes"]), journal=doc["journal"], git=doc["git"],
                   dry_run=bool(doc.get("dry_run")), deleted=[] if doc.get("deleted") else None, **kw)

    def _handoff_line(self) -> Message:
        from sync_ai_sessions.adapters import REGISTRY

        h = self.handoff
        name = REGISTRY.get(self.tool, ("", "", self.tool))[2]
        at = f", branch {h.branch}" if h.branch else ""
        if h.commit:
            at += f" @ {str(h.commit)[:10]}"
        return say(f"Handoff from {h.host or '?'}, made {local_time(h.created) or '?'}: {name} sessions "
                   f"of {h.repo or '(no remote)'}{at}")

    def messages(self) -> list[Message]:
        imported, skipped = self.imported or [], self.skipped or []
        out = [self._handoff_line()]
        for item in imported:
            label = (LABELS if self.dry_run else DONE)[item.action]
            extra = f" (copy of {item.original_id})" if item.action == "copy" else ""
            out.append(say(f"  [green]{label}[/green] {one_line(item.title, 50)}  "
                           f"[dim]{local_time(item.last_activity)}  {item.id}{extra}[/dim]"))
        for s in skipped:
            out.append(say(f"  [yellow]{'would skip' if self.dry_run else 'skipped'}[/yellow] "
                           f"{one_line(s.title, 50)}  [dim]{local_time(s.last_activity)}  "
                           f"{s.id}[/dim]: {s.reason}"))
        out += [info(n) for n in self.notes]
        here = [i for i in [*imported, *skipped] if i.resume]
        if here and not self.dry_run:
            out.append(say("Continue with:"))
            for i in here:
                assert i.resume is not None
                out.append(say(f"  [bold]{shown_command(i.resume)}[/bold]  "
                               f"[dim]# {one_line(i.title, 40)}[/dim]"))
        if self.dry_run:
            out.append(say("Dry run: nothing was written."))
        if self.git:
            from sync_ai_sessions.gitreceive import say_where

            lines: list[str] = []
            say_where(self.git, lines.append, with_changes=self.with_changes)
            out += [say(line) for line in lines]
        if self.deleted:
            out.append(info(f"Deleted {' '.join(self.deleted)}."))
        return out


@dataclass(kw_only=True)
class InspectResult(ReceiveResult):
    """A dry-run receive that also lists the handoff's sessions, each with what receive would do with it."""

    def messages(self) -> list[Message]:
        out = [self._handoff_line()]
        plan: dict[str, Imported | Skipped] = {i.original_id: i for i in [*(self.imported or []),
                                                                         *(self.skipped or [])]}
        for s in self.sessions or []:
            sub = f"  [{s.cwd}]" if s.cwd else ""
            out.append(say(f"  {one_line(s.title, 50)}  [dim]{local_time(s.last_activity)}  "
                           f"{human_size(s.bytes)}{sub}  {s.id}[/dim]"))
            p = plan.get(s.id)
            if p is not None:
                what = f"would {LABELS[p.action]}" if isinstance(p, Imported) else f"would skip: {p.reason}"
                out.append(say(f"      → {what}"))
        out += [info(n) for n in self.notes]
        return out


# -- install, undo, doctor, demo --------------------------------------------------------------------------

@dataclass(kw_only=True)
class InstallResult(Result):
    """`gh`: gh's state here as `ghauth.check_gh` found it (`problem` when gists cannot be used); `gh_fix`:
    the command that fixes gh here, when gh has a problem; `transport`: how this device now sends (when
    given); `passphrase_check`: a check was stored; `passphrase`: the one `--generate` made (shown once)."""

    config_dir: str
    gh: dict[str, Any]
    gh_fix: str | None = None
    transport: str | None = None
    passphrase_check: bool = False
    passphrase: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": True, "config_dir": self.config_dir, "gh": dict(self.gh)}
        if self.transport is not None:
            d["transport"] = self.transport
        if self.passphrase_check:
            d["passphrase_check"] = True
        if self.passphrase:
            d["passphrase"] = self.passphrase
        return d

    @classmethod
    def from_json(cls, doc: dict[str, Any], **kw: Any) -> InstallResult:
        return cls(config_dir=doc["config_dir"], gh=dict(doc["gh"]), transport=doc.get("transport"),
                   passphrase_check=bool(doc.get("passphrase_check")), passphrase=doc.get("passphrase"), **kw)

    def messages(self) -> list[Message]:
        gh = self.gh
        if gh.get("problem"):
            out = [say(f"[yellow]gh:[/yellow] {gh['problem']} — fix: [bold]{self.gh_fix}[/bold] "
                       "(only needed for gists)")]
        else:
            out = [say(f"gh: logged in as {gh.get('user') or '?'} on {gh.get('host') or 'github.com'}, "
                       "gist scope ok")]
        if self.passphrase:
            out += [say("Your new passphrase (write it down; it is shown once and never stored):"),
                    say(f"  [bold]{self.passphrase}[/bold]"),
                    say("On your other devices run `sync-ai-sessions install` and type this passphrase "
                        "(not --generate).")]
        out.append(say(f"Ready. Config in {self.config_dir}"))
        return out


@dataclass(frozen=True)
class Reverted:
    """One thing undo put back: `op` is the journal's (create, extend, append, edit, mkdir, temp, row-*, or
    git); `table` for a database row (`kept`: an index row the tool wrote again since, left as it is);
    `what` for git (what was reverted in the clone at `path`)."""

    op: str
    path: str
    what: str | None = None
    table: str | None = None
    kept: bool = False

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.what is not None:
            d["what"] = self.what
        if self.table is not None:
            d["table"] = self.table
        if self.kept:
            d["kept"] = True
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Reverted:
        return cls(op=d["op"], path=d["path"], what=d.get("what"), table=d.get("table"), kept=bool(d.get("kept")))


@dataclass(kw_only=True)
class UndoResult(Result):
    """`complete`: the import had finished (else an interrupted one was reverted); `sessions`: those the
    import had placed, as its journal recorded them."""

    journal: str
    complete: bool
    reverted: list[Reverted]
    sessions: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "journal": self.journal, "complete": self.complete,
                "reverted": [r.to_json() for r in self.reverted], "sessions": list(self.sessions)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> UndoResult:
        return cls(journal=doc["journal"], complete=doc["complete"],
                   reverted=[Reverted.from_json(r) for r in doc["reverted"]], sessions=list(doc["sessions"]))

    def messages(self) -> list[Message]:
        out = []
        for r in self.reverted:
            if r.op == "git":
                out.append(say(f"reverted git: {r.what} ({r.path})"))
            elif r.op != "mkdir" and r.table is None:
                out.append(say(f"reverted {r.op}: {r.path}"))
        return out


MARKS = {"ok": "[green]ok[/green]  ", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]",
         "info": "[dim]info[/dim]"}


@dataclass(frozen=True)
class Check:
    """One doctor check: `status` ok | warn | fail | info; `fix`: the command or step that fixes it."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Check:
        return cls(name=d["name"], status=d["status"], detail=d["detail"], fix=d["fix"])


@dataclass(frozen=True)
class ToolHome:
    """A tool's session folder: `sessions` in all (None: could not count); `repo_sessions`: those of this
    repo, when `counted_here` (there was a repo and the folder exists; None: could not count)."""

    home: str
    exists: bool
    sessions: int | None
    repo_sessions: int | None = None
    counted_here: bool = False

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"home": self.home, "exists": self.exists, "sessions": self.sessions}
        if self.counted_here:
            d["repo_sessions"] = self.repo_sessions
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ToolHome:
        return cls(home=d["home"], exists=d["exists"], sessions=d["sessions"], repo_sessions=d.get("repo_sessions"),
                   counted_here="repo_sessions" in d)


@dataclass(kw_only=True)
class DoctorResult(Result):
    """Exit code 3 when a check failed (the document is still printed)."""

    checks: list[Check]
    tools: dict[str, ToolHome]
    repo: str | None
    repo_root: str | None
    transport: str | None
    config_dir: str

    def __post_init__(self) -> None:
        self.exit_code = 0 if self.ok else 3

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_json() for c in self.checks],
                "tools": {name: t.to_json() for name, t in self.tools.items()}, "repo": self.repo,
                "repo_root": self.repo_root, "transport": self.transport, "config_dir": self.config_dir}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DoctorResult:
        return cls(checks=[Check.from_json(c) for c in doc["checks"]],
                   tools={name: ToolHome.from_json(t) for name, t in doc["tools"].items()}, repo=doc["repo"],
                   repo_root=doc["repo_root"], transport=doc["transport"], config_dir=doc["config_dir"])

    def messages(self) -> list[Message]:
        out = []
        for c in self.checks:
            line = f"{MARKS[c.status]} {c.name}: {c.detail}"
            if c.fix and c.status != "ok":
                line += f"  → [bold]{c.fix}[/bold]"
            out.append(say(line))
        return out


@dataclass(kw_only=True)
class DemoResult(Result):
    """The demo's three steps (`sent` on machine A, `received` on B, the same handoff received `again`);
    its story is told from them.  `source`: the session file written on A (not in the document);
    `workdir`: the demo machines' folder, when kept (`--keep`)."""

    ok: bool
    tool: str
    workdir: str | None
    sent: SendResult
    received: ReceiveResult
    again: ReceiveResult
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "tool": self.tool, "workdir": self.workdir, "sent": self.sent.to_json(),
                "received": self.received.to_json(), "again": self.again.to_json()}

    def messages(self) -> list[Message]:
        item = (self.received.imported or [])[0]
        again = (self.again.skipped or [])[0]
        out = [say(f"[bold]1.[/bold] Machine A: a {self.tool} session in {self.sent.repo_root}\n   {self.source}"),
               say(f"[bold]2.[/bold] send: {len(self.sent.sessions)} session(s) -> {self.sent.file} "
                   f"({self.sent.bytes or 0:,} bytes, AES-256-GCM, scrypt; throwaway passphrase)"),
               say(f"[bold]3.[/bold] Machine B: receive matched {self.received.repo} at {self.received.repo_root}\n"
                   f"   {item.action}: {item.path}"),
               say(f"[bold]4.[/bold] Paths rewritten for B: {'yes' if self.ok else 'NO'}; resume there with:\n"
                   f"   [bold]{item.resume}[/bold]"),
               say(f"[bold]5.[/bold] Receiving the same handoff again: {again.reason}")]
        if self.workdir is not None:
            out.append(info(f"Kept the demo machines in {self.workdir}"))
        return out


# -- list, delete, prune (handoffs of a transport that can enumerate them) ----------------------------------

def human_age(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds}s ago"
    if seconds < 5400:
        return f"{seconds // 60}m ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _row(h: Handoff) -> Message:
    label = "" if h.kind == "handoff" else "  (leftover part of a failed or deleted handoff)"
    return Message(f"{h.id}  {h.created_at:20}  {human_age(h.age_seconds):>8}  {human_size(h.size):>9}{label}",
                   Stream.OUT)


@dataclass(kw_only=True)
class ListResult(Result):
    handoffs: list[Handoff]

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "handoffs": [h.to_json() for h in self.handoffs]}

    def messages(self) -> list[Message]:
        if not self.handoffs:
            return [Message("No handoff gists.", Stream.ERR)]
        return [Message(f"{'GIST ID':32}  {'CREATED':20}  {'AGE':>8}  {'SIZE':>9}", Stream.OUT),
                *(_row(h) for h in self.handoffs)]


@dataclass(kw_only=True)
class DeleteResult(Result):
    deleted: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "deleted": list(self.deleted)}

    def messages(self) -> list[Message]:
        return [Message(f"Deleted {len(self.deleted)} gist(s): {' '.join(self.deleted)}", Stream.ERR)]


@dataclass(kw_only=True)
class PruneResult(Result):
    """`handoffs`: those deleted, or with `dry_run` those that would be."""

    dry_run: bool
    handoffs: list[Handoff]

    def to_json(self) -> dict[str, Any]:
        items = [h.to_json() for h in self.handoffs]
        return {"ok": True, "dry_run": self.dry_run, "deleted": [] if self.dry_run else items,
                "would_delete": items if self.dry_run else []}

    def messages(self) -> list[Message]:
        verb = "Would delete" if self.dry_run else "Deleted"
        return [Message(f"{verb} {len(self.handoffs)} handoff gist(s).", Stream.ERR), *(_row(h) for h in self.handoffs)]
