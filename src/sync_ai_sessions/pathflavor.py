"""Path flavours as values: how Windows and POSIX machines spell, compare and convert paths.

Nothing here looks at `os.name` or touches the file system unless asked for the local flavour
(`local()`): a handoff's source flavour comes from its manifest (`source.os_flavor`) and the target's from
the receiving machine, so both directions run on any OS, and in tests.

A flavour is `Flavor(kind, system)`: `kind` is what the manifest records ("windows" or "posix"), `system`
refines the comparison rules ("windows", "darwin", "linux").  Comparison rules (`key`, `same`,
`is_inside`, `relative`):
- windows: case-insensitive and Unicode-normalisation-insensitive; `\\` and `/` are one separator;
  `\\\\?\\C:\\x` is `C:\\x` and `\\\\?\\UNC\\srv\\share` is `\\\\srv\\share`;
- darwin (APFS/HFS+ default): case- and normalisation-insensitive; `/private/tmp`, `/private/var` and
  `/private/etc` are `/tmp`, `/var` and `/etc`;
- linux: byte for byte (a trailing separator aside).

Spellings (`spellings`): the forms in which tools write one Windows path, each with a style that says how to
render another path the same way: native (`C:\\work\\app`), forward slashes (`C:/work/app`, Node and
Git), Git-Bash (`/c/work/app`, Claude's Bash tool on Windows), extended-length (`\\\\?\\C:\\work\\app`),
lower-cased (Gemini and Qwen lower-case paths on win32; users type them), and UNC (`\\\\srv\\share\\x`,
`//srv/share/x`, `\\\\?\\UNC\\srv\\share\\x`).  `file://` URLs: `file_url` / `url_path` (percent-encoding,
drive letters as `file:///C:/...`, UNC hosts as `file://srv/share/...`).
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
import urllib.parse
from dataclasses import dataclass

WINDOWS = "windows"
POSIX = "posix"

_DRIVE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
_EXTENDED = re.compile(r"^(?:\\\\|//)[?.][\\/]", re.IGNORECASE)
_EXTENDED_UNC = re.compile(r"^(?:\\\\|//)[?.][\\/]UNC[\\/]", re.IGNORECASE)
_GIT_BASH = re.compile(r"^/([A-Za-z])(?:/|$)")
# macOS: these top-level names are symlinks into /private (what the OS returns as the physical path).
_DARWIN_PRIVATE = ("/tmp", "/var", "/etc")


@dataclass(frozen=True)
class Flavor:
    kind: str  # "windows" | "posix": what a manifest records
    system: str = ""  # "windows" | "darwin" | "linux" | "" (unknown POSIX): refines the comparison rules

    @property
    def windows(self) -> bool:
        return self.kind == WINDOWS

    @property
    def sep(self) -> str:
        return "\\" if self.windows else "/"

    @property
    def folds_case(self) -> bool:
        """Whether the file system treats `A` and `a` (and NFC/NFD forms) as the same name by default."""
        return self.windows or self.system == "darwin"

    def __str__(self) -> str:
        return self.kind


def flavor(value: str | Flavor | None) -> Flavor:
    """A Flavor from a manifest's `os_flavor` (or a Flavor already); None means POSIX."""
    if isinstance(value, Flavor):
        return value
    if value == WINDOWS:
        return Flavor(WINDOWS, "windows")
    if value in (None, "", POSIX):
        return Flavor(POSIX, "")
    raise ValueError(f"unknown path flavour {value!r}")


def local() -> Flavor:
    """This machine's flavour."""
    if os.name == "nt":
        return Flavor(WINDOWS, "windows")
    return Flavor(POSIX, "darwin" if sys.platform == "darwin" else "linux")


def is_windows_path(p: str) -> bool:
    """An absolute Windows path: drive (`C:\\`, `C:/`), UNC (`\\\\srv`) or extended-length (`\\\\?\\`)."""
    return bool(_DRIVE.match(p)) or p.startswith(("\\\\", "//?/"))


# -- Windows structure ---------------------------------------------------------------------------
def split_windows(p: str) -> tuple[str, list[str]] | None:
    """(anchor, components) of an absolute Windows path; None when `p` is not one.

    The anchor is `C:` (drive letter as written) or `\\\\srv\\share` (UNC); the `\\\\?\\` prefix is
    dropped, either separator is accepted, and empty components are dropped."""
    s = p
    if _EXTENDED_UNC.match(s):
        s = "\\\\" + s[8:]
    elif _EXTENDED.match(s):
        s = s[4:]
    m = _DRIVE.match(s)
    if m:
        return s[:2], [c for c in re.split(r"[\\/]+", s[2:]) if c]
    if s.startswith(("\\\\", "//")):
        parts = [c for c in re.split(r"[\\/]+", s[2:]) if c]
        if len(parts) < 2:
            return None
        return "\\\\" + parts[0] + "\\" + parts[1], parts[2:]
    return None


