"""The gist transport: the ciphertext goes to secret gists in the user's own account, through `gh api`.

What goes into the gists (part names and size, `index.json`, the markers) is `transports/gist_encoding.py`;
the kept state of an interrupted upload is `transports/saved_uploads.py`. This module is the transport
itself. It stays over 450 lines on purpose: it is one class whose upload, no-duplicate create, resume,
download and list/delete/prune share the same `Gh` session, host and saved-upload folder, and each half
reads the other's conventions (what `upload` records, `prune` and `resumable` rely on); cutting the
class in two would split one protocol across files without making either half simpler.

A handoff is at most `MAX_SIZE` (100 MB) of ciphertext unless the caller raises it
(`send --max-gist-mb`): see the README's size policy.

Uploading is serial and paced by `sync_ai_sessions.gh` and `ghpace` (one mutative request at a time, 1 s apart, one
back-off for the process): the part gists first, then the handoff gist whose index names them.

No duplicates: when a create's outcome is unknown (5xx, timeout, lost answer), the user's recent gists
are listed and one with our description, the same files and sizes, and the same content in one probe
file (a ciphertext part, or the index) is taken as ours; only if there is none is it created again.
The marker is the ciphertext itself: nothing readable is added.

Resumable: `scratch()` puts the ciphertext in a private folder of our config dir (`SavedUploads`);
`upload()` records there which part gists exist. If it stops on a network error, a rate limit or
Ctrl-C, both stay (`kept()`), `resumable(key=..., scope=...)` finds them again, and `upload()` of the
same payload continues: recorded gists still listed are reused, unrecorded ones are looked for by
their content, only the rest is created. Errors a retry cannot fix delete what was made. `prune`
removes the part gists and the local copies of uploads abandoned for longer than its age.

Reading: a file whose content comes back `truncated` or blank (GitHub blanks every file of a large
gist) is read again from its `raw_url`, on whatever host the API names (gist.githubusercontent.com,
GitHub Enterprise's `gist.HOST`); every part's size and hash is checked, in order, before the file is
handed to the container. At most `READ_WORKERS` part gists are fetched at once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync_ai_sessions import osops
from sync_ai_sessions.config import config_dir
from sync_ai_sessions.errors import (
    AuthError,
    FormatError,
    IOFailure,
    NetworkError,
    SyncError,
    UsageError,
)
from sync_ai_sessions.gh import Gh, GhResponse, OutcomeUnknown
from sync_ai_sessions.ghauth import fix_scope, require_gh_for_gists
from sync_ai_sessions.ghpace import PACE, PER_MINUTE
from sync_ai_sessions.transports.base import Handoff, Progress, Stored, Transport
from sync_ai_sessions.transports.gist_encoding import (
    GIST_ID,
    INDEX_NAME,
    MARKER,
    PART_MARKER,
    PART_SIZE,
    PARTS_PER_GIST,
    Expect,
    index_document,
    parse_gist_ref,
    validate_index,
    write_body,
)
from sync_ai_sessions.transports.saved_uploads import UPLOADS_DIR, Saved, SavedUploads

MAX_SIZE = 100_000_000  # the ceiling for gist handoffs (ciphertext bytes); see the README's size policy
READ_WORKERS = 3  # part gists fetched at once (GitHub: requests serially rather than concurrently)
CREATE_TRIES = 3  # POSTs of one gist whose outcome stays unknown before we stop (the send resumes later)
CLOCK_SLACK = 300  # seconds: the gist list is asked for gists updated since the upload began, minus this
RESUME_DAYS = 7  # an interrupted upload older than this is not continued (prune removes it)


def upload_seconds(
    size: int,
    uplink_bits_per_s: float,
    *,
    part_size: int = PART_SIZE,
    parts_per_gist: int = PARTS_PER_GIST,
    pace: float = PACE,
    per_minute: int = PER_MINUTE,
) -> float:
    """How long uploading `size` ciphertext bytes takes with our pacing (the README's figures).

    The request bodies (base64: 4/3 of the ciphertext, plus about 120 bytes of JSON per part) cross the
    uplink one after the other, with `pace` seconds between consecutive creates, and never more than
    `per_minute` creates in a minute. GitHub's own processing time is not included."""
    nparts = max(1, -(-size // part_size))
    ngists = -(-nparts // parts_per_gist)
    wire = 4 * -(-size // 3) + 120 * nparts + 100 * ngists
    total = wire * 8 / uplink_bits_per_s + (ngists - 1) * pace
    return max(total, 60.0 * ((ngists - 1) // per_minute))


def _parse_iso(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return None


def _age(created_at: str, now: datetime | None = None) -> int:
    try:
        ts = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return 0
    return max(0, int(((now or datetime.now(UTC)) - ts).total_seconds()))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
                workers = int(self.env.get("SYNC_AI_SESSIONS_GIST_WORKERS", str(READ_WORKERS)))
            except ValueError:
                workers = READ_WORKERS
        self.workers = max(1, workers)
        self.saved = SavedUploads(config_dir(self.env) / UPLOADS_DIR)

    @property
    def host(self) -> str:
        return self.gh.host

    # ---------------------------------------------------------------------------------- upload --
    def preflight(self) -> None:
        """gh installed, logged in, with the gist scope: checked before the passphrase is asked."""
        if self.check:
            require_gh_for_gists(self.env, self.hostname)
            self.check = False

    def scratch(self, staging: Path) -> Path:
        """The ciphertext goes where an interrupted upload is kept, so keeping it costs no copy."""
        for d in self.saved.leftovers(older_than=86400):
            shutil.rmtree(d, ignore_errors=True)
        return self.saved.new()

    def release(self, payload: Path) -> None:
        """After `send`: keep the ciphertext only when an interrupted upload can be continued from it."""
        saved = self.saved.load(Path(payload))
        if saved is None or saved.state.get("finished"):
            self.saved.discard(Path(payload))

    def kept(self, payload: Path) -> bool:
        """Whether `payload` is an interrupted upload kept to be continued."""
        saved = self.saved.load(Path(payload))
        return saved is not None and not saved.state.get("finished")

    def resumable(self, key: str | None = None, scope: str | None = None) -> Saved | None:
        """The newest kept upload to this host with this `key` (same sessions, same content), or with
        this `scope` (same tool and repo: `send --resume`); None if there is none."""
        limit = RESUME_DAYS * 86400
        for s in self.saved.all():
            if s.state.get("host") != self.host or _age(s.started) > limit:
                continue
            if (key and s.state.get("key") == key) or (scope and s.state.get("scope") == scope):
                return s
        return None

    def check_size(self, size: int) -> None:
        if size > self.max_size:
            raise UsageError(
                f"this handoff is {size / 1e6:.3g} MB of ciphertext, more than the {self.max_size / 1e6:.3g} MB "
                "ceiling for gist handoffs: send it with --to FILE instead (see the README's size policy)",
                code="too_large",
            )

    def upload(
        self,
        payload: Path,
        *,
        progress: Progress | None = None,
        key: str | None = None,
        scope: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> Stored:
        """Upload serially (paced by `Gh`): the part gists, then the handoff gist with the index.

        If it stops (network, Ctrl-C, rate limit) and `payload` is one of ours (`scratch`), what is
        uploaded stays and the state is kept: `upload` of the same payload continues it. Errors that a
        retry cannot fix delete what was made."""
        payload = Path(payload)
        try:
            size = payload.stat().st_size
        except OSError as exc:
            raise IOFailure(f"cannot read {payload}: {exc.strerror or exc}") from exc
        self.check_size(size)
        if self.check:
            require_gh_for_gists(self.env, self.hostname)
        saved = self.saved.load(payload)
        if saved is not None and (
            saved.state.get("size") != size
            or saved.state.get("part_size") != self.part_size
            or saved.state.get("parts_per_gist") != self.parts_per_gist
            or saved.state.get("host") != self.host
        ):
            saved = None  # not the same layout: start again (the old parts are left for `prune`)
        nparts = -(-size // self.part_size)
        numbers = list(range(1, nparts + 1))
        groups = [numbers[i : i + self.parts_per_gist] for i in range(0, nparts, self.parts_per_gist)] or [[]]
        resumed = saved is not None
        if saved is None:
            saved = Saved(
                payload,
                {
                    "version": 1,
                    "host": self.host,
                    "size": size,
                    "part_size": self.part_size,
                    "parts_per_gist": self.parts_per_gist,
                    "groups": len(groups),
                    "started": _iso(datetime.now(UTC).timestamp()),
                    "key": key,
                    "scope": scope,
                    "summary": summary or {},
                    "gists": {},
                },
            )
        keep = self.saved.owns(payload)
        if keep:
            self.saved.save(saved)
        done_ids: dict[str, str] = dict(saved.state.get("gists") or {})
        reused = 0
        started_ts = _parse_iso(saved.started) or datetime.now(UTC).timestamp()
        metas: dict[int, dict[str, Any]] = {}
        done_bytes = 0
        self.gh.context = lambda: f"{len(done_ids)} of {len(groups)} parts uploaded"
        created_now: list[str] = []
        try:
            with tempfile.TemporaryDirectory(prefix="sais-gist-") as td:
                tdir = Path(td)
                listed = self._recent(started_ts) if resumed else None
                extra_ids: list[str] = []
                for k, g in enumerate(groups[1:], start=1):
                    gid = done_ids.get(str(k))
                    if gid is not None and listed is not None and gid not in listed:
                        gid = None  # gone meanwhile (deleted by prune?): upload it again
                    body, gm, expect = write_body(payload, tdir, g, PART_MARKER, None, self.part_size)
                    try:
                        if gid is None and listed is not None:
                            found = self._find_created(expect, started_ts, listed)
                            gid = found["id"] if found else None
                        if gid is None:
                            doc = self._create(body, expect, started_ts)
                            gid = doc["id"]
                            created_now.append(gid)
                    finally:
                        body.unlink(missing_ok=True)
                    done_ids[str(k)] = gid
                    reused += gid not in created_now
                    if keep:
                        saved.state["gists"] = dict(done_ids)
                        self.saved.save(saved)
                    extra_ids.append(gid)
                    for m in gm:
                        metas[m["n"]] = m
                        done_bytes += m["size"]
                    if progress:
                        progress(done_bytes, size)

                def index_text(first: list[dict[str, Any]]) -> str:
                    for m in first:
                        metas[m["n"]] = m
                    return index_document(
                        size=size,
                        part_size=self.part_size,
                        parts_per_gist=self.parts_per_gist,
                        gists=extra_ids,
                        metas=[metas[n] for n in numbers],
                    )

                body, _first, expect = write_body(payload, tdir, groups[0], MARKER, index_text, self.part_size)
                try:
                    main = None
                    if listed is not None:
                        main = self._find_created(expect, started_ts, listed)
                    if main is None:
                        main = self._create(body, expect, started_ts)
                        created_now.append(main["id"])
                finally:
                    body.unlink(missing_ok=True)
                main_id = main["id"]
                if progress:
                    progress(size, size)
        except (NetworkError, KeyboardInterrupt) as exc:
            # Resumable: keep what is uploaded and the state; the next identical send continues it.
            # (Not ours to keep: delete what this call made, unless GitHub is rate-limiting us.)
            if not keep and getattr(exc, "code", None) != "rate_limited":
                self._cleanup(created_now)
            raise
        except BaseException:
            self._cleanup(created_now if not keep else list(done_ids.values()) + created_now)
            if keep:
                saved.state["finished"] = True
                self.saved.save(saved)
            raise
        finally:
            self.gh.context = None
        if keep:
            saved.state["finished"] = True
            self.saved.save(saved)
        url = main.get("html_url") if isinstance(main.get("html_url"), str) else None
        return Stored(
            ref=main_id,
            kind="gist",
            size=size,
            extra={
                "url": url or self._html_url(main_id),
                "gists": [main_id, *extra_ids],
                "parts": nparts,
                "host": self.host,
                **({"resumed": True, "gists_reused": reused} if resumed else {}),
            },
        )

    def _html_url(self, gid: str) -> str:
        """Only when the API gave no `html_url` (it always does): the usual address for the host."""
        host = self.host
        return f"https://gist.github.com/{gid}" if host == "github.com" else f"https://{host}/gist/{gid}"

    def _create(self, body: Path, expect: Expect, since: float) -> dict[str, Any]:
        """POST one gist. When the outcome is unknown (5xx, timeout, lost connection), look for the
        upload's own marker among the user's gists before creating again: no duplicates."""
        for attempt in range(1, CREATE_TRIES + 1):
            try:
                resp = self.gh.api("gists", method="POST", input_path=body, create=True)
            except OutcomeUnknown as exc:
                for wait in (0.0, 2.0):  # the list may lag a moment behind the create
                    if wait:
                        self.gh.sleep(wait * self.gh.backoff)
                    found = self._find_created(expect, since, self._recent(since))
                    if found:
                        return found
                if attempt == CREATE_TRIES:
                    raise NetworkError(
                        f"{exc.message}; gave up after {attempt} tries: run the same send again to continue, "
                        "or use --to FILE",
                        code="network",
                    ) from exc
                self.gh.sleep(min(2.0**attempt, 30.0) * self.gh.backoff)
                continue
            return self._created(resp)
        raise AssertionError("unreachable")

    def _created(self, resp: GhResponse) -> dict[str, Any]:
        if resp.status == 404:
            raise AuthError(
                f"GitHub ({self.host}) refused to create a gist; gh's login probably lacks the "
                f"`gist` scope: run `{fix_scope(self.host)}`",
                code="gh_no_gist_scope",
                hint=fix_scope(self.host),
            )
        if resp.status == 403:
            raise AuthError(
                f"GitHub ({self.host}) does not let this account create gists ({resp.message()[:120]}); "
                "enterprise managed user accounts cannot create gists: use --to FILE instead",
                code="gists_not_allowed",
                hint="sync-ai-sessions send --to FILE",
            )
        if resp.status == 413:
            raise UsageError(
                f"GitHub ({self.host}) refused a gist of this size (HTTP 413): use --to FILE instead",
                code="too_large",
            )
        if not resp.ok:
            raise self.gh.error_for(resp)
        try:
            doc = resp.json()
            gid = doc["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SyncError(f"GitHub ({self.host}) answered the gist upload with something unexpected") from exc
        if not isinstance(gid, str) or not GIST_ID.fullmatch(gid):
            raise SyncError(f"GitHub ({self.host}) answered the gist upload with something unexpected")
        if doc.get("public") is not False:
            with contextlib.suppress(SyncError):
                self.gh.api(f"gists/{gid}", method="DELETE")
            raise SyncError(
                f"GitHub ({self.host}) created a public gist although a secret one was asked for; "
                "it was deleted"
            )
        return doc

    def _recent(self, since: float) -> dict[str, dict[str, Any]]:
        """Our gists updated since `since` (minus a margin for clocks), by id, from the gist list."""
        listed = self._listed(f"gists?per_page=100&since={_iso(since - CLOCK_SLACK)}", pages=10)
        return {g["id"]: g for g in listed if isinstance(g.get("id"), str)}

    def _listed(self, url: str | None, *, pages: int) -> Iterator[dict[str, Any]]:
        """Our gists (handoffs and their parts) in the gist list from `url` on, following its next links
        for at most `pages` pages; entries that are not gist objects are passed over."""
        for _ in range(pages):
            if not url:
                break
            resp = self.gh.api_ok(url)
            try:
                page = resp.json()
            except ValueError as exc:
                raise FormatError(f"GitHub ({self.host}) returned an unreadable gist list") from exc
            for g in page if isinstance(page, list) else []:
                if isinstance(g, dict) and g.get("description") in (MARKER, PART_MARKER):
                    yield g
            url = _next_link(resp)

    def _find_created(
        self, expect: Expect, since: float, listed: dict[str, dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The listed gist that is exactly the one `expect` describes (same files and sizes, and the
        probe file's content matches: the ciphertext is the upload's own marker), else None."""
        for gid, g in listed.items():
            files = g.get("files") or {}
            if g.get("description") != expect.description or set(files) != set(expect.sizes):
                continue
            if any(not isinstance(f, dict) or f.get("size") != expect.sizes[name] for name, f in files.items()):
                continue
            raw = (files.get(expect.probe) or {}).get("raw_url")
            if not isinstance(raw, str) or not raw.startswith("https://"):
                continue
            try:
                resp = self.gh.api_ok(raw)
            except SyncError:
                continue
            if hashlib.sha256(resp.body).hexdigest() == expect.probe_sha256:
                return {"id": gid, "html_url": g.get("html_url")}
        return None

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
        return list(self._listed("gists?per_page=100", pages=1000))

    def list_handoffs(self) -> list[Handoff]:
        """Our gists, newest first, with ciphertext size and age; nothing is decrypted."""
        gists = self._our_gists()
        mains = [g for g in gists if g.get("description") == MARKER]
        now = datetime.now(UTC)

        def listed(g: dict[str, Any], size: int | None = None, kind: str = "handoff") -> Handoff:
            """The row of the gist `g` as the list shows it, before its index (if any) is read."""
            return Handoff(id=g["id"], created_at=g.get("created_at", ""), age_seconds=_age(g.get("created_at"), now),
                           size=size, parts=None, url=g.get("html_url"), kind=kind)

        def info(g: dict[str, Any]) -> Handoff:
            h = listed(g)
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
                out.append(listed(g, size, kind="orphan-part"))
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
        """Delete our handoffs (and leftover part gists of abandoned uploads) created more than
        `older_than_days` days ago, and the kept local copies of uploads abandoned that long ago.
        Deletions are paced like every mutative request (one at a time, 1 s apart)."""
        limit = older_than_days * 86400
        victims = [h for h in self.list_handoffs() if h.age_seconds > limit]
        if not dry_run:
            for h in victims:
                for pid in h.gists:
                    self._delete_one(pid, missing_ok=True)
                self._delete_one(h.id, missing_ok=True)
            # the local side of abandoned partial uploads (their part gists are the orphans above)
            for s in self.saved.all():
                if s.state.get("host") == self.host and _age(s.started) > limit:
                    self.saved.discard(s.payload)
        return victims


def _next_link(resp: GhResponse) -> str | None:
    for part in resp.headers.get("link", "").split(","):
        m = re.match(r'\s*<([^>]+)>\s*;\s*rel="next"', part)
        if m:
            return m.group(1)
    return None

