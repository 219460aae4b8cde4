"""Windows-shaped session files and handoffs, derived from real POSIX ones (never written by hand).

What a session made on Windows looks like, from the tools' own path rules (see the adapters' docstrings):
every path under a mapped POSIX prefix becomes a native Windows path (`/home/alice/src/app/x.py` ->
`C:\\Users\\alice\\src\\app\\x.py`, JSON-escaped as `C:\\\\Users...`, and escaped twice inside JSON-in-JSON
such as Codex's `function_call.arguments`); `file://` URLs become `file:///C:/Users/...`; names derived
from a path (Claude's and Qwen's project folders, Gemini's and Qwen's hashes) are given as `tokens`.  In
free text the occurrences cycle through the other forms Windows tools and users write: a lower-case drive
(`c:\\Users\\...`), forward slashes (`C:/Users/...`), the extended-length prefix (`\\\\?\\C:\\...`),
Git-Bash (`/c/Users/...`, Claude's Bash tool) and all lower case (Gemini and Qwen on win32).  Whole
values of path keys (`cwd`, `file_path`, ...) stay native, as the CLIs record them.

This is an independent, deliberately simple implementation (regexes over decoded JSON strings), not the
product's rewriter, so that the cross-OS proof does not check the rewriter against itself.

Run as a script to write the Windows-shaped copies of the repository's fixtures:
    python tests/support/windows_shape.py OUT_DIR
(tests derive them at test time instead, from `tests/fixtures`, so nothing generated is committed).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

PATH_KEYS = {"cwd", "workdir", "file_path", "filePath", "path", "directories", "relocatedCwd", "absolute_path",
             "dir_path", "runtime_workspace_roots", "projectRoot", "notebook_path", "workDir", "work_dir"}
_NAME = r"A-Za-z0-9_.\-~@+\u0080-\uffff"
FORMS = ("native", "lowerdrive", "slash", "extended", "bash", "lower")


class Shaper:
    def __init__(self, prefixes: dict[str, str], tokens: dict[str, str] | None = None, *, variants: bool = True):
        """`prefixes`: POSIX prefix -> Windows path; `tokens`: path-derived names, old -> new."""
        self.prefixes = dict(sorted(prefixes.items(), key=lambda kv: -len(kv[0])))
        self.tokens = dict(sorted((tokens or {}).items(), key=lambda kv: -len(kv[0])))
        self.variants = variants
        alt = "|".join(re.escape(p) for p in self.prefixes)
        self._re = re.compile(f"(?<![{_NAME}])({alt})(?![{_NAME}])((?:/[^\\s/\"'<>|*?:;,\\\\]*)*)")
        self._url = re.compile(r"file://(/[^\s\"'<>`]*)")
        self.n = 0

    def path(self, p: str) -> str | None:
        """A POSIX path under a mapped prefix, as a native Windows path (None when unmapped)."""
        for old, new in self.prefixes.items():
            if p == old or p.startswith(old + "/"):
                rest = p[len(old):]
                return new + rest.replace("/", "\\")
        return None

    def _form(self, w: str) -> str:
        if not self.variants:
            return w
        form = FORMS[self.n % len(FORMS)]
        self.n += 1
        if form == "lowerdrive":
            return w[0].lower() + w[1:]
        if form == "slash":
            return w.replace("\\", "/")
        if form == "extended":
            return "\\\\?\\" + w
        if form == "bash" and w[1:2] == ":":
            return "/" + w[0].lower() + w[2:].replace("\\", "/")
        if form == "lower":
            return w.lower()
        return w

    def url(self, m: re.Match[str]) -> str:
        p = self.path(urllib.parse.unquote(m.group(1)))
        if p is None:
            return m.group(0)
        parts = p[3:].split("\\") if len(p) > 3 else []
        return "file:///" + p[:2] + "/" + "/".join(urllib.parse.quote(c, safe="") for c in parts)

    def text(self, s: str, key: str | None = None) -> str:
        whole = self.path(s) if key in PATH_KEYS else None
        if whole is not None:
            s = whole
        else:
            s = self._url.sub(self.url, s)
            s = self._re.sub(lambda m: self._form(self.path(m.group(1) + m.group(2)) or m.group(0)), s)
        for old, new in self.tokens.items():
            s = s.replace(old, new)
        return s

    def value(self, v: Any, key: str | None = None) -> Any:
        if isinstance(v, dict):
            return {k: self.value(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x, key) for x in v]
        if isinstance(v, str):
            if v.lstrip()[:1] in ("{", "["):
                try:
                    inner = json.loads(v)
                except ValueError:
                    pass
                else:  # JSON-in-JSON (Codex's arguments): shaped inside, encoded again
                    return json.dumps(self.value(inner), ensure_ascii=False, separators=(",", ":"))
            return self.text(v, key)
        return v

    def file(self, data: bytes) -> bytes:
        """A session file: JSON lines, one JSON document (kept pretty when it was), or text."""
        text = data.decode("utf-8")
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if doc is not None and "\n" in text.strip():
            return (json.dumps(self.value(doc), ensure_ascii=False, indent=2) + "\n").encode()
        out: list[str] = []
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\r\n")
            end = line[len(body):]
            try:
                obj = json.loads(body)
            except ValueError:
                out.append(self.text(body) + end)
                continue
            out.append(json.dumps(self.value(obj), ensure_ascii=False, separators=(",", ":")) + end)
        return "".join(out).encode()

    def manifest(self, m: dict[str, Any]) -> dict[str, Any]:
        """A handoff manifest as a Windows sender would have written it."""
        out = json.loads(json.dumps(m))
        src = out["source"]
        src["os_flavor"] = "windows"
        for k in ("repo_root", "home", "tool_home"):
            if isinstance(src.get(k), str):
                src[k] = self.path(src[k]) or src[k]
        src["adapter_meta"] = {k: (self.path(v) or self.text(v)) if isinstance(v, str) else v
                               for k, v in (src.get("adapter_meta") or {}).items()}
        for s in out["sessions"]:
            s["meta"] = {k: (self.path(v) or self.text(v)) if isinstance(v, str) else v
                         for k, v in (s.get("meta") or {}).items()}
        return out


def claude_enc(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", path)


def sha(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


WIN_HOME = "C:\\Users\\alice"
WIN_TEMP = WIN_HOME + "\\AppData\\Local\\Temp"


def fixture_shapers() -> dict[str, tuple[Shaper, dict[str, str]]]:
    """Per fixture folder: its Shaper and the POSIX -> Windows roots (the folder's project paths)."""
    home = {"/home/alice": WIN_HOME, "/tmp/claude-1000": WIN_TEMP + "\\claude"}
    out: dict[str, tuple[Shaper, dict[str, str]]] = {}
    claude_root = "/home/alice/src/my_app.v2"
    w = WIN_HOME + "\\src\\my_app.v2"
    out["claude"] = (Shaper(home, {claude_enc(claude_root): claude_enc(w),
                                   claude_enc("/home/alice/src/proj"): claude_enc(WIN_HOME + "\\src\\proj")}),
                     {claude_root: w})
    out["codex"] = (Shaper(home), {"/home/alice/src/projA": WIN_HOME + "\\src\\projA"})
    g = WIN_HOME + "\\src\\myproj"
    out["gemini"] = (Shaper(home, {sha("/home/alice/src/myproj"): sha(g)}), {"/home/alice/src/myproj": g})
    q_root, qw = "/home/alice/code/qproj", WIN_HOME + "\\code\\qproj"
    out["qwen-code"] = (Shaper(home, {claude_enc(q_root): claude_enc(qw).lower(), sha(q_root): sha(qw.lower())}),
                        {q_root: qw})
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: windows_shape.py OUT_DIR", file=sys.stderr)
        return 2
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    dest = Path(argv[1])
    for tool, (shaper, _roots) in fixture_shapers().items():
        for f in sorted((fixtures / tool).rglob("*")):
            if f.is_file() and f.suffix in (".jsonl", ".json"):
                rel = f.relative_to(fixtures)
                out = dest.joinpath(*[shaper.text(part) for part in rel.parts])
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(shaper.file(f.read_bytes()))
                print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))


