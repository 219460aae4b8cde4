"""Malformed session files on the sending side (demo adapter): send does not crash; it carries the bytes
verbatim (the receiver gets exactly what was on disk) or skips a file it cannot attribute, and says so."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reliability.payloads import CASES, cli, make_world
from sync_ai_sessions.adapters.demo import enc


def _folder(w):
    d = w.tool_home / "sessions" / enc(str(w.repo))
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_malformed_sessions_are_carried_verbatim_or_skipped(tmp_path):
    a = make_world(tmp_path / "a")
    d = _folder(a)
    head = json.dumps({"cwd": str(a.repo), "sessionId": "x"}).encode() + b"\n"
    cases = {
        "truncated-last-line": head + b'{"type":"user","text":"cut in the mid',
        "invalid-json": head + b"{not json at all}\n" + b"[1,2,\n",
        "binary-junk": head + os.urandom(4096) + b"\x00\xff\xfe\n",
        "nul-bytes": head + b"\x00" * 1000,
        "crlf": head.replace(b"\n", b"\r\n") + b'{"a":1}\r\n',
    }
    for sid, data in cases.items():
        (d / f"{sid}.jsonl").write_bytes(data)
    (d / "no-cwd.jsonl").write_bytes(b"\x00garbage without any cwd\n")  # cannot be attributed: skipped
    (d / "empty.jsonl").write_bytes(b"")
    r = cli(a, "send", "--tool", "demo", "--cwd", str(a.repo), "--to", str(tmp_path / "h.sais"), "--json")
    CASES["malformed session files (send)"] += len(cases) + 2
    assert r.exit_code == 0, r.stdout + r.stderr
    sent = {s["id"] for s in r.doc["sessions"]}
    assert sent == set(cases)  # the ones without a cwd are not this repo's: not sent
    # carried verbatim: receive into a fresh machine with the same remote and compare bytes
    b = make_world(tmp_path / "b")
    rr = cli(b, "receive", "--from", str(tmp_path / "h.sais"), "--cwd", str(b.repo), "--json")
    assert rr.exit_code == 0, rr.stdout
    got = {i["id"]: Path(i["path"]).read_bytes() for i in rr.doc["imported"]}
    for sid, data in cases.items():
        expect = data.replace(str(a.repo).encode(), str(b.repo).encode())
        assert got[sid] == expect, sid


def test_a_2gb_single_line_is_streamed(tmp_path):
    """A sparse file with a 2 GiB line of NULs after a valid head: send streams it (bounded memory, a few
    seconds) instead of reading the line into memory."""
    a = make_world(tmp_path / "a")
    d = _folder(a)
    p = d / "huge.jsonl"
    with open(p, "wb") as fh:
        fh.write(json.dumps({"cwd": str(a.repo), "sessionId": "huge"}).encode() + b"\n")
        fh.truncate(fh.tell() + (2 << 30))  # a hole: no disk used
    out = tmp_path / "h.sais"
    import subprocess
    import sys
    # The peak is VmHWM, this process's own high-water mark.  Not ru_maxrss: Linux carries the pre-exec
    # address space's peak into it, so a child of a pytest process grown to 1.9 GB by earlier tests
    # reported 1.9 GB however little send used.  ru_maxrss only where there is no /proc (macOS).
    code = ("import resource,sys;from sync_ai_sessions.cli import main\n"
            "def peak():\n"
            " try:\n  return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            " except OSError:\n  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n main()\nexcept SystemExit as e:\n"
            " print('RSS',peak(),file=sys.stderr);raise")
    pr = subprocess.run([sys.executable, "-c", code, "send", "--tool", "demo", "--cwd", str(a.repo), "--to", str(out),
                         "--json"], env=a.env, capture_output=True, text=True, timeout=300)
    CASES["malformed session files (send)"] += 1
    assert pr.returncode == 0, pr.stderr
    doc = json.loads(pr.stdout)
    assert doc["sessions"][0]["bytes"] == p.stat().st_size
    rss_kb = int(pr.stderr.rsplit("RSS", 1)[1].split()[0])
    # Holding the line would take over 2 GiB. Typical peak here is under 100 MiB; once, on a machine busy
    # with gigabyte benchmarks, 0.97 GiB was seen, so the bound only claims what the test is about.
    assert rss_kb < 1_500_000, f"send used {rss_kb} KiB for a 2 GiB line"
    assert out.stat().st_size < 10 << 20
