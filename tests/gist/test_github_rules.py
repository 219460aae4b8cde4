"""The gist transport behaves as github.com requires, checked against the strict loopback server.

GitHub's "Best practices for using the REST API": mutative requests serially, "wait at least one second
between each request"; on a rate limit honour `retry-after`, else wait for `x-ratelimit-reset` when
`x-ratelimit-remaining` is 0, else "at least one minute" and exponentially longer. Every gh call has
a bounded time. The pacing tests here use the real 1 s minimum (the `real_pace` fixture)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

import pytest

from sync_ai_sessions import gh as ghmod
from sync_ai_sessions import ghpace
from sync_ai_sessions.errors import AuthError, NetworkError, UsageError
from sync_ai_sessions.transports.gist import GistTransport, upload_seconds

pytestmark = pytest.mark.realgh


def _file(tmp_path: Path, size: int, name: str = "payload.bin") -> Path:
    p = tmp_path / name
    p.write_bytes(os.urandom(size))
    return p


def _gaps(server) -> list[float]:
    """Seconds between each mutative request's arrival and the end of the one before (negative: overlap)."""
    w = sorted(server.mutative_requests(), key=lambda r: r.start)
    return [b.start - a.end for a, b in itertools.pairwise(w)]


@pytest.fixture
def notices():
    seen: list[tuple[float, str]] = []
    ghpace.set_notifier(lambda m: seen.append((time.monotonic(), m)))
    yield seen
    ghpace.set_notifier(None)


def test_mutative_requests_are_serial_and_one_second_apart(server, real_pace, tmp_path):
    """Two uploads at once in one process, then a delete: one shared pacer, so no two mutative requests
    overlap and each starts at least 1 s after the previous one ended (the server enforces it too)."""
    a, b = _file(tmp_path, 3_000, "a.bin"), _file(tmp_path, 3_000, "b.bin")
    results: dict[str, object] = {}

    def up(name: str, p: Path) -> None:
        results[name] = GistTransport(real_pace, part_size=1_500, parts_per_gist=1).upload(p)  # 2 gists

    threads = [threading.Thread(target=up, args=(n, p)) for n, p in (("a", a), ("b", b))]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    GistTransport(real_pace, check=False).delete(results["a"].ref)  # type: ignore[attr-defined]
    elapsed = time.monotonic() - t0
    assert len(server.mutative_requests()) == 6  # 4 creates + 2 deletes
    gaps = _gaps(server)
    assert min(gaps) >= 1.0, gaps
    assert server.violations == []
    assert elapsed >= 5.0
    for name, p in (("a", a), ("b", b)):
        if name == "a":
            continue
        GistTransport(real_pace).download(results[name].ref, tmp_path / "back.bin")  # type: ignore[attr-defined]
        assert (tmp_path / "back.bin").read_bytes() == p.read_bytes()


def test_retry_after_is_honoured_in_full_and_announced(server, env, tmp_path, notices):
    server.retry_after = "2"
    server.add_fault("POST", r"/gists$", "secondary", after=1)  # the second create is refused
    t = GistTransport(env, part_size=1_000, parts_per_gist=1)  # 3 gists
    t.upload(_file(tmp_path, 3_000))
    w = sorted(server.mutative_requests(), key=lambda r: r.start)
    refused = [i for i, r in enumerate(w) if r.status == 403]
    assert refused == [1] and len(w) == 4
    assert w[2].start - w[1].end >= 2.0  # nothing mutative before retry-after was over
    assert server.violations == []
    msgs = [m for _, m in notices]
    assert "GitHub asked us to wait 2 s; 1 of 3 parts uploaded" in msgs


def test_primary_limit_waits_until_the_reset(server, env, tmp_path, notices):
    server.retry_after = "2"  # the reset is 2 s ahead
    server.add_fault("POST", r"/gists$", "primary")
    t = GistTransport(env, part_size=1_000, parts_per_gist=1)
    t.upload(_file(tmp_path, 2_000))
    w = sorted(server.mutative_requests(), key=lambda r: r.start)
    assert w[0].status == 403 and len(w) == 3
    reset = int(w[0].wall + 2)
    assert w[1].wall >= reset  # not before x-ratelimit-reset
    assert any(m.startswith("GitHub asked us to wait") for _, m in notices)


