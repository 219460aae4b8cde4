"""The contract every registered transport passes (see `transports.base.Transport`).

A transport joins in a few lines: subclass `TransportContract` in a test module and give the
`transport` fixture (a ready transport) and `missing_ref` (a reference that names nothing stored).
`test_registry_is_covered` in tests/core/test_transport_contract.py fails when a registered
transport has no such module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sync_ai_sessions.errors import NotFoundError
from sync_ai_sessions.transports import REGISTRY
from sync_ai_sessions.transports.base import Transport


class TransportContract:
    kind: str  # the REGISTRY name this subclass covers

    @pytest.fixture
    def transport(self, tmp_path: Path) -> Transport:
        raise NotImplementedError

    @pytest.fixture
    def missing_ref(self, tmp_path: Path) -> str:
        raise NotImplementedError

    def _stored(self, transport: Transport, tmp_path: Path, data: bytes):
        payload = transport.scratch(tmp_path)
        payload.write_bytes(data)
        try:
            return transport.upload(payload)
        finally:
            transport.release(payload)

    def test_is_registered(self, transport: Transport):
        assert REGISTRY[self.kind].endswith(":" + type(transport).__name__) and transport.kind == self.kind

    def test_round_trip_gives_back_the_same_bytes(self, transport: Transport, tmp_path: Path):
        data = os.urandom(70_000)
        stored = self._stored(transport, tmp_path, data)
        assert stored.kind == self.kind and stored.size == len(data) and stored.ref
        dest = tmp_path / "back.bin"
        transport.download(stored.ref, dest)
        assert dest.read_bytes() == data

    def test_download_of_a_missing_ref_raises_not_found_and_makes_nothing(
        self, transport: Transport, missing_ref: str, tmp_path: Path
    ):
        dest = tmp_path / "never.bin"
        with pytest.raises(NotFoundError):
            transport.download(missing_ref, dest)
        assert not dest.exists()

    def test_delete_removes_and_a_second_delete_changes_nothing(self, transport: Transport, tmp_path: Path):
        stored = self._stored(transport, tmp_path, b"cipher" * 100)
        try:
            removed = transport.delete(stored.ref)
        except NotImplementedError:
            pytest.skip(f"the {self.kind} transport cannot delete")
        assert isinstance(removed, list) and removed and all(isinstance(r, str) for r in removed)
        with pytest.raises(NotFoundError):
            transport.delete(stored.ref)
        with pytest.raises(NotFoundError):
            transport.download(stored.ref, tmp_path / "gone.bin")

    def test_list_shape(self, transport: Transport, tmp_path: Path):
        try:
            before = transport.list_handoffs()
        except NotImplementedError:
            return  # optional capability; nothing else may be claimed
        stored = self._stored(transport, tmp_path, b"x" * 1000)
        after = transport.list_handoffs()
        assert isinstance(after, list) and len(after) == len(before) + 1
        for h in after:
            doc = h.to_json()
            assert isinstance(doc, dict) and isinstance(doc.get("id"), str)
        assert any(stored.ref.endswith(h.to_json()["id"]) for h in after)

    def test_prune_dry_run_deletes_nothing(self, transport: Transport, tmp_path: Path):
        try:
            transport.prune(0, dry_run=True)
        except NotImplementedError:
            return
        stored = self._stored(transport, tmp_path, b"y" * 1000)
        # a negative age selects everything, the handoff just stored included: only dry_run keeps it
        listed = transport.prune(-1, dry_run=True)
        assert any(stored.ref.endswith(h.to_json()["id"]) for h in listed)
        dest = tmp_path / "still.bin"
        transport.download(stored.ref, dest)
        assert dest.read_bytes() == b"y" * 1000
