"""Adversarial handoffs against the real reader, through the CLI: every case must end in one clear error
(a SyncError: documented non-zero exit, JSON error, no traceback) with nothing written on the receiving
machine.  Counts of cases tried are printed at the end of the run (see conftest)."""

from __future__ import annotations

import io
import json
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.machines import PASSPHRASE

from reliability.payloads import (
    CASES,
    assert_refused,
    build,
    file_entry,
    file_record,
    make_world,
    raw_archive,
    receive_cli,
    seal,
    session_lines,
)
from sync_ai_sessions.errors import FormatError, SyncError
from sync_ai_sessions.format import container as c

SID = "0b7c5e1e-1111-4222-8333-944455556666"


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("rand"))


@pytest.fixture
def small(world, tmp_path):
    """A small real payload (one demo session) that imports fine."""
    blob = build([(f"sessions/{SID}.jsonl", session_lines(SID, 4))], tmp=tmp_path)
    return blob


def test_the_small_payload_is_valid(world, small):
    r = receive_cli(world, small)
    assert r.exit_code == 0, r.stdout
    assert [i["action"] for i in r.doc["imported"]] == ["new"]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(blob=st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=600).map(lambda b: c.MAGIC + b),  # past the magic check
    st.binary(min_size=c.HEADER_LEN, max_size=600).map(lambda b: c.MAGIC + bytes([1, 1, 1, 10, 8, 1, 1, 0]) + b[16:]),
))
def test_random_bytes(shared_world, blob):
    world = shared_world
    assert_refused(world, blob, "random bytes", exit_codes={4})


def test_every_single_byte_flip(world, small):
    assert len(small) < 700
    for i in range(len(small)):
        bad = bytearray(small)
        bad[i] ^= 0x01 if i % 2 else 0x80
        assert_refused(world, bytes(bad), "single-byte flips", exit_codes={4})


def test_every_truncation_point(world, small):
    for cut in range(len(small)):
        assert_refused(world, small[:cut], "truncations", exit_codes={4})
    for extra in (b"\0", b"x" * 17, os.urandom(4096 + 16)):
        assert_refused(world, small + extra, "truncations", exit_codes={4})


def _chunks(blob: bytes, chunk: int) -> tuple[bytes, list[bytes]]:
    body = blob[c.HEADER_LEN:]
    size = chunk + c.TAG_LEN
    return blob[: c.HEADER_LEN], [body[i: i + size] for i in range(0, len(body), size)]


def test_chunk_reorder_duplicate_drop(world, tmp_path):
    data = os.urandom(30_000)  # incompressible: about 8 chunks of 4 KiB
    blob = build([(f"sessions/{SID}.jsonl", data)], tmp=tmp_path)
    head, cs = _chunks(blob, 4096)
    n = len(cs)
    assert n >= 6
    bodies = []
    for i in range(n):
        bodies.append(cs[:i] + cs[i + 1:])  # drop
        bodies.append([*cs[:i], cs[i], *cs[i:]])  # duplicate
        for j in range(i + 1, n):
            swapped = list(cs)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            bodies.append(swapped)  # swap
    bodies.append(cs[::-1])
    bodies.append(cs[:-1])
    _other_head, other = _chunks(build([(f"sessions/{SID}.jsonl", data)], tmp=tmp_path), 4096)
    bodies += [[*cs[:k], *other[k:]] for k in range(n)]  # splice with another handoff's chunks
    for body in bodies:
        assert_refused(world, head + b"".join(body), "chunk reorder/dup/drop/splice", exit_codes={4})


@pytest.mark.parametrize("chunk", [0, 1, c.MIN_CHUNK - 1, c.MAX_CHUNK + 1, 0xFFFFFFFF])
def test_oversized_or_tiny_chunk_size_in_header(world, small, chunk):
    bad = bytearray(small)
    struct.pack_into(">I", bad, 16, chunk)
    assert_refused(world, bytes(bad), "header length fields", codes={"format"})


@pytest.mark.parametrize("log2_n,r,p", [(21, 8, 1), (20, 16, 1), (19, 8, 64), (0, 8, 1), (10, 0, 1), (10, 8, 0),
                                        (255, 255, 255), (20, 8, 3), (18, 64, 1), (14, 64, 64)])
