"""The shipped test vectors (tests/vectors/) open exactly as vectors.json says."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sync_ai_sessions.archive import read_archive
from sync_ai_sessions.container import DecryptReader
from sync_ai_sessions.errors import SyncError

HERE = Path(__file__).resolve().parents[1] / "vectors"
VECTORS = json.loads((HERE / "vectors.json").read_text())


@pytest.mark.parametrize("v", VECTORS, ids=[f"{v['file']}:{v['expect']}" for v in VECTORS])
def test_vector(v, tmp_path):
    with open(HERE / v["file"], "rb") as fh:
        if v["expect"] == "ok":
            manifest, files = read_archive(DecryptReader(fh, v["passphrase"]), tmp_path)
            assert manifest["tool"] == v["tool"]
            assert [s["id"] for s in manifest["sessions"]] == v["sessions"]
            assert {n: {"size": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                    for n, p in files.items()} == v["files"]
        else:
            with pytest.raises(SyncError) as e:
                read_archive(DecryptReader(fh, v["passphrase"]), tmp_path)
            assert e.value.code == v["expect"].split(":", 1)[1]


def test_vectors_cover_success_and_each_failure():
    kinds = {v["expect"] for v in VECTORS}
    assert {"ok", "error:tampered", "error:wrong_passphrase"} <= kinds
