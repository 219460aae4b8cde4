"""A loopback, TLS, GitHub-API-compatible gist server for driving the real `gh` in tests.

It follows GitHub's documented REST behaviour for gists (as `gh` reaches a GitHub Enterprise host,
under `/api/v3/`):

* `GET /user` answers with the token's scopes in `X-OAuth-Scopes` (absent for tokens without scopes).
* `POST /gists` needs the `gist` scope, refuses blank file contents (422), defaults to secret.
* `GET /gists/{id}` returns at most `inline_limit` (1 MB) of content per file, flags bigger ones
  `truncated: true` and gives a `raw_url`; it lists at most 300 files, flagging the gist `truncated`.
* `GET /gists` lists the user's gists (no content), `per_page` (max 100) + `page` + `since`, with a
  `Link` header.
* `DELETE /gists/{id}` answers 204; unknown or deleted ids are 404 everywhere.

`strict=True` (what the gist tests use) adds what github.com does and a kind server does not:

* every API answer carries `x-ratelimit-limit/-remaining/-used/-reset/-resource` (primary limit,
  `primary_limit` an hour); at 0 remaining: 403 "API rate limit exceeded" until the reset;
* a content-creation budget for mutative requests (POST/PATCH/PUT/DELETE): `per_minute` (80) and
  `per_hour` (500) over windows of `minute` / `hour` seconds; beyond it 403 "secondary rate limit"
  with `retry-after`;
* 403 "secondary rate limit" for a mutative request that overlaps another one, arrives less than
  `min_gap` (1 s) after the previous one finished, or arrives before a `retry-after` we sent is over;
  each of these is also recorded in `violations` (a well-behaved client has none);
* raw files only on a separate host name (`raw_host`, 127.0.0.1:PORT, like gist.githubusercontent.com
  or GHE's gist.HOST); `html_url` on that host too (a client must use what the API says);
* the inline content of every file blanked (`truncated: true`, `content: ""`) once a gist holds more
  than `blank_over` bytes in all, as GitHub does for large gists;
* 413 for a request body over `max_body`.

Faults are injected with `add_fault(method, path_regex, kind, times=1)`: kind is an HTTP status
(500, 502, ...), "secondary" (403 secondary rate limit with `retry-after: server.retry_after`),
"secondary-bare" (the same without any header), "primary" (403 with `x-ratelimit-remaining: 0` and a
reset `server.retry_after` seconds ahead), "429" (with `retry-after`), "drop" (the connection is closed
without any answer), "drop-after" (the request is carried out, then the connection is closed without
an answer), "502-after" (carried out, then answered 502 as a slow proxy does), "stall" (read, then no
answer at all until the client gives up, `stall_seconds` pass or the server stops), "stall-after"
(carried out, then the same) and "stall-body" (the body is never read: an upload that stops dead).
Every request is recorded in `requests` with its arrival and finish times.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import select
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from support.loopback import LoopbackServer, QuietHandler

INLINE_LIMIT = 1024 * 1024  # "up to one megabyte of content for each file"
FILE_LIST_LIMIT = 300  # "the entire files list may be truncated if the total number exceeds 300 files"
RAW_LIMIT = 10 * 1024 * 1024  # "for files larger than ten megabytes, you'll need to clone the gist"
MUTATIVE = ("POST", "PATCH", "PUT", "DELETE")
SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    start: float = 0.0  # time.monotonic() when the request (line, headers, body) had arrived
    end: float = 0.0  # when the answer was sent (or the connection dropped)
    status: int = 0  # what was answered (0: no answer)
    host: str = ""
    wall: float = 0.0  # time.time() at arrival (to compare with x-ratelimit-reset)

    @property
    def mutative(self) -> bool:
        return self.method in MUTATIVE


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    kind: str
    times: int
    after: int = 0  # let this many matching requests through first


@dataclass
class Gist:
    id: str
    owner: str
    description: str
    public: bool
    files: dict[str, str]
    created_at: str
    updated_at: str
    shas: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub:
    def __init__(self, cert_pem: bytes | None = None, key_pem: bytes | None = None, ssl_context=None,
                 strict: bool = False):
        self.strict = strict
        # strict mode's limits (GitHub's published figures; tests may shrink the windows)
        self.min_gap = 1.0
        self.per_minute, self.per_hour = 80, 500
        self.minute, self.hour = 60.0, 3600.0
        self.primary_limit = 5000
        self.primary_used = 0
        self.primary_reset = int(time.time()) + 3600
        self.blank_over = INLINE_LIMIT
        self.max_body = 12 * 1024 * 1024
        self.stall_seconds = 120.0
        self.violations: list[str] = []
        self._writes: list[float] = []  # arrival times of accepted mutative requests
        self._active_writes = 0
        self._last_write_end = -1e9
        self._blocked_until = 0.0  # monotonic: a retry-after we sent is not over before this
        self._released = threading.Event()
        self.tokens: dict[str, tuple[str, str | None]] = {}
        self.managed: set[str] = set()  # token -> (login, scopes header or None)
        self.gists: dict[str, Gist] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.inline_limit = INLINE_LIMIT
        self.lock = threading.Lock()
        self.retry_after = "1"
        self.http = LoopbackServer(_make_handler(self), ssl_context)
        self.port = self.http.port
        self.host = f"localhost:{self.port}"
        self.raw_host = f"127.0.0.1:{self.port}" if strict else self.host

    # -- control ---------------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        self.http.start()
        return self

    def stop(self) -> None:
        self._released.set()  # let stalled handlers go
        self.http.stop()

    def add_token(self, token: str, login: str = "alice", scopes: str | None = "gist, repo, read:org",
                  managed: bool = False) -> None:
        """`managed`: an enterprise managed user, who "cannot create gists" (403 on POST /gists)."""
        self.tokens[token] = (login, scopes)
        if managed:
            self.managed.add(login)

    def add_fault(self, method: str, path_regex: str, kind: str | int, times: int = 1, after: int = 0) -> None:
        with self.lock:
            self.faults.append(Fault(method.upper(), re.compile(path_regex), str(kind), times, after))

    def create_gist(
        self,
        owner: str,
        description: str,
        files: dict[str, str],
        public: bool = False,
        created_at: str | None = None,
    ) -> Gist:
        with self.lock:
            return self._create(owner, description, files, public, created_at)

    def _create(self, owner, description, files, public, created_at=None) -> Gist:
        gid = secrets.token_hex(16)
        ts = created_at or _now()
        gist = Gist(gid, owner, description, public, dict(files), ts, ts)
        gist.shas = {name: hashlib.sha1(c.encode()).hexdigest() for name, c in files.items()}
        self.gists[gid] = gist
        return gist

    # -- strict mode -----------------------------------------------------------------------------
    def _admit(self, rec: Recorded) -> tuple[str, dict[str, str]] | None:
        """Whether a mutative request may proceed; (message, headers) of the 403 if not."""
        with self.lock:
            now = rec.start
            self._active_writes += 1
            if self._active_writes > 1:
                self.violations.append(f"{rec.method} {rec.path}: overlaps another mutative request")
                return SECONDARY, {}
            if now < self._blocked_until:
                self.violations.append(
                    f"{rec.method} {rec.path}: {self._blocked_until - now:.2f} s before retry-after was over"
                )
                return SECONDARY, {"Retry-After": str(max(1, int(self._blocked_until - now + 0.999)))}
            gap = now - self._last_write_end
            if gap < self.min_gap:
                self.violations.append(f"{rec.method} {rec.path}: {gap:.3f} s after the previous one")
                return SECONDARY, {}
            self._writes = [t for t in self._writes if t > now - self.hour]
            in_minute = [t for t in self._writes if t > now - self.minute]
            wait = None
            if len(in_minute) >= self.per_minute:
                wait = in_minute[0] + self.minute - now
            elif len(self._writes) >= self.per_hour:
                wait = self._writes[0] + self.hour - now
            if wait is not None:
                return SECONDARY, {"Retry-After": str(max(1, int(wait + 0.999)))}
            self._writes.append(now)
            return None

    def _primary_headers(self) -> dict[str, str]:
        with self.lock:
            if time.time() >= self.primary_reset:
                self.primary_used, self.primary_reset = 0, int(time.time()) + 3600
            return {
                "x-ratelimit-limit": str(self.primary_limit),
                "x-ratelimit-remaining": str(max(0, self.primary_limit - self.primary_used)),
                "x-ratelimit-used": str(self.primary_used),
                "x-ratelimit-reset": str(self.primary_reset),
                "x-ratelimit-resource": "core",
            }

    # -- rendering -------------------------------------------------------------------------------
    def base(self) -> str:
        return f"https://{self.host}"

    def raw_url(self, gist: Gist, name: str) -> str:
        if self.strict:
            return f"https://{self.raw_host}/{gist.owner}/{gist.id}/raw/{gist.shas[name]}/{name}"
        return f"{self.base()}/gist/raw/{gist.id}/{gist.shas[name]}/{name}"

    def html_url(self, gist: Gist) -> str:
        return f"https://{self.raw_host}/{gist.id}" if self.strict else f"{self.base()}/gist/{gist.id}"

    def mutative_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.mutative and r.host == self.host]

    def render(self, gist: Gist, with_content: bool) -> dict:
        names = sorted(gist.files)
        blank = self.strict and sum(len(c.encode()) for c in gist.files.values()) > self.blank_over
        truncated_list = with_content and len(names) > FILE_LIST_LIMIT
        if truncated_list:
            names = names[:FILE_LIST_LIMIT]
        files = {}
        for name in names:
            content = gist.files[name]
            entry = {
                "filename": name,
                "type": "text/plain",
                "language": "Text",
                "raw_url": self.raw_url(gist, name),
                "size": len(content.encode()),
            }
            if with_content:
                data = content.encode()
                entry["truncated"] = blank or len(data) > self.inline_limit
                entry["content"] = "" if blank else data[: self.inline_limit].decode(errors="ignore")
            files[name] = entry
        out = {
            "url": f"{self.base()}/api/v3/gists/{gist.id}",
            "id": gist.id,
            "node_id": "G_" + gist.id[:12],
            "html_url": self.html_url(gist),
            "git_pull_url": f"{self.base()}/gist/{gist.id}.git",
            "files": files,
            "public": gist.public,
            "created_at": gist.created_at,
            "updated_at": gist.updated_at,
            "description": gist.description,
            "comments": 0,
            "owner": {"login": gist.owner, "id": 1, "type": "User"},
            "truncated": truncated_list,
        }
        return out


def _make_handler(server: FakeGitHub):
    class Handler(QuietHandler):
        # -- plumbing ----------------------------------------------------------------------------
        def _send(
            self,
            status: int,
            body: bytes | dict | list | None = None,
            headers=None,
            ctype="application/json; charset=utf-8",
        ):
            if isinstance(body, dict | list):
                body = json.dumps(body).encode()
            body = body or b""
            if getattr(self, "_suppress", None):  # the work was done, the answer is lost (or late)
                return self._lose(self._suppress)
            if getattr(self, "_api", False) and server.strict:
                headers = {**server._primary_headers(), **(headers or {})}
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
            self._rec.status = status
            if status in (403, 429) and "Retry-After" in (headers or {}) and self._rec.mutative:
                with server.lock:
                    server._blocked_until = max(
                        server._blocked_until, time.monotonic() + float(headers["Retry-After"])
                    )

        def _stall(self) -> None:
            """No answer until the client gives up (closes the connection), the server stops, or time passes."""
            deadline = time.monotonic() + server.stall_seconds
            while time.monotonic() < deadline and not server._released.is_set():
                ready, _, _ = select.select([self.connection], [], [], 0.1)
                if ready:
                    try:
                        if not self.connection.recv(1):
                            return
                    except (OSError, ssl.SSLError):
                        return

        def _lose(self, how: str):
            if how == "stall-after":
                self._stall()
            if how == "502-after":
                self._suppress = None
                return self._error(502, "Server Error")
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return None

        def _error(self, status: int, message: str, headers=None):
            self._send(status, {"message": message, "documentation_url": "https://docs.github.com/rest"}, headers)

        def _handle(self):
            arrived = time.monotonic()  # the request line and headers are in; the body may take long
            url = urlsplit(self.path)
            rec = Recorded(self.command, self.path, dict(self.headers.items()), b"", arrived,
                           host=self.headers.get("Host", ""), wall=time.time())
            self._rec = rec
            self._api = url.path.startswith("/api/v3/")
            writing = rec.mutative and self._api
            refusal = server._admit(rec) if writing and server.strict else None
            with server.lock:
                stall_body = next((f for f in server.faults if f.kind == "stall-body" and f.times > 0
                                   and f.method in (self.command, "*") and f.path.search(url.path)), None)
                if stall_body is not None:
                    stall_body.times -= 1
                    server.requests.append(rec)
            if stall_body is not None:  # never read the body: the client's upload stops dead
                # (it never reaches the API, so it is not an active mutative request; nothing can be
                # learnt from the socket while its unread body fills it, so just hold it until the end)
                if writing and server.strict:
                    with server.lock:
                        server._active_writes -= 1
                server._released.wait(server.stall_seconds)
                rec.end = time.monotonic()
                self.close_connection = True
                return None
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = self.rfile.read(length) if length else b""
            except OSError:
                body = b""
            rec.body = body
            with server.lock:
                server.requests.append(rec)
                fault = None
                for f in server.faults:
                    if f.times > 0 and f.method in (self.command, "*") and f.path.search(url.path):
                        if f.after > 0:
                            f.after -= 1
                            continue
                        f.times -= 1
                        fault = f
                        break
            try:
                if refusal is not None:
                    return self._error(403, refusal[0], refusal[1])
                if self._api and server.strict and server.primary_used >= server.primary_limit:
                    return self._error(403, "API rate limit exceeded for user ID 1.",
                                       {"x-ratelimit-remaining": "0"})
                if self._api and server.strict:
                    with server.lock:
                        server.primary_used += 1
                self._suppress = fault.kind if fault and fault.kind.endswith("-after") else None
                if fault and not self._suppress:
                    return self._fault(fault)
                if self._api and len(body) > server.max_body and server.strict:
                    return self._error(413, "Payload Too Large")
                self._route(url, body)
            finally:
                rec.end = time.monotonic()
                if writing and server.strict:
                    with server.lock:
                        server._active_writes -= 1
                        server._last_write_end = rec.end

        def _fault(self, fault: Fault):
            if fault.kind == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return None
            if fault.kind == "stall":
                self._stall()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return None
            if fault.kind == "secondary":
                return self._error(403, SECONDARY, {"Retry-After": server.retry_after})
            if fault.kind == "secondary-bare":
                return self._error(403, SECONDARY)
            if fault.kind == "primary":
                reset = int(time.time() + float(server.retry_after))
                return self._error(403, "API rate limit exceeded for user ID 1.",
                                   {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
            if fault.kind == "429":
                return self._error(429, "Too many requests", {"Retry-After": server.retry_after})
            return self._error(int(fault.kind), "Server Error")

        def _auth(self) -> tuple[str, str | None] | None:
            value = self.headers.get("Authorization", "")
            parts = value.split(None, 1)
            if len(parts) == 2 and parts[0].lower() in ("token", "bearer"):
                return server.tokens.get(parts[1].strip())
            return None

        def _route(self, url, body: bytes):
            path = url.path
            query = parse_qs(url.query)
            who = self._auth()
            if server.strict:
                m = re.fullmatch(r"/[^/]+/([0-9a-f]+)/raw/([0-9a-f]+)/([^/]+)", path)
                on_raw_host = self.headers.get("Host") == server.raw_host
                if on_raw_host:  # the raw host serves files only, the API host never does
                    if m and self.command == "GET":
                        return self._raw(*m.groups())
                    return self._send(404, b"404: Not Found", ctype="text/plain; charset=utf-8")
            else:
                m = re.fullmatch(r"/gist/raw/([0-9a-f]+)/([0-9a-f]+)/([^/]+)", path)
                if m and self.command == "GET":
                    return self._raw(*m.groups())
            if not path.startswith("/api/v3/"):
                return self._error(404, "Not Found")
            path = path[len("/api/v3") :]
            if who is None:
                return self._error(401, "Bad credentials")
            login, scopes = who
            scope_headers = {"X-OAuth-Scopes": scopes} if scopes is not None else {}
            if path == "/user" and self.command == "GET":
                return self._send(200, {"login": login, "id": 1, "type": "User"}, scope_headers)
            if path == "/gists" and self.command == "POST":
                return self._create(login, scopes, body, scope_headers)
            if path == "/gists" and self.command == "GET":
                return self._list(login, query, scope_headers)
            m = re.fullmatch(r"/gists/([^/]+)", path)
            if m:
                gid = m.group(1)
                with server.lock:
                    gist = server.gists.get(gid)
                if gist is None:
                    return self._error(404, "Not Found")
                if self.command == "GET":
                    if gist.public is False and gist.owner != login:
                        pass  # secret gists are readable by anyone who knows the id
                    with server.lock:
                        doc = server.render(gist, with_content=True)
                    return self._send(200, doc, scope_headers)
                if self.command == "DELETE":
                    if gist.owner != login:
                        return self._error(404, "Not Found")
                    if scopes is not None and "gist" not in _scopes(scopes):
                        return self._error(404, "Not Found")
                    with server.lock:
                        server.gists.pop(gid, None)
                    return self._send(204, None, scope_headers)
            return self._error(404, "Not Found")

        def _raw(self, gid: str, sha: str, name: str):
            with server.lock:
                gist = server.gists.get(gid)
            if gist is None or name not in gist.files or gist.shas.get(name) != sha:
                return self._send(404, b"404: Not Found", ctype="text/plain; charset=utf-8")
            data = gist.files[name].encode()
            if len(data) > RAW_LIMIT:
                return self._send(404, b"file too large: clone the gist", ctype="text/plain; charset=utf-8")
            return self._send(200, data, ctype="text/plain; charset=utf-8")

        def _create(self, login, scopes, body: bytes, headers):
            if scopes is not None and "gist" not in _scopes(scopes):
                return self._error(404, "Not Found", headers)  # what GitHub answers without the gist scope
            if login in server.managed:
                return self._error(403, "Forbidden", headers)
            try:
                doc = json.loads(body)
            except ValueError:
                return self._error(400, "Problems parsing JSON", headers)
            files = doc.get("files")
            if not isinstance(files, dict) or not files:
                return self._error(422, "Validation Failed", headers)
            contents = {}
            for name, spec in files.items():
                content = spec.get("content") if isinstance(spec, dict) else None
                if not isinstance(content, str) or not content.strip():
                    return self._error(422, "Validation Failed: contents can't be blank", headers)
                contents[name] = content
            public = doc.get("public", False)
            with server.lock:
                gist = server._create(login, doc.get("description") or "", contents, bool(public))
                out = server.render(gist, with_content=True)
            return self._send(201, out, {**headers, "Location": out["url"]})

        def _list(self, login, query, headers):
            per_page = min(int((query.get("per_page") or ["30"])[0]), 100)
            page = max(int((query.get("page") or ["1"])[0]), 1)
            since = (query.get("since") or [""])[0]
            with server.lock:
                mine = [g for g in server.gists.values() if g.owner == login and g.updated_at >= since]
                mine.sort(key=lambda g: (g.created_at, g.id), reverse=True)
                chunk = mine[(page - 1) * per_page : page * per_page]
                docs = [server.render(g, with_content=False) for g in chunk]
            last = max(1, -(-len(mine) // per_page))
            links = []
            base = f"{server.base()}/api/v3/gists?per_page={per_page}" + (f"&since={since}" if since else "")
            if page < last:
                links.append(f'<{base}&page={page + 1}>; rel="next"')
                links.append(f'<{base}&page={last}>; rel="last"')
            if page > 1:
                links.append(f'<{base}&page=1>; rel="first"')
                links.append(f'<{base}&page={page - 1}>; rel="prev"')
            h = dict(headers)
            if links:
                h["Link"] = ", ".join(links)
            return self._send(200, docs, h)

        do_GET = do_POST = do_DELETE = do_PATCH = _handle

    return Handler


def _scopes(header: str) -> set[str]:
    return {s.strip() for s in header.split(",") if s.strip()}


def make_server(tmp_path, token: str = "test-token", strict: bool = False, **kw):
    """A started server with a trustme CA; returns (server, env) where env drives the real gh at it."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ca_pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    server = FakeGitHub(ssl_context=ctx, strict=strict)
    server.add_token(token, **kw)
    server.start()
    cfg = tmp_path / "gh-config"
    cfg.mkdir(exist_ok=True)
    env = {
        "GH_HOST": server.host,
        "GH_ENTERPRISE_TOKEN": token,
        "SSL_CERT_FILE": str(ca_pem),
        "GH_CONFIG_DIR": str(cfg),
        "GH_NO_UPDATE_NOTIFIER": "1",
        "GH_PROMPT_DISABLED": "1",
        "NO_COLOR": "1",
    }
    return server, env