def test_secondary_limit_without_header_waits_a_minute_then_longer(server, env, tmp_path):
    """No retry-after, no x-ratelimit-remaining: 60 s, then 120 s (scaled by the test back-off, 0.01)."""
    server.add_fault("POST", r"/gists$", "secondary-bare", times=2)
    t = GistTransport(env, part_size=1_000, parts_per_gist=1)
    t.upload(_file(tmp_path, 1_000))
    w = sorted(server.mutative_requests(), key=lambda r: r.start)
    assert [r.status for r in w] == [403, 403, 201]
    assert w[1].start - w[0].end >= 0.6 and w[2].start - w[1].end >= 1.2
    assert ghpace.pacer_for(server.host).strikes == 0  # a success ends the run of strikes


def test_every_response_carries_the_primary_limit_headers(server, env):
    resp = ghmod.Gh(env).api("user")
    assert resp.ok and int(resp.headers["x-ratelimit-limit"]) == 5000
    assert {"x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used", "x-ratelimit-resource"} <= set(
        resp.headers
    )


def test_a_stalled_read_is_abandoned_and_retried_within_its_bound(server, env, tmp_path, notices):
    env = dict(env, SYNC_AI_SESSIONS_GH_TIMEOUT="2")
    t = GistTransport(env)
    src = _file(tmp_path, 2_000)
    stored = t.upload(src)
    server.add_fault("GET", r"/gists/[0-9a-f]+$", "stall")
    t0 = time.monotonic()
    t.download(stored.ref, tmp_path / "back.bin")
    took = time.monotonic() - t0
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    assert 2.0 <= took < 6.0, took  # abandoned after its 2 s bound, then retried at once (1 s x 0.01)
    assert any("no answer from" in m and "retrying 1/4" in m for _, m in notices)


