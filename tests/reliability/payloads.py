"""Build real and hostile handoffs with the real writer APIs, and check how `receive` treats them.

Archives are written record by record (the real `ArchiveWriter` refuses what a hostile sender would
write) into a real `EncryptWriter`, so a hostile payload authenticates: the reader's checks after
decryption are what is under test.  Version 2 archives by default; `version=1` for the legacy reader.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from support.machines import PASSPHRASE, git_repo

from sync_ai_sessions.cli import main
from sync_ai_sessions.format import container as c

REMOTE = "https://github.com/acme/widget.git"
NORMALIZED = "github.com/acme/widget"
SRC_ROOT = "/home/alice/src/widget"

# Cases tried per category, printed at the end of the run (figures for the README).
CASES: Counter[str] = Counter()


@dataclass
class World:
    base: Path
    home: Path  # $HOME
    cfg: Path  # $SYNC_AI_SESSIONS_HOME
    tool_home: Path  # $SAIS_DEMO_HOME
    repo: Path
    env: dict[str, str] = field(default_factory=dict)

    def demo_session(self, sid: str, lines: list[dict[str, Any]] | None = None, cwd: Path | None = None) -> Path:
        from sync_ai_sessions.adapters.demo import enc

        cwd = cwd or self.repo
        d = self.tool_home / "sessions" / enc(str(cwd))
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{sid}.jsonl"
        with open(p, "w") as fh:
            for rec in lines or [{"type": "user", "text": "hello"}]:
                fh.write(json.dumps({"cwd": str(cwd), "sessionId": sid, **rec}) + "\n")
        return p


def make_world(base: Path) -> World:
    home = base / "home"
    home.mkdir(parents=True)
    cfg = base / "cfg"
    tool_home = home / ".sais-demo"
    repo = git_repo(base / "clone", REMOTE)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "USERPROFILE": str(home),  # what the CLIs (and we) read on Windows
        "LANG": "C.UTF-8",
        "SYNC_AI_SESSIONS_HOME": str(cfg),
        "SYNC_AI_SESSIONS_PASSPHRASE": PASSPHRASE,
        "SYNC_AI_SESSIONS_SCRYPT_LOG2N": "10",
        "SAIS_DEMO_HOME": str(tool_home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "NO_COLOR": "1",
    }
    return World(base=base, home=home, cfg=cfg, tool_home=tool_home, repo=repo, env=env)


# -- building payloads -------------------------------------------------------------------------------
def header(log2_n: int = 10, chunk: int = 4096, r: int = 8, p: int = 1) -> c.Header:
    return c.Header(kdf=c.KdfParams(log2_n, r, p), chunk_size=chunk, salt=os.urandom(16), nonce=os.urandom(16))


def seal(plain: bytes, *, chunk: int = 4096, level: int = 3) -> bytes:
    """Encrypt arbitrary plaintext (e.g. a hand-made archive) into a real container."""
    out = io.BytesIO()
    w = c.EncryptWriter(out, PASSPHRASE, header=header(chunk=chunk), threads=0, level=level)
    w.write(plain)
    w.close()
    return out.getvalue()


def session_lines(sid: str, n: int = 3, cwd: str = SRC_ROOT) -> bytes:
    return b"".join(
        json.dumps({"cwd": cwd, "sessionId": sid, "type": "user", "text": f"turn {i} in {cwd}/src/app.py"}).encode()
        + b"\n"
        for i in range(n)
    )


def base_manifest(sessions: list[dict[str, Any]], *, version: int = 2) -> dict[str, Any]:
    return {
        "format": version,
        "tool": "demo",
        "created": "2025-01-01T00:00:00Z",
        "source": {"os_flavor": "posix", "repo_root": SRC_ROOT, "home": "/home/alice",
                   "tool_home": "/home/alice/.sais-demo", "hostname": "a", "adapter_meta": {}},
        "repo": {"remotes": [NORMALIZED], "branch": "main", "commit": None, "dirty": False},
        "sessions": sessions,
    }


def build(
    files: list[tuple[str, bytes]],
    sessions: list[dict[str, Any]] | None = None,
    *,
    manifest: dict[str, Any] | None = None,
    tmp: Path,
    chunk: int = 4096,
) -> bytes:
    """A version 2 payload of `files` (arcname, bytes) with a manifest.  Without `sessions`/`manifest`, each
    file is one session whose id is the file's stem (the demo adapter's layout).  Files are written in the
    manifest's order when it lists them all (as the real writer does), else in the given order."""
    if manifest is None:
        if sessions is None:
            sessions = [{"id": Path(n).stem, "cwd_rel": "", "files": [file_entry(n, d)]} for n, d in files]
        manifest = base_manifest(sessions)
    listed = [f.get("arcname") for s in manifest.get("sessions", []) if isinstance(s, dict)
              for f in s.get("files", []) if isinstance(f, dict)]
    data = dict(files)
    if sorted(listed, key=str) == sorted(data):
        files = [(n, data[n]) for n in listed]
    return seal(raw_archive([file_record(n, d) for n, d in files], manifest), chunk=chunk)


