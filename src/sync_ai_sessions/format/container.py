"""The encrypted handoff container (docs/FORMAT.md is the normative description).

    header  = magic(8) version(1) cipher(1) kdf(1) log2_n(1) r(1) p(1) compression(1) reserved(1)
              chunk_size(4, big-endian) salt(16) nonce(16) header_mac(32)
    body    = chunk*   each = AES-256-GCM(payload_key, nonce=counter(11, BE) || last(1),
                                           plaintext = up to chunk_size bytes, aad = header) (+16-byte tag)

    kek         = scrypt(passphrase, salt, N=2^log2_n, r, p, 32)
    payload_key = HKDF-SHA256(ikm=kek, salt=nonce, info="sync-ai-sessions v1 payload")
    mac_key     = HKDF-SHA256(ikm=kek, salt=nonce, info="sync-ai-sessions v1 header")
    header_mac  = HMAC-SHA256(mac_key, header[:-32])

The plaintext is a zstd stream of the inner archive (`sync_ai_sessions.format.archive`); the chunks are
`sync_ai_sessions.format.stream`'s.  This module joins the layers and only deals with bytes: `EncryptWriter`
is a file-like sink that compresses and encrypts into a file, and `DecryptReader` is a file-like source that
authenticates and decompresses, refusing anything unexpected.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from typing import BinaryIO

import zstandard
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sync_ai_sessions.errors import CryptoError, FormatError
from sync_ai_sessions.format.header import (  # noqa: F401 - re-exported: the container's public names
    _ENV_KDF,
    DEFAULT_CHUNK,
    HEADER_LEN,
    HEADER_STRUCT,
    MAGIC,
    MAX_CHUNK,
    MAX_LOG2_N,
    MAX_SCRYPT_MEMORY,
    MAX_SCRYPT_WORK,
    MIN_CHUNK,
    VERSION,
    Header,
    KdfParams,
    Key,
)
from sync_ai_sessions.format.stream import TAG_LEN, StreamReader, StreamWriter  # noqa: F401 - TAG_LEN re-exported
from sync_ai_sessions.lookahead import Ahead

MAX_WINDOW = 1 << 27  # zstd window the decompressor accepts (memory)
WINDOW_LOG = 23  # zstd window the compressor uses: 8 MiB
DEFAULT_MAX_UNPACKED = 64 << 30  # total decompressed bytes a reader accepts, see max_unpacked()

_ENV_MAX = "SYNC_AI_SESSIONS_MAX_UNPACKED"


def max_unpacked() -> int:
    v = os.environ.get(_ENV_MAX)
    return int(v) if v and v.isdigit() else DEFAULT_MAX_UNPACKED


def _hkdf(kek: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(kek)


class _Keys:
    def __init__(self, kek: bytes, header: Header):
        self.aead = AESGCM(_hkdf(kek, header.nonce, b"sync-ai-sessions v1 payload"))
        self.mac_key = _hkdf(kek, header.nonce, b"sync-ai-sessions v1 header")


class EncryptWriter:
    """A writable binary stream: bytes written are zstd-compressed, chunked and encrypted into `out`.

    `key` is the new handoff's `Key` (its header is the one written), or a passphrase to make one from
    (for `header`, if given).  `kek` with `header` skips the derivation: test vectors."""

    def __init__(
        self,
        out: BinaryIO,
        key: Key | str | None = None,
        *,
        kek: bytes | None = None,
        header: Header | None = None,
        level: int = 3,
        threads: int = -1,
    ):
        if kek is None:
            if key is None:
                raise ValueError("key, passphrase or kek required")
            if isinstance(key, str):
                key = Key(key, header)
            header, kek = key.header, key.get()
        self.header = header or Header.new()
        keys = _Keys(kek, self.header)
        body = self.header.body()
        header = body + hmac.new(keys.mac_key, body, hashlib.sha256).digest()
        out.write(header)
        self._stream = StreamWriter(out, keys.aead, header, self.header.chunk_size)
        self._closed = False
        self.plain_bytes = 0
        # An 8 MiB window (zstd -3 alone uses 2 MiB): sessions repeat what they read and wrote, often
        # further back than 2 MiB.  The reader accepts up to MAX_WINDOW.
        params = zstandard.ZstdCompressionParameters.from_level(
            level, window_log=WINDOW_LOG, threads=threads, write_content_size=False
        )
        cctx = zstandard.ZstdCompressor(compression_params=params)
        self._z = cctx.stream_writer(self._stream, closefd=False, write_size=1 << 20)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.plain_bytes += len(data)
        return self._z.write(data)

    def close(self) -> None:
        if self._closed:
            return
        self._z.close()
        self._stream.close()
        self._closed = True

    def __enter__(self) -> EncryptWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def _chunks_of(stream: StreamReader) -> Iterator[bytes]:
    """Every chunk's plaintext, the last one included (it may be empty)."""
    while True:
        chunk = stream.read_chunk()
        yield chunk
        if not chunk or stream.done:
            return


class _AheadChunks:
    """`StreamReader` on a thread of its own, up to `depth` chunks ahead of the reader: AES-GCM releases
    the GIL, so authenticating and decrypting overlap decompression (0.2 s per GB here, off the
    decompressing thread's path).  Errors reach the reader in order; `close` ends the thread."""

    def __init__(self, stream: StreamReader, depth: int = 4):
        self._stream = stream
        self._ahead = Ahead(lambda: _chunks_of(stream), depth=depth, name="sais-aead")

    @property
    def cipher_bytes(self) -> int:
        return self._stream.cipher_bytes

    def read_chunk(self) -> bytes:
        return next(self._ahead, b"")  # raises Stopped when closed while waiting

    def close(self) -> None:
        self._ahead.close()


