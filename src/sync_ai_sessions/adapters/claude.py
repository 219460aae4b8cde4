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
"""

from __future__ import annotations

import contextlib
import functools
import json
import mmap
import os
import re
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
    SessionResult,
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
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.gitrepo import Repo
from sync_ai_sessions.rewrite import PathRewriter, Rule

MAX_DIR_NAME = 200
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_OVERRIDE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WIN_DEVICE_RE = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)$", re.IGNORECASE)
_COUNT_BLOCK = 8 << 20
_HEAD_LIMIT = 8 << 20  # how far into a file we look for the first recorded cwd

# Never carried, whatever the layout: credentials and machine-local runtime state.
_NEVER = {".credentials.json", ".claude.json"}
_TITLE_TYPES = (b'"type":"custom-title"', b'"type":"ai-title"', b'"type":"summary"')


# -- the project folder name -------------------------------------------------------------------
def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(digits[r])
    return "".join(reversed(out))


def _utf16_units(s: str) -> list[int]:
    data = s.encode("utf-16-le", "surrogatepass")
    return [data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2)]


def path_hash(s: str) -> int:
    """The 31-multiplier int32 hash over UTF-16 code units (Java's String.hashCode)."""
    h = 0
    for c in _utf16_units(s):
        h = (h * 31 + c) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


@functools.lru_cache(maxsize=4096)
def encode_project_dir(path: str) -> str:
    """Claude Code's folder name for a working directory (`projects/<this>/`)."""
    units = _utf16_units(path)
    s = "".join(chr(c) if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122) else "-" for c in units)
    if len(s) <= MAX_DIR_NAME:
        return s
    return s[:MAX_DIR_NAME] + "-" + _base36(abs(path_hash(path)))


# -- small file readers -------------------------------------------------------------------------
def _map(path: Path) -> tuple[Any, mmap.mmap | None]:
    f = open(path, "rb")  # noqa: SIM115 - closed by the caller through _Mapped
    try:
        size = os.fstat(f.fileno()).st_size
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
    except BaseException:
        f.close()
        raise
    return f, mm


class _Mapped:
    """A read-only memory map of a file (None for an empty file): searches without reading it all."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> mmap.mmap | None:
        self._f, self._mm = _map(self.path)
        return self._mm

    def __exit__(self, *exc: Any) -> None:
        if self._mm is not None:
            self._mm.close()
        self._f.close()


def _line_at(mm: mmap.mmap, pos: int) -> bytes:
    start = mm.rfind(b"\n", 0, pos) + 1
    end = mm.find(b"\n", pos)
    return mm[start : end if end >= 0 else len(mm)]


_SMALL_LINE = 64 << 10  # lines up to this size are parsed; longer ones are read at byte level
_STR_AT = {}  # key -> compiled pattern for `"key":"<JSON string>"`


def _top_str(line: bytes, key: str, *, exact: bool = True) -> str | None:
    """The top-level string `key` of a JSON line.

    Short lines are parsed.  For long ones (tool results, pasted images) the value is read at the key's
    last occurrence: the CLI writes the record envelope (cwd, sessionId, version, timestamp) after the
    message, so a same-named key nested in the message comes earlier (checked on every fixture version).
    """
    if exact and len(line) <= _SMALL_LINE:
        d = load_object(line)
        v = d.get(key) if d is not None else None
        return v if isinstance(v, str) else None
    rx = _STR_AT.get(key)
    if rx is None:
        rx = _STR_AT[key] = re.compile(b'"' + re.escape(key.encode()) + rb'":"((?:[^"\\]|\\.)*)"')
    pos = line.rfind(b'"' + key.encode() + b'":"')
    m = rx.match(line, pos) if pos >= 0 else None
    if m is None:
        return None
    raw = m.group(1)
    if b"\\" not in raw:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        v = json.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return v if isinstance(v, str) else None


def _head_value(mm: mmap.mmap, key: str, limit: int = _HEAD_LIMIT) -> str | None:
    """The first top-level string `key` of any line (a raw `"key":"` can only be JSON structure)."""
    needle = b'"' + key.encode() + b'":"'
    pos = 0
    while True:
        pos = mm.find(needle, pos, min(len(mm), limit))
        if pos < 0:
            return None
        v = _top_str(_line_at(mm, pos), key)
        if v is not None:
            return v
        pos += len(needle)


def _last_value(mm: mmap.mmap, key: str, end: int) -> str | None:
    """The top-level string `key` of the last line before `end` that has one."""
    needle = b'"' + key.encode() + b'":"'
    while True:
        pos = mm.rfind(needle, 0, end)
        if pos < 0:
            return None
        v = _top_str(_line_at(mm, pos), key)
        if v is not None:
            return v
        end = pos


def _last_relocated(mm: mmap.mmap) -> str | None:
    needle = b'"relocatedCwd":"'
    end = len(mm)
    while True:
        pos = mm.rfind(needle, 0, end)
        if pos < 0:
            return None
        d = load_object(_line_at(mm, pos))
        if d is not None and d.get("type") == "relocated" and isinstance(d.get("relocatedCwd"), str):
            return d["relocatedCwd"]
        end = pos


def _tail_cwd(mm: mmap.mmap) -> str | None:
    """The cwd of the last line that records one, or a later `relocated` record's cwd."""
    needle = b'"cwd":"'
    end = len(mm)
    last, pos = None, -1
    while True:
        pos = mm.rfind(needle, 0, end)
        if pos < 0:
            break
        last = _top_str(_line_at(mm, pos), "cwd")
        if last is not None:
            break
        end = pos
    after = mm.find(b'"relocatedCwd":"', max(pos, 0))
    while after >= 0:
        d = load_object(_line_at(mm, after))
        if d is not None and d.get("type") == "relocated" and isinstance(d.get("relocatedCwd"), str):
            last = d["relocatedCwd"]
        after = mm.find(b'"relocatedCwd":"', after + 1)
    return last


