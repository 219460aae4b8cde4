"""The file transport: written beside the destination and renamed into place, or copied when the
ciphertext was made elsewhere; clear errors for a folder or a missing parent."""

from __future__ import annotations

import pytest

from sync_ai_sessions.errors import NotFoundError, UsageError
from sync_ai_sessions.transports.file import FileTransport


def test_scratch_is_beside_the_destination_and_renamed(tmp_path):
    t = FileTransport(tmp_path / "out" / "h.sais")
    (tmp_path / "out").mkdir()
    t.preflight()
    scratch = t.scratch(tmp_path / "staging")
    assert scratch.parent == tmp_path / "out" and scratch.name.startswith(".h.sais.partial-")
    scratch.write_bytes(b"cipher")
    stored = t.upload(scratch)
    assert (tmp_path / "out" / "h.sais").read_bytes() == b"cipher" and not scratch.exists()
    assert stored.kind == "file" and stored.size == 6
    assert t.local(stored.ref) == tmp_path / "out" / "h.sais"


def test_payload_made_elsewhere_is_copied_and_left_alone(tmp_path):
    src = tmp_path / "elsewhere.bin"
    src.write_bytes(b"x" * 5000)
    (tmp_path / "out").mkdir()
    FileTransport(tmp_path / "out" / "h.sais").upload(src)
    assert (tmp_path / "out" / "h.sais").read_bytes() == b"x" * 5000 and src.exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["h.sais"]


def test_clear_errors(tmp_path):
    with pytest.raises(UsageError):
        FileTransport(tmp_path).preflight()
    with pytest.raises(NotFoundError):
        FileTransport(tmp_path / "no" / "h.sais").preflight()
    with pytest.raises(NotFoundError):
        FileTransport(tmp_path / "missing.sais").local(str(tmp_path / "missing.sais"))
