"""STREAM alone (format/stream.py): each way the reader decides where the stream ends, on hand-sealed chunks."""

from __future__ import annotations

import io

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sync_ai_sessions.errors import CryptoError
from sync_ai_sessions.format.stream import TAG_LEN, StreamReader, StreamWriter, nonce

SIZE = 1 << 12
AAD = b"header"
AEAD = AESGCM(bytes(range(32)))


def seal(chunks: list[tuple[bytes, bool]]) -> bytes:
    return b"".join(AEAD.encrypt(nonce(i, last), data, AAD) for i, (data, last) in enumerate(chunks))


def read_all(raw: bytes) -> bytes:
    r = StreamReader(io.BytesIO(raw), AEAD, AAD, SIZE)
    out = b""
    while chunk := r.read_chunk():
        out += chunk
    assert r.done and r.cipher_bytes == len(raw)
    return out


@pytest.mark.parametrize("n", [0, 1, SIZE - 1, SIZE, SIZE + 1, 3 * SIZE])
def test_writer_and_reader_agree(n):
    data = bytes(i % 251 for i in range(n))
    out = io.BytesIO()
    w = StreamWriter(out, AEAD, AAD, SIZE)
    w.write(data[: n // 2])
    w.write(data[n // 2:])
    w.close()
    # a full chunk at the end is kept back and sealed as the last one: never an empty last chunk after it
    assert len(out.getvalue()) == max(1, -(-n // SIZE)) * TAG_LEN + n
    assert read_all(out.getvalue()) == data


def test_empty_stream_is_one_empty_last_chunk():
    assert read_all(seal([(b"", True)])) == b""


@pytest.mark.parametrize("raw", [
    b"",  # no chunk at all
    seal([(b"x" * SIZE, False)]),  # cut at a chunk boundary: the remaining chunk is not sealed as last
    seal([(b"x" * SIZE, True), (b"y", True)]),  # extended after a last chunk
    seal([(b"x" * SIZE, False), (b"y", True)])[:-1],  # cut inside the last chunk
    seal([(b"", True)])[: TAG_LEN - 1],  # shorter than a tag
], ids=["empty", "boundary", "extended", "cut", "short"])
def test_each_end_that_is_not_the_writers_is_refused(raw):
    with pytest.raises(CryptoError, match="damaged or was tampered"):
        read_all(raw)
