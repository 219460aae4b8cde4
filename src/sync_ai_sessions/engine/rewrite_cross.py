"""Path rewriting when Windows is on either side of a handoff (Windows -> POSIX, POSIX -> Windows,
Windows -> Windows): JSON-aware, on decoded string values.

The byte-level rewriter (`rewrite.PathRewriter`) splices JSON-escaped needles into raw bytes: right and fast
while both ends are POSIX.  With Windows involved a path's bytes depend on its escaping level (a `\\` is
`\\\\` in a JSON string and `\\\\\\\\` in JSON-in-JSON such as Codex's `function_call.arguments`), its
separators, its case and its spelling (`/c/work`, `\\\\?\\C:\\work`), so matching is done on decoded text:

- each JSON string of a line that may hold a path (a cheap case-insensitive literal pre-filter) is decoded;
  a value that is itself a JSON document is rewritten recursively (decode, rewrite, re-encode), so every
  level stays valid JSON; other values are rewritten as text, and re-encoded in the escaping the line used
  (`ensure_ascii` or not, `\\/` or not), so bytes that hold no path are kept;
- in text, a source path is found in any of its spellings (`pathflavor.spellings`; Windows: either
  separator, any case, Git-Bash, `\\\\?\\`, UNC) at a name boundary; its suffix (the rest of the path)
  gets the target's separators.  In a value of a key known to hold paths (`PATH_KEYS`) the whole value is the
  path (spaces included); in free text a suffix ends at white space, except that from a Windows source a
  following word that continues with a separator (`Design Notes\\a.md`) continues the path;
- `file://` URLs are decoded with the source's URL rule, rewritten, and re-encoded with the target's
  (`file:///C:/...` for drives, percent-encoded);
- the replacement is written in the style the source used where the target can hold it (Windows -> Windows
  keeps forward slashes, Git-Bash, `\\\\?\\`, lower case); on a POSIX target every form becomes the one
  POSIX path;
- text that is not JSON (a tool output `.txt`) is rewritten as text, between and around string tokens.

The plan (patterns, pre-filter literals) is built once per rule set; `rewrite` is per file run.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from typing import Any

from sync_ai_sessions import pathflavor as pf
from sync_ai_sessions.literals import every_start

# Keys whose string value (or array of strings) is one whole path: separators are converted through spaces.
PATH_KEYS = frozenset({
    "cwd", "workdir", "work_dir", "workDir", "path", "paths", "file_path", "filePath", "filename",
    "notebook_path", "absolute_path", "dir_path", "directory", "directories", "relocatedCwd", "originalCwd",
    "projectRoot", "project_root", "root", "runtime_workspace_roots", "workspace_roots", "writable_roots",
    "realParentDir", "old_path", "new_path", "source_path", "destination_path", "target_file",
})

_NAME = "A-Za-z0-9_.\\-~@+\u0080-\U0010ffff"
_STR = re.compile(rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')
_KEY_COLON = re.compile(rb"[ \t\r]*:")
_URL = re.compile(r"file://[^\s\"'<>`{}]*", re.IGNORECASE)
_CTRL = re.compile(r"[\x00-\x1f]")
_WIN_BAD = re.compile(r'[\x00-\x1f"<>|*?]')


def _literal(old: str, token: bool) -> bytes:
    """A lower-case ASCII piece of `old` present in every escaping and spelling of it ("" if none)."""
    parts = [old] if token else [c for c in re.split(r"[\\/:]+", old) if c]
    best = b""
    for part in parts:
        for run in re.findall(r"[A-Za-z0-9_.\-]+", part):
            b = run.lower().encode("ascii")
            if len(b) > len(best):
                best = b
    return best


class CrossPlan:
    """What a rule set becomes when Windows is on either side: one pattern, literals to pre-filter on."""

    def __init__(self, rules: Iterable[Any], source: pf.Flavor, target: pf.Flavor):
        self.source, self.target = source, target
        win = source.windows
        alts: list[str] = []
        self.entries: list[tuple[str, str, str]] = []  # (kind, old, new) per group "g<i>"
        literals: set[bytes] = set()
        path_rules = [(r.old, r.new) for r in rules if r.kind == "path" and r.old and r.old != r.new]
        tok_rules = [(r.old, r.new) for r in rules if r.kind != "path" and r.old and r.old != r.new]
        # Longest first: the regex takes the first alternative that matches at a position.
        ordered: list[tuple[int, str, str, str]] = []
        for old, new in path_rules:
            pat = self._path_pattern(old)
            if pat is None:
                continue
            depth = len(pf.split_windows(old)[1]) if win and pf.split_windows(old) else old.count("/")
            ordered.append((depth * 100000 + len(old), "path", old, new))
            literals.add(_literal(old, False))
        for old, new in tok_rules:
            ordered.append((len(old), "token", old, new))
            literals.add(_literal(old, True))
        ordered.sort(key=lambda t: -t[0])
        seen: set[tuple[str, str]] = set()
        for _, kind, old, new in ordered:
            if (kind, old) in seen:
                continue
            seen.add((kind, old))
            i = len(self.entries)
            pat = self._path_pattern(old) if kind == "path" else re.escape(old)
            alts.append(f"(?P<g{i}>{pat})")
            self.entries.append((kind, old, new))
        self.literals = sorted(literals, key=len, reverse=True)
        self.always = b"" in literals
        self.active = bool(alts)
        flags = re.IGNORECASE if win else 0
        self.pattern = re.compile(
            f"(?<![{_NAME}])(?:" + "|".join(alts or ["(?!x)x"]) + f")(?![{_NAME}])", flags
        )
        if win:
            self._seg = r'[^\s\\/"<>|*?;:]*'
            self._suffix = re.compile(r"(?:[\\/]" + self._seg + r")*")
            self._more = re.compile(r" (?=[^\s\\/\"<>|*?;:]+[\\/])[^\s\\/\"<>|*?;:]+(?:[\\/]" + self._seg + r")+")
        else:
            self._suffix = re.compile(r'(?:/[^\s/\\"\'`;:]*)*')
            self._more = None

    def _path_pattern(self, old: str) -> str | None:
        if not self.source.windows:
            return "|".join(re.escape(s.text) for s in pf.spellings(old, self.source))
        sp = pf.split_windows(old)
        if sp is None or not sp[1]:
            return None
        anchor, parts = sp
        sep = r"[\\/]+"
        tail = "".join(sep + re.escape(c) for c in parts)
        if anchor.endswith(":"):
            drive = r"(?:(?:\\\\|//)[?.][\\/])?" + re.escape(anchor) + tail
            bash = "/" + re.escape(anchor[0]) + "".join("/" + re.escape(c) for c in parts)
            return drive + "|" + bash
        host, share = anchor[2:].split("\\", 1)
        return (r"(?:(?:\\\\|//)[?.][\\/]UNC[\\/]|\\\\|//)" + re.escape(host) + sep + re.escape(share) + tail)

    # -- text ---------------------------------------------------------------------------------
    def _style(self, matched: str, old: str) -> str:
        if not self.source.windows:
            return "posix"
        if matched.startswith(("\\\\?", "//?", "\\\\.", "//.")):
            return "extended"
        if matched.startswith("/") and not matched.startswith("//"):
            return "bash"
        if matched == matched.lower() and old != old.lower() and matched[2:] != old[2:]:
            return "lower"
        if "\\" not in matched:
            return "slash"
        return "native"

    def _replacement(self, m: re.Match[str]) -> tuple[str, str, str]:
        """(new prefix, separator for the suffix or "" to keep it, kind) for a match of the pattern."""
        kind, old, new = self.entries[int(m.lastgroup[1:])]  # type: ignore[index]
        if kind != "path":
            return new, "", kind
        tgt = self.target
        if not tgt.windows:
            return new, ("/" if self.source.windows else ""), kind
        style = self._style(m.group(0), old) if self.source.windows else "native"
        sep = "" if self.source.windows else pf.style_sep(style, tgt)
        return pf.render(new, style, tgt), sep, kind

    def _convert(self, suffix: str, sep: str) -> str:
        if not sep or not suffix:
            return suffix
        if self.source.windows:
            return suffix.replace("\\", sep).replace("/", sep)
        return suffix.replace("/", sep)

    def rewrite_text(self, s: str, whole: bool = False) -> str:
        """Rewrite decoded text; with `whole`, `s` is one path value (its suffix runs to the end)."""
        if "file:" in s or "FILE:" in s:
            out: list[str] = []
            done = 0
            for um in _URL.finditer(s):
                out.append(self._text(s[done:um.start()], False))
                out.append(self._url(um.group(0)))
                done = um.end()
            if done:
                out.append(self._text(s[done:], whole and done == len(s)))
                return "".join(out)
        return self._text(s, whole)

    def _url(self, url: str) -> str:
        cut = len(url)
        for ch in "#?":
            i = url.find(ch)
            if 0 <= i < cut:
                cut = i
        path = pf.url_path(url[:cut], self.source)
        if path is None:
            return url
        new = self._text(path, True)
        if new == path:
            return url
        return pf.file_url(new, self.target) + url[cut:]

    def _text(self, s: str, whole: bool) -> str:
        if not s:
            return s
        pos = 0
        out: list[str] = []
        search = self.pattern.search
        while True:
            m = search(s, pos)
            if m is None:
                break
            new, sep, kind = self._replacement(m)
            end = m.end()
            suffix = ""
            if kind == "path":
                rest = s[end:]
                if whole and m.start() == 0 and rest and not (
                    _WIN_BAD.search(rest) if self.source.windows else _CTRL.search(rest)
                ) and rest[0] in "\\/":
                    suffix = rest
                else:
                    sm = self._suffix.match(s, end)
                    suffix = sm.group(0) if sm else ""
                    if self._more is not None and suffix:
                        while True:
                            mm = self._more.match(s, end + len(suffix))
                            if mm is None:
                                break
                            suffix += mm.group(0)
            out.append(s[pos:m.start()])
            out.append(new + self._convert(suffix, sep))
            pos = end + len(suffix)
        if not out:
            return s
        out.append(s[pos:])
        return "".join(out)

    # -- JSON ---------------------------------------------------------------------------------
    def _hits(self, data: bytes) -> list[int]:
        if self.always:
            return [0] if data else []
        return every_start(data.lower(), self.literals)

    def rewrite(self, data: bytes) -> bytes:
        """Rewrite whole lines of JSON (or text)."""
        if not self.active or not data:
            return data
        hits = self._hits(data)
        if not hits:
            return data
        if self.always:
            hits = [0]
        out: list[bytes] = []
        done = 0
        i = 0
        n = len(data)
        while i < len(hits):
            h = hits[i]
            lo = data.rfind(b"\n", 0, h) + 1 if not self.always else 0
            hi = data.find(b"\n", h) if not self.always else -1
            hi = n if hi < 0 else hi
            if lo < done:
                lo = done
            line = data[lo:hi]
            j = bisect.bisect_left(hits, hi, i)
            new = self._line(line, [x - lo for x in hits[i:j]] if not self.always else None)
            if new != line:
                out.append(data[done:lo])
                out.append(new)
                done = hi
            i = j
            if self.always:
                break
        if not out:
            return data
        out.append(data[done:])
        return b"".join(out)

    def _line(self, line: bytes, hits: list[int] | None) -> bytes:
        if hits is not None and line.lstrip()[:1] == b"{":
            fast = self._line_at_hits(line, hits)
            if fast is not None:
                return fast
        return self._line_tokens(line, hits)

    def _line_at_hits(self, line: bytes, hits: list[int]) -> bytes | None:
        """`_line_tokens` for a JSON line without reading its other strings: in JSON a path's letters sit
        inside a string, whose opening quote is the last unescaped quote before them.  None when a hit is
        not plainly inside an object's value (an array element, a key): then every token is read."""
        out: list[bytes] = []
        done = 0
        end = -1
        for h in hits:
            if h < end:
                continue
            a = _quote_before(line, h)
            b = _quote_after(line, h)
            if a < 0 or b < 0:
                return None
            end = b + 1
            if _KEY_COLON.match(line, end) is not None:
                continue  # a key: kept
            j = a - 1
            while j >= 0 and line[j] in b" \t\r":
                j -= 1
            if j < 0 or line[j] != 0x3A:  # ':' -- an array element or odd text: read the whole line
                return None
            k = j - 1
            while k >= 0 and line[k] in b" \t\r":
                k -= 1
            ka = _quote_before(line, k) if k > 0 and line[k] == 0x22 else -1
            if ka < 0:
                return None
            raw_key = line[ka + 1:k]
            try:
                key = json.loads(line[ka:k + 1]) if b"\\" in raw_key else raw_key.decode("utf-8")
            except ValueError:
                key = None
            new = self._string(line[a + 1:b], key)
            if new != line[a + 1:b]:
                out.append(line[done:a + 1])
                out.append(new)
                done = b
        if not out:
            return line
        out.append(line[done:])
        return b"".join(out)

    def _line_tokens(self, line: bytes, hits: list[int] | None) -> bytes:
        out: list[bytes] = []
        done = 0
        last_key: str | None = None

        def hit(a: int, b: int) -> bool:
            if hits is None:
                return True
            k = bisect.bisect_left(hits, a)
            return k < len(hits) and hits[k] < b

        for tm in _STR.finditer(line):
            a, b = tm.span()
            is_key = _KEY_COLON.match(line, b) is not None
            if a > done and hit(done, a):
                gap = line[done:a]
                new_gap = self._text(gap.decode("utf-8", "surrogateescape"), False).encode(
                    "utf-8", "surrogateescape")
                if new_gap != gap:
                    out.append(new_gap)
                else:
                    out.append(gap)
            else:
                out.append(line[done:a])
            raw = line[a + 1:b - 1]
            if is_key:
                if b"\\" in raw:
                    try:
                        last_key = json.loads(line[a:b])
                    except ValueError:
                        last_key = None
                else:
                    last_key = raw.decode("utf-8", "replace")
                out.append(line[a:b])
            elif hit(a, b):
                out.append(b'"' + self._string(raw, last_key) + b'"')
            else:
                out.append(line[a:b])
            done = b
        if done < len(line):
            rest = line[done:]
            if hit(done, len(line)):
                rest = self._text(rest.decode("utf-8", "surrogateescape"), False).encode("utf-8", "surrogateescape")
            out.append(rest)
        return b"".join(out)

    def _string(self, raw: bytes, key: str | None) -> bytes:
        """The raw content of one JSON string, rewritten (same escaping style where possible)."""
        try:
            s = json.loads(b'"' + raw + b'"')
        except ValueError:  # not JSON after all (free text with quotes): rewrite the raw text
            return self._text(raw.decode("utf-8", "surrogateescape"), False).encode("utf-8", "surrogateescape")
        new = self.rewrite_value(s, key)
        if new == s:
            return raw
        return _encode_like(new, s, raw)

    def rewrite_value(self, s: str, key: str | None = None) -> str:
        """Rewrite one decoded string value (recursively when it is itself a JSON document)."""
        stripped = s.lstrip()
        if stripped[:1] in ("{", "[") and len(s) >= 2:
            try:
                json.loads(s)
            except ValueError:
                pass
            else:
                inner = s.encode("utf-8", "surrogatepass")
                return self.rewrite(inner).decode("utf-8", "surrogatepass")
        return self.rewrite_text(s, whole=key in PATH_KEYS)