_END_WINDOW = 64 << 10


def _line_around(buf: bytes, pos: int, whole_start: bool) -> bytes | None:
    """The line of `buf` holding `pos`, or None when it may continue past the window's edges."""
    start = buf.rfind(b"\n", 0, pos) + 1
    end = buf.find(b"\n", pos)
    if (start == 0 and not whole_start) or end < 0:
        return None
    return buf[start:end]


def _ends_cwd(path: Path | str) -> str | None:
    """The session cwd from the two ends of the file when they settle it; None means look closer."""
    fd = osops.open_read(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        head = osops.pread(fd, min(size, _END_WINDOW), 0)
        tail = head if size <= _END_WINDOW else osops.pread(fd, _END_WINDOW, size - _END_WINDOW)
    finally:
        os.close(fd)
    needle = b'"cwd":"'
    hpos = head.find(needle)
    tpos = tail.rfind(needle)
    if hpos < 0 or tpos < 0 or b'"relocatedCwd":"' in tail[tpos:]:
        return None
    hline = _line_around(head, hpos, True)
    tline = _line_around(tail, tpos, size <= _END_WINDOW)
    if hline is None or tline is None:
        return None
    first, last = _top_str(hline, "cwd", exact=False), _top_str(tline, "cwd", exact=False)
    return first if first is not None and first == last else None


def _search_keys(needles: tuple[bytes, ...]) -> list[tuple[bytes, list[bytes]]]:
    """Needles grouped by a shared ending of at least 6 bytes (searched once for the group)."""
    groups: list[tuple[bytes, list[bytes]]] = []
    for n in needles:
        for i, (key, fulls) in enumerate(groups):
            k = 0
            while k < min(len(key), len(n)) and key[-1 - k] == n[-1 - k]:
                k += 1
            if k >= 6:
                groups[i] = (key[-k:], [*fulls, n])
                break
        else:
            groups.append((n, [n]))
    return groups


def _newlines(buf: bytearray, a: int, b: int) -> int:
    """Newlines in buf[a:b].  Transcript lines are long (kilobytes: tool output, pasted images), so hopping
    from one to the next with `find` (memchr) beats `count`, which looks at every byte (0.13 against
    0.42 s per GiB here); where lines turn out short, `count` takes the rest."""
    n = 0
    i = buf.find(b"\n", a, b)
    while i >= 0:
        n += 1
        if n == 64 and i - a < 64 * 256:  # lines under 256 bytes on average: count the rest
            return n + buf.count(b"\n", i + 1, b)
        i = buf.find(b"\n", i + 1, b)
    return n


def _count_and_last(path: Path, size: int, needles: tuple[bytes, ...]) -> tuple[int, dict[bytes, int]]:
    """Lines in the first `size` bytes (a last line without its newline counts) and each needle's last
    position there, in one forward pass of blocks read into one reused buffer.  Not a memory map: a map
    would bring the whole file into this process's resident memory.  (Backwards, with `rfind` and a fresh
    buffer per block, a 1 GiB transcript took 3.1 s: `rfind` runs at a third of `find`'s speed here, and
    fresh buffers cost page faults.)"""
    lines = 0
    last: dict[bytes, int] = {}
    keys = _search_keys(needles)
    overlap = max((len(n) for n in needles), default=1) - 1
    buf = bytearray(min(_COUNT_BLOCK, size) + overlap)
    view = memoryview(buf)
    pos = keep = 0  # file offset of buf[0]; bytes of the previous block kept at the start of buf
    final = b"\n"
    with open(path, "rb", buffering=0) as f:
        while pos + keep < size:
            got = f.readinto(view[keep:keep + min(_COUNT_BLOCK, size - pos - keep)])
            if not got:
                break  # the file shrank under us: count what is there
            n = keep + got
            lines += _newlines(buf, keep, n)
            final = buf[n - 1:n]
            for key, fulls in keys:
                # One search per shared ending (`-title"` for both title types), each hit checked against
                # the needles that end with it.  Hits in the kept bytes are found again, at the same place.
                i = buf.find(key, 0, n)
                while i >= 0:
                    stop = i + len(key)
                    for full in fulls:
                        if stop >= len(full) and buf.endswith(full, 0, stop):
                            last[full] = pos + stop - len(full)
                    i = buf.find(key, i + 1, n)
            keep = min(overlap, n)
            buf[:keep] = buf[n - keep:n]
            pos += n - keep
    view.release()
    if final != b"\n":
        lines += 1
    return lines, last


def _walk_files(folder: Path) -> Iterator[Path]:
    """Regular files under `folder`, never following symlinks."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath, name)
            if name not in _NEVER and p.is_file() and not p.is_symlink():
                yield p


def _prompt_text(d: dict[str, Any]) -> str | None:
    msg = d.get("message")
    if not isinstance(msg, dict) or d.get("isMeta") or d.get("isSidechain"):
        return None
    content = msg.get("content")
    if isinstance(content, list):
        content = next(
            (b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"), None
        )
    if not isinstance(content, str):
        return None
    text = content.strip()
    if not text or text.startswith("<"):
        return None
    return " ".join(text.split())[:200]


class ClaudeAdapter(Adapter):
    name = "claude"
    display_name = "Claude Code"
    streams = True

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
            for e in entries:
                if (
                    e.name.endswith(".jsonl")
                    and not e.name.startswith("agent-")
                    and e.is_file(follow_symlinks=False)
                ):
                    yield e.path

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
                if mm is None:
                    return None
                head = _head_value(mm, "cwd")
                if head is None or _tail_cwd(mm) == head:
                    return _last_relocated(mm) if head is None else head
                return _last_relocated(mm) or head
        except (OSError, ValueError):
            return None

    def find_sessions(self, repo: Repo) -> list[Session]:
        root = os.path.realpath(repo.root)
        sessions: list[Session] = []
        agents: dict[Path, dict[str, list[Path]]] = {}  # per project folder: its agent files by session
        for path in self._transcript_paths():
            cwd = self.session_cwd(path)
            if cwd is None or not is_inside(cwd, root):
                continue
            session = self._describe(Path(path), cwd, root, agents)
            if session is not None:
                sessions.append(session)
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
                  agents: dict[Path, dict[str, list[Path]]] | None = None) -> Session | None:
        sid = path.name[: -len(".jsonl")]
        if not _ID_RE.match(sid):
            return None
        st = path.stat()
        size = complete_size(path, st.st_size)
        info = self._scan(path, size)
        files = [ExportFile(f"projects/{sid}.jsonl", path, size, ROLE_TRANSCRIPT)]
        sibling = path.parent / sid
        if sibling.is_dir() and not sibling.is_symlink():
            for p in _walk_files(sibling):
                rel_p = p.relative_to(sibling).as_posix()
                files.append(ExportFile(f"projects/{sid}/{rel_p}", p, p.stat().st_size, ROLE_SIDECAR))
        for p in self._old_agent_files(path.parent, sid, agents):
            files.append(ExportFile(f"agents/{sid}/{p.name}", p, p.stat().st_size, ROLE_SIDECAR))
        history = self.config_dir() / "file-history" / sid
        if history.is_dir() and not history.is_symlink():
            for p in _walk_files(history):
                rel_p = p.relative_to(history).as_posix()
                files.append(ExportFile(f"file-history/{sid}/{rel_p}", p, p.stat().st_size, ROLE_SIDECAR))
        return described(sid, files, cwd, root, info, st.st_mtime, {"cwd": cwd, "project_dir": path.parent.name})

    def _old_agent_files(self, folder: Path, sid: str, cache: dict[Path, dict[str, list[Path]]] | None = None
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
    def _agent_files(folder: Path) -> list[Path]:
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
        title = first_prompt = timestamp = version = None
        if size:
            with _Mapped(path) as mm:
                if mm is not None:
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
                    timestamp = _last_value(mm, "timestamp", end)
                    version = _last_value(mm, "version", end)
        return {"lines": lines, "title": title or first_prompt, "timestamp": timestamp, "version": version}

    def export_meta(self) -> dict[str, Any]:
        return {
            "config_dir": str(self.config_dir()),
            "projects_dir": str(self.projects_dir()),
            "tmp_dir": self.tmp_dir(),
            "home": str(self.user_home()),
        }

    def tool_version(self) -> str | None:
        last = newest(self._transcripts())
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


    def finalize(self, ctx: ImportContext, results: list[SessionResult]) -> list[str]:
        # Claude sweeps transcripts older than cleanupPeriodDays by mtime: give imports a fresh one.
        for r in results:
            if r.path is not None and r.action != "skip":
                with contextlib.suppress(OSError):
                    os.utime(r.path)
        return []

    def resume_command(self, session_id: str) -> str:
        return f"claude --resume {session_id}"
