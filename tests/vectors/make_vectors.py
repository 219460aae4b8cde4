"""Regenerate the test vectors in this folder (run from the repo root: python tests/vectors/make_vectors.py).

Every vector is a complete handoff file plus, in vectors.json, its passphrase and what opening it must
give: for `"expect": "ok"` the manifest's tool, session ids and every file's size and sha256; for
`"expect": "error:<code>"` the error code, and `rule`, the id of the MUST-reject rule of docs/FORMAT.md
it breaks (one vector per rule). Salts and nonces are fixed, so the files are the same on every run
(as long as zstd compresses the same way); the KDF cost is the minimum (N=2^10) so checking is quick.

The ok vectors come from the writer itself (`EncryptWriter`, `ArchiveWriter`); the reject vectors are
built here, layer by layer, by `seal()`, a direct transcription of the container section of the spec
(a hostile writer knows the passphrase, so most of them authenticate and the reader's later checks are
what they test). `v2-one-session` also lists every intermediate value (kek, payload_key, mac_key,
header_mac, the chunk nonces, the zstd plaintext and the archive), for implementers to compare step by step.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import struct
from pathlib import Path
from typing import Any

import zstandard
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sync_ai_sessions.format.archive import FORMAT, ArchiveWriter
from sync_ai_sessions.format.container import EncryptWriter, Header, KdfParams

HERE = Path(__file__).parent
PW = "correct horse battery staple 42"
SALT = bytes(range(16))
NONCE = bytes(range(16, 32))
OTHER_NONCE = bytes(range(32, 48))
CHUNK = 4096
MAGIC = b"\x89SAIS\r\n\x1a"


# -- the container, as docs/FORMAT.md writes it ------------------------------------------------------------
def header_body(*, version: int = 1, cipher: int = 1, kdf: int = 1, log2_n: int = 10, r: int = 8, p: int = 1,
                compression: int = 1, reserved: int = 0, chunk: int = CHUNK, salt: bytes = SALT,
                nonce: bytes = NONCE, magic: bytes = MAGIC) -> bytes:
    return struct.pack(">8sBBBBBBBBI16s16s", magic, version, cipher, kdf, log2_n, r, p, compression, reserved,
                       chunk, salt, nonce)


def keys(pw: str, salt: bytes, nonce: bytes, log2_n: int = 10, r: int = 8, p: int = 1) -> dict[str, bytes]:
    kek = hashlib.scrypt(pw.encode(), salt=salt, n=1 << log2_n, r=r, p=p, dklen=32)

    def hkdf(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=info).derive(kek)

    return {"kek": kek, "payload_key": hkdf(b"sync-ai-sessions v1 payload"),
            "mac_key": hkdf(b"sync-ai-sessions v1 header")}


def chunk_nonce(i: int, last: bool) -> bytes:
    return i.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def split(plaintext: bytes, chunk: int = CHUNK) -> list[bytes]:
    """Chunks of `chunk` bytes; the last holds the rest (empty only for an empty plaintext)."""
    parts = [plaintext[i:i + chunk] for i in range(0, len(plaintext), chunk)]
    return parts or [b""]


def seal(plaintext: bytes, *, nonce: bytes = NONCE, chunks: list[tuple[bytes, bool]] | None = None,
         pw: str = PW) -> bytes:
    """header || chunk_0 || ... : `chunks` ((bytes, last) pairs, sealed with counters 0, 1, ...) when given,
    else `plaintext` split as the spec says."""
    body = header_body(nonce=nonce)
    k = keys(pw, SALT, nonce)
    hdr = body + hmac.new(k["mac_key"], body, hashlib.sha256).digest()
    if chunks is None:
        parts = split(plaintext)
        chunks = [(c, i == len(parts) - 1) for i, c in enumerate(parts)]
    aead = AESGCM(k["payload_key"])
    return hdr + b"".join(aead.encrypt(chunk_nonce(i, last), c, hdr) for i, (c, last) in enumerate(chunks))


def ct_chunks(blob: bytes) -> list[bytes]:
    return [blob[i:i + CHUNK + 16] for i in range(84, len(blob), CHUNK + 16)]


def zstd(data: bytes, **params: Any) -> bytes:
    if params:
        cp = zstandard.ZstdCompressionParameters.from_level(3, write_content_size=0, **params)
        c = zstandard.ZstdCompressor(compression_params=cp).compressobj()  # size unknown: window as asked
        return c.compress(data) + c.flush()
    return zstandard.ZstdCompressor(level=3, write_content_size=False).compress(data)


# -- the archive ------------------------------------------------------------------------------------------
LINE = b'{"cwd":"/home/alice/src/proj","sessionId":"s1","text":"hello"}\n'


def manifest(sessions: list[dict[str, Any]] | None = None, **top: Any) -> dict[str, Any]:
    m = {
        "format": FORMAT, "tool": "demo", "tool_version": None, "created": "2026-11-25T00:00:00Z",
        "generator": "make_vectors",
        "source": {"os_flavor": "posix", "repo_root": "/home/alice/src/proj", "home": "/home/alice",
                   "tool_home": "/home/alice/.sais-demo", "hostname": "laptop", "adapter_meta": {}},
        "repo": {"remotes": ["github.com/o/r"], "branch": "main", "commit": None, "dirty": False},
        "sessions": sessions if sessions is not None else [session()],
    }
    m.update(top)
    return m


def session(sid: str = "s1", files: list[tuple[str, int, str]] | None = None, **extra: Any) -> dict[str, Any]:
    files = files if files is not None else [("sessions/s1.jsonl", len(LINE), "transcript")]
    return {"id": sid, "cwd_rel": "", "files": [{"arcname": a, "size": n, "role": r} for a, n, r in files], **extra}


def m_record(m: dict[str, Any] | bytes) -> bytes:
    data = m if isinstance(m, bytes) else json.dumps(m, ensure_ascii=False, separators=(",", ":")).encode()
    return b"M" + struct.pack(">I", len(data)) + data


def f_record(name: str, data: bytes, size: int | None = None) -> bytes:
    raw = name.encode("utf-8", "surrogatepass")
    return b"F" + struct.pack(">H", len(raw)) + raw + struct.pack(">Q", len(data) if size is None else size) + data


def archive(m: dict[str, Any] | bytes | None = None, records: list[bytes] | None = None, end: bytes = b"E",
            magic: bytes = b"SAISARC2") -> bytes:
    m = manifest() if m is None else m
    if records is None:
        records = [f_record(f["arcname"], LINE) for s in m["sessions"] for f in s["files"]]  # type: ignore[index]
    return magic + m_record(m) + b"".join(records) + end


def hostile(arch: bytes) -> bytes:
    return seal(zstd(arch))


def names_manifest(*names: str) -> bytes:
    files = [(n, len(LINE), "transcript" if i == 0 else "sidecar") for i, n in enumerate(names)]
    m = manifest([session(files=files)])
    return hostile(archive(m, [f_record(n, LINE) for n in names]))


# -- the writer's own output ------------------------------------------------------------------------------
def build(files: dict[str, bytes], sessions: list[dict[str, Any]]) -> bytes:
    out = io.BytesIO()
    hdr = Header(kdf=KdfParams(log2_n=10), chunk_size=CHUNK, salt=SALT, nonce=NONCE)
    enc = EncryptWriter(out, PW, header=hdr, threads=0)
    for s in sessions:
        s["files"] = [{"arcname": f["arcname"], "size": len(files[f["arcname"]]), "role": f["role"]}
                      for f in s["files"]]
    arch = ArchiveWriter(enc, manifest(sessions))
    tmp = HERE / ".tmp"
    for s in sessions:
        for f in s["files"]:
            tmp.write_bytes(files[f["arcname"]])
            arch.add_file(f["arcname"], tmp, f["size"])
    tmp.unlink()
    arch.finish()
    enc.close()
    return out.getvalue()


def derivation(blob: bytes, with_data: bool) -> dict[str, Any]:
    """Every intermediate value of opening `blob` (a handoff with SALT, NONCE, N=2^10, r=8, p=1)."""
    k = keys(PW, SALT, NONCE)
    hdr = blob[:84]
    aead = AESGCM(k["payload_key"])
    cts = ct_chunks(blob)
    plain = b"".join(aead.decrypt(chunk_nonce(i, i == len(cts) - 1), c, hdr) for i, c in enumerate(cts))
    out: dict[str, Any] = {
        "salt": SALT.hex(), "nonce": NONCE.hex(), "log2_n": 10, "r": 8, "p": 1, "chunk_size": CHUNK,
        "header": hdr.hex(), "kek": k["kek"].hex(), "payload_key": k["payload_key"].hex(),
        "mac_key": k["mac_key"].hex(), "header_mac": hdr[52:].hex(),
        "chunk_nonces": [chunk_nonce(i, i == len(cts) - 1).hex() for i in range(len(cts))],
        "plaintext_sha256": hashlib.sha256(plain).hexdigest(),
    }
    assert hmac.new(k["mac_key"], hdr[:52], hashlib.sha256).digest() == hdr[52:]
    if with_data:
        out["plaintext"] = plain.hex()
        out["archive"] = zstandard.ZstdDecompressor().decompressobj().decompress(plain).hex()
    return out


def rejects(multi: bytes) -> list[tuple[str, str, bytes]]:
    """(rule id, error code, file) for every MUST-reject rule of docs/FORMAT.md."""
    one = hostile(archive())
    cts = ct_chunks(multi)
    assert len(cts) >= 3
    hdr = multi[:84]
    parts = split(_plain_of(multi))
    zero_mac = b"\0" * 32
    out: list[tuple[str, str, bytes]] = [
        # header, before any key is derived
        ("header-magic", "not_a_handoff", header_body(magic=b"\x89SAIS\r\n\x1b") + zero_mac + one[84:]),
        ("header-short", "truncated", one[:60]),
        ("header-version", "unsupported_version", header_body(version=2) + zero_mac),
        ("header-cipher", "unsupported", header_body(cipher=2) + zero_mac),
        ("header-kdf", "unsupported", header_body(kdf=2) + zero_mac),
        ("header-compression", "unsupported", header_body(compression=2) + zero_mac),
        ("header-reserved", "unsupported", header_body(reserved=1) + zero_mac),
        ("header-chunk-size", "format", header_body(chunk=CHUNK - 1) + zero_mac),
        ("kdf-range", "kdf_limit", header_body(log2_n=21) + zero_mac),
        ("kdf-memory", "kdf_limit", header_body(log2_n=20, r=9) + zero_mac),
        ("kdf-work", "kdf_limit", header_body(log2_n=17, r=8, p=17) + zero_mac),
        ("header-mac", "wrong_passphrase", one[:20] + bytes([one[20] ^ 1]) + one[21:]),
        # chunks
        ("chunk-bitflip", "tampered", multi[:len(multi) // 2] + bytes([multi[len(multi) // 2] ^ 0x40])
         + multi[len(multi) // 2 + 1:]),
        ("chunk-truncated", "tampered", hdr + cts[0]),
        ("chunk-short", "tampered", hdr + cts[0] + cts[1][:10]),
        ("chunk-reorder", "tampered", hdr + cts[1] + cts[0] + b"".join(cts[2:])),
        ("chunk-duplicate", "tampered", hdr + cts[0] + b"".join(cts)),
        ("chunk-drop", "tampered", hdr + cts[0] + b"".join(cts[2:])),
        ("chunk-trailing", "tampered", multi + b"\0"),
        ("chunk-splice", "tampered", hdr + cts[0] + ct_chunks(seal(_plain_of(multi), nonce=OTHER_NONCE))[1]
         + b"".join(cts[2:])),
        ("chunk-empty", "tampered", seal(b"", chunks=[(b"", False)] + [(c, i == len(parts) - 1)
                                                                       for i, c in enumerate(parts)])),
        # compression
        ("zstd-window", "format", seal(zstd(archive(), window_log=28))),
        ("zstd-trailing", "format", seal(zstd(archive()) + b"not a zstd frame")),
        # archive
        ("archive-magic", "format", hostile(archive(magic=b"SAISARC9"))),
        ("archive-manifest-first", "format", hostile(b"SAISARC2" + f_record("sessions/s1.jsonl", LINE)
                                                     + m_record(manifest()) + b"E")),
        ("manifest-json", "format", hostile(b"SAISARC2" + m_record(b'{"format": 2,') + b"E")),
        ("manifest-size", "too_large", hostile(b"SAISARC2M" + struct.pack(">I", (256 << 20) + 1))),
        ("record-name", "format", hostile(archive(records=[f_record("sessions/s2.jsonl", LINE)]))),
        ("record-size", "format", hostile(archive(records=[f_record("sessions/s1.jsonl", LINE + b"x")]))),
        ("record-order", "format", _two_files_swapped()),
        ("record-extra", "format", hostile(archive(records=[f_record("sessions/s1.jsonl", LINE)] * 2))),
        ("archive-no-end", "truncated", hostile(archive(end=b""))),
        ("archive-cut-file", "truncated", hostile(archive(records=[f_record("sessions/s1.jsonl", LINE[:10],
                                                                             size=len(LINE))], end=b""))),
        ("archive-after-end", "format", hostile(archive(end=b"EE"))),
        ("files-limit", "too_large", _many_files(200_001)),
        # manifest
        ("manifest-format", "bad_manifest", hostile(archive(manifest(format=3)))),
        ("manifest-tool", "bad_manifest", hostile(archive(manifest(tool="../demo")))),
        ("manifest-os-flavor", "bad_manifest", hostile(archive(manifest(source={**manifest()["source"],
                                                                                "os_flavor": "dos"})))),
        ("manifest-repo-root", "bad_manifest", hostile(archive(manifest(source={**manifest()["source"],
                                                                                "repo_root": ""})))),
        ("manifest-remotes", "bad_manifest", hostile(archive(manifest(repo={"remotes": "github.com/o/r"})))),
        ("manifest-sessions", "bad_manifest", hostile(archive(manifest(sessions={}), records=[]))),
        ("session-id", "bad_manifest", hostile(archive(manifest([session("../s1")])))),
        ("session-id-duplicate", "bad_manifest", _duplicate_ids()),
        ("session-transcript", "bad_manifest", hostile(archive(manifest([session(
            files=[("sessions/s1.jsonl", len(LINE), "sidecar")])])))),
        ("file-role", "bad_manifest", hostile(archive(manifest([session(
            files=[("sessions/s1.jsonl", len(LINE), "transcript"), ("sessions/s1/x", len(LINE), "other")])])))),
        ("file-size", "bad_manifest", hostile(archive(manifest([session(
            files=[("sessions/s1.jsonl", -1, "transcript")])]), records=[]))),
        ("cwd-rel", "unsafe_payload", hostile(archive(manifest([session(cwd_rel="../up")])))),
        # names
        ("name-dotdot", "unsafe_payload", names_manifest("sessions/../../x.jsonl")),
        ("name-absolute", "unsafe_payload", names_manifest("/etc/x.jsonl")),
        ("name-backslash", "unsafe_payload", names_manifest("sessions\\x.jsonl")),
        ("name-drive", "unsafe_payload", names_manifest("C:x.jsonl")),
        ("name-empty-component", "unsafe_payload", names_manifest("sessions//x.jsonl")),
        ("name-control", "unsafe_payload", names_manifest("sessions/x\x01.jsonl")),
        ("name-long", "unsafe_payload", names_manifest("s/" + "x" * 4095)),
        ("name-collide-case", "unsafe_payload", names_manifest("sessions/S1.jsonl", "sessions/s1.jsonl")),
        ("name-collide-nfc", "unsafe_payload", names_manifest("sessions/caf\u00e9", "sessions/cafe\u0301")),
    ]
    return out


def _plain_of(blob: bytes) -> bytes:
    k = keys(PW, SALT, NONCE)
    cts = ct_chunks(blob)
    aead = AESGCM(k["payload_key"])
    return b"".join(aead.decrypt(chunk_nonce(i, i == len(cts) - 1), c, blob[:84]) for i, c in enumerate(cts))


def _two_files_swapped() -> bytes:
    m = manifest([session(files=[("sessions/s1.jsonl", len(LINE), "transcript"),
                                 ("sessions/s1/notes.txt", len(LINE), "sidecar")])])
    return hostile(archive(m, [f_record("sessions/s1/notes.txt", LINE), f_record("sessions/s1.jsonl", LINE)]))


def _duplicate_ids() -> bytes:
    m = manifest([session(), session(files=[("sessions/s1b.jsonl", len(LINE), "transcript")])])
    return hostile(archive(m))


def _many_files(n: int) -> bytes:
    files = [("sessions/s1.jsonl", 0, "transcript")] + [(f"sessions/s1/{i}", 0, "sidecar") for i in range(1, n)]
    return hostile(archive(manifest([session(files=files)]), records=[]))


def main() -> None:
    big = b"".join(b'{"cwd":"/home/alice/src/proj","sessionId":"s2","n":%d}\n' % i for i in range(3000))
    noise = hashlib.shake_256(b"sync-ai-sessions test vectors").digest(20000)  # incompressible, fixed
    # Version 1 vectors (archive version 1, written by earlier versions) stay as they are: readers keep
    # reading them.  This script regenerates the version 2 ones.
    vectors = [v for v in json.loads((HERE / "vectors.json").read_text()) if v["file"].startswith("v1-")]
    for old in HERE.glob("v2-*.sais"):
        old.unlink()
    cases = {
        "v2-one-session": ({"sessions/s1.jsonl": LINE},
                           [{"id": "s1", "cwd_rel": "", "files": [{"arcname": "sessions/s1.jsonl",
                                                                    "role": "transcript"}]}]),
        "v2-multi-chunk": ({"sessions/s2.jsonl": big + noise, "sessions/s2/notes.txt": b"notes\n"},
                           [{"id": "s2", "cwd_rel": "sub", "files": [
                               {"arcname": "sessions/s2.jsonl", "role": "transcript"},
                               {"arcname": "sessions/s2/notes.txt", "role": "sidecar"}]}]),
    }
    blobs = {}
    for name, (files, sessions) in cases.items():
        blob = blobs[name] = build(files, sessions)
        (HERE / f"{name}.sais").write_bytes(blob)
        vectors.append({
            "file": f"{name}.sais", "passphrase": PW, "expect": "ok", "tool": "demo",
            "sessions": [s["id"] for s in sessions],
            "files": {n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()},
            "derivation": derivation(blob, with_data=name == "v2-one-session"),
        })
    vectors.append({"file": "v2-multi-chunk.sais", "passphrase": "wrong horse battery staple 42",
                    "expect": "error:wrong_passphrase", "rule": "wrong-passphrase"})
    for rule, code, blob in rejects(blobs["v2-multi-chunk"]):
        fname = f"v2-reject-{rule}.sais"
        (HERE / fname).write_bytes(blob)
        vectors.append({"file": fname, "passphrase": PW, "expect": f"error:{code}", "rule": rule})
    (HERE / "vectors.json").write_text(json.dumps(vectors, indent=2) + "\n")


if __name__ == "__main__":
    main()
