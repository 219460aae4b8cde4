"""Find (and optionally redact) well-known secret shapes in what `send` is about to upload.

Why this module stays whole (~600 lines): the detectors, their trigger table and prefilter, the block
`Scanner` (its window and overlap between blocks), the background scan and the redactor all work from
the same detector list and the same raw forms of a match; it is one feature, read top to bottom.

    scan_files([(session_id, arcname, path), ...]) -> [Finding(session_id, arcname, line, type), ...]
    redact_file(src, dst) -> number of secrets replaced by "[REDACTED:<type>]" in the copy `dst`

Detection uses the regex plugins of Yelp's `detect-secrets` when it is installed (the `secrets` extra):
cloud and SaaS keys, GitHub/GitLab/npm/PyPI/OpenAI/Slack/Stripe tokens, JWTs, basic-auth URLs.  Without it a
small built-in set of the same shapes is used.  Private key blocks and `.env`-style assignments
(`API_KEY=...`, `DB_PASSWORD="..."`) are ours in both cases.  Entropy and bare-keyword plugins are left
out: a coding session is full of hashes and the word "token", and a warning that is always on is ignored.

Speed: session files can be gigabytes and single JSON lines can be huge, so nothing is read line by line.
Bytes are scanned in blocks (`Scanner`, fed in order; `send` feeds it what it packs, on a worker thread).
One SIMD multi-literal search (`ahocorasick-rs`) finds the spots where any detector's literal trigger
occurs; only a window of a few KiB around each spot, with JSON string escapes undone (`\\n` inside a
transcript line is a line break of the file the tool read), goes through the regexes.  Line numbers are
counted only for files that have a finding.  About 0.8 s per GB here, against 29 s for the earlier one
`bytes.find` pass per trigger (still the fallback).  Findings never hold the secret itself, only where it
is and what kind.  A small file found clean is remembered by its status (`CleanMemo`): the next send of
an unchanged file packs it without scanning it again (thousands of old sessions, sent again and again).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sync_ai_sessions import osops
from sync_ai_sessions.literals import LiteralFinder
from sync_ai_sessions.lookahead import Behind

__all__ = ["Finding", "backend", "redact_file", "scan_bytes", "scan_file", "scan_files", "summarize"]

_BLOCK = 8 << 20  # read from a file at once
_STEP = 1 << 20  # fed bytes gathered before a search
_WINDOW = 4096  # bytes either side of a trigger that are examined (and the overlap between blocks)
_MAX_SECRET = 16 << 10  # longest secret we replace (a PEM private key block)


@dataclass(frozen=True)
class Finding:
    session_id: str
    arcname: str
    line: int  # 1-based line of the file
    type: str  # e.g. "AWS Access Key", "GitHub Token", "Private Key", "Env Assignment"

    def to_json(self) -> dict[str, object]:
        return {"session": self.session_id, "file": self.arcname, "line": self.line, "type": self.type}


@dataclass(frozen=True)
class _Detector:
    type: str
    triggers: tuple[bytes, ...]  # literal bytes, one of which every match of `patterns` contains
    patterns: tuple[re.Pattern[str], ...]
    group: int = 0  # regex group holding the secret (0 = whole match)


# -- detectors ------------------------------------------------------------------------------------------
# Literal triggers for detect-secrets' plugins (their regexes decide; triggers only pick where to look).
# Triggers are matched case-sensitively, as the plugins' own regexes are; the two plugins whose regexes
# ignore case ("aws ... key", Slack) list the spellings people write.  Longer triggers mean fewer false
# spots to examine, so each is the longest literal its regexes require.
_SLACK = (b"xoxa-", b"xoxb-", b"xoxp-", b"xoxo-", b"xoxs-", b"xoxr-")
_DS_TRIGGERS: dict[str, tuple[bytes, ...]] = {
    "AWSKeyDetector": (b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"A3T", b"aws", b"AWS", b"Aws"),
    "AzureStorageKeyDetector": (b"AccountKey=",),
    "ArtifactoryDetector": (b"AKC", b"AP"),
    "GitHubTokenDetector": (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"),
    "GitLabTokenDetector": (b"glpat-", b"gldt-", b"glft-", b"glsoat-", b"glrt-", b"GR1348941", b"glcbt-",
                            b"glimt-", b"glptt-", b"glagent-", b"gloas-"),
    "JwtTokenDetector": (b"eyJ",),
    "MailchimpDetector": (b"-us",),
    "NpmDetector": (b":_authToken=",),
    "OpenAIDetector": (b"T3BlbkFJ",),
    "PypiTokenDetector": (b"pypi-AgE",),
    "SendGridDetector": (b"SG.",),
    "SlackDetector": (*_SLACK, *(t.upper() for t in _SLACK), b"hooks.slack.com", b"HOOKS.SLACK.COM"),
    "SquareOAuthDetector": (b"sq0csp-",),
    "StripeDetector": (b"k_live_",),
    "BasicAuthDetector": (b"://",),
}
# Plugins left out on purpose: entropy strings, keyword, public IP (noise); IBM/SoftLayer/Cloudant (keyword
# based, noisy); Discord/Telegram/Twilio (no literal to prefilter on: too slow on gigabytes).
_ARTIFACTORY_OK = False  # its "AP..." pattern fires on ordinary base64 in tool output

_BUILTIN: list[tuple[str, tuple[bytes, ...], str]] = [
    ("AWS Access Key", (b"AKIA", b"ASIA"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("GitHub Token", (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
     r"\b(?:gh[pousr]_[A-Za-z0-9_]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ("GitLab Token", (b"glpat-",), r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    ("Slack Token", _SLACK, r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("Stripe Access Key", (b"k_live_",), r"\b[rs]k_live_[0-9a-zA-Z]{24,}"),
    ("OpenAI Token", (b"T3BlbkFJ",), r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}"),
    ("PyPI Token", (b"pypi-AgE",), r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    ("NPM tokens", (b"npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("JSON Web Token", (b"eyJ",), r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
]

_PRIVATE_KEY = _Detector(
    "Private Key", (b"PRIVATE KEY-----",),
    (re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----"),),
)
_ENV_NAMES = r"[A-Z][A-Z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)[A-Z0-9_]*"
_ENV = _Detector(
    "Env Assignment",
    (b"SECRET", b"TOKEN", b"PASSW", b"CREDENTIAL", b"APIKEY", b"API_KEY", b"ACCESSKEY", b"ACCESS_KEY",
     b"PRIVATEKEY", b"PRIVATE_KEY"),
    (re.compile(r"(?m)(?:^|(?<=[\"'\s]))(?:export[ \t]+)?" + _ENV_NAMES
                + r"[ \t]*=[ \t]*(['\"]?)([^\s'\"#$<>{}\\]{8,})\1(?=$|[\s\"',;}])"),),
    group=2,
)
_PLACEHOLDER = re.compile(r"(?i)^(?:x+|\*+|\.+|changeme|change_me|your[-_].*|example.*|dummy.*|placeholder.*|"
                          r"none|null|true|false|test|secret|password|redacted.*|\[redacted.*)$")


def _load() -> tuple[str, list[_Detector]]:
    dets: list[_Detector] = []
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    except ImportError:
        for typ, trig, rx in _BUILTIN:
            dets.append(_Detector(typ, trig, (re.compile(rx),)))
        return "builtin", [*dets, _PRIVATE_KEY, _ENV]
    for typ, cls in get_mapping_from_secret_type_to_class().items():
        trig = _DS_TRIGGERS.get(cls.__name__)
        if trig is None or (cls.__name__ == "ArtifactoryDetector" and not _ARTIFACTORY_OK):
            continue
        try:
            pats = tuple(p if isinstance(p, re.Pattern) else re.compile(p) for p in cls().denylist)
        except Exception:  # a plugin that changed shape in a newer release: skip it, keep the rest
            continue
        if cls.__name__ == "BasicAuthDetector":  # replace only the password of ://user:password@
            pats, group = (re.compile(r"://[^:/?#\[\]@!$&'()*+,;=\s\"]+:([^:/?#\[\]@!$&'()*+,;=\s\"]+)@"),), 1
        else:
            group = 0
        dets.append(_Detector(typ, trig, pats, group=group))
    return "detect-secrets", [*dets, _PRIVATE_KEY, _ENV]


class _Rules:
    """The detectors in use and what the search needs of them, made on the first scan (`_rules()`):
    importing detect-secrets takes about 0.1 s, which a send whose every file is remembered clean
    (`CleanMemo`) does not pay."""

    def __init__(self) -> None:
        self.backend, self.detectors = _load()
        self.triggers = sorted({t for d in self.detectors for t in d.triggers})
        # Where any trigger starts, in one SIMD pass (see `literals`).  Leftmost-first reports no trigger
        # that starts inside an earlier one; the window examined around the earlier one holds it, and every
        # detector whose trigger is in a window is run there.
        self.prefilter = LiteralFinder(self.triggers)
        self.longest = max(len(t) for t in self.triggers)
        # For each of _NEEDS' triggers: the (offset, trigger) pairs of other triggers that could start
        # inside it.
        self.inside = {k: [(q, t) for q in range(1, len(k)) for t in self.triggers
                           if t.startswith(k[q:]) or k[q:].startswith(t)] for k in _NEEDS}


_loaded: _Rules | None = None


def _rules() -> _Rules:
    global _loaded
    if _loaded is None:
        _loaded = _Rules()
    return _loaded

# Base64 blobs (pasted screenshots, file dumps) are a quarter of a typical transcript, and short triggers
# turn up in them by chance (a 3-letter one about 4 times per MB).  A short trigger with nothing but base64
# characters for _BLOB bytes on both sides is inside such a blob: every secret these triggers start is
# short and ends at a delimiter (a quote, space, `-`, `.`, `_`), so it is not examined.  Triggers of 6 bytes
# or more are always examined (by chance they occur about once per 70 TB).
_BLOB = 64
_SHORT = 6
_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/=]")


# Two short triggers are everywhere in ordinary sessions: `://` in every URL and `-us` in words such as
# `claude-opus`, a few per KB, and each examined window costs about a millisecond of regexes.  Their
# detectors need more right there, in bytes no JSON encoder escapes: a `user:password@` after `://`
# (BasicAuth), 32 letters or digits before `-us` and a digit after it (Mailchimp).  Where that is not
# there, the window is not examined, unless another trigger starts inside this one (the single search
# pass reports only the first).
_NEEDS: dict[bytes, tuple[int, re.Pattern[bytes]]] = {
    b"://": (0, re.compile(rb"://[^:/?#\[\]@!$&'()*+,;=\s\"]+:[^:/?#\[\]@!$&'()*+,;=\s\"]+@")),
    b"-us": (32, re.compile(rb"[0-9a-z]{32}-us[0-9]")),
}


_NEED_FIRST = frozenset(k[0] for k in _NEEDS)


def _cannot_start(buf: bytearray, n: int, start: int, end: int, inside: dict[bytes, list[tuple[int, bytes]]]
                  ) -> bool:
    if buf[start] not in _NEED_FIRST or end - start != 3:
        return False
    key = bytes(buf[start:end])
    need = _NEEDS.get(key)
    if need is None:
        return False
    back, rx = need
    if start >= back and rx.match(buf, start - back, n) is not None:
        return False
    return not any(buf.startswith(t, start + q) for q, t in inside[key])


def _in_blob(buf: bytearray, n: int, start: int, end: int) -> bool:
    if end - start >= _SHORT or start < _BLOB or end + _BLOB > n:
        return False
    return _NOT_B64.search(buf, start - _BLOB, end + _BLOB) is None


def _installed(name: str) -> os.stat_result | None:
    """The status of the installed package `name`'s first file (an upgrade or reinstall changes it), found
    without importing it; None when it is not installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
        return os.stat(spec.origin) if spec is not None and spec.origin else None
    except (ImportError, ValueError, OSError):
        return None


