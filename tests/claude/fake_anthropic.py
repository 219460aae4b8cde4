"""A tiny fake of the Anthropic Messages API on 127.0.0.1, for driving the real `claude` CLI offline.

`POST /v1/messages` answers with a Server-Sent-Events stream (message_start, ping, content_block_start,
content_block_delta x2, content_block_stop, message_delta, message_stop) or plain JSON when the request
does not ask to stream; `/v1/messages/count_tokens` is stubbed; everything else is 404.  Every request
body is logged (`server.requests`, newest last), so a test can assert exactly what the CLI sent.

The reply text echoes what was received, so the transcript itself proves which context was loaded:
    FAKE-REPLY n=<request number> msgs=<len(messages)> first='<first user text>' last='<last user text>'
Magic words in the last user text make the model call a real tool, using the working directory the CLI
reported in its system prompt: DO_WRITE (Write notes.txt), DO_BASH (Bash `pwd`), DO_AGENT (a subagent),
DO_READ <path> (Read that file; a relative path is taken from the working directory).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any

from support.loopback import LoopbackServer, QuietHandler

_READ_RE = re.compile(r"DO_READ (.+?)\s*$", re.M)
_CWD_RE = re.compile(r"(?:Primary working directory|Working directory): ([^\n\\]+)")


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                out.append(str(block.get("text", "")))
    return out


def _user_text(msg: dict[str, Any]) -> str:
    texts = [t for t in _texts(msg.get("content")) if not t.lstrip().startswith("<system-reminder>")]
    return texts[-1] if texts else ""


def _has_tool_result(msg: dict[str, Any]) -> bool:
    c = msg.get("content")
    return isinstance(c, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in c)


def _system_text(body: dict[str, Any]) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    return "\n".join(_texts(system))


class FakeAnthropic:
    """Run with `with FakeAnthropic() as api: ... api.base_url ... api.requests`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # {"path", "headers", "body", "raw"}
        self._lock = threading.Lock()
        self._n = 0
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.send_bytes(404, b'{"type":"error","error":{"type":"not_found_error","message":"nope"}}')

            def do_POST(self) -> None:
                raw = self.read_body()
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                path = self.path.split("?", 1)[0]
                headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in ("x-api-key",)}
                headers.pop("authorization", None)
                with outer._lock:
                    outer._n += 1
                    n = outer._n
                    outer.requests.append({"path": self.path, "headers": headers, "body": body, "raw": raw})
                if path == "/v1/messages/count_tokens":
                    self.send_bytes(200, b'{"input_tokens":10}')
                elif path == "/v1/messages":
                    outer._answer(self, n, body)
                else:
                    self.send_bytes(404, b'{"type":"error","error":{"type":"not_found_error","message":"nope"}}')

        self._http = LoopbackServer(Handler)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._http.url()

    def __enter__(self) -> FakeAnthropic:
        self._http.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._http.stop()

    # -- helpers for tests ------------------------------------------------------------------------
    def main_requests(self) -> list[dict[str, Any]]:
        """Requests that carried a conversation (not title generation or other side calls)."""
        return [r for r in self.requests if r["path"].startswith("/v1/messages") and r["body"].get("tools")]

    # -- the model ---------------------------------------------------------------------------
    def _reply_blocks(self, n: int, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        msgs = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        users = [m for m in msgs if m.get("role") == "user"]
        first = _user_text(users[0]) if users else ""
        last_msg = msgs[-1] if msgs else {}
        last = next((_user_text(m) for m in reversed(users) if _user_text(m)), "")
        tool_names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        if last_msg.get("role") == "user" and not _has_tool_result(last_msg):
            m = _CWD_RE.search(_system_text(body) + "\n" + "\n".join(_texts(last_msg.get("content"))))
            cwd = m.group(1).strip() if m else "."
            said = _user_text(last_msg)
            tool: dict[str, Any] | None = None
            if "DO_WRITE" in said and "Write" in tool_names:
                tool = {"name": "Write",
                        "input": {"file_path": f"{cwd}/notes.txt", "content": "hello from fake\n"}}
            elif "DO_BASH" in said and "Bash" in tool_names:
                tool = {"name": "Bash", "input": {"command": "pwd", "description": "Print working directory"}}
            elif (m_read := _READ_RE.search(said)) and "Read" in tool_names:
                path = m_read.group(1)
                tool = {"name": "Read", "input": {"file_path": path if path.startswith("/") else f"{cwd}/{path}"}}
            elif "DO_AGENT" in said and "Agent" in tool_names:
                tool = {
                    "name": "Agent",
                    "input": {"description": "Say hi", "prompt": "Say hi (subagent task)",
                              "subagent_type": "general-purpose"},
                }
            if tool:
                block = {"type": "tool_use", "id": "toolu_fake_" + uuid.uuid4().hex[:16], **tool}
                return [block], "tool_use"
        text = f"FAKE-REPLY n={n} msgs={len(msgs)} first={first[:40]!r} last={last[:40]!r}"
        return [{"type": "text", "text": text}], "end_turn"

    def _answer(self, h: QuietHandler, n: int, body: dict[str, Any]) -> None:
        blocks, stop = self._reply_blocks(n, body)
        model = body.get("model") or "claude-sonnet-4-5"
        msg_id = "msg_fake_" + uuid.uuid4().hex[:16]
        usage = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
        if not body.get("stream"):
            data = json.dumps({"id": msg_id, "type": "message", "role": "assistant", "model": model,
                               "content": blocks, "stop_reason": stop, "stop_sequence": None,
                               "usage": usage}).encode()
            h.send_bytes(200, data)
            return
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}}),
            ("ping", {"type": "ping"}),
        ]
        for i, block in enumerate(blocks):
            if block["type"] == "text":
                start = {"type": "text", "text": ""}
                half = len(block["text"]) // 2
                deltas = [{"type": "text_delta", "text": block["text"][:half]},
                          {"type": "text_delta", "text": block["text"][half:]}]
            else:
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                js = json.dumps(block["input"])
                half = len(js) // 2
                deltas = [{"type": "input_json_delta", "partial_json": js[:half]},
                          {"type": "input_json_delta", "partial_json": js[half:]}]
            events.append(("content_block_start",
                           {"type": "content_block_start", "index": i, "content_block": start}))
            for d in deltas:
                events.append(("content_block_delta",
                               {"type": "content_block_delta", "index": i, "delta": d}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        events.append(("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": stop, "stop_sequence": None},
                                         "usage": {"output_tokens": 5}}))
        events.append(("message_stop", {"type": "message_stop"}))
        data = b"".join(
            f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode() for name, payload in events
        )
        h.send_bytes(200, data, "text/event-stream", {"cache-control": "no-cache"})