def reseal_as_windows(src: Path, dst: Path, passphrase: str, shaper: Shaper,
                      lower_meta: tuple[str, ...] = ()) -> dict[str, Any]:
    """Decrypt the handoff `src` (made on this POSIX machine), give its manifest and files their Windows
    shape, and seal it again into `dst` with the format of docs/FORMAT.md (`os_flavor: "windows"`).
    `lower_meta`: session meta keys a Windows tool records lower-cased (Gemini's project path)."""
    import os
    import tempfile

    from sync_ai_sessions.format.archive import ArchiveWriter, read_archive
    from sync_ai_sessions.format.container import DecryptReader, EncryptWriter

    with tempfile.TemporaryDirectory() as td:
        (Path(td) / "in").mkdir()
        with open(src, "rb") as fh, DecryptReader(fh, passphrase) as reader:
            manifest, staged = read_archive(reader, Path(td) / "in")
        new = shaper.manifest(manifest)
        out_dir = Path(td) / "out"
        out_dir.mkdir()
        paths: dict[str, Path] = {}
        for i, s in enumerate(new["sessions"]):
            for k in lower_meta:
                if isinstance(s["meta"].get(k), str):
                    s["meta"][k] = s["meta"][k].lower()
            for j, f in enumerate(s["files"]):
                data = staged[f["arcname"]].read_bytes()
                if f["arcname"].endswith((".json", ".jsonl")):
                    data = shaper.file(data)
                p = out_dir / f"{i}-{j}"
                p.write_bytes(data)
                f["size"] = len(data)
                paths[f["arcname"]] = p
        old_kdf = os.environ.get("SYNC_AI_SESSIONS_SCRYPT_LOG2N")
        os.environ["SYNC_AI_SESSIONS_SCRYPT_LOG2N"] = "12"  # cheap: this is about paths, not crypto
        try:
            with open(dst, "wb") as out:
                enc = EncryptWriter(out, passphrase)
                arch = ArchiveWriter(enc, new)
                for s in new["sessions"]:
                    for f in s["files"]:
                        arch.add_file(f["arcname"], paths[f["arcname"]], f["size"])
                arch.finish()
                enc.close()
        finally:
            if old_kdf is None:
                os.environ.pop("SYNC_AI_SESSIONS_SCRYPT_LOG2N", None)
            else:
                os.environ["SYNC_AI_SESSIONS_SCRYPT_LOG2N"] = old_kdf
    return new
