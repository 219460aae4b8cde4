"""Everything we ask of GitHub goes through the user's own GitHub CLI, `gh api`.

So gh's login, token storage and host selection apply unchanged (GitHub Enterprise through `GH_HOST`
or our `hostname=`, passed to gh as `GH_HOST`, the same as `gh api --hostname`).
We never ask for, read or store a token.

`check_gh(env)` answers "can we use gists?" without raising (for `doctor`);
`require_gh_for_gists(env)` raises `AuthError` whose one-line message carries the exact fix (for `send`).
Both decide from `gh api -i user` (status and the `X-OAuth-Scopes` header), not from `gh auth status`.

Retries: 5xx, 429, GitHub's secondary rate limit (403 + `Retry-After` or its message) and dropped
connections are retried with exponential backoff. `SYNC_AI_SESSIONS_GH_BACKOFF` (seconds, default 1)
is the first delay and also multiplies any `Retry-After`; `SYNC_AI_SESSIONS_GH_RETRIES` (default 5)
is how many retries follow the first attempt.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sync_ai_sessions.errors import AuthError, NetworkError, NotFoundError, SyncError

DEFAULT_HOST = "github.com"
INSTALL_URL = "https://cli.github.com"
MAX_BACKOFF = 60.0


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


class GhHttpError(NetworkError):
    """An HTTP answer we do not handle (after retries); `status` is the HTTP status."""

    def __init__(self, message: str, status: int, *, code: str | None = None):
        super().__init__(message, code=code or "http_error")
        self.status = status


@dataclass
class GhStatus:
    installed: bool
    logged_in: bool
    has_gist_scope: bool | None  # None: the token reports no classic scopes (fine-grained/app token)
    user: str | None
    host: str
    scopes: list[str] = field(default_factory=list)
    problem: str | None = None  # one line, None when gists can be used
    fix: str | None = None  # the exact command to run
    code: str | None = None  # gh_missing | gh_logged_out | gh_no_gist_scope | network
    gh_path: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _fix_login(host: str) -> str:
    return "gh auth login" if host == DEFAULT_HOST else f"gh auth login --hostname {host}"


def _fix_scope(host: str) -> str:
    return "gh auth refresh -s gist" if host == DEFAULT_HOST else f"gh auth refresh --hostname {host} -s gist"


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return max(0.0, float(env.get(name, "")))
    except ValueError:
        return default


class Gh:
    """Runs `gh api` with the given environment (hermetic in tests) and retries transient failures."""

    def __init__(self, env: Mapping[str, str] | None = None, hostname: str | None = None):
        self.env = dict(os.environ if env is None else env)
        self.hostname = hostname
        if hostname:  # same effect as `gh api --hostname`, which gh 2.23 refuses for hosts with a port
            self.env["GH_HOST"] = hostname
        self.path = shutil.which("gh", path=self.env.get("PATH", os.defpath))
        self.backoff = _float_env(self.env, "SYNC_AI_SESSIONS_GH_BACKOFF", 1.0)
        self.retries = int(_float_env(self.env, "SYNC_AI_SESSIONS_GH_RETRIES", 5))
        self.sleep = time.sleep

    @property
    def host(self) -> str:
        return self.hostname or self.env.get("GH_HOST") or DEFAULT_HOST

    def require_installed(self) -> str:
        if not self.path:
            raise AuthError(
                f"GitHub CLI (gh) is not installed or not on PATH: install it from {INSTALL_URL}, "
                f"then run `{_fix_login(self.host)}`",
                code="gh_missing",
                hint=INSTALL_URL,
            )
        return self.path

    # -- one call --------------------------------------------------------------------------------
    def _once(self, method: str, endpoint: str, input_path: Path | None) -> GhResponse | str:
        """One `gh api -i` run: the parsed answer, or the error text when no HTTP answer came back."""
        argv = [self.require_installed(), "api", "-i", "-X", method]
        if input_path is not None:
            argv += ["--input", str(input_path)]
        argv += ["--", endpoint]
        try:
            proc = subprocess.run(argv, env=self.env, capture_output=True, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise AuthError(f"cannot run gh ({self.path}): {exc.strerror or exc}", code="gh_missing") from exc
        out = proc.stdout
        if out.startswith(b"HTTP/"):
            return _parse(out)
        err = proc.stderr.decode("utf-8", "replace").strip()
        return err or f"gh exited with status {proc.returncode}"

    def api(
        self, endpoint: str, *, method: str = "GET", input_path: Path | None = None, retry: bool = True
    ) -> GhResponse:
        """Call the API; retries transient failures; returns any HTTP answer (check `.status`).

        Raises NetworkError when the host stays unreachable, AuthError when gh cannot be used.
        """
        attempt = 0
        while True:
            got = self._once(method, endpoint, input_path)
            delay = self.backoff * (2**attempt)
            if isinstance(got, str):
                if "gh auth login" in got or "not logged" in got.lower():
                    raise AuthError(
                        f"GitHub CLI is not logged in to {self.host}: run `{_fix_login(self.host)}`",
                        code="gh_logged_out",
                        hint=_fix_login(self.host),
                    )
                if "x509" in got or "certificate" in got.lower():
                    raise NetworkError(f"TLS certificate problem talking to {self.host}: {_one_line(got)}", code="tls")
                if "Usage:" in got or "unknown flag" in got:
                    raise SyncError(f"gh refused our call: {got.splitlines()[0][:200]}", code="gh_usage")
                transient = True
                what = _one_line(got)
            else:
                transient, wait = _transient(got)
                if wait is not None:
                    delay = wait * self.backoff
                what = f"HTTP {got.status}: {got.message()}"
                if not transient:
                    return got
            if not retry or attempt >= self.retries:
                if isinstance(got, GhResponse):
                    if got.status in (403, 429):
                        raise GhHttpError(
                            f"GitHub rate limit on {self.host} persists after {attempt + 1} "
                            f"tries ({what}); wait a few minutes and try again",
                            got.status,
                            code="rate_limited",
                        )
                    raise GhHttpError(
                        f"GitHub ({self.host}) keeps failing after {attempt + 1} tries: {what}", got.status
                    )
                raise NetworkError(f"cannot reach GitHub ({self.host}) after {attempt + 1} tries: {what}")
            self.sleep(min(delay, MAX_BACKOFF))
            attempt += 1

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
                f"GitHub ({self.host}) rejected gh's credentials: run `{_fix_login(self.host)}`",
                code="gh_logged_out",
                hint=_fix_login(self.host),
            )
        if resp.status == 404 and not_found:
            return NotFoundError(not_found, code="no_gist")
        if resp.status == 403 and resp.headers.get("x-ratelimit-remaining") == "0":
            reset = resp.headers.get("x-ratelimit-reset", "")
            when = time.strftime("%H:%M", time.localtime(int(reset))) if reset.isdigit() else "later"
            return GhHttpError(
                f"GitHub API rate limit exhausted on {self.host}; it resets at {when}",
                resp.status,
                code="rate_limited",
            )
        return GhHttpError(f"GitHub ({self.host}) answered HTTP {resp.status}: {resp.message()}", resp.status)


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else text)[:300]


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


def _transient(resp: GhResponse) -> tuple[bool, float | None]:
    """(retry?, seconds GitHub asked us to wait)."""
    wait = None
    ra = resp.headers.get("retry-after", "")
    if ra.isdigit():
        wait = float(ra)
    if resp.status >= 500 or resp.status == 429:
        return True, wait
    if resp.status == 403 and (wait is not None or "secondary rate limit" in resp.message().lower()):
        return True, wait if wait is not None else 60.0
    return False, None


def _scopes(header: str | None) -> list[str]:
    return [s.strip() for s in (header or "").split(",") if s.strip()]


def check_gh(env: Mapping[str, str] | None = None, hostname: str | None = None) -> GhStatus:
    """Report whether gists can be used through gh: installed, logged in, `gist` scope. Never raises
    for those conditions; `problem`/`fix` say what to do."""
    gh = Gh(env, hostname)
    host = gh.host
    st = GhStatus(installed=bool(gh.path), logged_in=False, has_gist_scope=None, user=None, host=host, gh_path=gh.path)
    if not gh.path:
        st.problem = f"GitHub CLI (gh) is not installed or not on PATH: install it from {INSTALL_URL}"
        st.fix, st.code = _fix_login(host), "gh_missing"
        return st
    try:
        resp = gh.api("user")
    except AuthError as exc:
        if exc.code == "gh_logged_out":
            st.problem = f"GitHub CLI is not logged in to {host}"
        else:
            st.problem = exc.message
        st.fix, st.code = exc.hint or _fix_login(host), exc.code
        return st
    except NetworkError as exc:
        st.problem, st.fix, st.code = exc.message, None, "network"
        return st
    if resp.status == 401 or (resp.status == 403 and not _transient(resp)[0]):
        st.problem = f"GitHub CLI is not logged in to {host} (HTTP {resp.status}: {resp.message()})"
        st.fix, st.code = _fix_login(host), "gh_logged_out"
        return st
    if not resp.ok:
        st.problem, st.code = f"GitHub ({host}) answered HTTP {resp.status}: {resp.message()}", "network"
        return st
    st.logged_in = True
    try:
        st.user = resp.json().get("login")
    except (ValueError, AttributeError):
        st.user = None
    if "x-oauth-scopes" in resp.headers:
        st.scopes = _scopes(resp.headers["x-oauth-scopes"])
        st.has_gist_scope = "gist" in st.scopes
        if not st.has_gist_scope:
            st.problem = f"gh's login on {host} lacks the `gist` scope"
            st.fix, st.code = _fix_scope(host), "gh_no_gist_scope"
    return st


def require_gh_for_gists(env: Mapping[str, str] | None = None, hostname: str | None = None) -> GhStatus:
    """`check_gh`, raising the matching error (AuthError with the exact fix) when gists cannot be used."""
    st = check_gh(env, hostname)
    if st.ok:
        return st
    if st.code == "network":
        raise NetworkError(st.problem or "cannot reach GitHub", code="network")
    msg = f"{st.problem}: run `{st.fix}`" if st.fix else (st.problem or "gh cannot be used")
    if st.code == "gh_missing":
        msg = f"{st.problem}, then run `{st.fix}`"
    raise AuthError(msg, code=st.code, hint=st.fix)
