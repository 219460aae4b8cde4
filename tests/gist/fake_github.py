"""A loopback, TLS, GitHub-API-compatible gist server for driving the real `gh` in tests.

It follows GitHub's documented REST behaviour for gists (as `gh` reaches a GitHub Enterprise host,
under `/api/v3/`):

* `GET /user` answers with the token's scopes in `X-OAuth-Scopes` (absent for tokens without scopes).
* `POST /gists` needs the `gist` scope, refuses blank file contents (422), defaults to secret.
* `GET /gists/{id}` returns at most `inline_limit` (1 MB) of content per file, flags bigger ones
  `truncated: true` and gives a `raw_url`; it lists at most 300 files, flagging the gist `truncated`.
* `GET /gists` lists the user's gists (no content), `per_page` (max 100) + `page`, with a `Link` header.
* `DELETE /gists/{id}` answers 204; unknown or deleted ids are 404 everywhere.

Faults are injected with `add_fault(method, path_regex, kind, times=1)`: kind is an HTTP status
(500, 502, ...), "secondary" (403 secondary rate limit with `Retry-After`), "429" (with `Retry-After`)
"drop" (the connection is closed without any answer) or "drop-after" (the request is carried out,
then the connection is closed without an answer). Every request is recorded in `requests`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from support.loopback import LoopbackServer, QuietHandler

INLINE_LIMIT = 1024 * 1024  # "up to one megabyte of content for each file"
FILE_LIST_LIMIT = 300  # "the entire files list may be truncated if the total number exceeds 300 files"
RAW_LIMIT = 10 * 1024 * 1024  # "for files larger than ten megabytes, you'll need to clone the gist"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


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
    def __init__(self, cert_pem: bytes | None = None, key_pem: bytes | None = None, ssl_context=None):
        self.tokens: dict[str, tuple[str, str | None]] = {}  # token -> (login, scopes header or None)
        self.gists: dict[str, Gist] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.inline_limit = INLINE_LIMIT
        self.lock = threading.Lock()
        self.retry_after = "1"
        self.http = LoopbackServer(_make_handler(self), ssl_context)
        self.port = self.http.port
        self.host = f"localhost:{self.port}"

    # -- control ---------------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()

    def add_token(self, token: str, login: str = "alice", scopes: str | None = "gist, repo, read:org") -> None:
        self.tokens[token] = (login, scopes)

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

    # -- rendering -------------------------------------------------------------------------------
    def base(self) -> str:
        return f"https://{self.host}"

    def raw_url(self, gist: Gist, name: str) -> str:
        return f"{self.base()}/gist/raw/{gist.id}/{gist.shas[name]}/{name}"

    def render(self, gist: Gist, with_content: bool) -> dict:
        names = sorted(gist.files)
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
                entry["truncated"] = len(data) > self.inline_limit
                entry["content"] = data[: self.inline_limit].decode(errors="ignore")
            files[name] = entry
        out = {
            "url": f"{self.base()}/api/v3/gists/{gist.id}",
            "id": gist.id,
            "node_id": "G_" + gist.id[:12],
            "html_url": f"{self.base()}/gist/{gist.id}",
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
            if getattr(self, "_suppress", False):  # the work was done, the answer is lost
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, message: str, headers=None):
            self._send(status, {"message": message, "documentation_url": "https://docs.github.com/rest"}, headers)

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            with server.lock:
                server.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
                fault = None
                for f in server.faults:
                    if f.times > 0 and f.method in (self.command, "*") and f.path.search(url.path):
                        if f.after > 0:
                            f.after -= 1
                            continue
                        f.times -= 1
                        fault = f
                        break
            self._suppress = bool(fault and fault.kind == "drop-after")
            if fault and not self._suppress:
                return self._fault(fault)
            self._route(url, body)

        def _fault(self, fault: Fault):
            if fault.kind == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return None
            if fault.kind == "secondary":
                return self._error(
                    403,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                    {"Retry-After": server.retry_after},
                )
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
            with server.lock:
                mine = [g for g in server.gists.values() if g.owner == login]
                mine.sort(key=lambda g: (g.created_at, g.id), reverse=True)
                chunk = mine[(page - 1) * per_page : page * per_page]
                docs = [server.render(g, with_content=False) for g in chunk]
            last = max(1, -(-len(mine) // per_page))
            links = []
            base = f"{server.base()}/api/v3/gists?per_page={per_page}"
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


def make_server(tmp_path, token: str = "test-token", **kw):
    """A started server with a trustme CA; returns (server, env) where env drives the real gh at it."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ca_pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    server = FakeGitHub(ssl_context=ctx)
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
