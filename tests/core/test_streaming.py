"""Archive version 2 is received in one pass: sessions new to this machine are rewritten while the payload
is decrypted, straight into their staged place; the others go through raw staging as before; version 1
handoffs (made by earlier versions) still import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.machines import PASSPHRASE, demo_enc, git_repo, make_machine, two_machines, write_demo_session

from sync_ai_sessions.adapters.base import Placement, Recipe
from sync_ai_sessions.adapters.demo import DemoAdapter
from sync_ai_sessions.engine.intake import import_sessions
from sync_ai_sessions.engine.rewrite import PathRewriter
from sync_ai_sessions.format.archive import ArchiveReader
from sync_ai_sessions.format.container import DecryptReader
from sync_ai_sessions.gitrepo import find_repo

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@pytest.fixture
def two(tmp_path):
    return two_machines(tmp_path, "work/the proj", "https://github.com/o/r")


def _receive_in_process(b, rb: Path, payload: Path, monkeypatch, tool: type[DemoAdapter] = DemoAdapter
                        ) -> tuple[dict, list[str]]:
    """Import `payload` on machine B through the library, recording which files went through a second
    rewriting pass (PathRewriter.rewrite_file reads a staged raw file)."""
    second_pass: list[str] = []
    real = PathRewriter.rewrite_file

    def spy(self, src, dst, **kw):
        second_pass.append(Path(src).name)
        return real(self, src, dst, **kw)

    monkeypatch.setattr(PathRewriter, "rewrite_file", spy)
    env = dict(b.env)
    staging = b.root / "staging"
    staging.mkdir()
    try:
        with open(payload, "rb") as fh, DecryptReader(fh, PASSPHRASE, threaded=True) as reader:
            arch = ArchiveReader(reader)
            assert arch.version == 2 and arch.manifest is not None
            report = import_sessions(tool(env), arch.manifest, None, find_repo(str(rb)), env=env,
                                     staging=staging, stream=arch)
    finally:
        shutil.rmtree(staging)
    return {r.original_id: r.action for r in report.results}, second_pass


def test_new_sessions_are_rewritten_while_decrypting(two, tmp_path, monkeypatch):
    a, b, ra, rb = two
    write_demo_session(a, ra, "s-new", lines=[{"n": i, "file": f"{ra}/src/{i}.py"} for i in range(300)],
                       sidecar=f"see {ra}/notes")
    write_demo_session(a, ra, "s-ff", lines=[{"n": 1}, {"n": 2}])
    # B already has the first line of s-ff (as B's path): the handoff fast-forwards it.
    write_demo_session(b, rb, "s-ff", lines=[{"n": 1}])
    out = tmp_path / "h.sais"
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(out))
    assert rc == 0, doc

    actions, second_pass = _receive_in_process(b, rb, out, monkeypatch)

    assert actions == {"s-new": "new", "s-ff": "fast-forward"}
    # Only the session B already had was staged raw and rewritten afterwards; s-new's files were not.
    assert len(second_pass) == 1
    folder = b.home / ".sais-demo" / "sessions" / demo_enc(str(rb))
    new = (folder / "s-new.jsonl").read_text()
    assert str(ra) not in new and new.count(f"{rb}/src/") == 300
    assert (folder / "s-new" / "notes.txt").read_text() == f"see {rb}/notes"
    ff = [json.loads(x) for x in (folder / "s-ff.jsonl").read_text().splitlines()]
    assert [x["n"] for x in ff] == [1, 2] and all(x["cwd"] == str(rb) for x in ff)


class _Marking(DemoAdapter):
    """The demo tool, planning one more file it makes itself next to each session (as Gemini plans its
    `.project_root` markers): a Recipe with bytes of its own, not a payload file."""

    def stage(self, session, files, ctx, new_id=None):
        st = super().stage(session, files, ctx, new_id)
        staged = ctx.staging / "marks" / st.session_id
        st.recipes.append(Recipe(staged, data=f"mark {st.session_id}\n".encode()))
        st.sidecars.append(Placement(st.transcript.dest.with_suffix(".mark"), staged))
        return st


def test_recipes_with_bytes_of_their_own_are_staged_streamed_or_not(two, tmp_path, monkeypatch):
    """The engine writes every Recipe: a streamed session's payload files while decrypting and its own bytes
    after; a session staged from raw files (here a fast-forward) all of them once it is planned."""
    a, b, ra, rb = two
    write_demo_session(a, ra, "s-new", lines=[{"n": 1}])
    write_demo_session(a, ra, "s-ff", lines=[{"n": 1}, {"n": 2}])
    write_demo_session(b, rb, "s-ff", lines=[{"n": 1}])
    out = tmp_path / "h.sais"
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(out))
    assert rc == 0, doc

    actions, _ = _receive_in_process(b, rb, out, monkeypatch, _Marking)

    assert actions == {"s-new": "new", "s-ff": "fast-forward"}
    folder = b.home / ".sais-demo" / "sessions" / demo_enc(str(rb))
    assert (folder / "s-new.mark").read_text() == "mark s-new\n"
    assert (folder / "s-ff.mark").read_text() == "mark s-ff\n"
    assert str(rb) in (folder / "s-new.jsonl").read_text()


def test_a_version_1_handoff_still_imports(tmp_path):
    """tests/vectors/v1-multi-chunk.sais was written by the first version (manifest last, a digest per
    file): `receive` through the CLI imports it and rewrites its paths."""
    b = make_machine(tmp_path, "B")
    rb = git_repo(b.root / "clone", "https://github.com/o/r.git")
    (rb / "sub").mkdir()
    v = next(v for v in json.loads((VECTORS / "vectors.json").read_text())
             if v["file"] == "v1-multi-chunk.sais" and v["expect"] == "ok")
    rc, doc = b.run_json("receive", "--from", str(VECTORS / v["file"]), "--cwd", str(rb),
                         env={"SYNC_AI_SESSIONS_PASSPHRASE": v["passphrase"]})
    assert rc == 0, doc
    assert [(i["id"], i["action"]) for i in doc["imported"]] == [("s2", "new")]
    data = Path(doc["imported"][0]["path"]).read_bytes()
    assert b"/home/alice/src/proj" not in data and data.count(str(rb).encode()) >= 3000


def _payload_with_kek(data: bytes) -> bytes:
    import io

    from sync_ai_sessions.format.container import EncryptWriter

    buf = io.BytesIO()
    w = EncryptWriter(buf, kek=b"k" * 32, level=1)
    w.write(data)
    w.close()
    return buf.getvalue()


def test_threaded_reader_gives_the_same_bytes_and_errors_in_order():
    """With threaded=True, chunks are decrypted on one thread and decompressed on another: the bytes are
    those of the one-thread reader, a tampered chunk fails after the chunks before it were delivered, and
    close() in the middle returns (no thread left waiting)."""
    import io
    import random
    import threading

    from sync_ai_sessions.errors import CryptoError
    from sync_ai_sessions.format.container import HEADER_LEN

    data = random.Random(3).randbytes(6 << 20) * 2  # 12 MiB: more chunks and blocks than the queues hold
    payload = _payload_with_kek(data)
    for threaded in (False, True):
        with DecryptReader(io.BytesIO(payload), kek=b"k" * 32, threaded=threaded) as r:
            assert r.read() == data
    bad = bytearray(payload)
    bad[HEADER_LEN + 4 * ((1 << 20) + 16) + 100] ^= 1  # inside the fifth chunk
    with DecryptReader(io.BytesIO(bytes(bad)), kek=b"k" * 32, threaded=True) as r:
        got = b""
        with pytest.raises(CryptoError):
            while block := r.read1(1 << 20):
                got += block
        assert got and data.startswith(got)
    before = threading.active_count()
    r = DecryptReader(io.BytesIO(payload), kek=b"k" * 32, threaded=True)
    assert r.read(1000) == data[:1000]
    r.close()
    assert threading.active_count() == before


def test_sessions_already_here_are_decided_while_streaming_without_staging_a_byte(two, tmp_path, monkeypatch):
    """Receiving a handoff again compares each session with the local one while it is decrypted: the
    ones B already holds (identical, or newer here) are not written anywhere; the ones that need work
    (fast-forward, copy) are kept raw for the usual staging, and end as they always did."""
    from sync_ai_sessions.engine import bgwrite

    a, b, ra, rb = two
    for sid in ("s-same", "s-newer", "s-ff", "s-div"):
        write_demo_session(a, ra, sid, lines=[{"n": i, "file": f"{ra}/src/{sid}.py"} for i in range(3)],
                           sidecar=f"notes of {sid} in {ra}" if sid == "s-same" else None)
    out = tmp_path / "h.sais"
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(out))
    assert rc == 0, doc
    actions, _ = _receive_in_process(b, rb, out, monkeypatch)
    assert set(actions.values()) == {"new"}
    folder = b.home / ".sais-demo" / "sessions" / demo_enc(str(rb))
    with open(folder / "s-newer.jsonl", "a") as fh:  # resumed on B since
        fh.write(json.dumps({"n": 9}) + "\n")
    ff = folder / "s-ff.jsonl"
    ff.write_bytes(ff.read_bytes().split(b"\n", 1)[0] + b"\n")  # B has only its first line
    div = folder / "s-div.jsonl"
    div.write_bytes(b'{"n": "other"}\n' + div.read_bytes())
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

    opened: list[str] = []
    real_open = bgwrite.BackgroundWriter.open

    def spy(self, path):
        opened.append(Path(path).name)
        return real_open(self, path)

    monkeypatch.setattr(bgwrite.BackgroundWriter, "open", spy)
    actions, second_pass = _receive_in_process(b, rb, out, monkeypatch)

    assert actions == {"s-same": "skip", "s-newer": "skip", "s-ff": "fast-forward", "s-div": "copy"}
    assert len(opened) == 2  # the raw transcripts of s-ff and s-div; nothing of s-same or s-newer
    assert set(second_pass) == set(opened)  # staged from them (twice for the copy: as is, then as the copy)
    assert (folder / "s-same.jsonl").read_bytes() == before["s-same.jsonl"]
    assert (folder / "s-newer.jsonl").read_bytes() == before["s-newer.jsonl"]
    assert [json.loads(x)["n"] for x in ff.read_text().splitlines()] == [0, 1, 2]
    assert div.read_bytes() == before["s-div.jsonl"]
    copies = [p for p in folder.glob("*.jsonl") if p.name not in before]
    assert len(copies) == 1 and str(rb).encode() in copies[0].read_bytes()