def test_a_stalled_create_is_abandoned_and_not_duplicated(server, env, tmp_path):
    """The create happened but the answer never came: after the bound the transport finds its gist."""
    env = dict(env, SYNC_AI_SESSIONS_GH_TIMEOUT="2")
    server.add_fault("POST", r"/gists$", "stall-after")
    t = GistTransport(env, part_size=1_000, parts_per_gist=1)
    src = _file(tmp_path, 2_000)
    t0 = time.monotonic()
    stored = t.upload(src)
    assert time.monotonic() - t0 < 10
    assert len(server.gists) == 2 and len([r for r in server.requests if r.method == "POST"]) == 2
    t.download(stored.ref, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


def test_the_budget_keeps_creates_inside_the_servers_limits(server, env, tmp_path, notices):
    """Our per-minute budget (shrunk here with the windows: 4 in 3 s) pauses us before the server's."""
    server.per_minute, server.minute, server.hour = 4, 3.0, 180.0
    t = GistTransport(env, part_size=500, parts_per_gist=1)  # 6 gists
    t.gh.per_minute = 4  # the client's budget over its 60 x 0.05 = 3 s window
    t.upload(_file(tmp_path, 3_000))
    w = server.mutative_requests()
    assert len(w) == 6 and all(r.status == 201 for r in w)  # never refused
    assert w[4].start - w[0].start >= 3.0


def test_managed_user_cannot_create_gists(server, env, tmp_path):
    server.add_token("emu-token", login="alice_acme", managed=True)
    with pytest.raises(AuthError) as ei:
        GistTransport(dict(env, GH_ENTERPRISE_TOKEN="emu-token")).upload(_file(tmp_path, 1_000))
    assert ei.value.code == "gists_not_allowed" and "managed" in ei.value.message
    assert "--to FILE" in ei.value.message and "gist` scope" not in ei.value.message
    assert server.gists == {}


def test_a_body_github_refuses_as_too_large_is_a_clear_error(server, env, tmp_path):
    server.max_body = 2_000
    with pytest.raises(UsageError) as ei:
        GistTransport(env).upload(_file(tmp_path, 3_000))
    assert ei.value.code == "too_large" and "--to FILE" in ei.value.message
    assert server.gists == {}


def test_the_readme_upload_times_are_computed_from_the_pacing():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    ten, hundred = upload_seconds(10 * 10**6, 20e6), upload_seconds(100 * 10**6, 20e6)
    assert f"**10 MB** of ciphertext is 2 gists, about **{ten:.1f} s**" in readme
    assert f"**100 MB** is 14 gists, about\n**{hundred:.0f} s**" in readme
    assert "at least 1 s after the previous one finished, at most 40 a minute and 250 an hour" in readme
    assert (ghpace.PACE, ghpace.PER_MINUTE, ghpace.PER_HOUR) == (1.0, 40, 250)


def test_an_upload_cut_by_the_network_is_kept_and_continued(server, env, tmp_path):
    t = GistTransport(env, part_size=1_000, parts_per_gist=1)  # 4 gists
    payload = t.scratch(tmp_path)
    payload.write_bytes(os.urandom(4_000))
    server.add_fault("POST", r"/gists$", "drop", times=1000, after=2)  # the network goes after 2 creates
    with pytest.raises(NetworkError) as ei:
        t.upload(payload, key="k1", scope="s1", summary={"tool": "demo"})
    assert "run the same send again" in ei.value.message
    assert t.kept(payload) and len(server.gists) == 2
    saved = t.resumable(key="k1")
    assert saved is not None and saved.payload == payload and (saved.done, saved.total) == (2, 4)
    assert t.resumable(key="other") is None and t.resumable(scope="s1") is not None
    t.release(payload)
    assert payload.exists()  # kept: there is something to continue

    server.faults.clear()
    posts = len([r for r in server.requests if r.method == "POST"])
    stored = t.upload(payload)
    assert stored.extra["resumed"] is True and stored.extra["gists_reused"] == 2
    assert len([r for r in server.requests if r.method == "POST"]) - posts == 2  # only the missing two
    assert len(server.gists) == 4 and server.violations == []
    t.release(payload)
    assert not payload.exists() and not payload.parent.exists()
    t.download(stored.ref, tmp_path / "back.bin")
    assert len((tmp_path / "back.bin").read_bytes()) == 4_000


def test_prune_removes_abandoned_partial_uploads(server, env, tmp_path):
    t = GistTransport(env, part_size=1_000, parts_per_gist=1)
    payload = t.scratch(tmp_path)
    payload.write_bytes(os.urandom(3_000))
    server.add_fault("POST", r"/gists$", "drop", times=1000, after=1)
    with pytest.raises(NetworkError):
        t.upload(payload)
    (orphan,) = server.gists.values()
    orphan.created_at = orphan.updated_at = "2020-01-01T00:00:00Z"
    saved = t.saved.load(payload)
    assert saved is not None
    saved.state["started"] = "2020-01-01T00:00:00Z"
    t.saved.save(saved)
    assert t.resumable(key=None, scope=None) is None  # too old to continue
    assert [h.kind for h in t.prune(30)] == ["orphan-part"]
    assert server.gists == {} and not payload.parent.exists()


def test_ctrl_c_keeps_what_is_uploaded(server, env, tmp_path):
    t = GistTransport(env, part_size=1_000, parts_per_gist=1)  # 3 gists
    payload = t.scratch(tmp_path)
    payload.write_bytes(os.urandom(3_000))

    def interrupt(done: int, total: int | None) -> None:
        raise KeyboardInterrupt  # as Ctrl-C would, once the first gist is made

    with pytest.raises(KeyboardInterrupt):
        t.upload(payload, progress=interrupt)
    assert t.kept(payload) and len(server.gists) == 1  # nothing deleted: it is continued next time
    stored = t.upload(payload)
    assert stored.extra["gists_reused"] == 1 and len(server.gists) == 3
    t.release(payload)
    assert not payload.exists()


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="stall detection needs /proc/PID/io")
def test_an_upload_that_stops_dead_is_abandoned_after_its_stall_bound(server, env, tmp_path, notices):
    """The server stops reading a ~10 MB body: not the 200 s the size allows, but 2 s without progress."""
    env = dict(env, SYNC_AI_SESSIONS_GH_TIMEOUT="2")
    server.add_fault("POST", r"/gists$", "stall-body")
    t = GistTransport(env, parts_per_gist=12)  # one gist of ~10.6 MB
    src = _file(tmp_path, 8_000_000)
    t0 = time.monotonic()
    stored = t.upload(src)
    assert time.monotonic() - t0 < 30
    assert len(server.gists) == 1 and server.violations == []
    t.download(stored.ref, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
