"""Valid (authenticated) handoffs with hostile contents: names, ids, manifests, and a receiving tool home
holding symlinks or special files where the import would write.  Each must be refused with a clear error
and nothing written, or, where it is harmless, imported strictly inside the tool's home."""

from __future__ import annotations

import contextlib
import copy
import os
import stat
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability.payloads import (
    CASES,
    assert_refused,
    base_manifest,
    build,
    file_entry,
    file_record,
    make_world,
    raw_archive,
    receive_cli,
    seal,
    session_lines,
    snapshot,
)
from sync_ai_sessions.errors import UnsafePayloadError
from sync_ai_sessions.format.archive import ArchiveWriter

SID = "5f0e2a44-7a61-4d3b-9c55-0123456789ab"
NAME = f"sessions/{SID}.jsonl"
DATA = session_lines(SID, 3)


def one_file(name: str, data: bytes = DATA, *, sid: str = SID, extra: dict | None = None) -> bytes:
    s = {"id": sid, "files": [file_entry(name, data)], **(extra or {})}
    return seal(raw_archive([file_record(name, data)], base_manifest([s])))


HOSTILE_NAMES = [
    "/etc/passwd", "/sessions/x.jsonl", "../x.jsonl", "sessions/../../x.jsonl", "sessions/..", "..", ".",
    "sessions/./x.jsonl", "sessions//x.jsonl", "sessions/x/", "C:/x.jsonl", "c:x.jsonl", "sessions\\..\\x",
    "sessions/a\x00b.jsonl", "sessions/a\nb.jsonl", "sessions/\x1b[31mx", "", "a/" * 2100 + "x",
    "\\\\server\\share\\x", "sessions/x.jsonl/..",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_unsafe_names_are_refused(world, name):
    r = assert_refused(world, one_file(name), "hostile names (absolute, .., control, drive)", exit_codes={4})
    assert r.doc["error"]["code"] in ("unsafe_payload", "bad_manifest")


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if n], ids=range(len(HOSTILE_NAMES) - 1))
def test_the_writer_refuses_unsafe_names_too(tmp_path, name):
    src = tmp_path / "f"
    src.write_bytes(b"x")
    import io

    m = base_manifest([{"id": SID, "files": [{"arcname": name, "size": 1, "role": "transcript"}]}])
    with pytest.raises(UnsafePayloadError):
        ArchiveWriter(io.BytesIO(), m)


@pytest.mark.parametrize("a,b", [
    (NAME, NAME),
    ("sessions/Abc.jsonl", "sessions/abc.jsonl"),
    ("sessions/caf\u00e9.jsonl", "sessions/cafe\u0301.jsonl"),  # NFC vs NFD
    ("sessions/stra\u00dfe.jsonl", "sessions/STRASSE.jsonl"),  # casefold ß -> ss
    ("sessions/\u212a.jsonl", "sessions/k.jsonl"),  # KELVIN SIGN folds to k
    ("sessions/x/A", "sessions/X/a"),
])
def test_duplicate_and_colliding_names_are_refused(world, a, b):
    recs = [file_record(a, DATA), file_record(b, DATA + b"x")]
    m = base_manifest([{"id": "s1", "files": [file_entry(a, DATA)]},
                       {"id": "s2", "files": [file_entry(b, DATA + b"x")]}])
    r = assert_refused(world, seal(raw_archive(recs, m)), "duplicate / case / Unicode collisions", exit_codes={4})
    assert r.doc["error"]["code"] == "unsafe_payload"


def _good_manifest() -> dict:
    return base_manifest([{"id": SID, "cwd_rel": "", "files": [file_entry(NAME, DATA)]}])


def _mut(path: str, value, delete: bool = False):
    def f(m):
        cur = m
        keys = path.split(".")
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur[k]
        last = keys[-1]
        if delete:
            del cur[last]
        elif isinstance(cur, list):
            cur[int(last)] = value
        else:
            cur[last] = value
        return m
    return f


