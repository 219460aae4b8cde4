"""Fixtures: the loopback TLS gist server (strict mode) and a hermetic environment for the real gh.

Tests that are not about pacing run with 50 ms between mutative requests, on both sides
(`FAST_PACE`: the client's `SYNC_AI_SESSIONS_GH_PACE`, the server's `min_gap`); the pacing tests
themselves use the real 1 s (`real_pace`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from gist.fake_github import FakeGitHub, make_server

GH = shutil.which("gh") or "/usr/bin/gh"
FAST_PACE = 0.05


@pytest.fixture
def gh_env(tmp_path: Path):
    """(server, env): env runs the real gh against the fake server with fast retries."""
    if not Path(GH).exists():
        pytest.skip("the real gh CLI is not installed")
    server, env = make_server(tmp_path, strict=True)
    server.min_gap = FAST_PACE
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        {
            "PATH": os.path.dirname(GH) + os.pathsep + "/bin",
            "HOME": str(home),
            "USERPROFILE": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "SYNC_AI_SESSIONS_GH_BACKOFF": "0.01",
            "SYNC_AI_SESSIONS_GH_PACE": str(FAST_PACE),
            "SYNC_AI_SESSIONS_HOME": str(home / ".sync-ai-sessions"),
            "LANG": "C.UTF-8",
        }
    )
    try:
        yield server, env
    finally:
        server.stop()


@pytest.fixture
def server(gh_env) -> FakeGitHub:
    return gh_env[0]


@pytest.fixture
def env(gh_env) -> dict[str, str]:
    return gh_env[1]


@pytest.fixture
def real_pace(server, env) -> dict[str, str]:
    """The env with GitHub's real pacing: 1 s between mutative requests, enforced by the server too."""
    server.min_gap = 1.0
    return {k: v for k, v in env.items() if k != "SYNC_AI_SESSIONS_GH_PACE"}
