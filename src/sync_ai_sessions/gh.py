"""Everything we ask of GitHub goes through the user's own GitHub CLI, `gh api`, paced as GitHub asks.

So gh's login, token storage and host selection apply unchanged (GitHub Enterprise through `GH_HOST`
or our `hostname=`, passed to gh as `GH_HOST`, the same as `gh api --hostname`).
We never ask for, read or store a token.

Whether gists can be used at all (installed, logged in, `gist` scope) is `ghauth`.

Pacing (GitHub's "Best practices for using the REST API" and "Rate limits for the REST API"), shared by
every `Gh` of the process through one `Pacer` per host (`ghpace`):

* mutative requests (POST, PATCH, PUT, DELETE) one at a time, each starting at least `PACE` (1 s) after
  the previous one finished, at most `PER_MINUTE` / `PER_HOUR` of them in any minute / hour (half of
  GitHub's published 80 and 500 content-generating requests); reads at most `READS_AT_ONCE` at a time;
* one back-off for the process: after a rate limit nobody calls until it is over. `retry-after` is
  honoured in full; `x-ratelimit-remaining: 0` waits until `x-ratelimit-reset`; a secondary limit
  without either waits 60 s, then exponentially longer (`strikes`). Past `MAX_WAIT` seconds of waiting
  in one call we stop with `rate_limited` (a send keeps what it uploaded and continues next time);
* every gh call has a bounded time: `TIMEOUT` seconds plus the body at `MIN_RATE` bytes/s, and (where
  the OS tells a process's I/O, Linux) no more than `TIMEOUT` seconds without any progress. gh 2.23
  has no timeout flag of its own, so the process is killed when a bound passes, and that counts as a
  network failure;
* no HTTP answer at all (DNS failure, connection refused, dropped connection): retried after
  `NET_DELAYS` (1+2+3+3 s), the user told at once ("cannot reach HOST, retrying 1/4 ..."), then one
  line with the `--to FILE` alternative: offline, a command gives up within ~15 s;
* a create (`create=True`) whose outcome is unknown (5xx, timeout, a connection lost after the body
  went out) is not re-sent here: `OutcomeUnknown` lets the caller look for what it made first.

Waiting is announced through `notify()` (`set_notifier` routes it to the command's UI).

Test hooks (environment, tests only): `SYNC_AI_SESSIONS_GH_BACKOFF` multiplies the waits we choose
(network retries, 5xx, the 60 s after a secondary limit without a header), never GitHub's own
`retry-after` / `x-ratelimit-reset`; `SYNC_AI_SESSIONS_GH_PACE` replaces the 1 s between mutative
requests (the minute/hour budget windows scale with it); `SYNC_AI_SESSIONS_GH_TIMEOUT` replaces
`TIMEOUT`; `SYNC_AI_SESSIONS_GH_RETRIES` is how many times a 5xx is retried (default 5);
`SYNC_AI_SESSIONS_GH_MAX_WAIT` replaces `MAX_WAIT`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sync_ai_sessions.errors import AuthError, NetworkError, NotFoundError, SyncError
from sync_ai_sessions.ghpace import PACE, PER_HOUR, PER_MINUTE, Pacer, notify, pacer_for

DEFAULT_HOST = "github.com"
INSTALL_URL = "https://cli.github.com"
MAX_BACKOFF = 60.0  # cap for 5xx retry delays
SECONDARY_WAIT = 60.0  # GitHub: "wait for at least one minute before retrying", then exponentially
MAX_WAIT = 15 * 60.0  # longest rate-limit wait in one call before we stop (the send resumes later)
TIMEOUT = 30.0  # seconds for a call without a body (GitHub ends API requests after 10 s of work)
MIN_RATE = 50_000  # bytes/s: a body upload slower than this on average is given up on
NET_DELAYS = (1.0, 2.0, 3.0, 3.0)  # waits before the retries of a call that got no HTTP answer

# gh's words when no request left the machine (nothing can have been created)
_NOT_SENT = re.compile(
    r"error connecting to|no such host|connection refused|network is unreachable|"
    r"dial tcp|server misbehaving|temporary failure in name resolution|no route to host",
    re.IGNORECASE,
)


@dataclass
class GhResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self):
        import json

        return json.loads(self.body)

    def message(self) -> str:
        try:
            doc = self.json()
            if isinstance(doc, dict) and isinstance(doc.get("message"), str):
                return doc["message"]
        except ValueError:
            pass
        return self.body[:200].decode("utf-8", "replace").strip()


@dataclass
class _NoAnswer:
    """A gh run that brought back no HTTP answer."""

    text: str
    sent: bool  # the request may have reached GitHub (timeout, dropped connection)
    timed_out: bool = False


class GhHttpError(NetworkError):
    """An HTTP answer we do not handle (after retries); `status` is the HTTP status."""

    def __init__(self, message: str, status: int, *, code: str | None = None):
        super().__init__(message, code=code or "http_error")
        self.status = status


class OutcomeUnknown(NetworkError):
    """A create may or may not have happened (5xx, timeout, connection lost after sending)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message, code="network")
        self.status = status


