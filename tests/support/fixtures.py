"""Where the real session files live: `tests/fixtures/`, in the repository (see its README.md)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixtures_dir() -> Path:
    """The fixtures folder; it ships with the repository, so a missing one is an error, never a skip."""
    if not FIXTURES.is_dir():
        raise FileNotFoundError(f"test fixtures missing: {FIXTURES} (they are part of the repository)")
    return FIXTURES