def test_hostile_kdf_parameters(world, small, monkeypatch, log2_n, r, p):
    called = []
    real = c.hashlib.scrypt
    monkeypatch.setattr(c.hashlib, "scrypt", lambda *a, **k: called.append(k) or real(*a, **k))
    bad = bytearray(small)
    bad[11], bad[12], bad[13] = log2_n, r, p
    res = assert_refused(world, bytes(bad), "hostile KDF parameters", exit_codes={4})
    assert res.doc["error"]["code"] == "kdf_limit"
    assert not called, "scrypt ran on refused parameters"


@pytest.mark.parametrize("field_,value", [("version", 2), ("version", 0), ("cipher", 2), ("kdf", 0), ("comp", 9),
                                          ("reserved", 1)])
def test_unknown_header_ids(world, small, field_, value):
    off = {"version": 8, "cipher": 9, "kdf": 10, "comp": 14, "reserved": 15}[field_]
    bad = bytearray(small)
    bad[off] = value
    assert_refused(world, bytes(bad), "header ids/version", exit_codes={4})


# -- authenticated but broken archives (the sender knows the passphrase) ---------------------------------
def _manifest_for(name: str, data: bytes) -> dict:
    from reliability.payloads import base_manifest

    return base_manifest([{"id": SID, "files": [file_entry(name, data)]}])


NAME = f"sessions/{SID}.jsonl"
DATA = session_lines(SID, 2)


def _v1_manifest_for(name: str, data: bytes) -> dict:
    from reliability.payloads import base_manifest

    return base_manifest([{"id": SID, "files": [file_entry(name, data, version=1)]}], version=1)


_M_JSON = json.dumps(_manifest_for(NAME, DATA)).encode()
_M = b"M" + struct.pack(">I", len(_M_JSON)) + _M_JSON
_F = file_record(NAME, DATA)
_F_HEAD = b"F" + struct.pack(">H", len(NAME)) + NAME.encode()


@pytest.mark.parametrize("what,plain", [
    ("empty plaintext", b""),
    ("wrong archive magic", b"SAISARC9" + raw_archive([_F], _manifest_for(NAME, DATA))[8:]),
    ("magic only", b"SAISARC2"),
    ("no manifest", b"SAISARC2" + _F + b"E"),
    ("unknown record", raw_archive([b"Z" + b"\0" * 40], _manifest_for(NAME, DATA))),
    ("no end record", raw_archive([_F], _manifest_for(NAME, DATA))[:-1]),
    ("end record twice", raw_archive([_F], _manifest_for(NAME, DATA)) + b"E"),
    ("end record where a file is due", raw_archive([], _manifest_for(NAME, DATA))),
    ("name length 65535, short data", raw_archive([b"F\xff\xff" + b"a" * 100], _manifest_for(NAME, DATA))),
    ("name length 65535, long name", raw_archive([b"F\xff\xff" + b"a" * 65535 + b"\0" * 8],
                                                 _manifest_for(NAME, DATA))),
    ("file size 2^64-1", raw_archive([_F_HEAD + struct.pack(">Q", 2**64 - 1) + DATA], _manifest_for(NAME, DATA))),
    ("file size larger than the data", raw_archive([file_record(NAME, DATA, size=len(DATA) + 10)],
                                                   _manifest_for(NAME, DATA))),
    ("file size smaller than the data", raw_archive([file_record(NAME, DATA, size=len(DATA) - 10)],
                                                    _manifest_for(NAME, DATA))),
    ("data cut inside the file", (b"SAISARC2" + _M + _F)[:-5]),
    ("manifest length 2^32-1", b"SAISARC2" + b"M\xff\xff\xff\xff{}" + _F + b"E"),
    ("manifest length past the end", b"SAISARC2" + b"M\x00\x10\x00\x00{}" + _F + b"E"),
    ("manifest not JSON", raw_archive([_F], b"{not json")),
    ("manifest not UTF-8", raw_archive([_F], b"\xff\xfe\x00")),
    ("manifest JSON but a list", raw_archive([_F], b"[1,2,3]")),
    ("data after the end", raw_archive([_F], _manifest_for(NAME, DATA)) + b"F"),
    ("file after the end", raw_archive([_F], _manifest_for(NAME, DATA)) + _F),
    ("manifest twice", b"SAISARC2" + _M + _M + _F + b"E"),
    ("name not UTF-8", raw_archive([file_record(b"sessions/\xff.jsonl", DATA)], _manifest_for(NAME, DATA))),
    ("deeply nested manifest", raw_archive([_F], b"[" * 100_000 + b"]" * 100_000)),
    # Version 1 (manifest last, a SHA-256 per file), still read for handoffs made by earlier versions.
    ("v1: no manifest", raw_archive([file_record(NAME, DATA, version=1)], None, version=1)),
    ("v1: bad sha256", raw_archive([file_record(NAME, DATA, digest=b"\0" * 32, version=1)],
                                   _v1_manifest_for(NAME, DATA), version=1)),
    ("v1: size larger than the data", raw_archive([file_record(NAME, DATA, size=len(DATA) + 10, version=1)],
                                                  _v1_manifest_for(NAME, DATA), version=1)),
    ("v1: data after the manifest", raw_archive([file_record(NAME, DATA, version=1)],
                                                _v1_manifest_for(NAME, DATA), version=1) + b"F"),
    ("v1: file after the manifest", raw_archive([], _v1_manifest_for(NAME, DATA), version=1)
     + file_record(NAME, DATA, version=1)),
    ("v1: version 2 manifest", raw_archive([file_record(NAME, DATA, version=1)], _manifest_for(NAME, DATA),
                                           version=1)),
    ("v1: manifest not JSON", raw_archive([file_record(NAME, DATA, version=1)], b"{not json", version=1)),
])
def test_oversized_lengths_and_broken_archives(world, what, plain):
    assert_refused(world, seal(plain), "archive length fields / structure", exit_codes={4})


