"""Each tool's home found as that tool finds it on each OS: USERPROFILE on Windows (HOME is Git Bash's
there, and no CLI reads it), HOME elsewhere; Gemini's runtime folder under the macOS seatbelt sandbox."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sync_ai_sessions import osops
from sync_ai_sessions.adapters import get_adapter
from sync_ai_sessions.adapters.gemini import GeminiAdapter
from sync_ai_sessions.config import config_dir
from sync_ai_sessions.gitrepo import Repo

MSYS = {"HOME": "/c/Users/me/msys-home", "USERPROFILE": r"C:\Users\me"}


def test_windows_uses_userprofile_not_home(monkeypatch):
    monkeypatch.setattr(osops, "WINDOWS", True)
    assert osops.user_home(MSYS) == Path(r"C:\Users\me")
    assert osops.user_home({"HOME": "/x", "HOMEDRIVE": "D:", "HOMEPATH": r"\Users\you"}) == Path(r"D:\Users\you")
    for tool, folder in (("claude", ".claude"), ("codex", ".codex"), ("qwen", ".qwen")):
        assert get_adapter(tool, MSYS).home() == Path(r"C:\Users\me") / folder, tool
    assert get_adapter("gemini", MSYS).home() == Path(r"C:\Users\me") / ".gemini"
    assert config_dir(MSYS) == Path(r"C:\Users\me") / ".sync-ai-sessions"


def test_posix_uses_home(monkeypatch):
    monkeypatch.setattr(osops, "WINDOWS", False)
    assert osops.user_home(MSYS) == Path("/c/Users/me/msys-home")
    assert get_adapter("claude", MSYS).home() == Path("/c/Users/me/msys-home/.claude")


@pytest.mark.parametrize(("macos", "env", "cache"), [
    (True, {"SANDBOX": "sandbox-exec"}, True),              # inside the seatbelt
    (False, {"SANDBOX": "sandbox-exec"}, True),             # the CLI's rule does not look at the OS
    (True, {"GEMINI_SANDBOX": "true"}, True),               # macOS: Gemini will start in the seatbelt
    (True, {"GEMINI_SANDBOX": " Sandbox-Exec "}, True),
    (True, {"GEMINI_SANDBOX": "1"}, True),
    (True, {"GEMINI_SANDBOX": "docker"}, False),
    (True, {"GEMINI_SANDBOX": "false"}, False),
    (False, {"GEMINI_SANDBOX": "true"}, False),             # Linux: docker/podman, not the seatbelt
    (True, {"SANDBOX": "gemini-sandbox-1", "GEMINI_SANDBOX": "true"}, False),  # inside a container
    (True, {}, False),
])
def test_gemini_seatbelt_runtime_dir(monkeypatch, macos, env, cache):
    monkeypatch.setattr(osops, "MACOS", macos)
    a = GeminiAdapter({"HOME": "/Users/you", **env})
    assert a.home() == (Path("/Users/you/.cache/.gemini") if cache else Path("/Users/you/.gemini"))


def test_gemini_sessions_are_found_in_the_seatbelt_folder(tmp_path, monkeypatch):
    from gemini.helpers import ALICE_ROOT, SID, copy_fixture_home

    gdir = copy_fixture_home(tmp_path)
    (tmp_path / ".cache").mkdir()
    shutil.move(gdir, tmp_path / ".cache" / ".gemini")
    monkeypatch.setattr(osops, "MACOS", True)
    seatbelt = GeminiAdapter({"HOME": str(tmp_path), "GEMINI_SANDBOX": "true"})
    assert [s.id for s in seatbelt.find_sessions(Repo(root=Path(ALICE_ROOT)))] == [SID]
    assert GeminiAdapter({"HOME": str(tmp_path)}).find_sessions(Repo(root=Path(ALICE_ROOT))) == []