def native(p: str, fl: Flavor | str) -> str:
    """`p` with the flavour's separators (Windows: `\\`, the `\\\\?\\` prefix dropped)."""
    fl = flavor(fl)
    if not fl.windows:
        return p
    sp = split_windows(p)
    if sp is None:
        return p.replace("/", "\\")
    anchor, parts = sp
    return anchor + "\\" + "\\".join(parts) if parts else anchor + "\\"


def git_bash(p: str) -> str | None:
    """The Git-Bash (MSYS) spelling of a Windows drive path: `C:\\work\\app` -> `/c/work/app`."""
    sp = split_windows(p)
    if sp is None or not sp[0].endswith(":"):
        return None
    return "/" + sp[0][0].lower() + "".join("/" + c for c in sp[1])


def from_git_bash(p: str) -> str | None:
    """`/c/work/app` -> `C:\\work\\app` (None when `p` is not a Git-Bash drive path)."""
    m = _GIT_BASH.match(p)
    if not m:
        return None
    rest = [c for c in p[2:].split("/") if c]
    return m.group(1).upper() + ":\\" + "\\".join(rest)


@dataclass(frozen=True)
class Spelling:
    text: str  # the path as a tool writes it
    style: str  # "native" | "slash" | "bash" | "extended" | "lower" | "posix"


def spellings(p: str, fl: Flavor | str) -> list[Spelling]:
    """The forms in which tools write the path `p` of flavour `fl`, most specific first.

    POSIX: the path itself, and on macOS's symlinked tops (`/tmp`, `/var`, `/etc`) the `/private` form
    too (or the short form of a `/private` path).  Windows: see the module docstring."""
    fl = flavor(fl)
    out: list[Spelling] = []

    def add(text: str, style: str) -> None:
        if text and all(s.text != text for s in out):
            out.append(Spelling(text, style))

    if not fl.windows:
        add(p, "posix")
        for top in _DARWIN_PRIVATE:
            if p == top or p.startswith(top + "/"):
                add("/private" + p, "posix")
            elif p == "/private" + top or p.startswith("/private" + top + "/"):
                add(p[len("/private"):], "posix")
        return out
    sp = split_windows(p)
    if sp is None:
        add(p, "native")
        return out
    anchor, _parts = sp
    nat = native(p, fl)
    add(nat, "native")
    add(nat.replace("\\", "/"), "slash")
    if anchor.endswith(":"):
        add("\\\\?\\" + nat, "extended")
        bash = git_bash(nat)
        if bash:
            add(bash, "bash")
    else:
        add("\\\\?\\UNC\\" + nat[2:], "extended")
    add(nat.lower(), "lower")
    return out


def render(p: str, style: str, fl: Flavor | str) -> str:
    """The path `p` (of flavour `fl`) written in `style` (see `Spelling`)."""
    fl = flavor(fl)
    if not fl.windows:
        return p
    nat = native(p, fl)
    if style == "slash":
        return nat.replace("\\", "/")
    if style == "bash":
        return git_bash(nat) or nat.replace("\\", "/")
    if style == "extended":
        return "\\\\?\\UNC\\" + nat[2:] if nat.startswith("\\\\") else "\\\\?\\" + nat
    if style == "lower":
        return nat.lower()
    return nat


def style_sep(style: str, fl: Flavor | str) -> str:
    """The separator a path written in `style` uses."""
    fl = flavor(fl)
    if not fl.windows or style in ("slash", "bash"):
        return "/"
    return "\\"


# -- file:// URLs ---------------------------------------------------------------------------------
def file_url(p: str, fl: Flavor | str) -> str:
    """`p` as a `file://` URL: percent-encoded UTF-8; `file:///C:/x` for drives, `file://srv/share/x` for UNC."""
    fl = flavor(fl)
    if fl.windows:
        sp = split_windows(p)
        if sp is not None:
            anchor, parts = sp
            tail = "".join("/" + urllib.parse.quote(c, safe="") for c in parts)
            if anchor.endswith(":"):
                return "file:///" + anchor + (tail or "/")
            host, share = anchor[2:].split("\\", 1)
            return "file://" + host + "/" + urllib.parse.quote(share, safe="") + tail
    return "file://" + urllib.parse.quote(p, safe="/")


