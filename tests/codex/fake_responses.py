"""A tiny fake of the OpenAI Responses API on 127.0.0.1, for driving the real `codex` CLI offline.

`POST .../responses` answers with a Server-Sent-Events stream (response.created, output_item.added,
output_text.delta, output_item.done, response.completed); `GET .../models` returns an empty list; anything
else is 404.  Every request (path, headers, decoded JSON body, raw bytes) is kept in `server.requests`, so a
test can assert exactly what the CLI sent to the model.

The reply text echoes what the request held, so the rollout itself proves which history was loaded:
    FAKE-REPLY[<tag>]#<n>: input_items=<len(input)> user_texts=[...]
When the newest user text contains RUNTOOL (and no tool output follows it yet), the reply is instead a
`function_call` to `exec_command` `{"cmd":"pwd","workdir":<cwd from the latest environment_context>}`.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from support.loopback import LoopbackServer, QuietHandler

_CWD_RE = re.compile(r"<cwd>([^<]*)</cwd>")


def _texts(item: dict[str, Any]) -> list[str]:
    content = item.get("content")
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for c in content:
            if isinstance(c, dict) and isinstance(c.get("text"), str):
                out.append(c["text"])
    return out


def user_texts(body: dict[str, Any]) -> list[str]:
    """The plain user prompts of a request (environment/instruction wrappers left out)."""
    out: list[str] = []
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "message" and item.get("role") == "user":
            for t in _texts(item):
                s = t.lstrip()
                if s.startswith(("<environment_context>", "<user_instructions>", "# AGENTS.md")):
                    continue
                out.append(t)
    return out


def all_texts(body: dict[str, Any]) -> list[str]:
    """Every message text of a request, any role (for "is this string anywhere in the context")."""
    out: list[str] = []
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "message":
            out += _texts(item)
    return out


class FakeResponses:
    """Run with `with FakeResponses("tag") as api: ... api.base_url ... api.requests`."""

    def __init__(self, tag: str = "fake") -> None:
        self.tag = tag
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._n = 0
        self._http: LoopbackServer | None = None

    @property
    def base_url(self) -> str:
        assert self._http is not None
        return self._http.url("/v1")

    def responses_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].rstrip("/").endswith("/responses")]

    def __enter__(self) -> FakeResponses:
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0].rstrip("/").endswith("/models"):
                    self.send_bytes(200, b'{"models":[]}')
                else:
                    self.send_bytes(404, b"{}")

            def do_POST(self) -> None:
                raw = self.read_body()
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                with fake._lock:
                    fake._n += 1
                    num = fake._n
                    fake.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body, "raw": raw}
                    )
                if not self.path.split("?")[0].rstrip("/").endswith("/responses"):
                    self.send_bytes(404, b"{}")
                    return
                self.send_bytes(200, fake._sse(body, num), "text/event-stream")

        self._http = LoopbackServer(Handler).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._http is not None:
            self._http.stop()

    # -- replies ---------------------------------------------------------------------------------
    def _sse(self, body: dict[str, Any], num: int) -> bytes:
        items = body.get("input") or []
        users = user_texts(body)
        last_user_idx = max(
            (i for i, it in enumerate(items) if isinstance(it, dict) and it.get("role") == "user"), default=-1
        )
        tool_output_after = any(
            isinstance(it, dict) and it.get("type") == "function_call_output" for it in items[last_user_idx + 1:]
        )
        rid = f"resp_{num}"
        events: list[dict[str, Any]] = [{"type": "response.created", "response": {"id": rid}}]
        if users and "RUNTOOL" in users[-1] and not tool_output_after:
            cwd = "."
            for t in all_texts(body):
                m = _CWD_RE.search(t)
                if m:
                    cwd = m.group(1)
            item = {
                "type": "function_call",
                "id": f"fc_{num}",
                "call_id": f"call_{num}",
                "name": "exec_command",
                "arguments": json.dumps({"cmd": "pwd", "yield_time_ms": 2000, "workdir": cwd}),
            }
            events.append({"type": "response.output_item.added", "output_index": 0, "item": item})
            events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
        else:
            text = f"FAKE-REPLY[{self.tag}]#{num}: input_items={len(items)} user_texts={json.dumps(users)}"
            mid = f"msg_{num}"
            start = {"type": "message", "role": "assistant", "id": mid, "status": "in_progress", "content": []}
            events.append({"type": "response.output_item.added", "output_index": 0, "item": start})
            events.append({"type": "response.output_text.delta", "item_id": mid, "output_index": 0,
                           "content_index": 0, "delta": text})
            done = {"type": "message", "role": "assistant", "id": mid, "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}
            events.append({"type": "response.output_item.done", "output_index": 0, "item": done})
        usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
        events.append({"type": "response.completed", "response": {"id": rid, "usage": usage}})
        return b"".join(
            f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events
        )
