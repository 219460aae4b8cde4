"""The gist transport against the shared transport contract, through the real gh and the strict
loopback gist server (tests/gist/conftest.py)."""

from __future__ import annotations

import pytest
from transport_suite import TransportContract

from sync_ai_sessions.transports import transport_class

pytestmark = pytest.mark.realgh


class TestGistTransport(TransportContract):
    kind = "gist"

    @pytest.fixture
    def transport(self, env):
        return transport_class("gist")(env, part_size=30_000, parts_per_gist=2)  # 70 kB: 3 parts, 2 gists

    @pytest.fixture
    def missing_ref(self) -> str:
        return "0123456789abcdef0123456789abcdef"
