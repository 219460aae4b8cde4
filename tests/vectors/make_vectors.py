"""Regenerate the test vectors in this folder (run from the repo root: python tests/vectors/make_vectors.py).

Each vector is a complete handoff file plus, in vectors.json, its passphrase and the expected result of
opening it: the manifest's tool and session ids and every file's name, size and sha256; or the error an
implementation must report.  The KDF cost is the minimum (N=2^10) so that checking them is quick.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

from sync_ai_sessions.archive import FORMAT, ArchiveWriter
from sync_ai_sessions.container import EncryptWriter, Header, KdfParams

HERE = Path(__file__).parent
PW = "correct horse battery staple 42"


def build(files: dict[str, bytes], sessions: list[dict], chunk: int = 4096) -> bytes:
    out = io.BytesIO()
    hdr = Header(kdf=KdfParams(log2_n=10), chunk_size=chunk, salt=os.urandom(16), nonce=os.urandom(16))
    enc = EncryptWriter(out, PW, header=hdr, threads=0)
    for s in sessions:
        s["files"] = [{"arcname": f["arcname"], "size": len(files[f["arcname"]]), "role": f["role"]}
                      for f in s["files"]]
    arch = ArchiveWriter(enc, {
        "format": FORMAT, "tool": "demo", "tool_version": None, "created": "2026-11-25T00:00:00Z",
        "source": {"os_flavor": "posix", "repo_root": "/home/alice/src/proj", "home": "/home/alice",
                   "tool_home": "/home/alice/.sais-demo", "hostname": "laptop", "adapter_meta": {}},
        "repo": {"remotes": ["github.com/o/r"], "branch": "main", "commit": None, "dirty": False},
        "sessions": sessions,
    })
    tmp = HERE / ".tmp"
    for s in sessions:
        for f in s["files"]:
            tmp.write_bytes(files[f["arcname"]])
            arch.add_file(f["arcname"], tmp, f["size"])
    tmp.unlink()
    arch.finish()
    enc.close()
    return out.getvalue()


def main() -> None:
    line = b'{"cwd":"/home/alice/src/proj","sessionId":"s1","text":"hello"}\n'
    big = b"".join(b'{"cwd":"/home/alice/src/proj","sessionId":"s2","n":%d}\n' % i for i in range(3000))
    # Version 1 vectors (archive version 1, written by earlier versions) stay as they are: readers keep
    # reading them.  This script regenerates the version 2 ones.
    vectors = [v for v in json.loads((HERE / "vectors.json").read_text()) if v["file"].startswith("v1-")]
    cases = {
        "v2-one-session": ({"sessions/s1.jsonl": line},
                           [{"id": "s1", "cwd_rel": "", "files": [{"arcname": "sessions/s1.jsonl",
                                                                    "role": "transcript"}]}]),
        "v2-multi-chunk": ({"sessions/s2.jsonl": big + os.urandom(20000), "sessions/s2/notes.txt": b"notes\n"},
                           [{"id": "s2", "cwd_rel": "sub", "files": [
                               {"arcname": "sessions/s2.jsonl", "role": "transcript"},
                               {"arcname": "sessions/s2/notes.txt", "role": "sidecar"}]}]),
    }
    for name, (files, sessions) in cases.items():
        blob = build(files, sessions)
        (HERE / f"{name}.sais").write_bytes(blob)
        vectors.append({
            "file": f"{name}.sais", "passphrase": PW, "expect": "ok", "tool": "demo",
            "sessions": [s["id"] for s in sessions],
            "files": {n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()},
        })
        if name == "v2-multi-chunk":
            bad = bytearray(blob)
            bad[len(bad) // 2] ^= 0x40
            (HERE / "v2-tampered.sais").write_bytes(bytes(bad))
            vectors.append({"file": "v2-tampered.sais", "passphrase": PW, "expect": "error:tampered"})
            (HERE / "v2-truncated.sais").write_bytes(blob[: 84 + 4112])
            vectors.append({"file": "v2-truncated.sais", "passphrase": PW, "expect": "error:tampered"})
            vectors.append({"file": f"{name}.sais", "passphrase": "wrong horse battery staple 42",
                            "expect": "error:wrong_passphrase"})
    (HERE / "vectors.json").write_text(json.dumps(vectors, indent=2) + "\n")


if __name__ == "__main__":
    main()
