"""The encrypted container: round trip, tampering, wrong passphrase, hostile headers."""

from __future__ import annotations

import io
import os
import struct

import pytest

from sync_ai_sessions.errors import CryptoError, FormatError
from sync_ai_sessions.format import container as c

PW = "correct horse battery staple 42"


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch):
    monkeypatch.setenv("SYNC_AI_SESSIONS_SCRYPT_LOG2N", "10")


@pytest.fixture
def memo_kdf(monkeypatch):
    """Exhaustive byte-level tests re-derive the same key thousands of times: memoise scrypt."""
    real = c.KdfParams.derive
    cache: dict = {}

    def derive(self, passphrase, salt):
        key = (self, passphrase, salt)
        if key not in cache:
            cache[key] = real(self, passphrase, salt)
        return cache[key]

    monkeypatch.setattr(c.KdfParams, "derive", derive)


def seal(data: bytes, chunk: int = 4096, pw: str = PW) -> bytes:
    hdr = c.Header(kdf=c.KdfParams.default(), chunk_size=chunk, salt=os.urandom(16), nonce=os.urandom(16))
    out = io.BytesIO()
    w = c.EncryptWriter(out, pw, header=hdr, threads=0)
    w.write(data)
    w.close()
    return out.getvalue()


def open_(blob: bytes, pw: str = PW, limit: int | None = None) -> bytes:
    r = c.DecryptReader(io.BytesIO(blob), pw, limit=limit)
    data = r.read()
    assert r.at_eof
    return data


def chunks(blob: bytes, chunk: int = 4096) -> tuple[bytes, list[bytes]]:
    body = blob[c.HEADER_LEN:]
    size = chunk + c.TAG_LEN
    return blob[: c.HEADER_LEN], [body[i : i + size] for i in range(0, len(body), size)]


# incompressible, so that a payload spans many 4 KiB chunks
DATA = os.urandom(40_000)


@pytest.mark.parametrize("n", [0, 1, 4095, 4096, 4097, 40_000])
def test_round_trip_sizes(n):
    data = os.urandom(n)
    assert open_(seal(data)) == data


def test_fresh_salt_and_nonce_per_handoff():
    a, b = seal(b"same"), seal(b"same")
    assert a[:20] == b[:20]  # magic, version, ids, params, chunk size
    assert a[20:36] != b[20:36] and a[36:52] != b[36:52]  # salt, nonce
    assert a != b


def test_wrong_passphrase_is_reported_as_such():
    with pytest.raises(CryptoError) as e:
        open_(seal(DATA), pw="wrong horse battery staple 42")
    assert e.value.code == "wrong_passphrase"


def test_every_flipped_byte_is_detected(memo_kdf):
    blob = seal(DATA[:9000])
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises((CryptoError, FormatError)):
            open_(bytes(bad))


def test_every_truncation_is_detected(memo_kdf):
    blob = seal(DATA[:9000])
    for cut in range(len(blob)):
        with pytest.raises((CryptoError, FormatError)):
            open_(blob[:cut])


def test_truncation_at_chunk_boundary_is_detected():
    blob = seal(DATA)
    head, cs = chunks(blob)
    assert len(cs) > 3
    for k in range(1, len(cs)):
        with pytest.raises(CryptoError):
            open_(head + b"".join(cs[:k]))


def test_reordered_dropped_duplicated_chunks_are_detected():
    blob = seal(DATA)
    head, cs = chunks(blob)
    cases = [
        cs[1:2] + cs[0:1] + cs[2:],  # swap
        cs[:2] + cs[3:],  # drop a middle chunk
        cs[:3] + cs[2:],  # duplicate a chunk
        cs[:-1] + cs[-2:-1] + cs[-1:],  # duplicate before last
    ]
    for body in cases:
        with pytest.raises(CryptoError):
            open_(head + b"".join(body))


def test_trailing_garbage_is_detected():
    blob = seal(DATA)
    for extra in (b"\x00", b"x" * 100, os.urandom(4096 + 16)):
        with pytest.raises(CryptoError):
            open_(blob + extra)


def test_chunks_from_another_handoff_do_not_fit():
    a, b = seal(DATA), seal(DATA)
    ha, ca = chunks(a)
    _hb, cb = chunks(b)
    with pytest.raises(CryptoError):
        open_(ha + ca[0] + b"".join(cb[1:]))


