"""Codex CLI adapter.

Reading rollouts (plain or zstd, head, tail, runs of lines) is in `codex_files.py`.  What stays here
(~720 lines) is one adapter whose parts lean on each other: discovery (a parallel scan that decides a
rollout's repo from its head and tail), the rewriting rules (JSON-in-JSON, the model provider) and
staging with its shared history/index lines; splitting it further would pass the same state around.

Storage (checked against Codex CLI 0.169.0 and 0.110.0, see the format notes):
- data lives under `CODEX_HOME` (default `~/.codex`); a session is one append-only JSONL "rollout" file
  `sessions/YYYY/MM/DD/rollout-<local time YYYY-MM-DDThh-mm-ss>-<uuid>.jsonl` (or `.jsonl.zst`); archived
  sessions sit flat in `archived_sessions/`.  Codex finds a rollout by parsing its *file name*, so the name
  is kept exactly (only the id changes for a copy).
- line 0 is `session_meta` (id, cwd, model_provider, ~20 KB of base instructions *after* the cwd), then
  `turn_context` per turn (its latest `cwd` is what `--last` and the picker filter on), `event_msg`
  (`thread_settings_applied.thread_settings.model_provider_id` decides the provider on resume),
  `response_item`, `world_state`, `token_usage_record`;
- `history.jsonl` (`{"session_id","ts","text"}`) and `session_index.jsonl` (`{"id","thread_name",
  "updated_at"}`) are shared append-only files; we carry only this session's lines and append them on import;
- `state_5.sqlite` and friends are Codex's own index.  They are never carried: on import we delete the single
  `backfill_state` row so Codex re-scans `sessions/` on its next start and `--last` / the picker see the
  imported rollout (and never pick an older indexed session instead); a planned store operation
  (`RowsReset`), so `undo` puts the row back.

Discovery reads only the head of each rollout (the cwd sits in the first few hundred bytes) and, when that
cwd is outside the repo, the tail back to the latest `turn_context`, so thousands of rollouts are scanned
quickly.  On import every occurrence of the old repo root (plain, JSON-escaped, JSON-in-JSON as in tool-call
`arguments`, and percent-encoded in `file://` URLs) and of the old CODEX_HOME becomes the local one.

Path forms per OS (all translated on import, both ways; see pathflavor / rewrite_cross):
- Linux/macOS: `cwd`, `runtime_workspace_roots[]`, `workdir` inside `function_call.arguments` (a JSON
  string, so the path is escaped twice in the line), `CommandExecution.cwd` as `file:///home/u/app`.
- Windows: `C:\\work\\app` (`C:\\\\work\\\\app` inside `arguments`), `file:///C:/work/app` URLs, the
  drive letter in either case (discovery matches cwds case-insensitively there), `\\\\?\\` paths from
  canonicalisation, forward slashes in tool output.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shlex
import time
import tomllib
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from sync_ai_sessions import osops, pathflavor
from sync_ai_sessions.adapters.base import (
    ROLE_SIDECAR,
    ROLE_TRANSCRIPT,
    Adapter,
    ExportFile,
    ImportContext,
    LineAppend,
    Placement,
    Recipe,
    RowsReset,
    Session,
    SessionManifest,
    SessionResult,
    StagedSession,
)
from sync_ai_sessions.adapters.codex_files import (
    _CLI_VERSION,
    _PROMPT_KEYS,
    _PROVIDER,
    _PROVIDER_KEY,
    _TURN_CONTEXT,
    HEAD_BYTES,
    RolloutHead,
    _cwd_at,
    _jstr,
    _last_timestamp,
    _open_blocks,
    _prompt_of,
    _read_blocks,
    _runs,
    _tail_turn_cwd_fd,
    data_blocks,
    latest_turn_cwd,
    read_rollout_head,
)
from sync_ai_sessions.adapters.jsonl import newlines
from sync_ai_sessions.engine.rewrite import PathRewriter, Rule
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo
from sync_ai_sessions.statcache import StatCache

SESSIONS_SUBDIR = "sessions"
ARCHIVED_SUBDIR = "archived_sessions"
HISTORY_FILE = "history.jsonl"
SESSION_INDEX_FILE = "session_index.jsonl"
DEFAULT_PROVIDER = "openai"

SMALL_ROLLOUT = 1 << 20  # rollouts up to this size are read whole, once, by discovery
_CACHE_SCHEMA = 1  # a cache entry: {"cwd", "tcwd"?; "info", "size" for a small plain rollout of a repo sent}
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
ROLLOUT_NAME = re.compile(
    r"^rollout-(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})T\d{2}-\d{2}-\d{2}-(?P<id>" + _UUID + r")\.jsonl(?P<zst>\.zst)?$"
)
_UUID_RE = re.compile(r"^" + _UUID + r"$")
def _json_once(s: str, ascii_only: bool) -> str:
    """`s` as it appears inside a JSON string (escaped once, without the quotes)."""
    return json.dumps(s, ensure_ascii=ascii_only)[1:-1]


def uuid7(seed: str | None = None) -> str:
    """A time-ordered UUID (version 7), the kind Codex itself gives threads.

    With `seed` ("<original id>\n<digest>", from the import engine) the id is deterministic, so the
    same copy received twice gets the same id; its time part is the original thread's.
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    if seed is not None:
        rand = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
        orig = seed.split("\n", 1)[0].replace("-", "")
        if re.fullmatch(r"[0-9a-fA-F]{32}", orig):
            ms = int(orig[:12], 16)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