_DETECT_SECRETS = _installed("detect_secrets")


def _named_backend() -> str:
    """The backend that loads when nothing is broken: detect-secrets when it is installed (what `_RULES`
    names)."""
    return "builtin" if _DETECT_SECRETS is None else "detect-secrets"


def backend() -> str:
    """"detect-secrets" or "builtin" (the library is an optional extra): the one the scan uses, or, before
    any scan, the one it will use."""
    return _loaded.backend if _loaded is not None else _named_backend()


# -- scanning -------------------------------------------------------------------------------------------
_UNESCAPE = re.compile(r"\\(?:[nrt\"/\\]|u([0-9a-fA-F]{4}))")


def _unescape(text: str) -> str:
    """Undo JSON string escapes so a file the tool read (inside a JSON string) has its own lines again."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            c = chr(int(m.group(1), 16))
            return c if c.isprintable() or c in "\n\t" else " "
        return {"n": "\n", "r": "\n", "t": "\t", '"': '"', "/": "/", "\\": "\\"}[m.group(0)[1]]

    return _UNESCAPE.sub(sub, text)


Match = tuple[int, str, str, bytes]  # (file offset of the trigger, type, secret text, raw window or b"")


class Scanner:
    """Scans one file's bytes as they are fed, in order: `feed(block)` (or `feed_from(file)`) as often as
    needed, then `close()`, which returns the matches; `reset()` readies it for the next file.

    Every trigger is examined once, with _WINDOW bytes of context either side: the context kept from one
    block to the next is 2 * _WINDOW bytes, and a trigger inside a window already examined is skipped.
    The bytes are gathered in one reused buffer: on this kind of VM, fresh memory for every block costs
    more (page faults) than the search itself."""

    def __init__(self, *, keep_raw: bool = False) -> None:
        self._rules = _rules()
        self._keep_raw = keep_raw
        self._buf = bytearray()
        self.reset()

    def reset(self) -> None:
        self.matches: list[Match] = []
        self._n = 0  # bytes held in _buf
        self._base = 0  # file offset of _buf[0]
        self._lo = 0  # triggers before _buf[_lo] were examined with the previous block
        self._covered = 0  # file offset up to which windows were examined

    def _room(self, k: int) -> memoryview:
        if self._n + k > len(self._buf):
            self._buf.extend(bytes(self._n + k - len(self._buf)))
        return memoryview(self._buf)[self._n:self._n + k]

    def feed(self, block: bytes) -> None:
        self._room(len(block))[:] = block
        self._n += len(block)
        if self._n - self._lo >= _STEP:
            self._scan(eof=False)

    def feed_from(self, fh: BinaryIO) -> bool:
        """Read up to one block of `fh` into the buffer and scan it; False at the end of the file."""
        with self._room(_BLOCK) as room:
            got = fh.readinto(room)
        if not got:
            return False
        self._n += got
        self._scan(eof=False)
        return True

    def close(self) -> list[Match]:
        self._scan(eof=True)
        return self.matches

    def _scan(self, eof: bool) -> None:
        buf, n, lo, base = self._buf, self._n, self._lo, self._base
        hi = n if eof else max(n - _WINDOW, lo)
        # Triggers that start in [lo, hi) are examined now, including one that runs past hi.
        rules = self._rules
        with memoryview(buf) as mv, mv[lo:min(n, hi + rules.longest - 1)] as part:
            hits = rules.prefilter.hits(part, lo)
        for pos, end in hits:
            if pos >= hi:
                break  # the next pass starts there
            if (base + pos < self._covered or _in_blob(buf, n, pos, end)
                    or _cannot_start(buf, n, pos, end, rules.inside)):
                continue
            self._covered = base + self._check_window(buf, n, pos, base + pos)
        start = max(hi - _WINDOW, 0)
        buf[:n - start] = buf[start:n]
        self._n, self._base, self._lo = n - start, base + start, hi - start

    def _check_window(self, buf: bytearray, n: int, pos: int, offset: int) -> int:
        """Examine the part of pos's line within _WINDOW of pos; returns where that part ends."""
        a = max(buf.rfind(b"\n", max(0, pos - _WINDOW), pos) + 1, pos - _WINDOW, 0)
        e = buf.find(b"\n", pos, min(n, pos + _WINDOW))
        b = e if e != -1 else min(n, pos + _WINDOW)
        raw = bytes(buf[a:b])
        text = _unescape(raw.decode("utf-8", "replace"))
        plain = text.encode("utf-8", "replace")
        for d in self._rules.detectors:
            if not any(t in plain for t in d.triggers):
                continue
            for rx in d.patterns:
                for m in rx.finditer(text):
                    value = m.group(d.group) if d.group <= rx.groups else m.group(0)
                    if not value or (d is _ENV and _PLACEHOLDER.match(value)):
                        continue
                    self.matches.append((offset, d.type, value, raw if self._keep_raw else b""))
        return b


