"""Can gists be used through gh? Installed, logged in to the host, and a token with the `gist` scope.

`check_gh(env)` answers without raising (for `doctor`); `require_gh_for_gists(env)` raises `AuthError`
whose one-line message carries the exact fix (for `send`). Both decide from `gh api -i user` (status and
the `X-OAuth-Scopes` header), not from `gh auth status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sync_ai_sessions.errors import AuthError, NetworkError
from sync_ai_sessions.gh import DEFAULT_HOST, INSTALL_URL, Gh, fix_login, rate_limit


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


def fix_scope(host: str) -> str:
    return "gh auth refresh -s gist" if host == DEFAULT_HOST else f"gh auth refresh --hostname {host} -s gist"


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
        st.fix, st.code = fix_login(host), "gh_missing"
        return st
    try:
        resp = gh.api("user")
    except AuthError as exc:
        if exc.code == "gh_logged_out":
            st.problem = f"GitHub CLI is not logged in to {host}"
        else:
            st.problem = exc.message
        st.fix, st.code = exc.hint or fix_login(host), exc.code
        return st
    except NetworkError as exc:
        st.problem, st.fix, st.code = exc.message, None, "network"
        return st
    if resp.status == 401 or (resp.status == 403 and not rate_limit(resp)[0]):
        st.problem = f"GitHub CLI is not logged in to {host} (HTTP {resp.status}: {resp.message()})"
        st.fix, st.code = fix_login(host), "gh_logged_out"
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
            st.fix, st.code = fix_scope(host), "gh_no_gist_scope"
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