def fix_login(host: str) -> str:
    return "gh auth login" if host == DEFAULT_HOST else f"gh auth login --hostname {host}"


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return max(0.0, float(env.get(name, "")))
    except ValueError:
        return default


class Gh:
    """Runs `gh api` with the given environment (hermetic in tests), paced, bounded and retried."""

    def __init__(self, env: Mapping[str, str] | None = None, hostname: str | None = None):
        self.env = dict(os.environ if env is None else env)
        self.hostname = hostname
        if hostname:  # same effect as `gh api --hostname`, which gh 2.23 refuses for hosts with a port
            self.env["GH_HOST"] = hostname
        self.path = shutil.which("gh", path=self.env.get("PATH", os.defpath))
        self.backoff = _float_env(self.env, "SYNC_AI_SESSIONS_GH_BACKOFF", 1.0)
        self.retries = int(_float_env(self.env, "SYNC_AI_SESSIONS_GH_RETRIES", 5))
        self.pace = _float_env(self.env, "SYNC_AI_SESSIONS_GH_PACE", PACE)
        self.timeout = _float_env(self.env, "SYNC_AI_SESSIONS_GH_TIMEOUT", TIMEOUT) or TIMEOUT
        self.max_wait = _float_env(self.env, "SYNC_AI_SESSIONS_GH_MAX_WAIT", MAX_WAIT)
        self.per_minute, self.per_hour = PER_MINUTE, PER_HOUR
        self.sleep = time.sleep  # for waits that concern this call only (network and 5xx retries)
        self.context: Callable[[], str] | None = None  # e.g. "12 of 30 parts uploaded", for notices

    @property
    def host(self) -> str:
        return self.hostname or self.env.get("GH_HOST") or DEFAULT_HOST

    @property
    def pacer(self) -> Pacer:
        return pacer_for(self.host)

    def require_installed(self) -> str:
        if not self.path:
            raise AuthError(
                f"GitHub CLI (gh) is not installed or not on PATH: install it from {INSTALL_URL}, "
                f"then run `{fix_login(self.host)}`",
                code="gh_missing",
                hint=INSTALL_URL,
            )
        return self.path

    def _notice(self, msg: str) -> None:
        ctx = ""
        if self.context is not None:
            with contextlib.suppress(Exception):
                ctx = self.context()
        notify(f"{msg}; {ctx}" if ctx else msg)

    # -- one call --------------------------------------------------------------------------------
    def _once(self, method: str, endpoint: str, input_path: Path | None, timeout: float) -> GhResponse | _NoAnswer:
        """One `gh api -i` run, killed after `timeout` s: the parsed answer, or why none came back."""
        argv = [self.require_installed(), "api", "-i", "-X", method]
        if input_path is not None:
            argv += ["--input", str(input_path)]
        argv += ["--", endpoint]
        try:
            proc = subprocess.Popen(
                argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise AuthError(f"cannot run gh ({self.path}): {exc.strerror or exc}", code="gh_missing") from exc
        start = time.monotonic()
        deadline = start + timeout
        seen, moved = _io_count(proc.pid), start
        try:
            while True:
                try:
                    out, err_b = proc.communicate(timeout=max(0.01, min(1.0, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    now = time.monotonic()
                    io = _io_count(proc.pid)
                    if io is not None and io != seen:
                        seen, moved = io, now
                    stalled = io is not None and now - moved >= self.timeout
                    if now >= deadline or stalled:
                        proc.kill()
                        proc.communicate()
                        why = (f"no progress from {self.host} for {self.timeout:.0f} s" if now < deadline
                               else f"no answer from {self.host} within {timeout:.0f} s")
                        return _NoAnswer(why, sent=True, timed_out=True)
        finally:
            if proc.poll() is None:  # interrupted (Ctrl-C): do not leave gh running
                proc.kill()
                with contextlib.suppress(Exception):
                    proc.communicate(timeout=5)
        if out.startswith(b"HTTP/"):
            return _parse(out)
        err = err_b.decode("utf-8", "replace").strip() or f"gh exited with status {proc.returncode}"
        return _NoAnswer(err, sent=not _NOT_SENT.search(err))

    def api(
        self,
        endpoint: str,
        *,
        method: str = "GET",
        input_path: Path | None = None,
        retry: bool = True,
        create: bool = False,
    ) -> GhResponse:
        """Call the API, paced; retries what is safe to retry; returns any other HTTP answer (check `.status`).

        Raises NetworkError when the host stays unreachable, `rate_limited` when GitHub keeps us waiting
        too long, AuthError when gh cannot be used, and (with `create=True`) OutcomeUnknown when a
        create may have happened: the caller checks before creating again.
        """
        method = method.upper()
        mutative = method != "GET"
        body = 0
        if input_path is not None:
            with contextlib.suppress(OSError):
                body = Path(input_path).stat().st_size
        timeout = self.timeout + body / MIN_RATE
        net_tries = http_tries = 0
        waited = 0.0
        while True:
            with self.pacer.slot(mutative, self.pace, self.per_minute, self.per_hour):
                got = self._once(method, endpoint, input_path, timeout)
            if isinstance(got, _NoAnswer):
                text = got.text
                if "gh auth login" in text or "not logged" in text.lower():
                    raise AuthError(
                        f"GitHub CLI is not logged in to {self.host}: run `{fix_login(self.host)}`",
                        code="gh_logged_out",
                        hint=fix_login(self.host),
                    )
                if "x509" in text or "certificate" in text.lower():
                    raise NetworkError(f"TLS certificate problem talking to {self.host}: {_one_line(text)}", code="tls")
                if "Usage:" in text or "unknown flag" in text:
                    raise SyncError(f"gh refused our call: {text.splitlines()[0][:200]}", code="gh_usage")
                what = _one_line(text)
                if create and got.sent:
                    raise OutcomeUnknown(f"GitHub ({self.host}) did not confirm the upload: {what}")
                net_tries += 1
                if not retry or net_tries > len(NET_DELAYS):
                    raise NetworkError(
                        f"cannot reach {self.host} ({what}), gave up after {net_tries} tries: check the "
                        "connection and try again, or write the handoff to a file with --to FILE"
                    )
                delay = NET_DELAYS[net_tries - 1] * self.backoff
                self._notice(f"cannot reach {self.host} ({what}), retrying {net_tries}/{len(NET_DELAYS)} "
                             f"in {delay:.0f} s")
                self.sleep(delay)
                continue
            limited, wait = rate_limit(got)
            if limited:
                pacer = self.pacer
                if wait is None:  # ours to choose (scaled in tests); GitHub's own figures are honoured in full
                    wait = SECONDARY_WAIT * (2 ** min(pacer.strikes, 6)) * self.backoff
                    pacer.strikes += 1
                if not retry or waited + wait > self.max_wait:
                    raise GhHttpError(_limit_message(self.host, got, wait), got.status, code="rate_limited")
                waited += wait
                pacer.hold(wait)
                self._notice(f"GitHub asked us to wait {_duration(wait)}")
                continue
            if got.ok:
                self.pacer.strikes = 0
            if got.status >= 500:
                if create:
                    raise OutcomeUnknown(
                        f"GitHub ({self.host}) answered the upload with HTTP {got.status}: {got.message()}",
                        got.status,
                    )
                http_tries += 1
                if not retry or http_tries > self.retries:
                    raise GhHttpError(
                        f"GitHub ({self.host}) keeps failing after {http_tries} tries: "
                        f"HTTP {got.status}: {got.message()}",
                        got.status,
                    )
                self.sleep(min(self.backoff * 2 ** (http_tries - 1), MAX_BACKOFF))
                continue
            return got

    def api_ok(
        self,
        endpoint: str,
        *,
        method: str = "GET",
        input_path: Path | None = None,
        not_found: str | None = None,
    ) -> GhResponse:
        """Like `api` but any non-2xx answer raises one clear line."""
        resp = self.api(endpoint, method=method, input_path=input_path)
        if resp.ok:
            return resp
        raise self.error_for(resp, not_found=not_found)

    def error_for(self, resp: GhResponse, *, not_found: str | None = None) -> SyncError:
        if resp.status == 401:
            return AuthError(
                f"GitHub ({self.host}) rejected gh's credentials: run `{fix_login(self.host)}`",
                code="gh_logged_out",
                hint=fix_login(self.host),
            )
        if resp.status == 404 and not_found:
            return NotFoundError(not_found, code="no_gist")
        return GhHttpError(f"GitHub ({self.host}) answered HTTP {resp.status}: {resp.message()}", resp.status)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _limit_message(host: str, resp: GhResponse, wait: float) -> str:
    resume_at = time.strftime("%H:%M", time.localtime(time.time() + wait))
    if resp.headers.get("x-ratelimit-remaining") == "0":
        return f"GitHub API rate limit exhausted on {host}; it resets at {resume_at}: try again then"
    return (
        f"GitHub's rate limit on {host} asks us to wait {_duration(wait)} more (HTTP {resp.status}: "
        f"{resp.message()[:120]}); try again after {resume_at}"
    )


def _io_count(pid: int) -> int | None:
    """Bytes a process has read and written so far (Linux `/proc/PID/io`), to tell a slow upload from a
    stalled one; None where it cannot be known (then only the overall bound applies)."""
    try:
        with open(f"/proc/{pid}/io", "rb") as fh:
            fields = dict(line.split(b":", 1) for line in fh.read().splitlines() if b":" in line)
        return int(fields[b"rchar"]) + int(fields[b"wchar"])
    except (OSError, KeyError, ValueError):
        return None


def _one_line(text: str) -> str:
    """gh's error in one line: its first line ("error connecting to api.github.com"), not the advice after it."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else text)[:300]


def _parse(out: bytes) -> GhResponse:
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = out.partition(b"\n\n")
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    m = re.match(rb"HTTP/\S+\s+(\d{3})", lines[0])
    status = int(m.group(1)) if m else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name:
            headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return GhResponse(status, headers, body)


def rate_limit(resp: GhResponse) -> tuple[bool, float | None]:
    """(is this a rate limit?, seconds GitHub asked us to wait, None when it did not say)."""
    if resp.status not in (403, 429):
        return False, None
    ra = resp.headers.get("retry-after", "").strip()
    if ra.isdigit():
        return True, float(ra)
    if resp.headers.get("x-ratelimit-remaining") == "0":
        reset = resp.headers.get("x-ratelimit-reset", "").strip()
        if reset.isdigit():
            return True, max(1.0, int(reset) - time.time() + 1)
        return True, None
    if resp.status == 429 or "rate limit" in resp.message().lower():
        return True, None
    return False, None
