"""The inner archive: the plaintext inside the container (docs/FORMAT.md, "Archive").

Version 2 (written by this version):

    archive  = "SAISARC2" manifest_record file_record* end_record EOF
    manifest = 0x4D ('M') len(u32 BE) JSON(UTF-8)         lists every file: arcname, size, role, in order
    file     = 0x46 ('F') name_len(u16 BE) name(UTF-8) size(u64 BE) data(size)
    end      = 0x45 ('E')

The manifest comes first, so `receive` knows every session's rules before the data arrives and rewrites
each file while it decrypts, in one pass, straight into its staged place.  Files follow in exactly the
manifest's order with the manifest's names and sizes; anything else is refused.  The container's AEAD
authenticates every byte, so there is no per-file digest.

Version 1 (read only, for handoffs made by earlier versions): manifest last, each file record followed by
sha256(data):

    archive  = "SAISARC1" file_record* manifest_record EOF
    file     = 0x46 ('F') name_len(u16 BE) name(UTF-8) size(u64 BE) data(size) sha256(data)(32)

The reader never uses a name from the payload as a path: file data is staged under numbered names, and
names are checked against the rules in `safe_arcname` before anything is handed on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sync_ai_sessions import osops
from sync_ai_sessions.errors import FormatError, IOFailure, UnsafePayloadError
from sync_ai_sessions.gitwork import CARRY_PREFIX, carry_files, validate_git_manifest

ARCHIVE_MAGIC = b"SAISARC2"
ARCHIVE_MAGIC_V1 = b"SAISARC1"
FORMAT = 2
MAX_FILES = 200_000
MAX_NAME = 4096
MAX_MANIFEST = 256 << 20
_BLOCK = 1 << 20
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_CONTROL = re.compile(r"[\x00-\x1f]")  # one search per name, not a generator step per character
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+@-]{0,199}")


def safe_arcname(name: str) -> str:
    """Return `name` if it is a safe relative POSIX name, else raise UnsafePayloadError."""
    bad = (
        not name
        or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME
        or name.startswith("/")
        or "\\" in name
        or _CONTROL.search(name) is not None
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
    """Writes a version 2 archive: the manifest first, then each file it lists, in its order."""

    def __init__(self, sink: BinaryIO | None, manifest: dict[str, Any]):
        """With `sink` None, the manifest is checked and encoded now and written by `start(sink)`: a send
        prepares it while the key is still being derived (thousands of sessions: a tenth of a second)."""
        self._expected = [(f["arcname"], f["size"]) for s in manifest["sessions"] for f in s["files"]]
        self._expected += carry_files(manifest)
        self._next = 0
        for name, _ in self._expected:
            safe_arcname(name)
        data = json.dumps(manifest, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._head = ARCHIVE_MAGIC + b"M" + _U32.pack(len(data)) + data
        if sink is not None:
            self.start(sink)

    def start(self, sink: BinaryIO) -> None:
        """Write the manifest to `sink`, where every file goes next."""
        self._sink = sink
        sink.write(self._head)
        self._head = b""

    def add_file(self, arcname: str, source: Path | str, size: int, *,
                 progress: Callable[[int], None] | None = None,
                 tap: Callable[[bytes], None] | None = None,
                 data: bytes | None = None) -> os.stat_result | None:
        """Copy exactly `size` bytes of `source` (a growing append-only file is cut at `size`), or the bytes
        `data` when given; `tap`, if given, also gets every block, in order (send's secret scan reads what
        is packed).  Returns the file's status taken after its bytes were read (None for `data`): the key
        under which the scan may remember what it found."""
        if self._next >= len(self._expected) or self._expected[self._next] != (arcname, size):
            raise ValueError(f"{arcname} ({size} bytes) is not the manifest's next file")
        self._next += 1
        name = arcname.encode("utf-8")
        head = b"F" + _U16.pack(len(name)) + name + _U64.pack(size)
        if data is not None:
            if len(data) != size:
                raise ValueError(f"{arcname}: {len(data)} bytes given for {size}")
            self._put(head, [data] if data else [], progress, tap)
            return None
        # A raw descriptor, not a buffered file object: thousands of small sessions, each opened once here.
        fd = osops.open_read(source)
        try:
            if size <= _BLOCK:  # one read (and so one block) for a small file
                block = os.read(fd, size) if size else b""
                if len(block) < size:
                    block += _read_rest(fd, size - len(block), source)
                st = os.fstat(fd)
                self._put(head, [block] if block else [], progress, tap)
                return st
            self._sink.write(head)
            left = size
            while left:
                block = os.read(fd, min(_BLOCK, left))
                if not block:
                    raise IOFailure(f"{source} shrank while it was being read; try again")
                self._emit(block, progress, tap)
                left -= len(block)
            return os.fstat(fd)
        finally:
            os.close(fd)

    def _put(self, head: bytes, blocks: list[bytes], progress: Callable[[int], None] | None,
             tap: Callable[[bytes], None] | None) -> None:
        self._sink.write(head)
        for block in blocks:
            self._emit(block, progress, tap)

    def _emit(self, block: bytes, progress: Callable[[int], None] | None,
              tap: Callable[[bytes], None] | None) -> None:
        self._sink.write(block)
        if tap:
            tap(block)
        if progress:
            progress(len(block))

    def finish(self) -> None:
        if self._next != len(self._expected):
            raise ValueError("not every file of the manifest was written")
        self._sink.write(b"E")


def _read_rest(fd: int, n: int, source: Path | str) -> bytes:
    """The next `n` bytes of the open file `fd` (a short read is retried; a file that ends early shrank)."""
    parts = []
    while n:
        b = os.read(fd, n)
        if not b:
            raise IOFailure(f"{source} shrank while it was being read; try again")
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def _read_exact(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise FormatError("the handoff's archive ends early", code="truncated")
    return data


def _read_manifest(src: Any) -> Any:
    (mlen,) = _U32.unpack(_read_exact(src, 4))
    if mlen > MAX_MANIFEST:
        raise FormatError("the handoff's manifest is too large", code="too_large")
    try:
        return json.loads(_read_exact(src, mlen).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FormatError("the handoff's manifest is not valid JSON", code="format") from None
    except RecursionError:  # "[[[[...": nesting deeper than the JSON decoder's stack
        raise FormatError("the handoff's manifest is nested too deeply", code="format") from None


class ArchiveReader:
    """Reads an archive of either version from `src`, a DecryptReader (authenticated plaintext).

    Version 2: `manifest` is read and validated on opening; `entries()` then hands out each file's bytes in
    the manifest's order and checks the end of the archive.  Version 1 (manifest last): `manifest` is None
    until `stage_all()` has read and checked everything.  Any inconsistency raises FormatError / UnsafePayloadError.
    """

    def __init__(self, src: Any):
        self._src = src
        magic = _read_exact(src, len(ARCHIVE_MAGIC))
        self.manifest: dict[str, Any] | None = None
        self._left = 0
        # Carried work (names under CARRY_PREFIX) never reaches an adapter: `entries()` writes it into
        # `carry_dir` when the caller set one (receive --with-changes), else skips it; see `carried`.
        self.carry_dir: Path | None = None
        self.carried: dict[str, Path] = {}
        if magic == ARCHIVE_MAGIC:
            self.version = 2
            if src.read(1) != b"M":
                raise FormatError("the handoff's archive does not start with its manifest", code="format")
            manifest = _read_manifest(src)
            validate_manifest(manifest, None, version=2)
            self.manifest = manifest
        elif magic == ARCHIVE_MAGIC_V1:
            self.version = 1
        else:
            raise FormatError("the decrypted payload is not a sync-ai-sessions archive", code="format")

    def entries(self) -> Iterator[tuple[str, Iterator[bytes]]]:
        """(arcname, blocks) for every file, in the manifest's order; each file's blocks must be read
        (or are skipped) before the next is handed out.  Ends after checking the end record."""
        assert self.manifest is not None and self.version == 2
        src = self._src
        expected = [(f["arcname"], f["size"]) for s in self.manifest["sessions"] for f in s["files"]]
        expected += carry_files(self.manifest)
        for i, (name, size) in enumerate(expected):
            kind = src.read(1)
            if kind != b"F":
                if not kind:
                    raise FormatError("the handoff's archive ends early", code="truncated")
                raise FormatError("the handoff's archive does not hold the files its manifest lists", code="format")
            (nlen,) = _U16.unpack(_read_exact(src, 2))
            raw = _read_exact(src, nlen)
            (rsize,) = _U64.unpack(_read_exact(src, 8))
            if raw != name.encode("utf-8") or rsize != size:
                raise FormatError(f"file {i} of the handoff does not match its manifest", code="format")
            self._left = size
            if name.startswith(CARRY_PREFIX):
                self._carry(name)
                continue
            yield name, self._blocks()
            while self._left:
                next(self._blocks())
        kind = src.read(1)
        if kind != b"E":
            if not kind:
                raise FormatError("the handoff's archive ends early", code="truncated")
            raise FormatError("the handoff's archive has more files than its manifest lists", code="format")
        if src.read(1) != b"" or not getattr(src, "at_eof", True):
            raise FormatError("the handoff has data after its end", code="format")

    def _carry(self, name: str) -> None:
        if self.carry_dir is None:
            for _ in self._blocks():
                pass
            return
        path = self.carry_dir / f"c{len(self.carried):02d}"
        try:
            with open(path, "wb") as out:
                for block in self._blocks():
                    out.write(block)
        except OSError as exc:
            raise IOFailure(f"cannot stage the carried work in {self.carry_dir}: {exc.strerror or exc}") from exc
        self.carried[name] = path

    def _blocks(self) -> Iterator[bytes]:
        read = getattr(self._src, "read1", self._src.read)  # DecryptReader.read1: blocks as they come
        while self._left:
            block = read(min(_BLOCK, self._left))
            if not block:
                raise FormatError("the handoff's archive ends inside a file", code="truncated")
            self._left -= len(block)
            yield block

    def stage_all(self, staging: Path, *, progress: Callable[[int], None] | None = None
                  ) -> tuple[dict[str, Any], dict[str, Path]]:
        """Write every file as it is to `staging` (numbered names); return the manifest and the staged files."""
        if self.version == 1:
            return self._stage_v1(staging, progress)
        assert self.manifest is not None
        staged: dict[str, Path] = {}
        for name, blocks in self.entries():
            path = staging / f"f{len(staged):06d}"
            try:
                with open(path, "wb") as out:
                    for block in blocks:
                        out.write(block)
                        if progress:
                            progress(len(block))
            except OSError as exc:
                raise IOFailure(f"cannot stage the handoff in {staging}: {exc.strerror or exc}") from exc
            staged[name] = path
        return self.manifest, staged

    def _stage_v1(self, staging: Path, progress: Callable[[int], None] | None
                  ) -> tuple[dict[str, Any], dict[str, Path]]:
        src = self._src
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
                manifest = _read_manifest(src)
                if src.read(1) != b"" or not getattr(src, "at_eof", True):
                    raise FormatError("the handoff has data after its manifest", code="format")
                validate_manifest(manifest, records, version=1)
                self.manifest = manifest
                return manifest, staged
            elif kind == b"":
                raise FormatError("the handoff's archive ends before its manifest", code="truncated")
            else:
                raise FormatError("the handoff's archive has an unknown record", code="format")


def read_archive(
    src: Any, staging: Path, *, progress: Callable[[int], None] | None = None
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Stage every file of the archive read from `src`; return the validated manifest and the staged files."""
    return ArchiveReader(src).stage_all(staging, progress=progress)


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise FormatError(f"the handoff's manifest is malformed: {what}", code="bad_manifest")