def raw_archive(records: list[bytes], manifest: dict[str, Any] | bytes | None, *, version: int = 2) -> bytes:
    """Plaintext of an archive from raw records (for length fields a writer would never produce).
    Version 2: magic, manifest (if any), records, end record.  Version 1: magic, records, manifest."""
    m = b""
    if manifest is not None:
        raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        m = b"M" + struct.pack(">I", len(raw)) + raw
    if version == 1:
        return b"SAISARC1" + b"".join(records) + m
    return b"SAISARC2" + m + b"".join(records) + b"E"


def file_record(name: str | bytes, data: bytes, *, size: int | None = None, digest: bytes | None = None,
                version: int = 2) -> bytes:
    n = name.encode() if isinstance(name, str) else name
    rec = b"F" + struct.pack(">H", len(n)) + n + struct.pack(">Q", len(data) if size is None else size) + data
    if version == 1:
        rec += hashlib.sha256(data).digest() if digest is None else digest
    return rec


def file_entry(name: str, data: bytes, role: str = "transcript", *, version: int = 2) -> dict[str, Any]:
    entry = {"arcname": name, "size": len(data), "role": role}
    if version == 1:
        entry["sha256"] = hashlib.sha256(data).hexdigest()
    return entry


# -- observing the receiving machine -----------------------------------------------------------------
def snapshot(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every entry under `root`: kind and content (files), target (symlinks)."""
    out: dict[str, tuple[str, bytes | str]] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", b"")
            elif p.is_file():
                out[rel] = ("file", p.read_bytes())
            else:
                out[rel] = ("special", b"")
    return out


_RUNNER = CliRunner()


@dataclass
class CliResult:
    exit_code: int
    doc: dict[str, Any] | None
    stdout: str
    stderr: str


def cli(world: World, *args: str) -> CliResult:
    """Run our CLI in-process (click's runner: same code path as the console script, no interpreter start)."""
    r = _RUNNER.invoke(main, list(args), env=world.env, catch_exceptions=True)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"CLI raised {type(r.exception).__name__}: {r.exception}") from r.exception
    try:
        doc = json.loads(r.stdout) if r.stdout.strip() else None
    except ValueError:
        doc = None
    return CliResult(r.exit_code, doc, r.stdout, r.stderr)


def receive_cli(world: World, payload: bytes | Path, *extra: str) -> CliResult:
    if isinstance(payload, bytes):
        path = world.base / "handoff.sais"
        path.write_bytes(payload)
    else:
        path = payload
    return cli(world, "receive", "--from", str(path), "--cwd", str(world.repo), "--json", *extra)


def assert_refused(world: World, payload: bytes | Path, category: str, *, codes: set[str] | None = None,
                   exit_codes: set[int] | None = None) -> CliResult:
    """The CLI refuses `payload` with a clear error: non-zero documented exit, one JSON error, no traceback,
    nothing changed in $HOME (tool home included), no staging left behind."""
    before = snapshot(world.home)
    r = receive_cli(world, payload)
    CASES[category] += 1
    assert r.exit_code not in (0, 1), (category, r.exit_code, r.stdout, r.stderr)
    if exit_codes is not None:
        assert r.exit_code in exit_codes, (category, r.exit_code, r.stdout)
    assert "Traceback" not in r.stdout + r.stderr
    assert r.doc is not None and r.doc["ok"] is False, r.stdout
    assert r.doc["error"]["code"] != "internal", r.doc
    if codes is not None:
        assert r.doc["error"]["code"] in codes, (category, r.doc)
    assert snapshot(world.home) == before, f"{category}: the receiving home changed"
    staging = world.cfg / "staging"
    assert not staging.exists() or not any(staging.iterdir()), f"{category}: staging left behind"
    return r
