"""Gemini CLI's own files, read and written as Gemini does: chat files (replayed the way its loader
replays them, keeping only a brief of each message) and the project registry (`projects.json` and the
short names).  Nothing here knows about sending or importing; `adapters/gemini.py` does."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sync_ai_sessions import pathflavor


def slugify(text: str) -> str:
    """Gemini's short-name slug: lower-case, non [a-z0-9] runs become one `-`, trimmed, else `project`."""
    s = re.sub(r"[^a-z0-9]", "-", text.lower())
    s = re.sub(r"-+", "-", s)
    s = re.sub(r"^-|-$", "", s)
    return s or "project"


def project_hash(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()


# -- reading chat files ---------------------------------------------------------------------------


def _content_text(content: Any) -> str:
    """Gemini's verbose partListUnionToString, enough to decide resumability and show a title."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_content_text(p) for p in content)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return content["text"]
        for key, label in (("functionCall", "Function Call"), ("functionResponse", "Function Response")):
            if isinstance(content.get(key), dict):
                return f"[{label}: {content[key].get('name', '')}]"
        if content:
            return "[Part]"
    return ""


def _ignored_user_text(t: str) -> bool:
    return not t or t.startswith(("/", "?", "<session_context>", "<hook_context>"))


def _is_resumable(msg: dict[str, Any]) -> bool:
    text = _content_text(msg.get("content")).strip()
    if msg.get("type") == "user":
        return not _ignored_user_text(text)
    if msg.get("type") == "gemini":
        return bool(text) or bool(msg.get("toolCalls")) or bool(msg.get("thoughts"))
    return False


_T = TypeVar("_T")


def _brief(m: dict[str, Any]) -> tuple[bool, str | None]:
    """What discovery keeps of a message: does it make the session resumable, and its title when it is a
    user prompt that counts (a few hundred bytes, whatever the message holds)."""
    if not _is_resumable(m):
        return False, None
    if m.get("type") == "user":
        return True, " ".join(_content_text(m.get("content")).split())[:200]
    return True, None


@dataclass
class ChatInfo:
    path: Path
    session_id: str | None
    start_time: str | None
    last_updated: str | None
    kind: str | None
    summary: str | None
    briefs: list[tuple[bool, str | None]]  # `_brief` of each message, in order
    fmt: str  # "jsonl" | "json"
    size: int
    lines: int

    @property
    def resumable(self) -> bool:
        return any(ok for ok, _ in self.briefs)

    @property
    def title(self) -> str | None:
        if self.summary:
            return self.summary
        return next((t for _, t in self.briefs if t), None)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages themselves, replayed again from the file (memory grows with the chat)."""
        replay = _replay(self.path, dict)
        return list(replay[1].values()) if replay else []


def read_chat(path: Path) -> ChatInfo | None:
    """Replay a chat file the way Gemini's loader does (JSONL records, else the legacy single document),
    keeping only a brief of each message: memory stays flat however long the chat."""
    replay = _replay(path, _brief)
    if replay is None:
        return None
    meta, messages, fmt, size, lines = replay
    return ChatInfo(
        path=path,
        session_id=meta.get("sessionId") if isinstance(meta.get("sessionId"), str) else None,
        start_time=meta.get("startTime"),
        last_updated=meta.get("lastUpdated") or meta.get("startTime"),
        kind=meta.get("kind"),
        summary=meta.get("summary") if isinstance(meta.get("summary"), str) else None,
        briefs=list(messages.values()),
        fmt=fmt,
        size=size,
        lines=lines,
    )


def _replay(
    path: Path, keep: Callable[[dict[str, Any]], _T]
) -> tuple[dict[str, Any], dict[str, _T], str, int, int] | None:
    """(metadata, keep(message) by id in order, format, size, record count) of a chat file, read line by
    line; the legacy single-document format is read whole (no streaming JSON parser here)."""
    meta: dict[str, Any] = {}
    messages: dict[str, _T] = {}
    lines = 0
    size = 0
    jsonl = path.suffix == ".jsonl"
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if jsonl and not line.endswith(b"\n"):
                    break  # only whole lines count: a line being appended right now is not sent
                size += len(line)
                for raw in line.splitlines():
                    if not raw.strip():
                        continue
                    lines += 1
                    try:
                        rec = json.loads(raw)
                    except ValueError:
                        continue
                    if not isinstance(rec, dict):
                        continue
                    if isinstance(rec.get("$rewindTo"), str):
                        keys = list(messages)
                        if rec["$rewindTo"] in messages:
                            for k in keys[keys.index(rec["$rewindTo"]):]:
                                del messages[k]
                        else:
                            messages.clear()
                    elif isinstance(rec.get("id"), str):
                        messages[rec["id"]] = keep(rec)
                    elif isinstance(rec.get("$set"), dict):
                        upd = rec["$set"]
                        if isinstance(upd.get("messages"), list):
                            messages = {m["id"]: keep(m) for m in upd["messages"] if isinstance(m, dict) and "id" in m}
                        meta.update(upd)
                    elif isinstance(rec.get("sessionId"), str) and isinstance(rec.get("projectHash"), str):
                        meta.update(rec)
                        for m in rec.get("messages") or []:
                            if isinstance(m, dict) and isinstance(m.get("id"), str):
                                messages[m["id"]] = keep(m)
        if meta.get("sessionId") and meta.get("projectHash"):
            return meta, messages, "jsonl", size, lines
        data = path.read_bytes()
    except OSError:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("sessionId"), str):
        return None
    found = {str(m.get("id", i)): keep(m) for i, m in enumerate(doc.get("messages") or []) if isinstance(m, dict)}
    return doc, found, "json", len(data), len(found)