MANIFEST_MUTATIONS = {
    "format 1 in a version 2 archive": _mut("format", 1),
    "format 3": _mut("format", 3),
    "format missing": _mut("format", None, delete=True),
    "tool not an identifier": _mut("tool", "../claude"),
    "tool unknown": _mut("tool", "notatool"),
    "tool a number": _mut("tool", 7),
    "source missing": _mut("source", None, delete=True),
    "os_flavor beos": _mut("source.os_flavor", "beos"),
    "repo_root empty": _mut("source.repo_root", ""),
    "repo_root a list": _mut("source.repo_root", ["/"]),
    "home a dict": _mut("source.home", {}),
    "adapter_meta a list": _mut("source.adapter_meta", []),
    "remotes a string": _mut("repo.remotes", "github.com/acme/widget"),
    "remotes of ints": _mut("repo.remotes", [1]),
    "sessions an object": _mut("sessions", {}),
    "session a string": _mut("sessions.0", "x"),
    "id ..": _mut("sessions.0.id", ".."),
    "id .": _mut("sessions.0.id", "."),
    "id with slash": _mut("sessions.0.id", "../../x"),
    "id with backslash": _mut("sessions.0.id", "a\\b"),
    "id with NUL": _mut("sessions.0.id", "a\x00b"),
    "id with newline": _mut("sessions.0.id", "a\nb"),
    "id glob star": _mut("sessions.0.id", "*"),
    "id shell": _mut("sessions.0.id", "x; rm -rf ~"),
    "id escape": _mut("sessions.0.id", "x\x1b]0;pwn\x07"),
    "id glob class": _mut("sessions.0.id", "[0-9a-f]*"),
    "id empty": _mut("sessions.0.id", ""),
    "id 201 chars": _mut("sessions.0.id", "a" * 201),
    "id a number": _mut("sessions.0.id", 5),
    "cwd_rel ..": _mut("sessions.0.cwd_rel", "../../etc"),
    "cwd_rel absolute": _mut("sessions.0.cwd_rel", "/etc"),
    "cwd_rel a list": _mut("sessions.0.cwd_rel", ["x"]),
    "title a dict": _mut("sessions.0.title", {"a": 1}),
    "lines a string": _mut("sessions.0.lines", "3"),
    "meta a list": _mut("sessions.0.meta", [1]),
    "files empty": _mut("sessions.0.files", []),
    "file role other": _mut("sessions.0.files.0.role", "config"),
    "file size negative": _mut("sessions.0.files.0.size", -1),
    "file size wrong": _mut("sessions.0.files.0.size", len(DATA) + 1),
    "file size a bool": _mut("sessions.0.files.0.size", True),
    "file arcname not in archive": _mut("sessions.0.files.0.arcname", "sessions/other.jsonl"),
    "file listed twice": lambda m: (m["sessions"][0]["files"].append(dict(m["sessions"][0]["files"][0])), m)[1],
    "two transcripts": lambda m: (m["sessions"][0]["files"].append(
        dict(m["sessions"][0]["files"][0], arcname="sessions/y.jsonl")), m)[1],
    "no transcript": _mut("sessions.0.files.0.role", "sidecar"),
    "same file in two sessions": lambda m: (m["sessions"].append(
        dict(copy.deepcopy(m["sessions"][0]), id="other")), m)[1],
    "duplicate session id": lambda m: (m["sessions"].append(copy.deepcopy(m["sessions"][0])), m)[1],
    "no sessions but a file": _mut("sessions", []),
}


@pytest.mark.parametrize("what", list(MANIFEST_MUTATIONS))
def test_malformed_manifests_are_refused(world, what):
    m = MANIFEST_MUTATIONS[what](_good_manifest())
    assert_refused(world, seal(raw_archive([file_record(NAME, DATA)], m)), "malformed manifests",
                   exit_codes={4, 2})


def test_archive_file_missing_from_manifest(world):
    recs = [file_record(NAME, DATA), file_record("sessions/extra.jsonl", b"x")]
    assert_refused(world, seal(raw_archive(recs, _good_manifest())), "malformed manifests", exit_codes={4})


def test_glob_id_cannot_fast_forward_another_session(world, tmp_path):
    """A session id of '*' must not be matched against the local sessions by pattern."""
    local = world.demo_session("local-1", [{"text": "mine"}])
    before = local.read_bytes()
    hostile = before.replace(str(world.repo).encode(), b"/home/alice/src/widget") + b'{"text":"appended"}\n'
    blob = build([("sessions/*.jsonl", hostile)], [{"id": "*", "files": [file_entry("sessions/*.jsonl", hostile)]}],
                 tmp=tmp_path)
    r = receive_cli(world, blob)
    CASES["malformed manifests"] += 1
    assert local.read_bytes() == before
    assert r.exit_code == 4 and r.doc["error"]["code"] == "bad_manifest", r.stdout


# -- the receiving machine's tool home holds traps ---------------------------------------------------
def _session_folder(world) -> Path:
    from sync_ai_sessions.adapters.demo import enc

    return world.tool_home / "sessions" / enc(str(world.repo))


def _payload(tmp_path, sidecar: bool = False) -> bytes:
    files = [(NAME, DATA)]
    entries = [file_entry(NAME, DATA)]
    if sidecar:
        files.append((f"sessions/{SID}/notes.txt", b"notes"))
        entries.append(file_entry(f"sessions/{SID}/notes.txt", b"notes", role="sidecar"))
    return build(files, [{"id": SID, "files": entries}], tmp=tmp_path)


