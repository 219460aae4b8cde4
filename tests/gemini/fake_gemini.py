"""A fake Gemini API on 127.0.0.1 for driving the real `gemini` CLI offline.

Serves what Gemini CLI 0.61.0 calls with `GOOGLE_GEMINI_BASE_URL` and an API key:
- `POST /v1beta/models/<m>:streamGenerateContent?alt=sse`: the turn.  It answers with a `read_file`
  functionCall when the newest user text holds `TOOL:read_file:<path>` (and no tool result came back yet),
  otherwise with the text `FAKE-REPLY seq=N contents=K`.
- `POST ...:generateContent`: background calls (routing classifier, next-speaker check, summary).  JSON is
  returned when the request asks for JSON, with the classifier's `complexity_reasoning`/`complexity_score`.
- `POST ...:countTokens`, `...:embedContent`, `...:batchEmbedContents`.
Every request is recorded in `requests` (path + parsed JSON body) for the tests to inspect.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from support.loopback import LoopbackServer, QuietHandler

_TOOL = re.compile(r"TOOL:read_file:(\S+)")


def _texts(content: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in content.get("parts") or [] if isinstance(p, dict))


class FakeGemini:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._seq = 0
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                outer._record(self.path, None)
                self.send_json(200, {"models": []})

            def do_POST(self) -> None:
                raw = self.read_body()
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                outer._record(self.path, body)
                path = self.path.split("?")[0]
                if path.endswith(":streamGenerateContent"):
                    self._sse(outer._turn(body))
                elif path.endswith(":generateContent"):
                    self.send_json(200, outer._background(body))
                elif path.endswith(":countTokens"):
                    self.send_json(200, {"totalTokens": 10})
                elif path.endswith(":embedContent"):
                    self.send_json(200, {"embedding": {"values": [0.0] * 8}})
                elif path.endswith(":batchEmbedContents"):
                    k = len(body.get("requests") or [])
                    self.send_json(200, {"embeddings": [{"values": [0.0] * 8}] * k})
                else:
                    self.send_json(404, {"error": {"code": 404, "message": "not faked", "status": "NOT_FOUND"}})

            def _sse(self, obj: Any) -> None:
                self.send_bytes(200, b"data: " + json.dumps(obj).encode() + b"\r\n\r\n", "text/event-stream")

        self._http = LoopbackServer(Handler)

    @property
    def url(self) -> str:
        return self._http.url()

    def __enter__(self) -> FakeGemini:
        self._http.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._http.stop()

    def _record(self, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append({"path": path, "body": body})

    def turns(self) -> list[dict[str, Any]]:
        """The bodies of the streamed (main conversation) requests, in order."""
        with self._lock:
            return [r["body"] for r in self.requests if ":streamGenerateContent" in r["path"]]

    def _next(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    @staticmethod
    def _usage() -> dict[str, int]:
        return {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}

    def _turn(self, body: dict[str, Any]) -> dict[str, Any]:
        seq = self._next()
        contents = body.get("contents") or []
        last = contents[-1] if contents else {}
        answered = any("functionResponse" in p for p in last.get("parts") or [] if isinstance(p, dict))
        m = _TOOL.search(_texts(last)) if last.get("role") == "user" else None
        if m and not answered:
            part: dict[str, Any] = {"functionCall": {"name": "read_file", "args": {"file_path": m.group(1)}}}
        else:
            part = {"text": f"FAKE-REPLY seq={seq} contents={len(contents)}"}
        return {
            "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": self._usage(),
            "modelVersion": "fake-model",
        }

    def _background(self, body: dict[str, Any]) -> dict[str, Any]:
        self._next()
        cfg = body.get("generationConfig") or {}
        wants_json = cfg.get("responseMimeType") == "application/json" or "complexity" in json.dumps(body)
        if wants_json:
            text = json.dumps(
                {
                    "complexity_reasoning": "simple",
                    "complexity_score": 1,
                    "reasoning": "the model answered",
                    "next_speaker": "user",
                }
            )
        else:
            text = "Fake summary"
        return {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": self._usage(),
        }
