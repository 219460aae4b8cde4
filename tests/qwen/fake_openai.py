"""A tiny fake OpenAI-compatible chat-completions server on 127.0.0.1, for driving the real `qwen` CLI offline.

`POST /v1/chat/completions` answers with Server-Sent Events (one role chunk, one content chunk, one
finish chunk with usage, then `[DONE]`) or plain JSON when the request does not ask to stream;
`GET /v1/models` lists `fake-model`; everything else is 404.  Every request body is logged
(`server.requests`, newest last), so a test can assert exactly what the CLI sent.

The reply echoes what was received, so the transcript itself shows which context was loaded:
    FAKE-OAI seq=<request number> messages=<len(messages)> last='<last user text>'
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from support.loopback import LoopbackServer, QuietHandler


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return []


def last_user_text(body: dict[str, Any]) -> str:
    """The text the user typed last: the last user text part that is not a system reminder."""
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            for text in reversed(_texts(msg.get("content"))):
                text = text.strip()
                if text and not text.startswith("<system-reminder>"):
                    return text
    return ""


def user_texts(body: dict[str, Any]) -> list[str]:
    """Every user text part of a request, in order (system reminders included)."""
    out: list[str] = []
    for msg in body.get("messages") or []:
        if isinstance(msg, dict) and msg.get("role") == "user":
            out += _texts(msg.get("content"))
    return out


class FakeOpenAI:
    """Run with `with FakeOpenAI() as api: ... api.base_url ... api.requests`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # {"path", "body", "raw"}
        self._lock = threading.Lock()
        self._n = 0
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0].rstrip("/").endswith("/models"):
                    models = {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
                    self.send_bytes(200, json.dumps(models).encode())
                    return
                self.send_bytes(404, b'{"error":{"message":"not found"}}')

            def do_POST(self) -> None:
                raw = self.read_body()
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                path = self.path.split("?", 1)[0]
                with outer._lock:
                    outer._n += 1
                    seq = outer._n
                    outer.requests.append({"path": path, "body": body, "raw": raw})
                if not path.endswith("/chat/completions"):
                    self.send_bytes(404, b'{"error":{"message":"not found"}}')
                    return
                messages = body.get("messages") or []
                reply = f"FAKE-OAI seq={seq} messages={len(messages)} last={last_user_text(body)[:60]!r}"
                rid = f"chatcmpl-fake{seq}"
                model = body.get("model") or "fake-model"
                usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                if not body.get("stream"):
                    doc = {
                        "id": rid,
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                    }
                    self.send_bytes(200, json.dumps(doc).encode())
                    return
                base = {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
                chunks = [
                    {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]},
                    {**base, "choices": [{"index": 0, "delta": {"content": reply}, "finish_reason": None}]},
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage},
                ]
                out = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
                self.send_bytes(200, out, "text/event-stream")

        self._http = LoopbackServer(Handler)

    @property
    def base_url(self) -> str:
        return self._http.url("/v1")

    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def __enter__(self) -> FakeOpenAI:
        self._http.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._http.stop()