def test_symlinked_session_folder_is_refused(world, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (world.tool_home / "sessions").mkdir(parents=True)
    _session_folder(world).symlink_to(outside, target_is_directory=True)
    r = assert_refused(world, _payload(tmp_path), "symlinks / special files at the destination", exit_codes={4})
    assert r.doc["error"]["code"] == "unsafe_payload"
    assert not any(outside.iterdir())


def test_symlinked_tool_sessions_root_is_refused(world, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    world.tool_home.mkdir(parents=True)
    (world.tool_home / "sessions").symlink_to(outside, target_is_directory=True)
    assert_refused(world, _payload(tmp_path), "symlinks / special files at the destination", exit_codes={4})
    assert not any(outside.iterdir())


def test_symlinked_sidecar_folder_is_refused(world, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    _session_folder(world).mkdir(parents=True)
    (_session_folder(world) / SID).symlink_to(outside, target_is_directory=True)
    assert_refused(world, _payload(tmp_path, sidecar=True), "symlinks / special files at the destination",
                   exit_codes={4})
    assert not any(outside.iterdir())
    assert not (_session_folder(world) / f"{SID}.jsonl").exists()


def test_session_file_that_is_a_symlink_is_not_written_through(world, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_bytes(b"precious")
    _session_folder(world).mkdir(parents=True)
    (_session_folder(world) / f"{SID}.jsonl").symlink_to(target)
    before = snapshot(world.home)
    r = receive_cli(world, _payload(tmp_path))
    CASES["symlinks / special files at the destination"] += 1
    assert target.read_bytes() == b"precious"
    assert r.exit_code != 1 and "Traceback" not in r.stdout + r.stderr
    if r.exit_code != 0:
        assert snapshot(world.home) == before


@pytest.mark.parametrize("kind", ["fifo", "chardev", "dir"])
def test_special_file_at_destination(world, tmp_path, kind):
    _session_folder(world).mkdir(parents=True)
    dest = _session_folder(world) / f"{SID}/notes.txt"
    dest.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(dest)
    elif kind == "chardev":
        try:
            os.mknod(dest, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
        except PermissionError:
            pytest.skip("mknod not permitted here")
    else:
        dest.mkdir()
    t = time.monotonic()
    r = assert_refused(world, _payload(tmp_path, sidecar=True), "symlinks / special files at the destination",
                       exit_codes={4, 6, 7})
    assert time.monotonic() - t < 10, "blocked on a FIFO"
    assert r.doc["error"]["code"] in ("unsafe_payload", "conflict", "io")


def test_100k_tiny_files(world, tmp_path):
    """A manifest listing 100,000 tiny sidecars whose very last record does not match it: every file is
    staged first, then the handoff is refused in bounded time and nothing is imported.  (The archive caps
    files at 200,000.)  Creating 100,000 staged files takes ~25 s on an ext4 VM disk, so CI runs 10,000
    unless SAIS_SLOW_TESTS=1."""
    count = 100_000 if os.environ.get("SAIS_SLOW_TESTS") == "1" else 10_000
    t0 = time.monotonic()
    tiny = [f"sessions/{SID}/f{i}" for i in range(count)]
    m = base_manifest([{"id": SID, "files": [file_entry(NAME, DATA)]
                        + [file_entry(n, b"x", role="sidecar") for n in tiny]}])
    records = [file_record(NAME, DATA)] + [file_record(n, b"x") for n in tiny[:-1]]
    records.append(file_record(tiny[-1], b"xy"))  # the last one is not what the manifest says
    blob = seal(raw_archive(records, m), chunk=1 << 20)
    built = time.monotonic() - t0
    t1 = time.monotonic()
    r = assert_refused(world, blob, "many tiny files", exit_codes={4})
    took = time.monotonic() - t1
    assert r.doc["error"]["code"] == "format" and f"file {count}" in r.doc["error"]["message"]
    CASES[f"tiny files staged (count={count})"] += count
    print(f"{count} tiny files: built in {built:.1f}s, refused in {took:.1f}s")
    assert took < 60


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


# -- random manifests ------------------------------------------------------------------------------------
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                      st.text(max_size=20))
json_values = st.recursive(json_leaf, lambda ch: st.one_of(st.lists(ch, max_size=4),
                                                           st.dictionaries(st.text(max_size=8), ch, max_size=4)),
                           max_leaves=20)


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("manifests"))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_manifest_fields(shared_world, data):
    m = _good_manifest()
    paths = ["format", "tool", "source", "source.os_flavor", "source.repo_root", "source.adapter_meta", "repo",
             "repo.remotes", "sessions", "sessions.0", "sessions.0.id", "sessions.0.cwd_rel", "sessions.0.files",
             "sessions.0.files.0", "sessions.0.files.0.size", "sessions.0.files.0.role", "sessions.0.meta",
             "sessions.0.lines", "sessions.0.title"]
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True)):
        with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):
            m = _mut(path, data.draw(json_values))(m)
    before = snapshot(shared_world.home)
    r = receive_cli(shared_world, seal(raw_archive([file_record(NAME, DATA)], m)))
    CASES["random manifest fields (hypothesis)"] += 1
    assert "Traceback" not in r.stdout + r.stderr
    assert r.exit_code != 1, r.stdout
    if r.exit_code != 0:
        assert r.doc["ok"] is False
        assert snapshot(shared_world.home) == before
    else:  # a mutation that stays valid (e.g. a title): imported inside the tool home only
        assert all(k.startswith(".sais-demo") for k in snapshot(shared_world.home))
        import shutil

        shutil.rmtree(shared_world.tool_home)
