"""The file transport against the shared transport contract (tests/transport_suite.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from transport_suite import TransportContract

from sync_ai_sessions.transports import REGISTRY, for_receive, for_send, transport_class


class TestFileTransport(TransportContract):
    kind = "file"

    @pytest.fixture
    def transport(self, tmp_path: Path):
        return transport_class("file")(tmp_path / "handoff.sais")

    @pytest.fixture
    def missing_ref(self, tmp_path: Path) -> str:
        return str(tmp_path / "nothing-here.sais")


def test_registry_is_covered():
    """Every registered transport has a contract module (add yours here when it joins REGISTRY)."""
    covered = {"file": TestFileTransport, "gist": "tests/gist/test_gist_transport_contract.py"}
    assert set(REGISTRY) == set(covered)
    root = Path(__file__).resolve().parents[2]
    assert (root / covered["gist"]).is_file()


def test_cli_options_map_onto_the_registry(tmp_path: Path):
    t = for_send(to=str(tmp_path / "h.sais"))
    assert t.kind == "file" and t.describe() == {"file": str(tmp_path / "h.sais")}
    t, ref = for_receive(from_file=str(tmp_path / "h.sais"))
    assert t.kind == "file" and ref == str(tmp_path / "h.sais")
    t, ref = for_receive(gist="abc123")
    assert t.kind == "gist" and ref == "abc123"
    from sync_ai_sessions.errors import UsageError

    with pytest.raises(UsageError):
        for_receive()
    with pytest.raises(UsageError):
        transport_class("s3")
