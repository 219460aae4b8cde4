"""The gist transport: the ciphertext goes to secret gists in the user's own account, through `gh api`.

Layout of one handoff (nothing but the ciphertext's base64, generic names and a fixed marker):

* the *handoff gist* (its id is what `receive --gist` takes), description `sync-ai-sessions handoff`,
  holds `index.json` and the first parts `part-0001.txt` ... `part-0010.txt`;
* when the payload needs more than 10 parts, *part gists* (description `sync-ai-sessions handoff part`)
  each hold the next 10 parts.

Each part is the base64 of 720,000 ciphertext bytes (960,000 characters), so every file stays under the
API's 1 MB inline limit, and a gist request body stays under ~10 MB. `index.json` holds only counts,
sizes and SHA-256 hashes of the ciphertext parts, plus the ids of the part gists: no names, paths,
hosts or users. All gists are secret (`public: false`).

Reading: a file whose content comes back `truncated` (or shorter than its size) is read again from its
`raw_url`; every part's size and hash is checked, in order, before the file is handed to the container.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops
from sync_ai_sessions.errors import AuthError, FormatError, IOFailure, NotFoundError, SyncError, UsageError
from sync_ai_sessions.gh import Gh, GhResponse, require_gh_for_gists
from sync_ai_sessions.transports.base import Progress, Stored, Transport

MARKER = "sync-ai-sessions handoff"
PART_MARKER = "sync-ai-sessions handoff part"
INDEX_NAME = "index.json"
INDEX_FORMAT = "sync-ai-sessions/gist-index"
INDEX_VERSION = 1
PART_SIZE = 720_000  # ciphertext bytes per file -> 960,000 base64 chars (< 1 MB inline limit)
PARTS_PER_GIST = 10  # ~9.6 MB per request body, far below the 300-file listing limit
MAX_SIZE = 512 * 1024 * 1024  # ~75 gists; beyond that GitHub's content-creation limits bite
GIST_ID = re.compile(r"[0-9a-fA-F]{8,64}")


def part_name(n: int) -> str:
    return f"part-{n:04d}.txt"


def parse_gist_ref(ref: str) -> str:
    """A gist id, or a gist URL ending in one; anything else is a clear error (and never reaches argv)."""
    text = ref.strip().rstrip("/")
    if text.endswith(".git"):
        text = text[:-4]
    candidate = text.rsplit("/", 1)[-1]
    if not GIST_ID.fullmatch(candidate):
        raise NotFoundError(
            f"{ref!r} is not a gist id (expected the hex id that send printed)", code="bad_gist_id"
        )
    return candidate.lower()


@dataclass
class Handoff:
    """One of our gists as `list` shows it: nothing decrypted."""

    id: str
    created_at: str
    age_seconds: int
    size: int | None  # ciphertext bytes, from the index (None if unreadable)
    parts: int | None
    gists: list[str] = field(default_factory=list)  # part gists
    url: str | None = None
    kind: str = "handoff"  # "handoff" | "orphan-part"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _age(created_at: str, now: datetime | None = None) -> int:
    try:
        ts = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return 0
    return max(0, int(((now or datetime.now(UTC)) - ts).total_seconds()))


class GistTransport(Transport):
    kind = "gist"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        hostname: str | None = None,
        check: bool = True,
        part_size: int = PART_SIZE,
        parts_per_gist: int = PARTS_PER_GIST,
        max_size: int = MAX_SIZE,
        workers: int | None = None,
    ):
        self.env = dict(os.environ if env is None else env)
        self.hostname = hostname
        self.gh = Gh(self.env, hostname)
        self.check = check
        self.part_size = part_size
        self.parts_per_gist = parts_per_gist
        self.max_size = max_size
        if workers is None:
            try:
                workers = int(self.env.get("SYNC_AI_SESSIONS_GIST_WORKERS", "4"))
            except ValueError:
                workers = 4
        self.workers = max(1, workers)

    @property
    def host(self) -> str:
        return self.gh.host

    # ---------------------------------------------------------------------------------- upload --
    def preflight(self) -> None:
        """gh installed, logged in, with the gist scope: checked before the passphrase is asked."""
        if self.check:
            require_gh_for_gists(self.env, self.hostname)
            self.check = False

    def upload(self, payload: Path, *, progress: Progress | None = None) -> Stored:
        payload = Path(payload)
        try:
            size = payload.stat().st_size
        except OSError as exc:
            raise IOFailure(f"cannot read {payload}: {exc.strerror or exc}") from exc
        if size > self.max_size:
            raise UsageError(
                f"this handoff is {size / 1e6:.0f} MB, more than the {self.max_size / 1e6:.0f} MB that gists "
                "carry reliably: send it with --to FILE instead",
                code="too_large",
            )
        if self.check:
            require_gh_for_gists(self.env, self.hostname)
        nparts = -(-size // self.part_size)
        numbers = list(range(1, nparts + 1))
        groups = [numbers[i : i + self.parts_per_gist] for i in range(0, nparts, self.parts_per_gist)] or [[]]
        created: list[str] = []
        lock = threading.Lock()
        metas: dict[int, dict[str, Any]] = {}
        done = 0
        try:
            with tempfile.TemporaryDirectory(prefix="sais-gist-") as td:
                tdir = Path(td)
                extra_ids: list[str | None] = [None] * (len(groups) - 1)
                if len(groups) > 1:
                    with ThreadPoolExecutor(self.workers) as pool:
                        futs = {
                            pool.submit(
                                self._post_group, payload, tdir, g, PART_MARKER, None, created, lock
                            ): k
                            for k, g in enumerate(groups[1:])
                        }
                        failure: BaseException | None = None
                        for fut in as_completed(futs):
                            try:
                                gid, gm = fut.result()
                            except BaseException as exc:  # remember the first, let the rest finish
                                if failure is None:
                                    failure = exc
                                    for other in futs:
                                        other.cancel()
                                continue
                            extra_ids[futs[fut]] = gid
                            for m in gm:
                                metas[m["n"]] = m
                                done += m["size"]
                            if progress:
                                progress(done, size)
                        if failure is not None:
                            raise failure

                def index_text(first: list[dict[str, Any]]) -> str:
                    for m in first:
                        metas[m["n"]] = m
                    parts = []
                    for n in numbers:
                        m = metas[n]
                        k = (n - 1) // self.parts_per_gist
                        parts.append(
                            {"file": part_name(n), "gist": k, "size": m["size"], "sha256": m["sha256"]}
                        )
                    return json.dumps(
                        {
                            "format": INDEX_FORMAT,
                            "version": INDEX_VERSION,
                            "encoding": "base64",
                            "size": size,
                            "part_size": self.part_size,
                            "gists": extra_ids,
                            "parts": parts,
                        },
                        separators=(",", ":"),
                    )

                main_id, _first = self._post_group(
                    payload, tdir, groups[0], MARKER, index_text, created, lock
                )
                if progress:
                    progress(size, size)
        except BaseException:
            self._cleanup(created)
            raise
        return Stored(
            ref=main_id,
            kind="gist",
            size=size,
            extra={
                "url": self._html_url(main_id),
                "gists": [main_id, *extra_ids],
                "parts": nparts,
                "host": self.host,
            },
        )

    def _html_url(self, gid: str) -> str:
        host = self.host
        return f"https://gist.github.com/{gid}" if host == "github.com" else f"https://{host}/gist/{gid}"

    def _post_group(
        self,
        payload: Path,
        tdir: Path,
        numbers: list[int],
        description: str,
        index_text: Callable[[list[dict[str, Any]]], str] | None,
        created: list[str],
        lock: threading.Lock,
    ) -> tuple[str, list[dict[str, Any]]]:
        """Write one gist's JSON body to a temp file (streamed, one part in memory) and POST it."""
        fd, name = tempfile.mkstemp(dir=tdir, suffix=".json")
        body = Path(name)
        metas = []
        try:
            with os.fdopen(fd, "wb") as out, open(payload, "rb") as src:
                out.write(
                    b'{"description":' + json.dumps(description).encode() + b',"public":false,"files":{'
                )
                first = True
                for n in numbers:
                    src.seek((n - 1) * self.part_size)
                    chunk = src.read(self.part_size)
                    metas.append({"n": n, "size": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
                    if not first:
                        out.write(b",")
                    first = False
                    out.write(b'"' + part_name(n).encode() + b'":{"content":"')
                    out.write(base64.b64encode(chunk))
                    out.write(b'"}')
                if index_text is not None:
                    if not first:
                        out.write(b",")
                    out.write(
                        b'"'
                        + INDEX_NAME.encode()
                        + b'":{"content":'
                        + json.dumps(index_text(metas)).encode()
                        + b"}"
                    )
                out.write(b"}}")
            resp = self.gh.api("gists", method="POST", input_path=body)
        except OSError as exc:
            raise IOFailure(f"cannot prepare the gist upload: {exc.strerror or exc}") from exc
        finally:
            body.unlink(missing_ok=True)
        if resp.status == 404:
            raise AuthError(
                f"GitHub ({self.host}) refused to create a gist; gh's login probably lacks the "
                f"`gist` scope: run `{_scope_fix(self.host)}`",
                code="gh_no_gist_scope",
                hint=_scope_fix(self.host),
            )
        if not resp.ok:
            raise self.gh.error_for(resp)
        try:
            doc = resp.json()
            gid = doc["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SyncError(
                f"GitHub ({self.host}) answered the gist upload with something unexpected"
            ) from exc
        with lock:
            created.append(gid)
        if doc.get("public") is not False:
            raise SyncError(
                f"GitHub ({self.host}) created a public gist although a secret one was asked for; "
                "it was deleted"
            )
        return gid, metas

    def _cleanup(self, ids: list[str]) -> None:
        for gid in ids:
            with contextlib.suppress(SyncError):  # best effort; `prune` finds leftovers by their marker
                self.gh.api(f"gists/{gid}", method="DELETE")

    # -------------------------------------------------------------------------------- download --
    def _get(self, gid: str, not_found: str) -> dict[str, Any]:
        resp = self.gh.api_ok(f"gists/{gid}", not_found=not_found)
        try:
            doc = resp.json()
        except ValueError as exc:
            raise FormatError(f"GitHub ({self.host}) returned unreadable data for gist {gid}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
            raise FormatError(f"GitHub ({self.host}) returned unexpected data for gist {gid}")
        return doc

    def _text(self, doc: dict[str, Any], name: str, what: str) -> str:
        entry = doc["files"].get(name)
        if not isinstance(entry, dict):
            raise FormatError(f"{what} is incomplete: {name} is missing", code="incomplete")
        content = entry.get("content")
        size = entry.get("size")
        if (
            isinstance(content, str)
            and not entry.get("truncated")
            and (not isinstance(size, int) or len(content.encode()) == size)
        ):
            return content
        raw = entry.get("raw_url")
        if not isinstance(raw, str) or not raw.startswith("https://"):
            raise FormatError(f"{what}: {name} is truncated and has no raw_url", code="incomplete")
        resp = self.gh.api_ok(raw, not_found=f"{what}: {name} is gone (the gist was deleted meanwhile?)")
        try:
            return resp.body.decode("ascii")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{what}: {name} is not base64 text", code="corrupt") from exc

    def _read_index(self, gid: str, doc: dict[str, Any]) -> dict[str, Any]:
        what = f"gist {gid}"
        if doc.get("description") != MARKER or INDEX_NAME not in doc["files"]:
            raise FormatError(f"gist {gid} is not a sync-ai-sessions handoff", code="not_ours")
        try:
            index = json.loads(self._text(doc, INDEX_NAME, what))
        except ValueError as exc:
            raise FormatError(f"gist {gid} has an unreadable index", code="not_ours") from exc
        return validate_index(index, gid)

    def download(self, ref: str, dest: Path, *, progress: Progress | None = None) -> None:
        gid = parse_gist_ref(ref)
        dest = Path(dest)
        main = self._get(
            gid,
            f"gist {gid} not found on {self.host}: check the id; it may have been deleted "
            "or belong to an account gh is not logged in to",
        )
        index = self._read_index(gid, main)
        size = index["size"]
        by_gist: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        offset = 0
        for _i, p in enumerate(index["parts"]):
            by_gist.setdefault(p["gist"], []).append((offset, p))
            offset += p["size"]
        tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
        lock = threading.Lock()
        done = 0
        total_parts = len(index["parts"])

        def fetch(k: int) -> int:
            if k == 0:
                doc = main
                what = f"handoff gist {gid}"
            else:
                pid = index["gists"][k - 1]
                what = f"part gist {pid} of handoff {gid}"
                doc = self._get(
                    pid, f"{what} is gone: the handoff was deleted or is incomplete; send it again"
                )
                if doc.get("description") != PART_MARKER:
                    raise FormatError(f"{what} is not a sync-ai-sessions handoff part", code="not_ours")
            got = 0
            for off, p in by_gist[k]:
                text = self._text(doc, p["file"], what)
                try:
                    data = base64.b64decode(text, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise FormatError(f"{what}: {p['file']} is not valid base64", code="corrupt") from exc
                if len(data) != p["size"] or hashlib.sha256(data).hexdigest() != p["sha256"]:
                    n = int(p["file"][5:-4])
                    raise FormatError(
                        f"{what}: part {n} of {total_parts} does not match its size/hash "
                        "(damaged or replaced)",
                        code="corrupt",
                    )
                osops.pwrite(fd, data, off)
                got += len(data)
            return got

        try:
            fd = osops.open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise IOFailure(f"cannot write {tmp.parent}: {exc.strerror or exc}") from exc
        try:
            try:
                os.ftruncate(fd, size)
                with ThreadPoolExecutor(self.workers) as pool:
                    futs = [pool.submit(fetch, k) for k in sorted(by_gist)]
                    try:
                        for fut in as_completed(futs):
                            got = fut.result()
                            with lock:
                                done += got
                            if progress:
                                progress(done, size)
                    except BaseException:
                        for f in futs:
                            f.cancel()
                        raise
                if done != size:
                    raise FormatError(
                        f"handoff gist {gid} is incomplete ({done} of {size} bytes)", code="incomplete"
                    )
                osops.fsync(fd)
            finally:
                os.close(fd)
            osops.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise IOFailure(f"cannot write {dest}: {exc.strerror or exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------------ list/delete/prune --
    def _our_gists(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = "gists?per_page=100"
        for _ in range(1000):
            if not url:
                break
            resp = self.gh.api_ok(url)
            try:
                page = resp.json()
            except ValueError as exc:
                raise FormatError(f"GitHub ({self.host}) returned an unreadable gist list") from exc
            out += [g for g in page if isinstance(g, dict) and g.get("description") in (MARKER, PART_MARKER)]
            url = _next_link(resp)
        return out

    def list_handoffs(self) -> list[Handoff]:
        """Our gists, newest first, with ciphertext size and age; nothing is decrypted."""
        gists = self._our_gists()
        mains = [g for g in gists if g.get("description") == MARKER]
        now = datetime.now(UTC)

        def info(g: dict[str, Any]) -> Handoff:
            h = Handoff(
                id=g["id"],
                created_at=g.get("created_at", ""),
                age_seconds=_age(g.get("created_at"), now),
                size=None,
                parts=None,
                url=g.get("html_url"),
            )
            entry = (g.get("files") or {}).get(INDEX_NAME) or {}
            raw = entry.get("raw_url")
            if isinstance(raw, str) and raw.startswith("https://"):
                try:
                    resp = self.gh.api_ok(raw)
                    index = validate_index(json.loads(resp.body), g["id"])
                    h.size, h.parts, h.gists = index["size"], len(index["parts"]), list(index["gists"])
                except (SyncError, ValueError):
                    pass
            return h

        with ThreadPoolExecutor(self.workers) as pool:
            out = list(pool.map(info, mains))
        referenced = {pid for h in out for pid in h.gists}
        for g in gists:
            if g.get("description") == PART_MARKER and g["id"] not in referenced:
                size = sum(int(f.get("size") or 0) for f in (g.get("files") or {}).values()) * 3 // 4
                out.append(
                    Handoff(
                        id=g["id"],
                        created_at=g.get("created_at", ""),
                        age_seconds=_age(g.get("created_at"), now),
                        size=size,
                        parts=None,
                        url=g.get("html_url"),
                        kind="orphan-part",
                    )
                )
        out.sort(key=lambda h: (h.created_at, h.id), reverse=True)
        return out

    def delete(self, ref: str) -> list[str]:
        """Delete one handoff (its handoff gist and part gists) or a leftover part gist; returns the ids."""
        gid = parse_gist_ref(ref)
        doc = self._get(gid, f"gist {gid} not found on {self.host}: check the id; it may be deleted already")
        desc = doc.get("description")
        if desc == PART_MARKER:
            self._delete_one(gid, missing_ok=False)
            return [gid]
        if desc != MARKER:
            raise FormatError(
                f"gist {gid} is not a sync-ai-sessions handoff; not deleting it", code="not_ours"
            )
        try:
            parts = list(self._read_index(gid, doc)["gists"])
        except FormatError:
            parts = []  # a damaged index: still delete the handoff gist itself
        for pid in parts:
            self._delete_one(pid, missing_ok=True)
        self._delete_one(gid, missing_ok=False)
        return [*parts, gid]

    def _delete_one(self, gid: str, *, missing_ok: bool) -> None:
        resp = self.gh.api(f"gists/{gid}", method="DELETE")
        if resp.ok or (resp.status == 404 and missing_ok):
            return
        raise self.gh.error_for(resp, not_found=f"gist {gid} not found on {self.host}")

    def prune(self, older_than_days: float, *, dry_run: bool = False) -> list[Handoff]:
        """Delete our handoffs (and leftover part gists) created more than `older_than_days` days ago."""
        limit = older_than_days * 86400
        victims = [h for h in self.list_handoffs() if h.age_seconds > limit]
        if not dry_run:
            for h in victims:
                for pid in h.gists:
                    self._delete_one(pid, missing_ok=True)
                self._delete_one(h.id, missing_ok=True)
        return victims


def _scope_fix(host: str) -> str:
    return "gh auth refresh -s gist" if host == "github.com" else f"gh auth refresh --hostname {host} -s gist"


def _next_link(resp: GhResponse) -> str | None:
    for part in resp.headers.get("link", "").split(","):
        m = re.match(r'\s*<([^>]+)>\s*;\s*rel="next"', part)
        if m:
            return m.group(1)
    return None


def validate_index(index: Any, gid: str) -> dict[str, Any]:
    """Check the index is ours and self-consistent: parts numbered in order, sizes adding up."""
    bad = FormatError(f"gist {gid} has an index this version does not understand", code="not_ours")
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise bad
    if index.get("version") != INDEX_VERSION or index.get("encoding") != "base64":
        raise FormatError(
            f"gist {gid} uses handoff index version {index.get('version')!r}; upgrade sync-ai-sessions",
            code="unsupported_version",
        )
    size, parts, gists = index.get("size"), index.get("parts"), index.get("gists")
    if not isinstance(size, int) or size < 0 or not isinstance(parts, list) or not isinstance(gists, list):
        raise bad
    if not all(isinstance(g, str) and GIST_ID.fullmatch(g) for g in gists):
        raise bad
    total = 0
    for i, p in enumerate(parts, start=1):
        if (
            not isinstance(p, dict)
            or p.get("file") != part_name(i)
            or not isinstance(p.get("size"), int)
            or p["size"] <= 0
            or not isinstance(p.get("gist"), int)
            or not 0 <= p["gist"] <= len(gists)
            or not isinstance(p.get("sha256"), str)
            or not re.fullmatch(r"[0-9a-f]{64}", p["sha256"])
        ):
            raise bad
        total += p["size"]
    if total != size:
        raise bad
    return index
