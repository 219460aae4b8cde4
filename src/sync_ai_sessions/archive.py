"""The inner archive: the plaintext inside the container (docs/FORMAT.md, "Archive").

    archive  = "SAISARC1" file_record* manifest_record EOF
    file     = 0x46 ('F') name_len(u16 BE) name(UTF-8) size(u64 BE) data(size) sha256(data)(32)
    manifest = 0x4D ('M') len(u32 BE) JSON(UTF-8)

The manifest comes last so that `send` reads every session file exactly once (the hashes are known only
after the data went by).  The reader never uses a name from the payload as a path: file data is staged
under numbered names, and names are checked against the rules in `safe_arcname` and matched against the
manifest before anything is handed on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from sync_ai_sessions.errors import FormatError, IOFailure, UnsafePayloadError

ARCHIVE_MAGIC = b"SAISARC1"
FORMAT = 1
MAX_FILES = 200_000
MAX_NAME = 4096
MAX_MANIFEST = 256 << 20
_BLOCK = 1 << 20
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+@-]{0,199}")


def safe_arcname(name: str) -> str:
    """Return `name` if it is a safe relative POSIX name, else raise UnsafePayloadError."""
    bad = (
        not name
        or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(ord(c) < 0x20 for c in name)
        or (len(name) > 1 and name[1] == ":")
    )
    parts = name.split("/")
    if bad or any(p in ("", ".", "..") for p in parts):
        raise UnsafePayloadError(f"refusing unsafe file name in the handoff: {name!r}")
    return name


def fold_key(name: str) -> str:
    """Names that would collide on a case-insensitive or normalising file system share a key."""
    return unicodedata.normalize("NFC", name).casefold()


class ArchiveWriter:
    def __init__(self, sink: BinaryIO):
        self._sink = sink
        sink.write(ARCHIVE_MAGIC)
        self.files: list[dict[str, Any]] = []

    def add_file(
        self, arcname: str, source: Path, size: int, *, progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Copy exactly `size` bytes of `source` (a growing append-only file is cut at `size`)."""
        safe_arcname(arcname)
        name = arcname.encode("utf-8")
        h = hashlib.sha256()
        with open(source, "rb") as fh:
            self._sink.write(b"F" + _U16.pack(len(name)) + name + _U64.pack(size))
            left = size
            while left:
                block = fh.read(min(_BLOCK, left))
                if not block:
                    raise IOFailure(f"{source} shrank while it was being read; try again")
                self._sink.write(block)
                h.update(block)
                left -= len(block)
                if progress:
                    progress(len(block))
        digest = h.digest()
        self._sink.write(digest)
        entry = {"arcname": arcname, "size": size, "sha256": digest.hex()}
        self.files.append(entry)
        return entry

    def finish(self, manifest: dict[str, Any]) -> None:
        data = json.dumps(manifest, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._sink.write(b"M" + _U32.pack(len(data)) + data)


def _read_exact(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise FormatError("the handoff's archive ends early", code="truncated")
    return data


def read_archive(
    src: Any, staging: Path, *, progress: Callable[[int], None] | None = None
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Stage every file of the archive read from `src`; return the validated manifest and the staged files.

    `src` is a DecryptReader (authenticated plaintext).  Raises FormatError / UnsafePayloadError on any
    inconsistency; the caller removes `staging` then.
    """
    if _read_exact(src, len(ARCHIVE_MAGIC)) != ARCHIVE_MAGIC:
        raise FormatError("the decrypted payload is not a sync-ai-sessions archive", code="format")
    staged: dict[str, Path] = {}
    records: list[tuple[str, int, str]] = []
    folded: set[str] = set()
    while True:
        kind = src.read(1)
        if kind == b"F":
            if len(records) >= MAX_FILES:
                raise FormatError(f"the handoff holds more than {MAX_FILES} files; refusing it", code="too_large")
            (nlen,) = _U16.unpack(_read_exact(src, 2))
            try:
                name = _read_exact(src, nlen).decode("utf-8")
            except UnicodeDecodeError:
                raise UnsafePayloadError("refusing a file name that is not UTF-8 in the handoff") from None
            safe_arcname(name)
            key = fold_key(name)
            if key in folded:
                raise UnsafePayloadError(f"refusing duplicate (or case/Unicode-colliding) file name {name!r}")
            folded.add(key)
            (size,) = _U64.unpack(_read_exact(src, 8))
            path = staging / f"f{len(records):06d}"
            h = hashlib.sha256()
            try:
                with open(path, "wb") as out:
                    left = size
                    while left:
                        block = src.read(min(_BLOCK, left))
                        if not block:
                            raise FormatError("the handoff's archive ends inside a file", code="truncated")
                        out.write(block)
                        h.update(block)
                        left -= len(block)
                        if progress:
                            progress(len(block))
            except OSError as exc:
                raise IOFailure(f"cannot stage the handoff in {staging}: {exc.strerror or exc}") from exc
            if _read_exact(src, 32) != h.digest():
                raise FormatError(f"file {len(records)} of the handoff fails its sha256 check", code="tampered")
            records.append((name, size, h.hexdigest()))
            staged[name] = path
        elif kind == b"M":
            (mlen,) = _U32.unpack(_read_exact(src, 4))
            if mlen > MAX_MANIFEST:
                raise FormatError("the handoff's manifest is too large", code="too_large")
            try:
                manifest = json.loads(_read_exact(src, mlen).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise FormatError("the handoff's manifest is not valid JSON", code="format") from None
            except RecursionError:  # "[[[[...": nesting deeper than the JSON decoder's stack
                raise FormatError("the handoff's manifest is nested too deeply", code="format") from None
            if src.read(1) != b"" or not getattr(src, "at_eof", True):
                raise FormatError("the handoff has data after its manifest", code="format")
            validate_manifest(manifest, records)
            return manifest, staged
        elif kind == b"":
            raise FormatError("the handoff's archive ends before its manifest", code="truncated")
        else:
            raise FormatError("the handoff's archive has an unknown record", code="format")


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise FormatError(f"the handoff's manifest is malformed: {what}", code="bad_manifest")


def _opt_str(d: dict[str, Any], key: str) -> None:
    _expect(d.get(key) is None or isinstance(d.get(key), str), f"{key} must be a string")


def validate_manifest(manifest: Any, records: list[tuple[str, int, str]]) -> None:
    """Check the manifest's shape and that its file list is exactly the archive's records."""
    _expect(isinstance(manifest, dict), "not an object")
    _expect(manifest.get("format") == FORMAT, f"unsupported manifest format {manifest.get('format')!r}")
    _expect(isinstance(manifest.get("tool"), str) and manifest["tool"].isidentifier(), "tool")
    src = manifest.get("source")
    _expect(isinstance(src, dict), "source")
    _expect(src.get("os_flavor") in ("posix", "windows"), "source.os_flavor")
    _expect(isinstance(src.get("repo_root"), str) and bool(src["repo_root"]), "source.repo_root")
    for k in ("home", "tool_home", "hostname"):
        _opt_str(src, k)
    _expect(isinstance(src.get("adapter_meta", {}), dict), "source.adapter_meta")
    repo = manifest.get("repo")
    _expect(isinstance(repo, dict), "repo")
    _expect(
        isinstance(repo.get("remotes"), list) and all(isinstance(r, str) for r in repo["remotes"]), "repo.remotes"
    )
    sessions = manifest.get("sessions")
    _expect(isinstance(sessions, list), "sessions")
    listed: list[tuple[str, int, str]] = []
    ids: set[str] = set()
    for s in sessions:
        _expect(isinstance(s, dict), "session entry")
        sid = s.get("id")
        # Ids become file names, glob-free lookups and words of the printed resume command: letters, digits
        # and ._:+@- only (every tool's ids are UUID-like), so no "*", no newline, no "; rm -rf ~".
        _expect(isinstance(sid, str) and _SESSION_ID.fullmatch(sid) is not None, "session id")
        _expect(sid not in ids, f"duplicate session id {sid!r}")
        ids.add(sid)
        cwd_rel = s.get("cwd_rel", "")
        _expect(isinstance(cwd_rel, str), "cwd_rel")
        if cwd_rel:
            safe_arcname(cwd_rel)
        for k in ("title", "last_activity", "tool_version"):
            _opt_str(s, k)
        _expect(s.get("lines") is None or isinstance(s.get("lines"), int), "lines")
        _expect(isinstance(s.get("meta", {}), dict), "meta")
        files = s.get("files")
        _expect(isinstance(files, list) and files, "session files")
        transcripts = 0
        for f in files:
            _expect(isinstance(f, dict), "file entry")
            _expect(isinstance(f.get("arcname"), str), "file arcname")
            _expect(isinstance(f.get("size"), int) and f["size"] >= 0, "file size")
            _expect(isinstance(f.get("sha256"), str), "file sha256")
            _expect(f.get("role") in ("transcript", "sidecar"), "file role")
            transcripts += f["role"] == "transcript"
            listed.append((f["arcname"], f["size"], f["sha256"]))
        _expect(transcripts == 1, "each session needs exactly one transcript")
    _expect(sorted(listed) == sorted(records), "its file list does not match the archive's files")


def staged_size(paths: dict[str, Path]) -> int:
    return sum(os.path.getsize(p) for p in paths.values())