def test_not_a_handoff():
    with pytest.raises(FormatError) as e:
        open_(b"hello world, this is not a handoff at all" * 3)
    assert e.value.code == "not_a_handoff"


def _header_with(**kw) -> bytes:
    fields = dict(magic=c.MAGIC, version=1, cipher=1, kdf=1, log2_n=10, r=8, p=1, comp=1, res=0, chunk=4096)
    fields.update(kw)
    body = c.HEADER_STRUCT.pack(fields["magic"], fields["version"], fields["cipher"], fields["kdf"],
                                fields["log2_n"], fields["r"], fields["p"], fields["comp"], fields["res"],
                                fields["chunk"], b"s" * 16, b"n" * 16)
    return body + b"m" * 32 + b"x" * 64


def test_unknown_version_is_refused_clearly():
    with pytest.raises(FormatError) as e:
        open_(_header_with(version=2))
    assert e.value.code == "unsupported_version"
    assert "upgrade" in e.value.message


@pytest.mark.parametrize("kw", [dict(log2_n=21), dict(log2_n=20, r=16), dict(log2_n=19, r=8, p=64),
                                dict(log2_n=0), dict(r=0), dict(p=0), dict(log2_n=255, r=255, p=255)])
def test_hostile_kdf_parameters_are_refused_before_any_work(kw, monkeypatch):
    called = []
    monkeypatch.setattr(c.hashlib, "scrypt", lambda *a, **k: called.append(1) or b"\0" * 32)
    with pytest.raises(FormatError) as e:
        open_(_header_with(**kw))
    assert e.value.code == "kdf_limit"
    assert not called


@pytest.mark.parametrize("kw", [dict(cipher=2), dict(kdf=9), dict(comp=0), dict(res=1), dict(chunk=1),
                                dict(chunk=1 << 30)])
def test_unsupported_header_fields(kw):
    with pytest.raises(FormatError):
        open_(_header_with(**kw))


def test_decompression_limit_stops_a_bomb():
    bomb = seal(b"\0" * (8 << 20))  # 8 MiB of zeros compresses to a few hundred bytes
    assert len(bomb) < 4096
    with pytest.raises(FormatError) as e:
        open_(bomb, limit=1 << 20)
    assert e.value.code == "too_large"


def test_header_layout_is_as_documented():
    blob = seal(b"x")
    magic, version, cipher, kdf, log2_n, r, p, comp, res, chunk = struct.unpack(">8sBBBBBBBBI", blob[:20])
    assert (magic, version, cipher, kdf, comp, res, chunk) == (b"\x89SAIS\r\n\x1a", 1, 1, 1, 1, 0, 4096)
    assert (log2_n, r, p) == (10, 8, 1)
    assert c.HEADER_LEN == 84


def test_key_derived_ahead_opens_with_the_passphrase(monkeypatch):
    """send derives the key on a thread while it finds the sessions: the handoff it writes with that key
    opens with the passphrase alone, and a failure of the derivation reaches the caller."""
    key = c.Key("correct horse battery staple")
    buf = io.BytesIO()
    w = c.EncryptWriter(buf, key)
    assert w.header is key.header
    w.write(b"hello " * 1000)
    w.close()
    assert c.DecryptReader(io.BytesIO(buf.getvalue()), "correct horse battery staple").read() == b"hello " * 1000
    with pytest.raises(CryptoError):
        c.DecryptReader(io.BytesIO(buf.getvalue()), "another passphrase")

    def boom(self, passphrase, salt):
        raise MemoryError("no memory for scrypt")

    monkeypatch.setattr(c.KdfParams, "derive", boom)
    with pytest.raises(MemoryError):
        c.Key("x").get()


def test_repeats_further_back_than_zstd_level_3_looks_are_found():
    """The writer's 8 MiB window: content seen 4 MiB earlier (a file read again, a transcript copied
    into a sidecar) is stored once; level 3's own 2 MiB window would store it twice."""
    block = os.urandom(3 << 20)
    data = block + os.urandom(1 << 20) + block
    out = io.BytesIO()
    with c.EncryptWriter(out, PW, threads=0) as w:
        w.write(data)
    assert len(out.getvalue()) < (4 << 20) + (256 << 10)  # not 7 MiB
    assert c.DecryptReader(io.BytesIO(out.getvalue()), PW).read() == data