def _open(src: Path | bytes) -> BinaryIO:
    """A file to read: `src` is a path, or the bytes themselves (a part of a shared file, kept in memory)."""
    return io.BytesIO(src) if isinstance(src, bytes) else open(src, "rb")


def _scan_path(path: Path | bytes, *, keep_raw: bool = False) -> list[Match]:
    sc = Scanner(keep_raw=keep_raw)
    with _open(path) as fh:
        while sc.feed_from(fh):
            pass
    return sc.close()


def findings(path: Path | bytes, matches: list[Match], session_id: str = "", arcname: str = "") -> list[Finding]:
    """The findings for `matches` in `path` (or in the bytes given): line numbers (counted only for a file
    that has matches, in one pass over the bytes before the last one), one finding per secret, line and type."""
    if not matches:
        return []
    offsets = sorted({m[0] for m in matches})
    line_of: dict[int, int] = {}
    line, at = 1, 0
    with _open(path) as fh:
        for off in offsets:
            while at + _BLOCK <= off:
                line += fh.read(_BLOCK).count(b"\n")
                at += _BLOCK
            part = fh.read(off - at)
            line += part.count(b"\n")
            at += len(part)
            line_of[off] = line
    seen: set[tuple[int, str, str]] = set()
    out: list[Finding] = []
    for off, typ, value, _raw in matches:
        key = (line_of[off], typ, hashlib.sha256(value.encode()).hexdigest())
        if key not in seen:
            seen.add(key)
            out.append(Finding(session_id, arcname, line_of[off], typ))
    return out