class _ChunkStream:
    """The authenticated plaintext chunks as a raw readable stream (the zstd reader's source)."""

    def __init__(self, chunks: StreamReader | _AheadChunks):
        self._chunks = chunks
        self._buf = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if self._pos >= len(self._buf):
            self._buf = self._chunks.read_chunk()
            self._pos = 0
        if n < 0 or (self._pos == 0 and n >= len(self._buf)):
            out, self._buf = (self._buf[self._pos:] if self._pos else self._buf), b""
            return out
        out = self._buf[self._pos:self._pos + n]
        self._pos += len(out)
        return out


_OUT_BLOCK = 1 << 20  # plaintext bytes per decompression step: bounds memory for any compression ratio
_QUEUE_BLOCKS = 8  # blocks the background thread may decompress ahead of the reader


class DecryptReader:
    """A readable binary stream over the decrypted, decompressed plaintext.

    Every byte handed out has been authenticated; a bad chunk raises CryptoError when reached.  Callers
    must read to EOF (and check `at_eof`) before trusting that the payload was complete.

    With `threaded=True` a background thread decrypts and decompresses up to `_QUEUE_BLOCKS` MiB ahead
    (zstd and AES-GCM release the GIL), so the caller's work on the plaintext (path rewriting, writing)
    overlaps with it; errors are raised in the caller's thread, in order.  `close()` stops the thread.
    """

    def __init__(self, src: BinaryIO, passphrase: str | None = None, *, kek: bytes | None = None,
                 limit: int | None = None, threaded: bool = False):
        raw = src.read(HEADER_LEN)
        self.header, mac = Header.parse(raw)
        if kek is None:
            if passphrase is None:
                raise ValueError("passphrase or kek required")
            kek = Key(passphrase, self.header).get()
        keys = _Keys(kek, self.header)
        body = self.header.body()
        if not hmac.compare_digest(hmac.new(keys.mac_key, body, hashlib.sha256).digest(), mac):
            raise CryptoError(
                "wrong passphrase (or the handoff header was altered): the header does not authenticate",
                code="wrong_passphrase",
            )
        self._chunks: StreamReader | _AheadChunks = StreamReader(src, keys.aead, body + mac, self.header.chunk_size)
        if threaded:
            self._chunks = _AheadChunks(self._chunks)
        dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
        # Each read() returns at most _OUT_BLOCK bytes whatever the input, so a "zstd bomb" costs one
        # block of memory before the limit check refuses it.  Frames after the first are decoded as more
        # plaintext (the archive layer refuses data past its end); garbage after a frame is an error.
        self._z = dctx.stream_reader(_ChunkStream(self._chunks), read_size=min(self.header.chunk_size, 1 << 20),
                                     read_across_frames=True)
        self._limit = max_unpacked() if limit is None else limit
        self.plain_bytes = 0
        self._pending = b""
        self._pos = 0
        self._eof = False
        self._ahead: Ahead[bytes] | None = None
        if threaded:
            self._ahead = Ahead(self._blocks, depth=_QUEUE_BLOCKS, name="sais-decrypt")

    @property
    def cipher_bytes(self) -> int:
        return HEADER_LEN + self._chunks.cipher_bytes

    def _produce(self) -> bytes:
        try:
            block = self._z.read(_OUT_BLOCK)
        except zstandard.ZstdError as exc:
            raise FormatError(f"the handoff's compressed stream is invalid ({exc})", code="format") from None
        self.plain_bytes += len(block)
        if self.plain_bytes > self._limit:
            raise FormatError(
                f"the handoff expands past the {self._limit >> 20} MiB limit; refusing it "
                f"(raise {_ENV_MAX} if you trust it)",
                code="too_large",
            )
        return block

    def _blocks(self) -> Iterator[bytes]:
        """The decompressed blocks, the empty one at the end included (the background thread's loop)."""
        while block := self._produce():
            yield block
        yield b""

    def _next_block(self) -> bytes:
        if self._eof:
            return b""
        if self._ahead is None:
            block = self._produce()
        else:
            try:
                block = next(self._ahead, b"")
            except BaseException:
                self._eof = True
                raise
        if not block:
            self._eof = True
        return block

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self._pending[self._pos:]]
            while block := self._next_block():
                parts.append(block)
            self._pending, self._pos = b"", 0
            return b"".join(parts)
        avail = len(self._pending) - self._pos
        if avail >= n:
            out = self._pending[self._pos:self._pos + n]
            self._pos += n
            return out
        parts = [self._pending[self._pos:]] if avail else []
        got = avail
        self._pending, self._pos = b"", 0
        while got < n:
            block = self._next_block()
            if not block:
                break
            want = n - got
            if len(block) > want:
                parts.append(block[:want])
                self._pending, self._pos = block, want
                got = n
                break
            parts.append(block)
            got += len(block)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read1(self, n: int) -> bytes:
        """At most `n` bytes, only what one decompressed block still holds (b"" only at the end): no
        joining of blocks, and a whole block is handed out without a copy."""
        if self._pos >= len(self._pending):
            self._pending, self._pos = self._next_block(), 0
        if self._pos == 0 and n >= len(self._pending):
            out, self._pending = self._pending, b""
            return out
        out = self._pending[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    @property
    def at_eof(self) -> bool:
        return self._eof and self._pos >= len(self._pending)

    def close(self) -> None:
        """Stop the background thread (if any); the reader is unusable afterwards."""
        # The chunks first: a decompressing thread waiting for a chunk then stops (Stopped), and the
        # decompressing thread can be joined.
        if isinstance(self._chunks, _AheadChunks):
            self._chunks.close()
        if self._ahead is not None:
            self._ahead.close()

    def __enter__(self) -> DecryptReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