def test_zstd_bomb_env_cap(world, monkeypatch):
    """64 MiB of zeros in a ~2 KB handoff: refused at the documented cap, in bounded memory."""
    out = io.BytesIO()
    w = c.EncryptWriter(out, PASSPHRASE, header=c.Header(c.KdfParams(10), 1 << 20, os.urandom(16), os.urandom(16)),
                        threads=0, level=19)
    w.write(b"SAISARC1" + b"F" + struct.pack(">H", len(NAME)) + NAME.encode() + struct.pack(">Q", 64 << 20))
    zeros = bytes(1 << 20)
    for _ in range(64):
        w.write(zeros)
    w.close()
    blob = out.getvalue()
    assert len(blob) < 16_000
    world.env["SYNC_AI_SESSIONS_MAX_UNPACKED"] = str(8 << 20)
    r = assert_refused(world, blob, "zstd bombs", exit_codes={4})
    assert r.doc["error"]["code"] == "too_large"
    assert "SYNC_AI_SESSIONS_MAX_UNPACKED" in r.doc["error"]["message"]


def test_zstd_bomb_reader_limit_bounded_memory():
    """The reader's `limit=`: a 1 GiB-of-zeros bomb is refused at 16 MiB without inflating it in memory."""
    out = io.BytesIO()
    w = c.EncryptWriter(out, PASSPHRASE, header=c.Header(c.KdfParams(10), c.MAX_CHUNK, os.urandom(16),
                                                         os.urandom(16)), threads=0, level=19)
    zeros = bytes(16 << 20)
    for _ in range(64):
        w.write(zeros)
    w.close()
    blob = out.getvalue()
    r = c.DecryptReader(io.BytesIO(blob), PASSPHRASE, limit=16 << 20)
    peak = 0
    with pytest.raises(FormatError) as e:
        while True:
            block = r.read(1 << 20)
            peak = max(peak, len(r._pending))
            if not block:
                break
    CASES["zstd bombs"] += 1
    assert e.value.code == "too_large"
    assert r.plain_bytes < (16 << 20) + (64 << 20)  # stopped near the limit, not after a whole chunk
    assert peak < 64 << 20


def test_wrong_passphrase_and_empty_file(world, small):
    world.env["SYNC_AI_SESSIONS_PASSPHRASE"] = "wrong horse battery staple 42"
    r = assert_refused(world, small, "wrong passphrase", exit_codes={4})
    assert r.doc["error"]["code"] == "wrong_passphrase"
    world.env["SYNC_AI_SESSIONS_PASSPHRASE"] = PASSPHRASE
    assert_refused(world, b"", "truncations", exit_codes={4})


def test_reader_errors_are_sync_errors_in_process(small):
    """Direct API: every truncation of the container raises a SyncError subclass (never another type)."""
    for cut in range(0, len(small), 7):
        try:
            r = c.DecryptReader(io.BytesIO(small[:cut]), PASSPHRASE)
            r.read()
        except SyncError:
            continue
        raise AssertionError(f"truncation at {cut} was accepted")
