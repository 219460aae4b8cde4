"""Byte-level, JSON-aware path rewriting shared by every adapter.

Why this module stays whole (~560 lines): the needle set, the candidate scan and the boundary rules
are one algorithm whose fast path and exact fallback must agree byte for byte (bench/check_rewrite.py
checks them against the reference regex); rewriting with Windows on either side is `rewrite_cross.py`.

Session files are JSON (one document per line, or one document).  A path such as `/home/alice/src/app`
appears inside JSON string values in a few encodings: as is (UTF-8), with non-ASCII as `\\uXXXX`, with
`/` escaped as `\\/`, and inside `file://` URLs percent-encoded.  Rather than parse and re-serialise every
line (slow, and it changes bytes that carry no path), we search the raw bytes for each encoding of each old
prefix at a name boundary and splice in the same encoding of the new prefix.  Because the needles are the
JSON-escaped forms, a match can only ever sit inside a string value, and every other byte is kept.

Windows-origin paths (`C:\\work\\my-app\\src\\x.py`) become POSIX on a POSIX target (and the reverse): the
separators of the path suffix that follows the prefix are converted too.  In free text a suffix ends at
white space or a quote, so paths with spaces after the prefix are converted only up to the space.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sync_ai_sessions import pathflavor
from sync_ai_sessions.engine.rewrite_cross import CrossPlan
from sync_ai_sessions.literals import every_start

# Characters that may continue a file name: a match followed or preceded by one is not a whole prefix.
_NAME_BYTE = rb"A-Za-z0-9_.\-~@+\x80-\xff"
_IS_NAME = [bool(re.match(rb"[" + _NAME_BYTE + rb"]", bytes([b]))) for b in range(256)]
_ESCAPE_LETTERS = frozenset(b"nrtbf")
_BLOCK = 1 << 20
_MAX_LINE = 16 << 20
_PLAN_CACHE = 64  # rule sets kept (a handoff's sessions share a few: one per working directory)
_PLANS: dict[tuple[object, ...], dict[str, object]] = {}


@dataclass(frozen=True)
class Rule:
    old: str
    new: str
    kind: str = "path"  # "path": separators of the suffix follow the flavours; "token": plain text


def _json_inner(s: str, ascii_only: bool) -> bytes:
    return json.dumps(s, ensure_ascii=ascii_only)[1:-1].encode("utf-8")


is_windows_path = pathflavor.is_windows_path


class PathRewriter:
    """Replace old prefixes by new ones in JSON text, longest prefix first."""

    def __init__(self, rules: Iterable[Rule], *, source_flavor: str | pathflavor.Flavor = "posix",
                 target_flavor: str | pathflavor.Flavor = "posix"):
        # The plan (needles, regexes, the SIMD matcher, the fast-path proof) depends only on the rules and
        # the flavours, and building it costs milliseconds (`_fast_plan` checks every pair of needles):
        # one handoff of thousands of sessions asks for the same few rule sets again and again.
        sf, tf = pathflavor.flavor(source_flavor), pathflavor.flavor(target_flavor)
        key = (tuple(rules), sf, tf)
        plan = _PLANS.get(key)
        if plan is None:
            self._build(key[0], sf, tf)
            if len(_PLANS) >= _PLAN_CACHE:
                _PLANS.pop(next(iter(_PLANS)))
            _PLANS[key] = dict(self.__dict__)
        else:
            self.__dict__.update(plan)

    def _build(self, rules: Iterable[Rule], sf: pathflavor.Flavor, tf: pathflavor.Flavor) -> None:
        self.source_flavor = sf.kind
        self.target_flavor = tf.kind
        # With Windows on either side, paths are matched on decoded JSON strings (see rewrite_cross).
        self._cross: CrossPlan | None = None
        if sf.windows or tf.windows:
            plan = CrossPlan(list(rules), sf, tf)
            self._cross = plan if plan.active else None
            self._repl, self._pct_new, self.needles, self._max_needle = {}, {}, [], 0
            self._re, self._plain, self._fast = None, None, None
            return
        self._repl: dict[bytes, tuple[bytes, str, str]] = {}  # needle -> (replacement, kind, encoding)
        self._pct_new: dict[bytes, bytes] = {}  # needle -> percent-encoded new path
        for rule in rules:
            if not rule.old or rule.old == rule.new:
                continue
            self._add_rule(rule)
        needles = sorted(self._repl, key=len, reverse=True)
        self.needles = needles
        self._max_needle = max((len(n) for n in needles), default=0)
        if needles:
            alt = b"|".join(re.escape(n) for n in needles)
            convert = sf.kind != tf.kind
            if convert and sf.windows:
                suffix = rb"((?:(?:\\\\|/)[^\\\"/\s<>|*?]*)*)"
            elif convert:
                suffix = rb"((?:/[^/\"\s\\]*)*)"
            else:
                suffix = rb"()"
            self._re: re.Pattern[bytes] | None = re.compile(
                # A JSON escape such as `\\n` right before a path is a boundary too (`n` alone is not).
                rb"(?:(?<![" + _NAME_BYTE + rb"])|(?<=\\[nrtbf]))("
                + alt
                + rb")(?![" + _NAME_BYTE + rb"])"
                + suffix
            )
            # The same pattern without the leading boundary, matched only where a needle occurs (found with
            # bytes.find, which runs at memory speed); the boundary is checked by hand.  A regex that starts
            # with a lookbehind is tried at every byte and ran at ~15 MB/s.
            self._at = re.compile(rb"(" + alt + rb")(?![" + _NAME_BYTE + rb"])" + suffix).match
            # Without separator conversion a match is just a needle with a boundary on each side: it is
            # checked byte by byte, with its replacement (and its form inside a file:// URL) known ahead.
            self._plain: list[tuple[bytes, bytes, bytes | None]] | None = None
            if not convert:
                self._plain = []
                for n in needles:
                    new, kind, enc = self._repl[n]
                    url = self._pct_new.get(n, new) if kind == "path" and enc != "pct" else None
                    self._plain.append((n, new, url))
                self._scan_plan = _scan_plan(needles)
                self._fast = _fast_plan(self._plain)
                self._fast_scan = _presence_plan(self._scan_plan)
                self._matcher = _matcher(needles)
        else:
            self._re = None
        if self._re is None or self._plain is None:
            self._fast = None

    def _add_rule(self, rule: Rule) -> None:
        olds = [rule.old]
        if rule.kind == "path" and is_windows_path(rule.old):
            # Windows paths are written with either separator, and drive letters in either case.
            fwd = rule.old.replace("\\", "/")
            olds += [fwd]
            for o in list(olds):
                if len(o) > 1 and o[1] == ":":
                    olds.append(o[0].swapcase() + o[1:])
        for old in olds:
            for ascii_only in (False, True):
                needle = _json_inner(old, ascii_only)
                self._repl.setdefault(needle, (_json_inner(rule.new, ascii_only), rule.kind, "json"))
                slashed = needle.replace(b"/", b"\\/")
                if slashed != needle:
                    self._repl.setdefault(
                        slashed, (_json_inner(rule.new, ascii_only).replace(b"/", b"\\/"), rule.kind, "slash")
                    )
            if rule.kind == "path":
                new_pct = urllib.parse.quote(rule.new.replace("\\", "/"), safe="/:").encode("ascii")
                for needle in (_json_inner(old, False), _json_inner(old, True)):
                    self._pct_new.setdefault(needle, new_pct)
                pct = urllib.parse.quote(old.replace("\\", "/"), safe="/:").encode("ascii")
                self._repl.setdefault(pct, (new_pct, rule.kind, "pct"))

    @property
    def active(self) -> bool:
        return self._re is not None or self._cross is not None

    def _sub(self, m: re.Match[bytes]) -> bytes:
        new, kind, enc = self._repl[m.group(1)]
        if kind == "path" and enc != "pct" and m.string.endswith(b"file://", 0, m.start()):
            # Same bytes as the percent-encoded needle: inside a file:// URL the new path is encoded.
            new = self._pct_new.get(m.group(1), new)
            enc = "pct"
        suffix = m.group(2)
        if suffix and kind == "path":
            if self.target_flavor == "posix":
                suffix = suffix.replace(b"\\\\", b"/")
            elif enc == "json":
                suffix = suffix.replace(b"/", b"\\\\")
        return new + suffix

    def rewrite(self, data: bytes) -> bytes:
        """Rewrite a complete JSON line (or document)."""
        if self._cross is not None:
            return self._cross.rewrite(data)
        if self._re is None:
            return data
        if self._plain is not None:
            return self._rewrite_plain(data)
        # Same result as self._re.sub(self._sub, data): candidates are the needles' occurrences, tried from
        # left to right; a match must start at a name boundary and begins the next search at its end.
        starts = every_start(data, self.needles)
        if not starts:
            return data
        starts = sorted(set(starts))
        at = self._at
        out: list[bytes] = []
        done = 0
        for p in starts:
            if p < done:
                continue
            if p > 0:
                c = data[p - 1]
                if _IS_NAME[c] and not (p > 1 and data[p - 2] == 0x5C and c in _ESCAPE_LETTERS):
                    continue
            m = at(data, p)
            if m is None:
                continue
            out.append(data[done:p])
            out.append(self._sub(m))
            done = m.end()
        if not out:
            return data
        out.append(data[done:])
        return b"".join(out)

    def _rewrite_fast(self, data: bytes) -> bytes | None:
        """`rewrite` with one bytes.split/join per needle, longest first, when every occurrence of every
        needle in `data` is a whole name outside a file:// URL (the common case); None when one is not.

        Only used when `_fast_plan` proved that no needle overlaps another or a replacement, so replacing
        needle by needle gives what the left-to-right scan gives.  Needles are looked for one family at a
        time (see `_scan_plan`): a family whose root is absent costs one pass for all its members.  Used
        without the SIMD matcher (`_rewrite_matches` is faster).
        """
        assert self._fast is not None
        present: set[bytes] = set()
        for common, families in self._fast_scan:
            if common is not None and common not in data:
                continue
            for root, members in families:
                if len(members) == 1:
                    present.add(root)  # its split below is the one pass
                elif root in data:
                    present.update(n for _, n in members)
        is_name = _IS_NAME
        for needle, new, url in self._fast:
            if needle not in present:
                continue
            parts = data.split(needle)
            if len(parts) == 1:
                continue
            # Two occurrences less than 7 bytes apart: exact scan.
            mids = parts[1:-1]
            if mids and min(map(len, mids)) < 7:
                return None
            # The byte after each occurrence (b"" at the end of the data) must not continue a name.  (One-byte
            # slices are shared objects: these sets cost no allocation per occurrence.)
            if not {p[:1] for p in parts[1:]}.isdisjoint(_NAME_BYTES):
                return None
            # The byte before each: not a name byte, unless it is the letter of a JSON escape (`\n` ...).
            lasts = {p[-1:] for p in mids}
            lasts.add(parts[0][-1:])  # the data's start: nothing precedes it
            for c in lasts:
                if c and is_name[c[0]]:
                    if c[0] not in _ESCAPE_LETTERS:
                        return None
                    if any(p[-1:] == c and p[-2:-1] != b"\\" for p in (parts[0], *mids)):
                        return None
            # No file:// before one (its replacement is percent-encoded).
            if url is not None and b"file://" + needle in data:
                return None
            data = new.join(parts)
        return data

    def _rewrite_matches(self, data: bytes) -> bytes | None:
        """`rewrite` from one SIMD pass (ahocorasick-rs, leftmost-longest) over all needles, or None when
        a match fails its boundary check (then the exact scan runs).

        The regex takes, from where its last match ended, the leftmost position where a needle matches with
        a boundary on both sides, and there the longest such needle.  The SIMD pass takes the leftmost
        position where a needle occurs, and there the longest needle.  When every match it reports has its
        boundaries, both take the same matches."""
        assert self._matcher is not None and self._plain is not None
        matches = self._matcher(data)
        if not matches:
            return data
        plain, is_name, escapes = self._plain, _IS_NAME, _ESCAPE_LETTERS
        size = len(data)
        out: list[bytes] = []
        add = out.append
        done = 0
        for i, s, e in matches:
            if s:
                c = data[s - 1]
                if is_name[c] and not (c in escapes and s > 1 and data[s - 2] == 0x5C):
                    return None
            if e < size and is_name[data[e]]:
                return None
            _needle, new, url = plain[i]
            if url is not None and data.endswith(b"file://", 0, s):
                new = url
            add(data[done:s])
            add(new)
            done = e
        add(data[done:])
        return b"".join(out)

    def _rewrite_plain(self, data: bytes) -> bytes:
        """`rewrite` when no separators change: same result as the regex, without a regex per match."""
        plain = self._plain
        assert plain is not None
        if self._matcher is not None:
            fast = self._rewrite_matches(data)
            if fast is not None:
                return fast
        elif self._fast is not None:  # without the SIMD matcher
            fast = self._rewrite_fast(data)
            if fast is not None:
                return fast
        k = len(plain)
        keys: list[int] = []  # position * k + needle index: sorted, the longest needle at a position comes first
        # Every occurrence of every needle, with one pass per family root (see _scan_plan), not per needle.
        find = data.find
        for prefix, families in self._scan_plan:
            if prefix and prefix not in data:
                continue
            for root, members in families:
                i = find(root)
                if len(members) == 1:
                    idx = members[0][0]
                    while i >= 0:
                        keys.append(i * k + idx)
                        i = find(root, i + 1)
                else:
                    while i >= 0:
                        for idx, needle in members:
                            if data.startswith(needle, i):
                                keys.append(i * k + idx)
                        i = find(root, i + 1)
        if not keys:
            return data
        keys.sort()
        is_name = _IS_NAME
        size = len(data)
        out: list[bytes] = []
        done = 0
        for key in keys:
            p, idx = divmod(key, k)
            if p < done:
                continue
            if p > 0:
                c = data[p - 1]
                if is_name[c] and not (p > 1 and data[p - 2] == 0x5C and c in _ESCAPE_LETTERS):
                    continue
            needle, new, url = plain[idx]
            e = p + len(needle)
            if e < size and is_name[data[e]]:
                continue
            if url is not None and data.endswith(b"file://", 0, p):
                new = url
            out.append(data[done:p])
            out.append(new)
            done = e
        if not out:
            return data
        out.append(data[done:])
        return b"".join(out)

    def rewrite_str(self, text: str) -> str:
        """Rewrite a decoded string value (for adapters that parse a document themselves)."""
        if self._cross is not None:
            return self._cross.rewrite_value(text)
        if self._re is None:
            return text
        inner = _json_inner(text, False)
        out = self.rewrite(inner)
        if out is inner:
            return text
        return json.loads(b'"' + out + b'"')

    def rewrite_file(self, src: Path, dst: Path, *, replace: tuple[bytes, bytes] | None = None,
                     post: Callable[[bytes], bytes] | None = None) -> None:
        """Stream `src` to `dst`, rewriting line by line; memory stays bounded on huge lines.

        `replace` = (old, new) is also replaced everywhere, as plain bytes: a session id when an adapter
        makes a copy under a new id (ids appear in file names and keys, not only as whole strings).
        `post` is an adapter's own edit, applied after the rewrite to runs of whole lines (so a line
        longer than 16 MiB is then held whole).
        """
        if not self.active and replace is None and post is None:
            copy_file(src, dst)
            return
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            self.rewrite_stream(iter(lambda: fin.read(_BLOCK), b""), fout, replace=replace, post=post)

    def rewrite_stream(self, blocks: Iterable[bytes], fout: BinaryIO, *,
                       replace: tuple[bytes, bytes] | None = None,
                       post: Callable[[bytes], bytes] | None = None) -> None:
        """`rewrite_file` over blocks of bytes (e.g. straight from the decrypting reader) into `fout`."""
        if not self.active and replace is None and post is None:
            for block in blocks:
                fout.write(block)
            return
        carry = b""
        pending: list[bytes] = []  # with `post`: the pieces of a line longer than a block
        for block in blocks:
            if pending:
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    pending.append(block)
                    continue
                buf = b"".join(pending) + block
                pending = []
            else:
                buf = carry + block if carry else block
            cut = buf.rfind(b"\n") + 1
            if cut == 0 and len(buf) > _MAX_LINE:
                if post is not None or self._cross is not None:  # these need whole lines
                    pending, carry = [buf], b""
                    continue
                # A single enormous line: rewrite all but a tail long enough to hold a needle.
                cut = len(buf) - (max(self._max_needle, len(replace[0]) if replace else 0) + 4096)
            if cut > 0:
                fout.write(self._apply(buf[:cut] if cut < len(buf) else buf, replace, post))
                carry = buf[cut:]
            else:
                carry = buf
        if pending:
            carry = b"".join(pending)
        if carry:
            fout.write(self._apply(carry, replace, post))

    def _apply(self, data: bytes, replace: tuple[bytes, bytes] | None,
               post: Callable[[bytes], bytes] | None = None) -> bytes:
        data = self.rewrite(data)
        if replace:
            data = data.replace(*replace)
        return post(data) if post is not None else data


_NAME_BYTES = frozenset(bytes([b]) for b in range(256) if _IS_NAME[b])


def _overlaps(a: bytes, b: bytes) -> list[int]:
    """Every k (0 < k < both lengths) for which the last k bytes of `a` are the first k of `b`: an
    occurrence of `b` could then start inside one of `a` and run past its end."""
    # Only where `a` holds the first byte of `b` can such a suffix start (one find per candidate, not one
    # endswith per length).
    out: list[int] = []
    n = min(len(a), len(b))
    if n < 2:
        return out
    first = b[0]
    i = a.find(first, len(a) - n + 1)
    while i >= 0:
        k = len(a) - i
        if a.endswith(b[:k]):
            out.append(k)
        i = a.find(first, i + 1)
    out.reverse()
    return out


def _matcher(needles: list[bytes]) -> Callable[[bytes], list[tuple[int, int, int]]] | None:
    """(needle index, start, end) of the leftmost-longest needle matches, in one SIMD pass over the data
    (ahocorasick-rs); None without the library."""
    try:
        import ahocorasick_rs
    except ImportError:
        return None
    ac = ahocorasick_rs.BytesAhoCorasick(needles, matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_LONGEST)
    return ac.find_matches_as_indexes


def _may_follow(b: bytes, k: int) -> bool:
    """Could b[k] be the byte right after a whole-name occurrence (so not a name byte)?"""
    return not _IS_NAME[b[k]]


def _may_precede(a: bytes, k: int) -> bool:
    """Could the byte of `a` before its last k bytes come right before a whole-name occurrence (not a name
    byte, or the letter of a JSON escape such as `\\n`)?"""
    i = len(a) - k - 1
    c = a[i]
    return not _IS_NAME[c] or (c in _ESCAPE_LETTERS and (i == 0 or a[i - 1] == 0x5C))


def _edges(x: bytes) -> tuple[bool, bool, bool]:
    """What a neighbouring occurrence's boundary check sees of `x`: whether its first byte and its last
    byte continue a name, and whether it ends like a JSON escape (`\\n`)."""
    return _IS_NAME[x[0]], _IS_NAME[x[-1]], len(x) >= 2 and x[-2] == 0x5C and x[-1] in _ESCAPE_LETTERS


def _fast_plan(plain: list[tuple[bytes, bytes, bytes | None]]) -> list[tuple[bytes, bytes, bytes | None]] | None:
    """The needles for `_rewrite_fast` (longest first), or None when replacing them one after the other
    could differ from one left-to-right scan.  That is possible when an occurrence could start inside
    another one and end outside it (two needles, or a needle and a replacement, overlap), when a
    replacement holds a needle, or when a replacement's edges would change a neighbour's boundary check.
    A needle inside a longer one is fine: the longer one goes first and takes it along."""
    needles = [n for n, _, _ in plain]
    reps = [x for _, new, url in plain for x in (new, url) if x is not None]
    for n, new, url in plain:
        if any(not x or _edges(x) != _edges(n) for x in (new, url) if x is not None):
            return None
        # Two occurrences that overlap: whichever is replaced first must see its boundary fail there.
        for m in needles:
            if m != n and any(_may_follow(m, k) or _may_precede(n, k) for k in _overlaps(n, m)):
                return None
        # A replacement next to text that completes a needle (what follows or precedes an occurrence is a
        # boundary byte), or holding one.
        for x in reps:
            if n in x or any(_may_follow(n, k) for k in _overlaps(x, n)) or any(
                _may_precede(n, k) for k in _overlaps(n, x)
            ):
                return None
    return plain


_Family = tuple[bytes, list[tuple[int, bytes]]]


def _presence_plan(scan_plan: list[tuple[bytes, list[_Family]]]) -> list[tuple[bytes | None, list[_Family]]]:
    """Families grouped under their roots' longest common prefix when it is long (>= 12 bytes): one pass
    for that prefix rules the whole group out.  (A short prefix such as `\\/` is no shortcut: bytes.find
    skips ahead by about the needle's length, so a 2-byte needle is searched ~8x slower than a long one.)"""
    families = sorted((f for _, fams in scan_plan for f in fams), key=lambda f: f[0])
    groups: list[tuple[bytes | None, list[_Family]]] = []
    for fam in families:
        if groups:
            common, fams = groups[-1]
            prefix = _common_prefix(fams[0][0] if common is None else common, fam[0])
            if len(prefix) >= 12:
                groups[-1] = (prefix, [*fams, fam])
                continue
        groups.append((None, [fam]))
    return groups


def _common_prefix(a: bytes, b: bytes) -> bytes:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def _scan_plan(needles: list[bytes]) -> list[tuple[bytes, list[_Family]]]:
    """How to find all needles with few passes over the data (each bytes.find pass costs memory bandwidth).

    A needle that starts with a shorter needle (a path inside the repo, the home folder, the tool's folder)
    occurs exactly where that shorter one does and continues with its own bytes: only the shortest such
    prefix, the family's root, is searched.  Roots sharing their first two bytes (e.g. the `\\/`-escaped
    forms, rare in practice) are skipped together when those two bytes do not occur.
    """
    roots: dict[bytes, list[tuple[int, bytes]]] = {}
    for idx, n in enumerate(needles):
        root = min((r for r in needles if n.startswith(r)), key=len)
        roots.setdefault(root, []).append((idx, n))
    groups: dict[bytes, list[_Family]] = {}
    for root, members in roots.items():
        groups.setdefault(root[:2] if len(root) >= 2 else b"", []).append((root, members))
    return [(prefix if len(fams) > 1 else b"", fams) for prefix, fams in groups.items()]


def copy_file(src: Path, dst: Path) -> None:
    """Copy bytes as they are (files that must not be rewritten, e.g. file-history backups)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(_BLOCK):
            fout.write(block)
