"""Property: an import never overwrites or loses a local byte, whatever the local and incoming trees are."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_ai_sessions.adapters.demo import DemoAdapter, enc
from sync_ai_sessions.engine.intake import import_sessions
from sync_ai_sessions.gitrepo import Repo

IDS = ["s1", "s2", "s3"]
line = st.integers(0, 3).map(lambda n: json.dumps({"n": n}))
lines = st.lists(line, min_size=1, max_size=4)


def _write(path: Path, cwd: str, sid: str, body: list[str]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps({"cwd": cwd, "sessionId": sid, "x": b}) + "\n" for b in body).encode()
    path.write_bytes(data)
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    local=st.dictionaries(st.sampled_from(IDS), lines, max_size=3),
    incoming=st.dictionaries(st.sampled_from(IDS), lines, min_size=1, max_size=3),
    grow=st.booleans(),
    sidecar_local=st.sampled_from([None, "same", "other"]),
)
def test_import_never_overwrites(local, incoming, grow, sidecar_local):
    base = Path(tempfile.mkdtemp())
    try:
        home = base / "home"
        target = base / "clone"
        target.mkdir(parents=True)
        env = {"HOME": str(home), "SYNC_AI_SESSIONS_HOME": str(base / "cfg")}
        folder = home / ".sais-demo" / "sessions" / enc(str(target))
        before: dict[Path, bytes] = {}
        for sid, body in local.items():
            if grow and sid in incoming:  # make the local one a strict prefix of the incoming one
                body = incoming[sid][:1]
            before[folder / f"{sid}.jsonl"] = _write(folder / f"{sid}.jsonl", str(target), sid, body)
            if sidecar_local:
                p = folder / sid / "notes.txt"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text("note" if sidecar_local == "same" else "local note")
                before[p] = p.read_bytes()
        # the incoming payload, as the archive reader would stage it
        staged = base / "staged"
        staged.mkdir()
        files: dict[str, Path] = {}
        sessions = []
        for sid, body in incoming.items():
            t = staged / f"{sid}.t"
            _write(t, "/old/root", sid, body)
            n = staged / f"{sid}.n"
            n.write_text("note")
            files[f"sessions/{sid}.jsonl"] = t
            files[f"sessions/{sid}/notes.txt"] = n
            sessions.append({"id": sid, "cwd_rel": "", "files": [
                {"arcname": f"sessions/{sid}.jsonl", "size": t.stat().st_size, "sha256": "", "role": "transcript"},
                {"arcname": f"sessions/{sid}/notes.txt", "size": 4, "sha256": "", "role": "sidecar"},
            ]})
        manifest = {"tool": "demo", "source": {"os_flavor": "posix", "repo_root": "/old/root"},
                    "repo": {"remotes": []}, "sessions": sessions}
        work = base / "work"
        work.mkdir()
        report = import_sessions(DemoAdapter(env), manifest, files, Repo(root=target), env=env, staging=work)
        # 1. every local byte is still there: unchanged, or (fast-forward) a prefix of the new file
        for path, data in before.items():
            now = path.read_bytes()
            assert now[: len(data)] == data
            r = next((r for r in report.results if r.original_id == path.stem), None)
            if now != data:
                assert r is not None and r.action == "fast-forward"
        # 2. every incoming session is findable: imported somewhere or skipped for a stated reason
        for r in report.results:
            assert r.action in ("new", "fast-forward", "copy", "skip")
            if r.action != "skip":
                got = Path(r.path).read_bytes().decode()
                want = "".join(json.dumps({"cwd": str(target), "sessionId": r.id, "x": b}) + "\n"
                               for b in incoming[r.original_id])
                assert got == want
            else:
                assert r.reason
        # 3. no temporary files left where the tool looks
        assert not [p for p in home.rglob("*") if p.name.endswith(".partial")]
        # 4. receiving the same handoff again is a no-op: all skipped, nothing written, no journal
        snap = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
        work2 = base / "work2"
        work2.mkdir()
        again = import_sessions(DemoAdapter(env), manifest, files, Repo(root=target), env=env, staging=work2)
        assert [r.action for r in again.results] == ["skip"] * len(incoming)
        assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == snap
        assert again.journal is None
    finally:
        shutil.rmtree(base, ignore_errors=True)