def _ts_key(ts: str | None) -> str:
    return ts or ""


def pick_transcript(chats: list[ChatInfo]) -> ChatInfo | None:
    """Gemini's choice among files sharing a sessionId: resumable, not a subagent, latest lastUpdated."""
    good = [c for c in chats if c.resumable and c.kind != "subagent"]
    if not good:
        return None
    return max(good, key=lambda c: (_ts_key(c.last_updated), c.size))


# -- the registry ---------------------------------------------------------------------------------


def load_registry(registry: Path) -> dict[str, str]:
    try:
        return parse_registry(registry.read_bytes())
    except OSError:
        return {}


def parse_registry(raw: bytes | None) -> dict[str, str]:
    """The `projects` of a projects.json document (None: no file); {} for anything Gemini would reset."""
    doc = _registry_doc(raw)
    return {} if doc is None else {str(k): v for k, v in doc["projects"].items()}


def _registry_doc(raw: bytes | None) -> dict[str, Any] | None:
    """The projects.json document when Gemini accepts it (its schema: `projects` maps paths to short
    names; other keys are allowed and kept), else None (no file, or one Gemini resets to empty)."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    projects = data.get("projects") if isinstance(data, dict) else None
    if not isinstance(projects, dict) or not all(
        isinstance(v, str) and re.fullmatch(r"[a-z0-9-]+", v) for v in projects.values()
    ):
        return None  # Gemini resets an invalid registry to empty
    return data


def registration(key: str, slug: str) -> Callable[[bytes | None], bytes]:
    """The edit of projects.json that maps the project `key` to `slug` (a `FileEdit.edit`)."""

    def edit(raw: bytes | None) -> bytes:
        registry = parse_registry(raw)
        if raw is not None and registry.get(key) == slug:
            return raw
        # Gemini keeps a valid document as it loaded it (other keys too, in their order) and resets an
        # invalid one to {"projects": {}}; so do we.
        doc = _registry_doc(raw) or {"projects": {}}
        doc["projects"] = {**registry, key: slug}
        return json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")  # as Gemini

    return edit


def key_of(path: str, fl: pathflavor.Flavor) -> str:
    """A project path as Gemini normalises it for `projects.json` keys and `.project_root` markers on a
    machine of flavour `fl`: `path.resolve`, lower-cased on win32 (ProjectRegistry.normalizePath)."""
    if fl.windows:
        return pathflavor.native(path, fl).rstrip("\\").lower() if len(path) > 3 else path.lower()
    return os.path.normpath(path)
