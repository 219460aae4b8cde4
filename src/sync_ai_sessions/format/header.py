"""The handoff header and the key derivation (scrypt), with the standard library only.

    header  = magic(8) version(1) cipher(1) kdf(1) log2_n(1) r(1) p(1) compression(1) reserved(1)
              chunk_size(4, big-endian) salt(16) nonce(16) header_mac(32)
    kek     = scrypt(passphrase, salt, N=2^log2_n, r, p, 32)

docs/FORMAT.md is the normative description; `sync_ai_sessions.format.container` does the rest (HKDF, the header
MAC, the chunks).  This module imports nothing heavy so that the entry point (`sync_ai_sessions.early`)
can start scrypt, about a second of one core, before the rest of the program is even imported:
`Key.start_early()` runs a derivation on a thread, and the `Key` made later for the same passphrase and
header waits for that one instead of starting over.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from typing import NamedTuple

from sync_ai_sessions.errors import FormatError
from sync_ai_sessions.lookahead import Job

MAGIC = b"\x89SAIS\r\n\x1a"
VERSION = 1
CIPHER_AES_256_GCM = 1
KDF_SCRYPT = 1
COMPRESSION_ZSTD = 1
HEADER_STRUCT = struct.Struct(">8sBBBBBBBBI16s16s")
HEADER_LEN = HEADER_STRUCT.size + 32  # + header_mac

DEFAULT_LOG2_N = 18  # scrypt N = 2^18, r = 8, p = 1: 256 MiB, about 0.9 s on a 2-core CI machine
DEFAULT_R = 8
DEFAULT_P = 1
DEFAULT_CHUNK = 1 << 20  # 1 MiB of plaintext per chunk

# Limits a reader enforces before doing any work (a hostile header must not eat memory or hours of CPU).
MAX_LOG2_N = 20
MAX_SCRYPT_MEMORY = 1 << 30  # 128 * r * N bytes
MAX_SCRYPT_WORK = 1 << 24  # N * r * p
MIN_CHUNK = 1 << 12
MAX_CHUNK = 1 << 24

_ENV_KDF = "SYNC_AI_SESSIONS_SCRYPT_LOG2N"  # lower cost for tests and slow machines (>= 10)


class KdfParams(NamedTuple):
    log2_n: int = DEFAULT_LOG2_N
    r: int = DEFAULT_R
    p: int = DEFAULT_P

    @classmethod
    def default(cls) -> KdfParams:
        v = os.environ.get(_ENV_KDF)
        if v and v.isdigit() and 10 <= int(v) <= MAX_LOG2_N:
            return cls(log2_n=int(v))
        return cls()

    def check(self) -> None:
        n = 1 << self.log2_n
        if not (1 <= self.log2_n <= MAX_LOG2_N) or not (1 <= self.r <= 64) or not (1 <= self.p <= 64):
            raise FormatError(
                f"refusing scrypt parameters N=2^{self.log2_n} r={self.r} p={self.p}: above this version's limits",
                code="kdf_limit",
            )
        if 128 * self.r * n > MAX_SCRYPT_MEMORY or n * self.r * self.p > MAX_SCRYPT_WORK:
            raise FormatError(
                f"refusing scrypt parameters N=2^{self.log2_n} r={self.r} p={self.p}: they would need "
                f"{128 * self.r * n >> 20} MiB and too much CPU (limit {MAX_SCRYPT_MEMORY >> 20} MiB)",
                code="kdf_limit",
            )

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        self.check()
        n = 1 << self.log2_n
        return hashlib.scrypt(
            passphrase.encode("utf-8"), salt=salt, n=n, r=self.r, p=self.p,
            maxmem=128 * self.r * n + (16 << 20), dklen=32,
        )


class Header(NamedTuple):
    kdf: KdfParams
    chunk_size: int
    salt: bytes
    nonce: bytes
    version: int = VERSION

    @classmethod
    def new(cls) -> Header:
        """A header for a new handoff: default parameters, fresh random salt and nonce."""
        return cls(kdf=KdfParams.default(), chunk_size=DEFAULT_CHUNK, salt=os.urandom(16), nonce=os.urandom(16))

    def body(self) -> bytes:
        return HEADER_STRUCT.pack(
            MAGIC, self.version, CIPHER_AES_256_GCM, KDF_SCRYPT, self.kdf.log2_n, self.kdf.r, self.kdf.p,
            COMPRESSION_ZSTD, 0, self.chunk_size, self.salt, self.nonce,
        )

    @classmethod
    def parse(cls, raw: bytes) -> tuple[Header, bytes]:
        """Parse and validate a header; returns it with its MAC (checked later, with the key)."""
        if len(raw) < 8 or raw[:8] != MAGIC:
            raise FormatError("this is not a sync-ai-sessions handoff (bad magic)", code="not_a_handoff")
        if len(raw) < HEADER_LEN:
            raise FormatError("the handoff is truncated (incomplete header)", code="truncated")
        (_m, version, cipher, kdf, log2_n, r, p, comp, reserved, chunk, salt, nonce) = HEADER_STRUCT.unpack(
            raw[: HEADER_STRUCT.size]
        )
        if version != VERSION:
            raise FormatError(
                f"this handoff uses format version {version}; this sync-ai-sessions reads version {VERSION}: "
                "upgrade sync-ai-sessions",
                code="unsupported_version",
            )
        if cipher != CIPHER_AES_256_GCM or kdf != KDF_SCRYPT or comp != COMPRESSION_ZSTD or reserved != 0:
            raise FormatError("unsupported cipher, KDF or compression in the handoff header", code="unsupported")
        if not (MIN_CHUNK <= chunk <= MAX_CHUNK):
            raise FormatError(f"refusing chunk size {chunk}: outside {MIN_CHUNK}..{MAX_CHUNK}", code="format")
        params = KdfParams(log2_n, r, p)
        params.check()
        return cls(kdf=params, chunk_size=chunk, salt=salt, nonce=nonce), raw[HEADER_STRUCT.size:HEADER_LEN]


class Derivation:
    """One scrypt derivation on a thread of its own (scrypt releases the GIL)."""

    def __init__(self, passphrase: str, header: Header):
        self.header = header
        self.passphrase = passphrase
        self._job: Job[bytes] = Job(lambda: header.kdf.derive(passphrase, header.salt), name="sais-kdf")

    def result(self) -> bytes:
        return self._job.result()


_early: list[tuple[Derivation, bool]] = []  # (derivation, for a new handoff), started by Key.start_early
_early_lock = threading.Lock()


def _take_early(passphrase: str, header: Header | None) -> Derivation | None:
    with _early_lock:
        for job, new in _early:
            if job.passphrase != passphrase:
                continue
            if header is None and not new:
                continue
            if header is not None and (job.header.salt != header.salt or job.header.kdf != header.kdf):
                continue
            _early.remove((job, new))
            return job
    return None


class Key:
    """The key of one handoff, kek = scrypt(passphrase, header.salt): the one route to it, early or not.

    `Key(passphrase)` is the key of a new handoff, with a fresh header (`key.header`); `Key(passphrase,
    header)` the key of the handoff that header was read from.  The derivation runs on a thread from the
    moment the Key exists, so the caller goes on meanwhile (finding and packing sessions); `get()` waits
    for it and returns the kek or raises what the derivation raised.  When the entry point already started
    that very derivation (`Key.start_early`, from `sync_ai_sessions.early`), the Key adopts it: scrypt
    runs once.  A receive never adopts a new handoff's derivation, nor a send a received one's.
    """

    def __init__(self, passphrase: str, header: Header | None = None):
        job = _take_early(passphrase, header)
        self.early = job is not None
        self._job = job or Derivation(passphrase, header or Header.new())
        self.header = self._job.header
        self.passphrase = passphrase

    def get(self) -> bytes:
        try:
            return self._job.result()
        except Exception:
            if not self.early:
                raise
            # Started early and failed (memory, ...): derive again, so that an error is met and reported
            # here, where the command expects it.
            self.early = False
            self._job = Derivation(self.passphrase, self.header)
            return self._job.result()

    @staticmethod
    def start_early(passphrase: str, header: Header, *, new: bool = False) -> None:
        """Start deriving the key for (passphrase, header) now; the `Key` made later for them (for
        `new=True`: the next `Key(passphrase)`, whose header this becomes) adopts it."""
        job = Derivation(passphrase, header)
        with _early_lock:
            _early.append((job, new))