def scan_file(path: Path | bytes, session_id: str = "", arcname: str = "") -> list[Finding]:
    """The findings in the file at `path`, or in the bytes `path`."""
    src = path if isinstance(path, bytes) else Path(path)
    return findings(src, _scan_path(src), session_id, arcname)


# -- remembering clean files ----------------------------------------------------------------------------
def _rules_id() -> str:
    """What decides a scan's answer, known without making the rules: this module's and the literal
    search's own code, whether ahocorasick-rs is there and the installed detect-secrets (the status of
    their files: an upgrade or reinstall changes it).  Any change forgets every file remembered clean."""
    from sync_ai_sessions import literals

    h = hashlib.sha256()
    try:
        for f in (__file__, literals.__file__):
            h.update(Path(f).read_bytes())
    except (OSError, TypeError):  # (frozen, no source): never the same twice, so nothing is remembered
        h.update(os.urandom(16))
    for st in (_DETECT_SECRETS, _installed("ahocorasick_rs")):
        h.update(repr(None if st is None else (st.st_size, st.st_mtime_ns, st.st_ino)).encode())
    return h.hexdigest()[:32]


_RULES = _rules_id()
_SETTLED_NS = 2_000_000_000  # a file changed this recently may change again within its timestamp's tick


class CleanMemo:
    """The files a scan found nothing in, under these rules, remembered by status (`statcache`), so a later
    send reads them for packing but does not scan them again.  One memo per `scope` (a tool and repo).

    Safe by construction: a file is remembered only with the status taken *after* the bytes scanned were
    read, only when those bytes were the whole file, and only when its mtime is more than two seconds old
    (git's "racy" rule: a write within the same timestamp tick could leave the status as it was; FAT's
    tick is two seconds).  Any later write, replacement or touch changes the status, and the file is
    scanned again; so is every file after a change of rules.  A file with a finding is never remembered."""

    def __init__(self, env: Mapping[str, str], scope: str) -> None:
        from sync_ai_sessions.statcache import StatCache

        self._cache = StatCache(env, f"secrets-{scope}", _RULES)

    def clean(self, path: Path | str, st: os.stat_result) -> bool:
        return self._cache.has(str(path), st)

    def remember(self, path: Path | str, st: os.stat_result) -> None:
        if _loaded is not None and _loaded.backend != _named_backend():
            return  # detect-secrets is installed but would not load: _RULES does not describe these rules
        if st.st_mtime_ns < time.time_ns() - _SETTLED_NS:
            self._cache.put(str(path), st, {})

    def save(self, *, prune: bool = True) -> None:
        """`prune=False` when only some of the scope's files were sent: the others stay remembered."""
        self._cache.save(prune=prune)


