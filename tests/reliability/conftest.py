from __future__ import annotations

import pytest

from reliability.payloads import CASES, World, make_world


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    monkeypatch.setenv("SYNC_AI_SESSIONS_SCRYPT_LOG2N", "10")
    return make_world(tmp_path)


def pytest_terminal_summary(terminalreporter):
    if CASES:
        terminalreporter.section("reliability: adversarial cases tried")
        for k, v in sorted(CASES.items()):
            terminalreporter.write_line(f"{k:45s} {v:>8d}")
        terminalreporter.write_line(f"{'total':45s} {sum(CASES.values()):>8d}")
