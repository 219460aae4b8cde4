"""Find (and optionally redact) well-known secret shapes in what `send` is about to upload.

    scan_files([(session_id, arcname, path), ...]) -> [Finding(session_id, arcname, line, type), ...]
    redact_file(src, dst) -> number of secrets replaced by "[REDACTED:<type>]" in the copy `dst`

Detection uses the regex plugins of Yelp's `detect-secrets` when it is installed (the `secrets` extra):
cloud and SaaS keys, GitHub/GitLab/npm/PyPI/OpenAI/Slack/Stripe tokens, JWTs, basic-auth URLs.  Without it a
small built-in set of the same shapes is used.  Private key blocks and `.env`-style assignments
(`API_KEY=...`, `DB_PASSWORD="..."`) are ours in both cases.  Entropy and bare-keyword plugins are left
out: a coding session is full of hashes and the word "token", and a warning that is always on is ignored.

Speed: session files can be gigabytes and single JSON lines can be huge, so nothing is read line by line.
Files are read in 8 MiB blocks; a cheap prefilter (`bytes.find` of a few literal triggers per detector)
picks the spots worth a look, and only a window of a few KiB around each spot, with JSON string escapes
undone (`\\n` inside a transcript line is a line break of the file the tool read), goes through the
regexes.  Findings never hold the secret itself, only where it is and what kind.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Finding", "backend", "redact_file", "scan_bytes", "scan_file", "scan_files", "summarize"]

_BLOCK = 8 << 20
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
    triggers: tuple[bytes, ...]  # literal bytes, searched case-insensitively if `fold` (block lowered)
    patterns: tuple[re.Pattern[str], ...]
    fold: bool = True
    group: int = 0  # regex group holding the secret (0 = whole match)


# -- detectors ------------------------------------------------------------------------------------------
# Literal triggers for detect-secrets' plugins (their regexes decide; triggers only pick where to look).
_DS_TRIGGERS: dict[str, tuple[bytes, ...]] = {
    "AWSKeyDetector": (b"akia", b"asia", b"aws"),
    "AzureStorageKeyDetector": (b"accountkey",),
    "ArtifactoryDetector": (b"akc", b"ap"),
    "GitHubTokenDetector": (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
    "GitLabTokenDetector": (b"glpat-", b"gldt-", b"glptt-", b"glrt-"),
    "JwtTokenDetector": (b"eyj",),
    "MailchimpDetector": (b"-us",),
    "NpmDetector": (b"npm_",),
    "OpenAIDetector": (b"sk-",),
    "PypiTokenDetector": (b"pypi-",),
    "SendGridDetector": (b"sg.",),
    "SlackDetector": (b"xox", b"hooks.slack.com"),
    "SquareOAuthDetector": (b"sq0csp-",),
    "StripeDetector": (b"_live_",),
    "BasicAuthDetector": (b"://",),
}
# Plugins left out on purpose: entropy strings, keyword, public IP (noise); IBM/SoftLayer/Cloudant (keyword
# based, noisy); Discord/Telegram/Twilio (no literal to prefilter on: too slow on gigabytes).
_ARTIFACTORY_OK = False  # its "AP..." pattern fires on ordinary base64 in tool output
# Each trigger costs one pass over the data (~2 GB/s), so they are few: rarer token prefixes are left out.

_BUILTIN: list[tuple[str, tuple[bytes, ...], str]] = [
    ("AWS Access Key", (b"akia", b"asia"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("GitHub Token", (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
     r"\b(?:gh[pousr]_[A-Za-z0-9_]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ("GitLab Token", (b"glpat-",), r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    ("Slack Token", (b"xox",), r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("Stripe Access Key", (b"_live_",), r"\b[rs]k_live_[0-9a-zA-Z]{24,}"),
    ("OpenAI Token", (b"sk-",), r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}"),
    ("PyPI Token", (b"pypi-",), r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    ("NPM tokens", (b"npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("JSON Web Token", (b"eyj",), r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
]

_PRIVATE_KEY = _Detector(
    "Private Key", (b"private key-----",),
    (re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----"),),
)
_ENV_NAMES = r"[A-Z][A-Z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)[A-Z0-9_]*"
_ENV = _Detector(
    "Env Assignment",
    (b"SECRET", b"TOKEN", b"PASSW", b"KEY", b"CREDENTIAL"),
    (re.compile(r"(?m)(?:^|(?<=[\"'\s]))(?:export[ \t]+)?" + _ENV_NAMES
                + r"[ \t]*=[ \t]*(['\"]?)([^\s'\"#$<>{}\\]{8,})\1(?=$|[\s\"',;}])"),),
    fold=False, group=2,
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


_BACKEND, _DETECTORS = _load()
_FOLD_TRIGGERS = sorted({t for d in _DETECTORS if d.fold for t in d.triggers})
_CASE_TRIGGERS = sorted({t for d in _DETECTORS if not d.fold for t in d.triggers})


def backend() -> str:
    """"detect-secrets" or "builtin" (the library is an optional extra)."""
    return _BACKEND


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


def _hits(buf: bytes, lo: int, hi: int) -> list[int]:
    """Offsets in buf[lo:hi] where some trigger starts."""
    out: list[int] = []
    low = buf.lower() if _FOLD_TRIGGERS else buf
    for triggers, hay in ((_FOLD_TRIGGERS, low), (_CASE_TRIGGERS, buf)):
        for t in triggers:
            i = hay.find(t, lo, hi)
            while i != -1:
                out.append(i)
                i = hay.find(t, i + 1, hi)
    out.sort()
    return out


def _iter_secrets(path: Path) -> Iterator[tuple[int, str, str, bytes]]:
    """(line, type, secret text, raw line window) for every match.  Consecutive blocks overlap by
    2 * _WINDOW so that every trigger is examined once, with _WINDOW bytes of context either side."""
    with open(path, "rb") as fh:
        carry = b""
        carry_line = 1  # line number at buf[0]
        while True:
            block = fh.read(_BLOCK)
            eof = len(block) < _BLOCK
            buf = carry + block
            lo = _WINDOW if carry else 0  # hits before lo were examined with the previous block
            hi = len(buf) if eof else max(len(buf) - _WINDOW, lo)
            line_at, line = 0, carry_line
            covered = -1
            for pos in _hits(buf, lo, hi):
                if pos < covered:
                    continue
                line += buf.count(b"\n", line_at, pos)
                line_at = pos
                covered = yield from _check_window(buf, pos, line)
            if eof:
                return
            start = max(hi - _WINDOW, 0)
            carry_line += buf.count(b"\n", 0, start)
            carry = buf[start:]


def _check_window(buf: bytes, pos: int, line: int) -> Iterator[tuple[int, str, str, bytes]]:
    """Examine the part of pos's line within _WINDOW of pos; returns where that part ends."""
    a = max(buf.rfind(b"\n", max(0, pos - _WINDOW), pos) + 1, pos - _WINDOW, 0)
    e = buf.find(b"\n", pos, pos + _WINDOW)
    b = e if e != -1 else min(len(buf), pos + _WINDOW)
    raw = buf[a:b]
    text = _unescape(raw.decode("utf-8", "replace"))
    folded = text.lower().encode("utf-8", "replace")
    plain = text.encode("utf-8", "replace")
    for d in _DETECTORS:
        hay = folded if d.fold else plain
        if not any(t in hay for t in d.triggers):
            continue
        for rx in d.patterns:
            for m in rx.finditer(text):
                value = m.group(d.group) if d.group <= rx.groups else m.group(0)
                if not value or (d is _ENV and _PLACEHOLDER.match(value)):
                    continue
                yield line, d.type, value, raw
    return b