class BackgroundScan:
    """Scans files on a worker thread while their bytes are read for another purpose (`send` packs them),
    so each file is read once and the search overlaps compression and encryption:

        with BackgroundScan() as bg:
            bg.begin(session_id, arcname, path); bg.feed(block); ...; bg.end()
        bg.findings

    At most `queued` blocks wait for the worker, so memory stays flat; the search itself releases the GIL."""

    # A file up to _SMALL bytes is handed to the worker whole, with its neighbours (up to _BATCH bytes or
    # _BATCH_FILES files per hand-over): thousands of small sessions cost three queue round trips each.
    _SMALL = 256 << 10
    _BATCH = 1 << 20
    _BATCH_FILES = 256

    def __init__(self, queued: int = 16, memo: CleanMemo | None = None) -> None:
        self.findings: list[Finding] = []
        self.remembered = 0  # files not scanned: `memo` had them clean, unchanged
        self._memo = memo
        self._done: list[tuple[str, str, Path | bytes, os.stat_result | None, list[Match]]] = []
        self._worker: Behind[Any] = Behind(self._run, depth=queued, name="secret-scan")
        self._file: tuple[str, str, Path | bytes] | None = None  # begun, still held here
        self._blocks: list[bytes] | None = None  # its bytes so far (None: streamed to the worker)
        self._size = 0
        self._batch: list[tuple[tuple[str, str, Path | bytes, os.stat_result | None], list[bytes]]] = []
        self._batch_size = 0

    def _put(self, item: Any) -> None:
        if self._batch:
            batch, self._batch, self._batch_size = self._batch, [], 0
            self._worker.put(batch)  # whatever came before goes first
        self._worker.put(item)

    def begin(self, session_id: str, arcname: str, path: Path | bytes) -> None:
        """Start the next file: `path` (or its bytes, when it is a part of a shared file kept in memory) is
        where its line numbers are counted, if it holds a finding."""
        self._file, self._blocks, self._size = (session_id, arcname, path), [], 0

    def feed(self, block: bytes) -> None:
        if not block:
            return
        if self._blocks is None:
            self._worker.put(block)
            return
        self._blocks.append(block)
        self._size += len(block)
        if self._size > self._SMALL:  # a large file: streamed to the worker from here on
            assert self._file is not None
            blocks, self._blocks = self._blocks, None
            self._put((*self._file, None))
            for b in blocks:
                self._worker.put(b)

    def end(self, st: os.stat_result | None = None) -> None:
        """The file begun is complete.  `st`: its status taken after its bytes were read (the memo's key:
        a small file whose status the memo had clean is not scanned, and one found clean is remembered)."""
        if self._blocks is None:
            self._worker.put(b"")
        elif self._file is not None:
            path = self._file[2]
            if st is None or self._memo is None or isinstance(path, bytes) or st.st_size != self._size:
                st = None  # (a file that grew after the bytes packed: its status is not theirs)
            elif self._memo.clean(path, st):
                self.remembered += 1
                self._file, self._blocks = None, None
                return
            self._batch.append(((*self._file, st), self._blocks))
            self._batch_size += self._size
            if self._batch_size >= self._BATCH or len(self._batch) >= self._BATCH_FILES:
                batch, self._batch, self._batch_size = self._batch, [], 0
                self._worker.put(batch)
        self._file, self._blocks = None, None

    def __enter__(self) -> BackgroundScan:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and self._batch:
            try:
                self._worker.put(self._batch)
            except BaseException:
                self._worker.__exit__(BaseException, None, None)
                raise
        self._batch = []
        self._worker.__exit__(exc_type, exc, tb)  # raises the worker's error, unless already failing
        if exc_type is None:
            for sid, arcname, path, st, matches in self._done:
                if matches:
                    self.findings.extend(findings(path, matches, sid, arcname))
                elif st is not None and self._memo is not None:
                    self._memo.remember(path, st)

    def _run(self, items: Iterable[Any]) -> None:
        items = iter(items)
        first = next(items, None)
        if first is None:
            return  # every file remembered clean: the rules are not even made
        sc = Scanner()
        current: tuple[str, str, Path | bytes, None] | None = None
        for item in itertools.chain((first,), items):
            if isinstance(item, list):  # whole small files
                for head, blocks in item:
                    sc.reset()
                    for b in blocks:
                        sc.feed(b)
                    self._done.append((*head, sc.close()))
            elif isinstance(item, tuple):
                sc.reset()
                current = item
            elif item:
                sc.feed(item)
            elif current is not None:
                self._done.append((*current, sc.close()))
                current = None


