"""Locate the real AI coding CLIs that `.ci/install-clis` put in `.cache/clis` (pinned in .ci/clis)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from support.fixtures import fixtures_dir  # noqa: F401  (its former home; new code imports support.fixtures)

ROOT = Path(__file__).resolve().parents[2]
CLI_DIR = Path(os.environ.get("SAIS_CLIS_DIR", ROOT / ".cache" / "clis"))


def cli_path(name: str) -> Path:
    """Path of the real CLI `name` (claude, codex, gemini, qwen).

    When it is not installed the test is skipped on a developer machine but fails under CI (CI=true),
    where `.ci/run` must have installed it.
    """
    p = CLI_DIR / "node_modules" / ".bin" / name
    if p.exists():
        return p
    msg = f"real {name} CLI not installed in {CLI_DIR} (run: bash .ci/install-clis)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def node_bin_dir() -> str:
    node = shutil.which("node")
    return str(Path(node).parent) if node else "/usr/bin"


def pinned_version(package: str) -> str:
    """The version of npm `package` that .ci/clis/package.json pins (what `.ci/install-clis` installs)."""
    return json.loads((ROOT / ".ci" / "clis" / "package.json").read_text())["dependencies"][package]


def readme_tool_row(tool: str) -> list[str]:
    """The cells of the README tool table's row for `--tool <tool>`."""
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[1] == f"`{tool}`":
            return cells
    raise AssertionError(f"the README tool table has no row for {tool}")