def _opt_str(d: dict[str, Any], key: str) -> None:
    _expect(d.get(key) is None or isinstance(d.get(key), str), f"{key} must be a string")


def validate_manifest(manifest: Any, records: list[tuple[str, int, str]] | None, *, version: int = FORMAT) -> None:
    """Check the manifest's shape; in version 1 also that its file list is exactly the archive's records
    (in version 2 the records are checked against the manifest as they are read)."""
    _expect(isinstance(manifest, dict), "not an object")
    _expect(manifest.get("format") == version, f"unsupported manifest format {manifest.get('format')!r}")
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
            if version == 1:
                _expect(isinstance(f.get("sha256"), str), "file sha256")
            _expect(f.get("role") in ("transcript", "sidecar"), "file role")
            transcripts += f["role"] == "transcript"
            listed.append((f["arcname"], f["size"], f.get("sha256", "")))
        _expect(transcripts == 1, "each session needs exactly one transcript")
    if records is not None:
        _expect(sorted(listed) == sorted(records), "its file list does not match the archive's files")
        return
    _expect(not any(name.startswith(CARRY_PREFIX) for name, _, _ in listed),
            f"session files may not use the reserved name {CARRY_PREFIX}")
    try:
        validate_git_manifest(manifest.get("git"))
    except ValueError as exc:
        _expect(False, str(exc))
    listed += [(name, size, "") for name, size in carry_files(manifest)]
    if len(listed) > MAX_FILES:
        raise FormatError(f"the handoff holds more than {MAX_FILES} files; refusing it", code="too_large")
    folded: set[str] = set()
    for name, _, _ in listed:
        safe_arcname(name)
        key = fold_key(name)
        if key in folded:
            raise UnsafePayloadError(f"refusing duplicate (or case/Unicode-colliding) file name {name!r}")
        folded.add(key)


def staged_size(paths: dict[str, Path]) -> int:
    return sum(os.path.getsize(p) for p in paths.values())