class _ProviderFix:
    """Rewrites the rollout's model provider to this machine's (unless kept), noting the ones it saw."""

    def __init__(self, target: str, keep: bool):
        self.target = target
        self.keep = keep
        self.seen: list[str] = []

    def _sub(self, pm: re.Match[bytes]) -> bytes:
        val = _jstr(pm.group(2))
        if val not in self.seen:
            self.seen.append(val)
        if self.keep or val == self.target:
            return pm.group(0)
        return pm.group(1) + json.dumps(self.target, ensure_ascii=False).encode()

    def __call__(self, lines: bytes) -> bytes:
        if not _PROVIDER_KEY.hits(lines):  # the key is rare: one SIMD pass instead of the regex's scan
            return lines
        return _PROVIDER.sub(self._sub, lines)


def _rest(fd: int, head: bytes) -> tuple[int | None, bytes | None]:
    """(size, the whole file) of the open plain rollout whose first bytes `head` were read: the rest is
    read on when the file is at most SMALL_ROLLOUT; (None, None) when it is larger or changed meanwhile."""
    size = os.fstat(fd).st_size
    if size > SMALL_ROLLOUT or size < len(head):
        return None, None
    parts = [head]
    got = len(head)
    while got < size:
        b = osops.pread(fd, size - got, got)
        if not b:
            return None, None  # it shrank under us: read it as before
        parts.append(b)
        got += len(b)
    return size, parts[0] if len(parts) == 1 else b"".join(parts)


