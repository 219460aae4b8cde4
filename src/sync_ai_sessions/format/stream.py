"""STREAM: a byte stream sealed in chunks with AES-256-GCM (docs/FORMAT.md, "Chunks").

    chunk i = AES-256-GCM(key, nonce = counter i (11 bytes, big-endian) || last (1 byte: 1 or 0),
                          plaintext = chunk_size bytes (the last chunk: 0..chunk_size), aad)  (+16-byte tag)

Every chunk but the last holds exactly `chunk_size` bytes of plaintext, and only the last one is sealed with
the last flag set.  So a reader that authenticates each chunk under the nonce it expects detects every
reordering, removal, truncation (at a chunk boundary or not) and extension.  This module knows nothing of
keys, headers or compression: `container` gives it an AEAD, the associated data and the chunk size.
"""

from __future__ import annotations

from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sync_ai_sessions.errors import CryptoError

TAG_LEN = 16

DAMAGED = (
    "the handoff is damaged or was tampered with (a chunk failed authentication, is missing, "
    "out of order, or the file was truncated or extended)"
)


def nonce(counter: int, last: bool) -> bytes:
    if counter >= 1 << 88:
        raise CryptoError("payload too large for one handoff")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class StreamWriter:
    """Seals the bytes written into chunks written to `out`; `close()` seals the last one."""

    def __init__(self, out: BinaryIO, aead: AESGCM, aad: bytes, chunk_size: int):
        self._out = out
        self._aead = aead
        self._aad = aad
        self._size = chunk_size
        self._buf = bytearray()
        self._counter = 0
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buf += data  # copied right away: the caller may reuse its buffer
        size = self._size
        # Keep at least one byte back: whether a chunk is the last is only known at close(), and a full
        # chunk at the end must carry the last flag.
        if len(self._buf) > size:
            pos = 0
            with memoryview(self._buf) as view:
                while len(self._buf) - pos > size:
                    self._seal(view[pos:pos + size], last=False)
                    pos += size
            del self._buf[:pos]
        return len(data)

    def _seal(self, chunk: bytes | memoryview, last: bool) -> None:
        self._out.write(self._aead.encrypt(nonce(self._counter, last), chunk, self._aad))
        self._counter += 1

    def flush(self) -> None:
        """Nothing to do: a chunk is sealed once it is full, the last one at close()."""

    def close(self) -> None:
        """Seal what is left (1..chunk_size bytes; 0 only for an empty stream) as the last chunk."""
        if self._closed:
            return
        self._seal(bytes(self._buf), last=True)
        self._buf.clear()
        self._closed = True


class StreamReader:
    """Opens the chunks read from `src` in order; `read_chunk()` returns one chunk's authenticated plaintext,
    b"" after the last, and raises CryptoError at the first chunk that is not what the writer sealed."""

    def __init__(self, src: BinaryIO, aead: AESGCM, aad: bytes, chunk_size: int):
        self._src = src
        self._aead = aead
        self._aad = aad
        self._size = chunk_size + TAG_LEN
        self._counter = 0
        self._next = src.read(self._size)  # one chunk read ahead: the last flag depends on what follows
        self.cipher_bytes = 0  # ciphertext consumed so far
        self.done = False

    def read_chunk(self) -> bytes:
        if self.done:
            return b""
        cur = self._next
        # The one place that decides where the stream ends:
        # - shorter than a tag: not a chunk at all (the body is empty, or the file was cut inside the tag).
        if len(cur) < TAG_LEN:
            raise CryptoError(DAMAGED, code="tampered")
        # - a full-size chunk may have more after it: read on to see.  A short one was cut by the end of
        #   the source (read() returns fewer bytes only there), so it is the last.
        self._next = self._src.read(self._size) if len(cur) == self._size else b""
        # - it is the last chunk exactly when nothing follows it.  It is then opened with the last flag
        #   set: a stream cut at a chunk boundary ends in a chunk sealed as not-last, which fails here;
        #   a stream extended after its last chunk opens that chunk as not-last, which fails here too.
        last = not self._next
        try:
            plain = self._aead.decrypt(nonce(self._counter, last), cur, self._aad)
        except InvalidTag:
            raise CryptoError(DAMAGED, code="tampered") from None
        self.cipher_bytes += len(cur)
        self._counter += 1
        if last:
            self.done = True
        elif not plain:
            # - an empty chunk that is not the last: a writer never seals one (it would let the end move).
            raise CryptoError(DAMAGED, code="tampered")
        return plain
