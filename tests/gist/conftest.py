"""Fixtures: the loopback TLS gist server and a hermetic environment that points the real gh at it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from gist.fake_github import FakeGitHub, make_server

GH = shutil.which("gh") or "/usr/bin/gh"


@pytest.fixture
def gh_env(tmp_path: Path):
    """(server, env): env runs the real gh against the fake server with fast retries."""
    if not Path(GH).exists():
        pytest.skip("the real gh CLI is not installed")
    server, env = make_server(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        {
            "PATH": os.path.dirname(GH) + os.pathsep + "/bin",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "SYNC_AI_SESSIONS_GH_BACKOFF": "0.01",
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