class CodexAdapter(Adapter):
    name = "codex"
    display_name = "Codex CLI"
    streams = True

    def __init__(self, env: Mapping[str, str] | None = None, *, include_archived: bool | None = None):
        super().__init__(env)
        if include_archived is None:
            include_archived = self.env.get("SAIS_CODEX_INCLUDE_ARCHIVED", "") in ("1", "true", "yes")
        self.include_archived = include_archived

    # -- locations ---------------------------------------------------------------------------
    def home(self) -> Path:
        h = self.env.get("CODEX_HOME")
        if h:
            return Path(h)
        return self.user_home() / ".codex"

    def _config(self) -> dict[str, Any]:
        try:
            with open(self.home() / "config.toml", "rb") as fh:
                return tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError):
            return {}

    def configured_provider(self) -> str:
        """The `model_provider` this machine's Codex uses by default ("openai" when unset)."""
        cfg = self._config()
        provider = cfg.get("model_provider")
        profile = cfg.get("profile")
        profiles = cfg.get("profiles")
        if isinstance(profile, str) and isinstance(profiles, dict):
            p = profiles.get(profile)
            if isinstance(p, dict) and isinstance(p.get("model_provider"), str):
                provider = p["model_provider"]
        return provider if isinstance(provider, str) and provider else DEFAULT_PROVIDER

    def sqlite_homes(self) -> list[Path]:
        homes: list[Path] = []
        env_home = self.env.get("CODEX_SQLITE_HOME")
        if env_home:
            homes.append(Path(env_home))
        cfg_home = self._config().get("sqlite_home")
        if isinstance(cfg_home, str) and cfg_home:
            homes.append(Path(os.path.expanduser(cfg_home)) if cfg_home.startswith("~") else Path(cfg_home))
        homes += [self.home(), self.home() / "sqlite"]
        out: list[Path] = []
        for h in homes:
            if h not in out:
                out.append(h)
        return out

    def _rollout_dirs(self, archived: bool) -> list[tuple[Path, bool]]:
        dirs = [(self.home() / SESSIONS_SUBDIR, False)]
        if archived:
            dirs.append((self.home() / ARCHIVED_SUBDIR, True))
        return dirs

    # -- send side ---------------------------------------------------------------------------
    def export_meta(self) -> dict[str, Any]:
        return {"codex_home": str(self.home()), "model_provider": self.configured_provider(),
                "include_archived": self.include_archived}

    def session_count(self) -> int | None:
        return sum(1 for _ in self._walk(True))

    @staticmethod
    def _rel_to(root: str, cwd: str, cache: dict[str, str | None],
                fl: pathflavor.Flavor | None = None) -> str | None:
        """`cwd` relative to `root` (POSIX, "" for the root), or None when outside: compared as this
        machine's file system compares paths (`c:\\work\\app` is git's `C:\\work\\app` on Windows)."""
        if cwd in cache:
            return cache[cwd]
        rel: str | None = None
        here = fl or pathflavor.local()
        for cand in dict.fromkeys((cwd, os.path.realpath(cwd) if cwd.startswith("/") else cwd)):
            rel = pathflavor.relative(cand if here.windows else os.path.normpath(cand), root, here)
            if rel is not None:
                break
        cache[cwd] = rel
        return rel

    def _walk(self, archived: bool) -> Iterator[tuple[str, str, bool]]:
        """(path, name, archived) of every file named like a rollout; plain strings, for speed."""
        match = ROLLOUT_NAME.match
        for base, is_archived in self._rollout_dirs(archived):
            stack = [str(base)]
            while stack:
                d = stack.pop()
                try:
                    it = os.scandir(d)
                except OSError:
                    continue
                with it:
                    for e in it:
                        name = e.name
                        if name.startswith("rollout-") and match(name):
                            if e.is_file(follow_symlinks=False):
                                yield e.path, name, is_archived
                        elif e.is_dir(follow_symlinks=False):
                            stack.append(e.path)

    def _probe(self, path: str, root: str, cache: dict[str, str | None]
               ) -> tuple[dict[str, Any], str | None, str | None, int | None, bytes | None] | None:
        """(facts, rel, matching cwd, size, the file's bytes) of the rollout at `path`: `facts` are what the
        file says (session_meta's "cwd", and "tcwd", the latest turn_context's, when it was needed), kept by
        the discovery cache; rel and the matching cwd are None when the rollout is not `root`'s; None when it
        is no rollout (no session_meta first).  The head (and, when it does not settle it, a bounded tail)
        is read as always; a matching plain rollout up to SMALL_ROLLOUT is then read on, through the same
        descriptor, to its end, so that its summary needs no second open nor stat (the size and bytes are
        None otherwise).  Rollouts of other folders are never read further than before."""
        rel_to = self._rel_to
        if path.endswith(".zst"):
            line0, cwd, _ = read_rollout_head(path)
            if b'"session_meta"' not in line0:
                return None
            rel = rel_to(root, cwd, cache) if cwd else None
            if rel is not None and cwd:
                return {"cwd": cwd}, rel, cwd, None, None
            tcwd = latest_turn_cwd(Path(path))
            rel = rel_to(root, tcwd, cache) if tcwd else None
            facts = {"cwd": cwd, "tcwd": tcwd}
            return (facts, rel, tcwd, None, None) if rel is not None and tcwd else (facts, None, None, None, None)
        fd = osops.open_read(path)
        try:
            head = os.read(fd, HEAD_BYTES)
            nl = head.find(b"\n")
            line0 = head if nl < 0 else head[:nl]
            if b'"session_meta"' not in line0:
                return None
            cwd = _cwd_at(line0)
            if cwd is None and nl < 0 and len(head) == HEAD_BYTES:
                line0, cwd, _ = read_rollout_head(path)
            rel = rel_to(root, cwd, cache) if cwd else None
            if rel is not None and cwd:
                return ({"cwd": cwd}, rel, cwd, *_rest(fd, head))
            if len(head) < HEAD_BYTES:  # the head is the whole file
                i = head.rfind(_TURN_CONTEXT)
                tcwd = _cwd_at(head[i:].split(b"\n", 1)[0]) if i > len(line0) else None
            else:
                tcwd = _tail_turn_cwd_fd(fd, os.fstat(fd).st_size, len(line0))
            rel = rel_to(root, tcwd, cache) if tcwd else None
            facts = {"cwd": cwd, "tcwd": tcwd}
            if rel is not None and tcwd:
                return (facts, rel, tcwd, *_rest(fd, head))
            return facts, None, None, None, None
        finally:
            os.close(fd)

    def _known(self, known: dict[str, Any], root: str, cache: dict[str, str | None]
               ) -> tuple[str | None, str | None] | None:
        """(rel, matching cwd) from the discovery cache's `facts` of a rollout, as `_probe` decides them;
        (None, None) when it is not `root`'s; None when the facts do not settle it (the tail was never
        needed before: look at the file)."""
        cwd = known.get("cwd")
        rel = self._rel_to(root, cwd, cache) if cwd else None
        if rel is not None and cwd:
            return rel, cwd
        if "tcwd" not in known:
            return None
        tcwd = known["tcwd"]
        rel = self._rel_to(root, tcwd, cache) if tcwd else None
        return (rel, tcwd) if rel is not None and tcwd else (None, None)

    def scan(self, repo_root: str | Path, *, summarise: bool = False, known: StatCache | None = None
             ) -> list[tuple[RolloutHead, str, str]]:
        """(head, rel, matching cwd) for every rollout whose cwd lies in `repo_root`.

        Reads the first HEAD_BYTES of each rollout (session_meta's cwd sits in its first few hundred bytes);
        only when that cwd is outside the repo is the tail read back to the latest `turn_context`, whose cwd
        is what Codex's own listing filters on.  With `summarise`, a rollout read whole is summarised
        there and then (its bytes are not kept: thousands of sessions).  With `known` (the discovery cache),
        an unchanged rollout is decided, and summarised when it was before, without being opened.
        """
        root = os.path.normpath(str(repo_root))
        cache: dict[str, str | None] = {}

        def probe(entry: tuple[str, str, bool]) -> tuple[RolloutHead, str, str] | None:
            path, name, archived = entry
            # The id in the file name is the one Codex resolves `resume <id>` by.
            sid = name.removesuffix(".zst").removesuffix(".jsonl")[-36:]
            st = None
            if known is not None:
                try:
                    st = os.stat(path)
                except OSError:
                    return None
                remembered = known.get(path, st)
                if remembered is not None and (decided := self._known(remembered, root, cache)) is not None:
                    rel, recorded = decided
                    if rel is None or recorded is None:
                        return None
                    return RolloutHead(Path(path), sid, remembered.get("cwd"), archived, remembered.get("size"),
                                       remembered.get("info")), rel, recorded
            try:
                hit = self._probe(path, root, cache)
            except (OSError, ValueError):
                return None
            if hit is None:
                return None
            facts, rel, recorded, size, data = hit
            if st is not None and known is not None:
                known.put(path, st, facts)
            if rel is None or recorded is None:
                return None
            info: dict[str, Any] | Exception | None = None
            if summarise and data is not None:
                try:
                    info = self._summarise_runs(_runs(data_blocks(data)))
                except Exception as e:  # raised again where find_sessions uses it, as before
                    info = e
                if st is not None and isinstance(info, dict):
                    facts.update(info=info, size=size)
            return RolloutHead(Path(path), sid, facts["cwd"], archived, size, info), rel, recorded

        # (Threads were measured: on 2 cores they make it slower.)
        return [r for r in map(probe, self._walk(self.include_archived)) if r is not None]

    @staticmethod
    def _lines_by_id(path: Path, key: str, wanted: set[str]) -> dict[str, list[bytes]]:
        """The lines of the shared file `path` (history, session index) whose `key` is one of the `wanted`
        session ids, grouped by it: the file is read once for all the sessions of a send."""
        out: dict[str, list[bytes]] = {}
        if not path.is_file():
            return out
        with open(path, "rb") as fh:
            for line in fh:
                line = line.rstrip(b"\r\n")
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict) and isinstance(obj.get(key), str) and obj[key] in wanted:
                    out.setdefault(obj[key], []).append(line)
        return out

    def find_sessions(self, repo: Repo) -> list[Session]:
        sessions: list[Session] = []
        seen: set[str] = set()
        root = os.path.normpath(str(repo.root))
        known = StatCache(self.env, "codex-discovery", _CACHE_SCHEMA)
        found = self.scan(root, summarise=True, known=known)
        wanted = {rh.id for rh, _, _ in found}
        home = self.home()
        shared = {fname: self._lines_by_id(home / fname, key, wanted)
                  for fname, key in ((HISTORY_FILE, "session_id"), (SESSION_INDEX_FILE, "id"))}
        shared_path = {fname: home / fname for fname in shared}
        for rh, rel, recorded_cwd in found:
            if rh.id in seen or not _UUID_RE.match(rh.id):
                continue
            seen.add(rh.id)
            if isinstance(rh.info, Exception):
                raise rh.info
            info = rh.info if rh.info is not None else self._summarise(rh.path)
            size = rh.size if rh.size is not None else rh.path.stat().st_size
            arc = f"{ARCHIVED_SUBDIR if rh.archived else SESSIONS_SUBDIR}/{rh.path.name}"
            files = [ExportFile(arc, rh.path, size, ROLE_TRANSCRIPT)]
            thread_name = None
            for fname, arcdir in ((HISTORY_FILE, "history"), (SESSION_INDEX_FILE, "session_index")):
                lines = shared[fname].get(rh.id, [])
                if not lines:
                    continue
                if fname == SESSION_INDEX_FILE:
                    with contextlib.suppress(ValueError, TypeError, AttributeError):
                        thread_name = json.loads(lines[-1]).get("thread_name") or None
                # The session's lines of the shared file, carried from memory (a temporary file per session
                # cost about 0.8 ms each to create here: most of a send of thousands).
                data = b"\n".join(lines) + b"\n"
                files.append(ExportFile(f"{arcdir}/{rh.id}.jsonl", shared_path[fname], len(data), ROLE_SIDECAR,
                                        data=data))
            # The root as this session spelled it (it may differ from the physical repo root).
            recorded_root = recorded_cwd
            if rel:
                recorded_root = pathflavor.strip_rel(recorded_cwd, rel, pathflavor.local()) or root
            sessions.append(
                Session(
                    id=rh.id,
                    files=files,
                    cwd_rel=rel,
                    title=thread_name or info["title"],
                    last_activity=info["last_activity"],
                    lines=info["lines"],
                    tool_version=info["cli_version"],
                    meta={
                        "file_name": rh.path.name,
                        "archived": rh.archived,
                        "recorded_root": recorded_root,
                        "model_provider": info["model_provider"],
                    },
                )
            )
        known.save()
        sessions.sort(key=lambda s: s.last_activity or "", reverse=True)
        return sessions

    @staticmethod
    def _summarise(path: Path) -> dict[str, Any]:
        """Title (first user prompt), last activity, line count, version and provider of one rollout.

        Read in runs of whole lines (`_open_blocks`): each run is searched at once (one SIMD pass
        per rare key), and only the lines that hold what is looked for are looked at one by one."""
        return CodexAdapter._summarise_runs(_open_blocks(path))

    @staticmethod
    def _summarise_runs(runs: Iterable[bytes]) -> dict[str, Any]:
        """`_summarise` of the rollout's runs of whole lines."""
        title = None
        last_ts = None
        lines = 0
        version = None
        provider = None
        first = True
        run = b""
        for run in runs:
            lines += newlines(run, 0, len(run))
            if first:
                first = False
                vm = _CLI_VERSION.search(run, 0, run.find(b"\n") + 1 or len(run))
                version = vm.group(1).decode() if vm else None
            ts = _last_timestamp(run)
            if ts is not None:
                last_ts = ts
            for at, _ in _PROVIDER_KEY.hits(run):  # the key's rare: matched where it is, not searched for
                pm = _PROVIDER.match(run, at)
                if pm is not None:
                    provider = _jstr(pm.group(2))
            if title is None:
                for i in _PROMPT_KEYS.starts(run):
                    lo = run.rfind(b"\n", 0, i) + 1
                    hi = run.find(b"\n", i)
                    title = _prompt_of(run[lo:] if hi < 0 else run[lo:hi + 1])
                    if title is not None:
                        break
        if run and not run.endswith(b"\n"):
            lines += 1  # a last line without its newline (being written) counts too
        if isinstance(title, str):
            title = " ".join(title.split())[:200] or None
        return {"title": title, "last_activity": last_ts, "lines": lines, "cli_version": version,
                "model_provider": provider}

    # -- receive side ------------------------------------------------------------------------
    def find_existing(self, session_id: str, ctx: ImportContext | None = None) -> Path | None:
        if not _UUID_RE.match(session_id):
            return None
        sid = session_id.lower()
        if ctx is not None and ctx.lookups is not None:
            index = ctx.lookups.get("codex-rollouts")
            if index is None:
                index = ctx.lookups["codex-rollouts"] = {}
                for path, name, _archived in self._walk(True):  # the walk's first file of an id wins
                    index.setdefault(name.removesuffix(".zst").removesuffix(".jsonl")[-36:].lower(), path)
            found = index.get(sid)
            return Path(found) if found is not None else None
        for path, name, _archived in self._walk(True):
            base = name.removesuffix(".zst").removesuffix(".jsonl")
            if base[-36:].lower() == sid:
                return Path(path)
        return None

    def new_session_id(self, seed: str | None = None) -> str:
        return uuid7(seed)

    @staticmethod
    def _check_transcript_arc(arc: str, sid: str) -> re.Match[str]:
        p = PurePosixPath(arc)
        if p.is_absolute() or ".." in p.parts or "\\" in arc or any(x in ("", ".") for x in p.parts):
            raise UnsafePayloadError(f"unsafe name in payload: {arc!r}")
        m = ROLLOUT_NAME.match(p.name)
        if len(p.parts) != 2 or p.parts[0] not in (SESSIONS_SUBDIR, ARCHIVED_SUBDIR) or m is None:
            raise UnsafePayloadError(f"unexpected transcript name in a Codex session: {arc!r}")
        if m.group("id").lower() != sid.lower():
            raise UnsafePayloadError(f"rollout {arc!r} does not belong to session {sid}")
        return m

    def rewriter(self, session: SessionManifest, ctx: ImportContext, sid: str, out_id: str) -> PathRewriter:
        # While the engine plans (`ctx.lookups`), once per distinct input (a handoff's sessions share them).
        recorded = session.meta.get("recorded_root")
        key = (recorded if isinstance(recorded, str) else None, (sid, out_id) if out_id != sid else None)
        cache = ctx.lookups.setdefault("codex-rewriters", {}) if ctx.lookups is not None else None
        rw = cache.get(key) if cache is not None else None
        if rw is None:
            rw = self._rewriter(session, ctx, sid, out_id)
            if cache is not None:
                cache[key] = rw
        return rw

    def _rewriter(self, session: SessionManifest, ctx: ImportContext, sid: str, out_id: str) -> PathRewriter:
        src = ctx.source
        target_root = str(ctx.target.root)
        pairs: list[tuple[str, str]] = []
        recorded = session.meta.get("recorded_root")
        if isinstance(recorded, str) and recorded and recorded != src.repo_root:
            pairs.append((recorded, target_root))
        if src.repo_root:
            pairs.append((src.repo_root, target_root))
        old_home = src.tool_home or (src.adapter_meta or {}).get("codex_home")
        if isinstance(old_home, str) and old_home:
            pairs.append((old_home, str(self.home())))
        rules: list[Rule] = []
        # With Windows on either side the rewriter decodes JSON-in-JSON itself (rewrite_cross).
        cross = (src.os_flavor or "posix") == "windows" or ctx.target_flavor.windows
        for old, new in pairs:
            if old == new:
                continue
            rules.append(Rule(old, new))
            # JSON-in-JSON (tool-call `arguments`): the path there is escaped twice.  The byte-level
            # rewriter escapes once, so give it the once-escaped form as the "old" text when that differs.
            for ascii_only in (() if cross else (False, True)):
                o1, n1 = _json_once(old, ascii_only), _json_once(new, ascii_only)
                if o1 != old:
                    rules.append(Rule(o1, n1, kind="token"))
        if out_id != sid:
            rules.append(Rule(sid, out_id, kind="token"))
        return PathRewriter(rules, source_flavor=src.os_flavor or "posix", target_flavor=ctx.target_flavor)

    def stage(
        self,
        session: SessionManifest,
        files: Mapping[str, Path],
        ctx: ImportContext,
        new_id: str | None = None,
    ) -> StagedSession:
        sid = session.id
        out_id = new_id or sid
        if not _UUID_RE.match(sid) or not _UUID_RE.match(out_id):
            raise UnsafePayloadError(f"session id {sid!r} is not a Codex thread id")
        transcripts = [f for f in session.files if f.get("role") == ROLE_TRANSCRIPT]
        if len(transcripts) != 1:
            raise UnsafePayloadError(f"session {sid}: expected one transcript, got {len(transcripts)}")
        t_arc = transcripts[0]["arcname"]
        m = self._check_transcript_arc(t_arc, sid)
        name = PurePosixPath(t_arc).name.removesuffix(".zst")  # stored plain: every Codex version reads it
        if out_id != sid:
            name = name[: m.start("id")] + out_id + name[m.end("id"):]
        dest = self.home() / SESSIONS_SUBDIR / m.group("y") / m.group("m") / m.group("d") / name
        if new_id is None:
            existing = self.find_existing(sid, ctx)
            if existing is not None and not existing.name.endswith(".zst"):
                dest = existing

        for f in session.files:
            if f.get("role") != ROLE_TRANSCRIPT:
                self._shared_file(f["arcname"], sid)  # refused before any byte is written
        rw = self.rewriter(session, ctx, sid, out_id)
        provider = _ProviderFix(self._provider(ctx), keep=bool(ctx.options.get("keep_provider")))
        staged_t = ctx.staging / "codex" / name  # one folder for all sessions: the name holds the id
        # Rewritten while it is decrypted, or from its payload file once there (a zstd-compressed rollout,
        # decompressed: the engine names that file, so its name does not say so); the provider note and the
        # history lines need the bytes: complete().
        recipe = Recipe(staged_t, files[t_arc], rw, post=provider,
                        read=functools.partial(_read_blocks, zst=True) if t_arc.endswith(".zst") else None)
        return StagedSession(session_id=out_id, original_id=sid, transcript=Placement(dest, staged_t),
                             resume_cwd=self.target_cwd(session, ctx), recipes=[recipe], carry=(rw, provider))

    def _provider(self, ctx: ImportContext) -> str:
        """`configured_provider()`, read once per import while the engine plans (not once per session)."""
        if ctx.lookups is None:
            return self.configured_provider()
        if "codex-provider" not in ctx.lookups:
            ctx.lookups["codex-provider"] = self.configured_provider()
        return ctx.lookups["codex-provider"]

    def _shared_file(self, arc: str, sid: str) -> tuple[Path, str]:
        """The shared file a sidecar's lines go to, and the key naming their session."""
        if arc == f"history/{sid}.jsonl":
            return self.home() / HISTORY_FILE, "session_id"
        if arc == f"session_index/{sid}.jsonl":
            return self.home() / SESSION_INDEX_FILE, "id"
        raise UnsafePayloadError(f"unexpected file in a Codex session: {arc!r}")

    def streams_session(self, session: SessionManifest) -> bool:
        # A zstd-compressed rollout is decompressed by stage() itself.
        return not any(f["arcname"].endswith(".zst") for f in session.files if f.get("role") == ROLE_TRANSCRIPT)

    def complete(self, staged: StagedSession, session: SessionManifest, files: Mapping[str, Path],
                 ctx: ImportContext) -> StagedSession:
        """Once the transcript is staged: the note about its model provider (and, when it is kept, the resume
        command that names it), and its lines for the shared history and session index (read from their
        payload files, which have no Recipe)."""
        rw, provider = staged.carry
        staged.carry = None
        sid, out_id = session.id, staged.session_id
        recorded = [p for p in provider.seen if p != provider.target]
        staged.notes = []
        staged.resume = None
        if recorded:
            old = recorded[-1]
            if provider.keep:
                staged.resume = self.resume_command(out_id, provider=old)
                staged.notes.append(
                    f"session {out_id}: kept its model provider {old!r} (this machine's default is "
                    f"{provider.target!r}); resume with: {staged.resume} "
                    f"(the provider {old!r} must be defined in {self.home() / 'config.toml'})"
                )
            else:
                staged.notes.append(
                    f"session {out_id}: model provider {old!r} rewritten to this machine's {provider.target!r} "
                    "so Codex can resume it (receive with --keep-provider to keep it)"
                )

        appends: list[LineAppend] = []
        for f in session.files:
            arc = f["arcname"]
            if f.get("role") == ROLE_TRANSCRIPT:
                continue
            dest_file, key = self._shared_file(arc, sid)
            lines: list[bytes] = []
            for raw in files[arc].read_bytes().splitlines():
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(obj, dict) or obj.get(key) != sid:
                    continue  # only this session's lines ever reach the shared file
                lines.append(rw.rewrite(raw))
            if lines:
                appends.append(LineAppend(dest_file, lines))
        staged.line_appends = appends
        return staged

    def index_resets(self, ctx: ImportContext, results: list[SessionResult]) -> list[RowsReset]:
        """Empty `backfill_state` in each of Codex's state databases, so it re-scans `sessions/` on its next
        start and `codex resume --last` and the picker list the imported rollouts (a planned store
        operation: `undo` puts the row back)."""
        resets: list[RowsReset] = []
        for h in self.sqlite_homes():
            try:
                dbs = sorted(h.glob("state_*.sqlite"))
            except OSError:
                continue
            for db in dbs:
                if re.fullmatch(r"state_\d+\.sqlite", db.name) and db.is_file():
                    resets.append(RowsReset(db, "backfill_state", note=(
                        f"Codex will re-index its sessions on its next start (reset backfill_state in {db}), "
                        "so `codex resume --last` and the picker list them")))
        return resets

    def resume_command(self, session_id: str, provider: str | None = None) -> str:
        """`codex resume <id>`; with `provider` (a session that kept its own model provider), the option
        that makes Codex use it."""
        if provider:
            return f"codex resume -c {shlex.quote('model_provider=' + json.dumps(provider))} {session_id}"
        return f"codex resume {session_id}"
