"""Atheris target over the payload reader (run on demand, not in CI):

    pip install atheris && python fuzz/fuzz_payload.py -max_total_time=300

Inputs are either whole containers, or (first byte odd) archive plaintext sealed into a real container,
so the fuzzer reaches the archive and manifest checks past authentication.  Any exception that is not a
SyncError is a bug.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("SYNC_AI_SESSIONS_SCRYPT_LOG2N", "10")

import atheris

with atheris.instrument_imports():
    from sync_ai_sessions.errors import SyncError
    from sync_ai_sessions.format import container as c
    from sync_ai_sessions.format.archive import read_archive

PW = "correct horse battery staple 42"
HDR = c.Header(kdf=c.KdfParams(10), chunk_size=4096, salt=b"s" * 16, nonce=b"n" * 16)
KEK = c.Key(PW, HDR).get()


def seal(plain: bytes) -> bytes:
    out = io.BytesIO()
    w = c.EncryptWriter(out, kek=KEK, header=HDR, threads=0)
    w.write(plain)
    w.close()
    return out.getvalue()


def one(data: bytes) -> None:
    # Bit 0: seal the rest as an archive (bit 1 picks version 2 or 1) or feed it raw as a container.
    magic = b"SAISARC2" if data[:1] and data[0] & 2 else b"SAISARC1"
    blob = seal(magic + data[1:]) if data[:1] and data[0] & 1 else data[1:]
    with tempfile.TemporaryDirectory() as d:
        try:
            r = c.DecryptReader(io.BytesIO(blob), kek=KEK, limit=64 << 20)
            read_archive(r, Path(d))
        except SyncError:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