def url_path(url: str, fl: Flavor | str) -> str | None:
    """The path a `file://` URL names, as a path of flavour `fl` (None when it is no file URL)."""
    fl = flavor(fl)
    if not url.lower().startswith("file://"):
        return None
    rest = url[7:]
    slash = rest.find("/")
    host, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    path = urllib.parse.unquote(path, errors="surrogateescape")
    if not fl.windows:
        return path if host in ("", "localhost") else None
    if host not in ("", "localhost"):
        return "\\\\" + host + path.replace("/", "\\")
    m = re.match(r"^/([A-Za-z])[:|](/.*)?$", path)
    if m:
        return m.group(1) + ":" + (m.group(2) or "/").replace("/", "\\")
    if path.startswith("//"):  # file:////srv/share: UNC with an empty host
        return "\\\\" + path[2:].replace("/", "\\")
    return path.replace("/", "\\")


# -- comparisons ----------------------------------------------------------------------------------
def key(p: str, fl: Flavor | str) -> str:
    """The form of `p` under which two paths of flavour `fl` are the same file-system path."""
    fl = flavor(fl)
    if fl.windows:
        s = native(p, fl)
        if len(s) > 3 or not s.endswith(":\\"):
            s = s.rstrip("\\") or s
        return unicodedata.normalize("NFC", s).casefold()
    s = p.rstrip("/") or p
    if fl.system == "darwin":
        for top in _DARWIN_PRIVATE:
            if s == "/private" + top or s.startswith("/private" + top + "/"):
                s = s[len("/private"):]
                break
        s = unicodedata.normalize("NFC", s).casefold()
    return s


def same(a: str, b: str, fl: Flavor | str) -> bool:
    return key(a, fl) == key(b, fl)


def relative(child: str, root: str, fl: Flavor | str) -> str | None:
    """`child` relative to `root` as a POSIX relative path ("" for the root itself), under the flavour's
    comparison rules, keeping the child's own spelling of each component; None when outside."""
    fl = flavor(fl)
    kc, kr = key(child, fl), key(root, fl)
    sep = fl.sep
    if kc == kr:
        return ""
    prefix = kr if kr.endswith(sep) else kr + sep
    if not kc.startswith(prefix):
        return None
    # The components of `child` after as many components as `root` has (case folding keeps their count).
    parts = _components(child, fl)
    n = len(_components(root, fl))
    rest = parts[n:]
    return "/".join(rest) if rest else None


def is_inside(child: str, root: str, fl: Flavor | str) -> bool:
    """`child` is `root` or below it under the flavour's comparison rules (no file system access)."""
    return relative(child, root, fl) is not None


def _components(p: str, fl: Flavor) -> list[str]:
    if fl.windows:
        sp = split_windows(p)
        if sp is not None:
            return [sp[0], *sp[1]]
        return [c for c in re.split(r"[\\/]+", p) if c]
    s = p
    if fl.system == "darwin":
        for top in _DARWIN_PRIVATE:
            if s == "/private" + top or s.startswith("/private" + top + "/"):
                s = s[len("/private"):]
                break
    return [c for c in s.split("/") if c]


def join(base: str, rel: str, fl: Flavor | str) -> str:
    """`base` joined with the POSIX relative path `rel`, in the flavour's separators."""
    fl = flavor(fl)
    if not rel:
        return base
    sep = fl.sep
    return base.rstrip("\\/" if fl.windows else "/") + sep + rel.replace("/", sep)


def strip_rel(p: str, rel: str, fl: Flavor | str) -> str | None:
    """`p` without its last components when they are the POSIX relative path `rel` (under the flavour's
    comparison rules): the root a cwd was recorded under, as that cwd spelled it.  None when they are not."""
    fl = flavor(fl)
    seps = "\\/" if fl.windows else "/"
    s = p
    for part in reversed([c for c in rel.split("/") if c]):
        s = s.rstrip(seps)
        i = max(s.rfind(c) for c in seps)
        if i < 0 or key(s[i + 1:], fl) != key(part, fl):
            return None
        s = s[:i]
    if not s or (fl.windows and len(s) == 2 and s[1] == ":"):
        s += fl.sep
    return s


def basename(p: str, fl: Flavor | str) -> str:
    """The last component of `p` under the flavour's separators ("" for a root)."""
    fl = flavor(fl)
    parts = _components(p, fl)
    if fl.windows and parts and parts[0] == (split_windows(p) or ("",))[0]:
        parts = parts[1:]
    return parts[-1] if parts else ""