def scan_files(files: Iterable[tuple[str, str, Path | bytes]]) -> list[Finding]:
    """Scan every (session id, arcname, path or bytes); the findings say where and what kind, never the
    secret."""
    out: list[Finding] = []
    for sid, arcname, path in files:
        out.extend(scan_file(path, sid, arcname))
    return out


def scan_bytes(data: bytes) -> list[Finding]:
    return scan_file(bytes(data))


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    """Counts by type, for the `send` summary."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.type] = counts.get(f.type, 0) + 1
    return counts


# -- redaction ------------------------------------------------------------------------------------------
def _raw_forms(value: str) -> list[bytes]:
    """How `value` can appear in the raw bytes: as is, and JSON-escaped (inside a transcript string)."""
    import json

    plain = value.encode("utf-8")
    escaped = json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8")
    forms = {plain, escaped}
    if "\n" in value:
        forms.add(value.replace("\n", "\\n").encode())
    return sorted(forms, key=len, reverse=True)


_PEM_RAW = re.compile(rb"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----.{0,16000}?-----END \1PRIVATE KEY-----", re.S)
_PEM_OPEN = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\\\n\r :,-]{0,16000}")


def redact_file(src: Path | bytes, dst: Path) -> int:
    """Copy `src` (a file, or bytes) to `dst` with every detected secret replaced by `[REDACTED:<type>]`;
    returns how many occurrences were replaced.  `src` is never modified.  The markers hold no quote or
    backslash, so JSON lines stay valid JSON."""
    src = src if isinstance(src, bytes) else Path(src)
    dst = Path(dst)
    targets: dict[bytes, str] = {}
    for _off, typ, value, raw in _scan_path(src, keep_raw=True):
        if typ == "Private Key":
            m = _PEM_RAW.search(raw) or _PEM_OPEN.search(raw)
            if m:
                targets[m.group(0)] = typ
            continue
        for form in _raw_forms(value):
            if len(form) <= _MAX_SECRET:
                targets.setdefault(form, typ)
    if not targets:
        if isinstance(src, bytes):
            dst.write_bytes(src)
        elif src.resolve() != dst.resolve():
            import shutil

            shutil.copyfile(src, dst)
        return 0
    keys = sorted(targets, key=len, reverse=True)
    rx = re.compile(b"|".join(re.escape(k) for k in keys))
    longest = len(keys[0])
    count = 0
    tmp = dst.with_name(f".{dst.name}.redact-{os.getpid()}")
    with _open(src) as fin, open(tmp, "wb") as fout:
        carry = b""
        while True:
            block = fin.read(_BLOCK)
            eof = not block
            buf = carry + block
            # Never replace inside the last `longest` bytes unless at EOF: a secret may continue there.
            limit = len(buf) if eof else max(0, len(buf) - longest)
            out = bytearray()
            i = 0
            stop = limit
            for m in rx.finditer(buf):
                if not eof and m.end() > limit:
                    stop = min(limit, m.start())  # may continue into the next block: keep it for then
                    break
                out += buf[i:m.start()] + b"[REDACTED:" + targets[m.group(0)].encode() + b"]"
                i = m.end()
                count += 1
            cut = max(i, stop)
            out += buf[i:cut]
            fout.write(out)
            carry = buf[cut:]
            if eof:
                fout.write(carry)
                break
    osops.replace(tmp, dst)
    return count
