"""The gist transport driven through the REAL gh CLI against the loopback TLS gist server."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from pathlib import Path

import pytest

from sync_ai_sessions.errors import FormatError, NetworkError, NotFoundError, UsageError
from sync_ai_sessions.transports.gist import GistTransport
from sync_ai_sessions.transports.gist_encoding import INDEX_NAME, MARKER, PART_MARKER, PART_SIZE

pytestmark = pytest.mark.realgh


def _payload(tmp_path: Path, size: int, name: str = "payload.bin") -> Path:
    p = tmp_path / name
    with open(p, "wb") as fh:
        left = size
        while left:
            n = min(left, 8 << 20)
            fh.write(os.urandom(n))
            left -= n
    return p


def _sha(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _posts(server):
    return [r for r in server.requests if r.method == "POST"]


@pytest.mark.parametrize("size", [1024, 5 * 1000 * 1000])
def test_roundtrip_small_and_5mb(server, env, tmp_path, size):
    src = _payload(tmp_path, size)
    t = GistTransport(env)
    seen: list[tuple[int, int | None]] = []
    stored = t.upload(src, progress=lambda done, total: seen.append((done, total)))
    assert stored.kind == "gist" and stored.size == size and seen[-1] == (size, size)
    # one secret gist, our marker, generic names only
    assert list(server.gists) == [stored.ref]
    g = server.gists[stored.ref]
    assert g.public is False and g.description == MARKER
    nparts = -(-size // PART_SIZE)
    assert set(g.files) == {INDEX_NAME} | {f"part-{i:04d}.txt" for i in range(1, nparts + 1)}
    assert all(len(c) < 1_000_000 for c in g.files.values())
    dest = tmp_path / "back.bin"
    t.download(stored.ref, dest)
    assert dest.read_bytes() == src.read_bytes()
    # no temp files left next to dest
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_roundtrip_200mb(server, env, tmp_path):
    size = 200 * 1024 * 1024
    src = _payload(tmp_path, size)
    t = GistTransport(env, max_size=size)  # above the 100 MB default ceiling, as `--max-gist-mb 210` allows
    t0 = time.monotonic()
    stored = t.upload(src)
    t1 = time.monotonic()
    dest = tmp_path / "back.bin"
    t.download(stored.ref, dest)
    t2 = time.monotonic()
    print(f"\n200 MiB: upload {t1 - t0:.1f}s, download {t2 - t1:.1f}s, {len(server.gists)} gists")
    assert _sha(dest) == _sha(src)
    assert server.violations == []  # serial, paced, inside the content-creation budget
    nparts = -(-size // PART_SIZE)
    assert stored.extra["parts"] == nparts
    assert len(server.gists) == -(-nparts // 10) == len(stored.extra["gists"])
    for g in server.gists.values():
        assert g.public is False
        assert len(g.files) <= 11  # far below the 300-file listing limit
        assert all(len(c) <= server.inline_limit for c in g.files.values())  # no file over the inline limit
    # the strict server blanks large gists' inline content: every part came from its raw_url, on the raw host
    raws = [r for r in server.requests if "/raw/" in r.path]
    assert len(raws) >= nparts and {r.host for r in raws} == {server.raw_host}


def test_wire_carries_only_ciphertext(server, env, tmp_path):
    """Byte-level check of every request body: marker, generic names, base64 of the payload, a bare index."""
    src = _payload(tmp_path, 40_000)
    t = GistTransport(env, part_size=7_000, parts_per_gist=2)  # 6 parts over 3 gists
    stored = t.upload(src)
    dest = tmp_path / "back.bin"
    t.download(stored.ref, dest)
    assert dest.read_bytes() == src.read_bytes()

    allowed_paths = re.compile(r"/api/v3/user|/api/v3/gists(/[0-9a-f]{32})?|/alice/[0-9a-f]+/raw/[0-9a-f]+/[\w.-]+")
    for r in server.requests:
        assert allowed_paths.fullmatch(r.path.split("?")[0]), r.path
        if r.method != "POST":
            assert r.body == b"", r.path
    posts = _posts(server)
    assert len(posts) == 3
    skeleton = re.compile(
        rb'\{"description":"sync-ai-sessions handoff( part)?","public":false,"files":\{'
        rb'("part-\d{4}\.txt":\{"content":B64\},?)+("index\.json":\{"content":INDEX\})?\}\}'
    )
    decoded: dict[str, bytes] = {}
    index = None
    skeletons = []
    for r in posts:
        doc = json.loads(r.body)
        if INDEX_NAME in doc["files"]:
            index = json.loads(doc["files"][INDEX_NAME]["content"])
        for name, spec in doc["files"].items():
            if name != INDEX_NAME:
                decoded[name] = base64.b64decode(spec["content"], validate=True)
        stripped = re.sub(rb'"content":"[A-Za-z0-9+/=]+"', b'"content":B64', r.body)
        stripped = re.sub(rb'"content":"\{(?:[^"\\]|\\")*\}"', b'"content":INDEX', stripped)
        assert skeleton.fullmatch(stripped), stripped[:300]
        skeletons.append(stripped)
    assert b"".join(decoded[k] for k in sorted(decoded)) == src.read_bytes()
    # the index: counts, sizes, hashes of ciphertext parts and the part gists' ids; nothing else
    assert index is not None
    assert set(index) == {"format", "version", "encoding", "size", "part_size", "gists", "parts"}
    assert index["size"] == 40_000 and len(index["parts"]) == 6
    assert sorted(index["gists"]) == sorted(g for g in server.gists if g != stored.ref)
    for p in index["parts"]:
        assert set(p) == {"file", "gist", "size", "sha256"}
        assert hashlib.sha256(decoded[p["file"]]).hexdigest() == p["sha256"]
    # nothing about the machine, user or paths anywhere on the wire
    wire = b"".join(skeletons) + json.dumps(index).encode() + b"".join(r.path.encode() for r in server.requests)
    for secret in (str(tmp_path).encode(), env["HOME"].encode(), b"alice", os.uname().nodename.encode()):
        assert secret not in wire
    for g in server.gists.values():
        assert g.public is False and g.description in (MARKER, PART_MARKER)


def test_truncated_files_are_read_through_raw_url(server, env, tmp_path):
    server.inline_limit = 500  # as if GitHub truncated every file's inline content
    server.blank_over = 10**9
    src = _payload(tmp_path, 30_000)
    t = GistTransport(env, part_size=5_000, parts_per_gist=3)
    stored = t.upload(src)
    dest = tmp_path / "back.bin"
    t.download(stored.ref, dest)
    assert dest.read_bytes() == src.read_bytes()
    raws = [r for r in server.requests if "/raw/" in r.path]
    assert len(raws) == 6 + 1  # every part + the index
    assert {r.host for r in raws} == {server.raw_host}  # raw files live on their own host name


def test_large_gists_with_blanked_inline_content_are_read_raw(server, env, tmp_path):
    """GitHub blanks the inline content of every file of a large gist; small ones stay inline."""
    server.blank_over = 20_000
    src = _payload(tmp_path, 40_000)
    t = GistTransport(env, part_size=5_000, parts_per_gist=4)  # 8 parts: 2 gists of ~26,700 bytes
    stored = t.upload(src)
    t.download(stored.ref, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    assert len([r for r in server.requests if "/raw/" in r.path]) == 8 + 1


def test_gist_response_with_over_300_files_is_not_ours(server, env, tmp_path):
    files = {f"part-{i:04d}.txt": "QUJD" for i in range(1, 302)} | {INDEX_NAME: "{}"}
    g = server.create_gist("alice", MARKER, files)
    with pytest.raises(FormatError):
        GistTransport(env).download(g.id, tmp_path / "x")
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------------- faults --
def test_retries_5xx_secondary_rate_limit_and_dropped_connections(server, env, tmp_path):
    src = _payload(tmp_path, 20_000)
    t = GistTransport(env, part_size=4_000, parts_per_gist=2, workers=1)
    server.add_fault("POST", r"/gists$", 502)
    server.add_fault("POST", r"/gists$", "secondary")
    server.add_fault("POST", r"/gists$", "drop")
    server.add_fault("POST", r"/gists$", 429)
    server.add_fault("GET", r"/gists/", 500)
    server.add_fault("GET", r"/gists/", "drop")
    server.add_fault("GET", r"/gists/", "secondary")
    stored = t.upload(src)
    dest = tmp_path / "back.bin"
    t.download(stored.ref, dest)
    assert dest.read_bytes() == src.read_bytes()
    assert len(server.gists) == 3  # dropped/refused POSTs created nothing extra
    assert all(f.times == 0 for f in server.faults)
    assert server.violations == []  # retry-after (1 s) honoured in full, never two writes at once


def test_failed_upload_leaves_no_gist_behind(server, env, tmp_path):
    src = _payload(tmp_path, 50_000)
    t = GistTransport(env, part_size=5_000, parts_per_gist=2)  # 5 gists
    server.add_fault("POST", r"/gists$", 500, times=1000, after=2)
    with pytest.raises(NetworkError) as ei:
        t.upload(src)
    assert ei.value.exit_code == 8 and "HTTP 500" in ei.value.message and "gave up after 3 tries" in ei.value.message
    assert len([r for r in _posts(server)]) > 2
    assert server.gists == {}  # the gists that were made got deleted
    assert len([r for r in server.requests if r.method == "DELETE"]) >= 2


def test_persistent_secondary_rate_limit_is_one_clear_line(server, env, tmp_path):
    src = _payload(tmp_path, 1_000)
    server.add_fault("POST", r"/gists$", "secondary", times=1000)
    with pytest.raises(NetworkError) as ei:
        GistTransport(dict(env, SYNC_AI_SESSIONS_GH_MAX_WAIT="2.5")).upload(src)
    assert ei.value.code == "rate_limited" and "\n" not in ei.value.message
    assert server.gists == {}
    assert len(_posts(server)) == 3 and server.violations == []  # waited 1 s, 1 s, then stopped


def test_unreachable_host_is_a_network_error(env, tmp_path):
    env = dict(env, GH_HOST="localhost:1")  # nothing listens there
    with pytest.raises(NetworkError) as ei:
        GistTransport(env, check=False).download("0123456789abcdef0123", tmp_path / "x")
    assert "cannot reach" in ei.value.message and "\n" not in ei.value.message


# --------------------------------------------------------------------------- bad gists/ids --
def test_wrong_and_malformed_ids(server, env, tmp_path):
    t = GistTransport(env)
    with pytest.raises(NotFoundError) as ei:
        t.download("0123456789abcdef0123456789abcdef", tmp_path / "x")
    assert ei.value.code == "no_gist" and "not found" in ei.value.message and ei.value.exit_code == 3
    before = len(server.requests)
    for bad in ("../user", "gists?x=1", "--method=DELETE", ""):
        with pytest.raises(NotFoundError) as ei:
            t.download(bad, tmp_path / "x")
        assert ei.value.code == "bad_gist_id"
    assert len(server.requests) == before  # a bad id never reaches gh
    assert not (tmp_path / "x").exists()


def test_gist_url_is_accepted(server, env, tmp_path):
    src = _payload(tmp_path, 2_000)
    t = GistTransport(env)
    stored = t.upload(src)
    t.download(stored.extra["url"], tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


def test_not_ours_missing_part_corrupt_part_deleted(server, env, tmp_path):
    t = GistTransport(env, part_size=3_000, parts_per_gist=2)
    dest = tmp_path / "back.bin"
    other = server.create_gist("alice", "my notes", {"notes.md": "hello"})
    with pytest.raises(FormatError) as ei:
        t.download(other.id, dest)
    assert ei.value.code == "not_ours" and "not a sync-ai-sessions handoff" in ei.value.message

    stored = t.upload(_payload(tmp_path, 10_000))  # 4 parts, 2 gists
    main = server.gists[stored.ref]
    part_gist = server.gists[stored.extra["gists"][1]]

    saved = main.files.pop("part-0002.txt")
    with pytest.raises(FormatError) as ei:
        t.download(stored.ref, dest)
    assert ei.value.code == "incomplete" and "part-0002.txt is missing" in ei.value.message
    main.files["part-0002.txt"] = saved

    good = part_gist.files["part-0003.txt"]
    part_gist.files["part-0003.txt"] = base64.b64encode(os.urandom(3_000)).decode()
    with pytest.raises(FormatError) as ei:
        t.download(stored.ref, dest)
    assert ei.value.code == "corrupt" and "part 3 of 4" in ei.value.message
    part_gist.files["part-0003.txt"] = good

    part_gist.description = "something else"
    with pytest.raises(FormatError):
        t.download(stored.ref, dest)
    part_gist.description = PART_MARKER

    del server.gists[part_gist.id]
    with pytest.raises(NotFoundError) as ei:
        t.download(stored.ref, dest)
    assert "is gone" in ei.value.message
    assert not dest.exists() and not list(tmp_path.glob(".back.bin*"))

    t.delete(stored.ref)
    with pytest.raises(NotFoundError):
        t.download(stored.ref, dest)


def test_too_large_for_gists_is_refused_before_any_upload(server, env, tmp_path):
    src = _payload(tmp_path, 5_000)
    with pytest.raises(UsageError) as ei:
        GistTransport(env, max_size=4_000).upload(src)
    assert ei.value.code == "too_large" and "--to FILE" in ei.value.message
    assert server.requests == []


def test_hostname_option_instead_of_gh_host(server, env, tmp_path):
    """`hostname=` becomes `gh api --hostname`, for GitHub Enterprise without GH_HOST."""
    no_host = {k: v for k, v in env.items() if k != "GH_HOST"}
    src = _payload(tmp_path, 3_000)
    t = GistTransport(no_host, hostname=server.host)
    stored = t.upload(src)
    t.download(stored.ref, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    assert stored.extra["url"] == server.html_url(server.gists[stored.ref])  # the API's html_url
