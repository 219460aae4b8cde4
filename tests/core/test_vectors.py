"""The shipped test vectors (tests/vectors/) open exactly as vectors.json says; their intermediate values
follow from docs/FORMAT.md computed with the bare primitives; and every MUST-reject rule of the spec has
exactly one vector, giving the code the spec names."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
from pathlib import Path

import pytest
import zstandard
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sync_ai_sessions.errors import SyncError
from sync_ai_sessions.format.archive import read_archive
from sync_ai_sessions.format.container import DecryptReader, Header, KdfParams

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "vectors"
VECTORS = json.loads((HERE / "vectors.json").read_text())
SPEC = (ROOT / "docs" / "FORMAT.md").read_text()
# Every rule row of the spec's tables: | `rule-id` | condition | `code` |
RULES = dict(re.findall(r"^\| `([a-z0-9]+(?:-[a-z0-9]+)+)` \|.*\| `([a-z_]+)` \|$", SPEC, re.M))


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


def test_every_must_reject_rule_has_one_vector_with_its_code():
    assert len(RULES) > 50, "the rule tables of docs/FORMAT.md were not found"
    by_rule = {}
    for v in VECTORS:
        if v["file"].startswith("v2-") and v["expect"] != "ok":
            assert "rule" in v, v
            assert v["rule"] not in by_rule, f"two vectors for {v['rule']}"
            by_rule[v["rule"]] = v["expect"].split(":", 1)[1]
    assert by_rule == RULES


def _hkdf(kek: bytes, nonce: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=info).derive(kek)


@pytest.mark.parametrize("v", [v for v in VECTORS if "derivation" in v], ids=lambda v: v["file"])
def test_intermediate_values_follow_from_the_spec(v):
    d = v["derivation"]
    blob = (HERE / v["file"]).read_bytes()
    salt, nonce, hdr = bytes.fromhex(d["salt"]), bytes.fromhex(d["nonce"]), blob[:84]
    assert salt == bytes(range(16)) and nonce == bytes(range(16, 32))
    assert hdr.hex() == d["header"]
    assert hdr[:16] == bytes.fromhex("8953414953" "0d0a1a" "01" "01" "01") + bytes([d["log2_n"], d["r"], d["p"], 1, 0])
    assert int.from_bytes(hdr[16:20], "big") == d["chunk_size"] and hdr[20:36] == salt and hdr[36:52] == nonce
    # The spec's formulas, with the bare primitives.
    kek = hashlib.scrypt(v["passphrase"].encode(), salt=salt, n=1 << d["log2_n"], r=d["r"], p=d["p"], dklen=32)
    payload_key = _hkdf(kek, nonce, b"sync-ai-sessions v1 payload")
    mac_key = _hkdf(kek, nonce, b"sync-ai-sessions v1 header")
    assert (kek.hex(), payload_key.hex(), mac_key.hex()) == (d["kek"], d["payload_key"], d["mac_key"])
    assert hmac.new(mac_key, hdr[:52], hashlib.sha256).hexdigest() == d["header_mac"] == hdr[52:].hex()
    step = d["chunk_size"] + 16
    cts = [blob[i:i + step] for i in range(84, len(blob), step)]
    nonces = [i.to_bytes(11, "big") + (b"\x01" if i == len(cts) - 1 else b"\x00") for i in range(len(cts))]
    assert [n.hex() for n in nonces] == d["chunk_nonces"]
    plain = b"".join(AESGCM(payload_key).decrypt(n, c, hdr) for n, c in zip(nonces, cts, strict=True))
    assert hashlib.sha256(plain).hexdigest() == d["plaintext_sha256"]
    archive = zstandard.ZstdDecompressor().decompressobj().decompress(plain)
    assert archive.startswith(b"SAISARC2M") and archive.endswith(b"E")
    if "plaintext" in d:
        assert plain.hex() == d["plaintext"] and archive.hex() == d["archive"]
    # ... and this implementation computes the same.
    params = KdfParams(d["log2_n"], d["r"], d["p"])
    assert params.derive(v["passphrase"], salt) == kek
    assert Header(kdf=params, chunk_size=d["chunk_size"], salt=salt, nonce=nonce).body() == hdr[:52]
    with DecryptReader(io.BytesIO(blob), kek=kek) as r:
        assert r.read() == archive


def test_vectors_cover_success_and_each_failure():
    kinds = {v["expect"] for v in VECTORS}
    assert {"ok", "error:tampered", "error:wrong_passphrase"} <= kinds