def _escaped(line: bytes, i: int) -> bool:
    """Whether the byte at `i` follows an odd number of backslashes (is escaped)."""
    n = 0
    while i - n - 1 >= 0 and line[i - n - 1] == 0x5C:
        n += 1
    return n % 2 == 1


def _quote_before(line: bytes, pos: int) -> int:
    """The last unescaped `"` before `pos` (-1 when none)."""
    i = line.rfind(b'"', 0, pos)
    while i >= 0 and _escaped(line, i):
        i = line.rfind(b'"', 0, i)
    return i


def _quote_after(line: bytes, pos: int) -> int:
    """The first unescaped `"` at or after `pos` (-1 when none)."""
    i = line.find(b'"', pos)
    while i >= 0 and _escaped(line, i):
        i = line.find(b'"', i + 1)
    return i


def _encode_like(new: str, old: str, raw: bytes) -> bytes:
    """`new` JSON-encoded (without quotes) in whichever escaping style reproduces `raw` from `old`."""
    for ascii_only in (False, True):
        enc = json.dumps(old, ensure_ascii=ascii_only)[1:-1].encode("utf-8", "surrogatepass")
        if enc == raw:
            return json.dumps(new, ensure_ascii=ascii_only)[1:-1].encode("utf-8", "surrogatepass")
        if enc.replace(b"/", b"\\/") == raw:
            out = json.dumps(new, ensure_ascii=ascii_only)[1:-1].encode("utf-8", "surrogatepass")
            return out.replace(b"/", b"\\/")
    ascii_only = raw.isascii() and b"\\u" in raw
    return json.dumps(new, ensure_ascii=ascii_only)[1:-1].encode("utf-8", "surrogatepass")