def scan_file(path: Path, session_id: str = "", arcname: str = "") -> list[Finding]:
    seen: set[tuple[int, str, str]] = set()
    out: list[Finding] = []
    for line, typ, value, _raw in _iter_secrets(Path(path)):
        key = (line, typ, hashlib.sha256(value.encode()).hexdigest())
        if key not in seen:
            seen.add(key)
            out.append(Finding(session_id, arcname, line, typ))
    return out


def scan_files(files: Iterable[tuple[str, str, Path]]) -> list[Finding]:
    """Scan every (session id, arcname, path); the findings say where and what kind, never the secret."""
    out: list[Finding] = []
    for sid, arcname, path in files:
        out.extend(scan_file(Path(path), sid, arcname))
    return out


def scan_bytes(data: bytes) -> list[Finding]:
    import tempfile

    with tempfile.NamedTemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        return scan_file(Path(fh.name))


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


def redact_file(src: Path, dst: Path) -> int:
    """Copy `src` to `dst` with every detected secret replaced by `[REDACTED:<type>]`; returns how many
    occurrences were replaced.  `src` is never modified.  The markers hold no quote or backslash, so JSON
    lines stay valid JSON."""
    src, dst = Path(src), Path(dst)
    targets: dict[bytes, str] = {}
    for _line, typ, value, raw in _iter_secrets(src):
        if typ == "Private Key":
            m = _PEM_RAW.search(raw) or _PEM_OPEN.search(raw)
            if m:
                targets[m.group(0)] = typ
            continue
        for form in _raw_forms(value):
            if len(form) <= _MAX_SECRET:
                targets.setdefault(form, typ)
    if not targets:
        if src.resolve() != dst.resolve():
            import shutil

            shutil.copyfile(src, dst)
        return 0
    keys = sorted(targets, key=len, reverse=True)
    rx = re.compile(b"|".join(re.escape(k) for k in keys))
    longest = len(keys[0])
    count = 0
    tmp = dst.with_name(f".{dst.name}.redact-{os.getpid()}")
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
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
    os.replace(tmp, dst)
    return count
