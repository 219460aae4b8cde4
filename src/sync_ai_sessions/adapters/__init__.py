"""Adapters, one per AI coding tool, behind `sync_ai_sessions.adapters.base.Adapter`.

The registry maps each `--tool` name to `module:Class`; modules are imported only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from sync_ai_sessions.adapters.base import Adapter
from sync_ai_sessions.errors import UsageError

# name -> (module, class, display name, shown in the picker)
REGISTRY: dict[str, tuple[str, str, str, bool]] = {
    "claude": ("sync_ai_sessions.adapters.claude", "ClaudeAdapter", "Claude Code", True),
    "codex": ("sync_ai_sessions.adapters.codex", "CodexAdapter", "Codex CLI", True),
    "gemini": ("sync_ai_sessions.adapters.gemini", "GeminiAdapter", "Gemini CLI", True),
    "qwen": ("sync_ai_sessions.adapters.qwen", "QwenAdapter", "Qwen Code", True),
    "opencode": ("sync_ai_sessions.adapters.opencode", "OpenCodeAdapter", "OpenCode", True),
    "copilot": ("sync_ai_sessions.adapters.copilot", "CopilotAdapter", "GitHub Copilot CLI", True),
    # A tiny file-based tool used by `demo` and the core tests; not shown in the picker.
    "demo": ("sync_ai_sessions.adapters.demo", "DemoAdapter", "Demo tool", False),
}


def tool_names(*, include_hidden: bool = False) -> list[str]:
    return [n for n, spec in REGISTRY.items() if include_hidden or spec[3]]


def get_adapter(name: str, env: Mapping[str, str] | None = None) -> Adapter:
    try:
        module_name, class_name, _display, _shown = REGISTRY[name]
    except KeyError:
        raise UsageError(
            f"unknown tool {name!r}: choose one of {', '.join(tool_names())}", code="unknown_tool"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise UsageError(f"the {name} adapter is not available in this build", code="unknown_tool") from None
        raise
    cls: type[Adapter] = getattr(module, class_name)
    return cls(env)
