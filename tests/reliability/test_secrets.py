"""secrets.py: findings say where and what kind (never the secret), redaction touches only the copy and
keeps JSON lines valid, large lines and block boundaries are handled, and the library is optional."""

from __future__ import annotations

import base64
import importlib
import json
import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_ai_sessions import secrets as S
from sync_ai_sessions.literals import LiteralFinder

AWS = "AKIA" + "Z7Q2M4N6P8R1T3V5"
GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GL = "glpat-" + "x9Y8w7V6u5T4s3R2q1P0"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7vbqajDw4o6gJy8UtmIbkcpnkO3Kwc4qsEnSZp\n"
       "-----END RSA PRIVATE KEY-----")
ENV = "PORT=8080\nDB_PASSWORD=hunter2hunter2X\nSTRIPE_API_KEY=changeme"
SECRETS = [AWS, GH, GL, SLACK, "MIIEowIBAAKCAQEA7vbqajDw4o6gJy8UtmIbkcpnkO3Kwc4qsEnSZp", "hunter2hunter2X"]


def _session(tmp_path, extra_lines=()):
    recs = [
        {"type": "user", "text": f"deploy with {AWS} please"},
        {"type": "tool_result", "content": f"$ cat ~/.config/gh\ntoken: {GH}\nother: {GL}"},
        {"type": "tool_result", "content": PEM},
        {"type": "tool_result", "content": ENV},
        {"type": "assistant", "text": f"Slack bot {SLACK} found; the token policy says rotate the password"},
        {"type": "assistant", "text": "sha 3f786850e387550fdab836ed7e6dc881de23001b and https://github.com/a/b"},
        *extra_lines,
    ]
    p = tmp_path / "s.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return p


def test_findings_locate_each_secret_and_hold_no_secret(tmp_path):
    p = _session(tmp_path)
    found = S.scan_files([("sess-1", "sessions/sess-1.jsonl", p)])
    got = {(f.line, f.type) for f in found}
    assert (1, "AWS Access Key") in got
    assert (2, "GitHub Token") in got and (2, "GitLab Token") in got
    assert (3, "Private Key") in got
    assert (4, "Env Assignment") in got
    assert (5, "Slack Token") in got
    assert not any(f.line == 6 for f in found), "a git sha or a plain URL is not a secret"
    assert sum(1 for f in found if f.type == "Env Assignment") == 1, "placeholders are not secrets"
    assert all(f.session_id == "sess-1" and f.arcname == "sessions/sess-1.jsonl" for f in found)
    dumped = json.dumps([f.to_json() for f in found]) + repr(found)
    for s in SECRETS:
        assert s not in dumped
    assert S.summarize(found)["GitHub Token"] == 1


def test_redact_replaces_in_the_copy_only_and_keeps_json_valid(tmp_path):
    p = _session(tmp_path)
    original = p.read_bytes()
    out = tmp_path / "sent.jsonl"
    n = S.redact_file(p, out)
    assert p.read_bytes() == original
    red = out.read_text()
    assert n >= 6
    for s in SECRETS:
        assert s not in red
    for line in red.splitlines():
        json.loads(line)
    assert "[REDACTED:GitHub Token]" in red and "[REDACTED:Private Key]" in red
    assert "PORT=8080" in red and "STRIPE_API_KEY=changeme" in red  # only secrets go
    assert "3f786850e387550fdab836ed7e6dc881de23001b" in red
    assert S.scan_file(out) == []


def test_clean_file_is_copied_byte_identical(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_bytes(b'{"text":"nothing secret, just talk about tokens and passwords"}\n' * 1000)
    assert S.redact_file(p, tmp_path / "o") == 0
    assert (tmp_path / "o").read_bytes() == p.read_bytes()


def test_block_boundaries_and_huge_lines(tmp_path, monkeypatch):
    """Secrets straddling the internal block boundary, and on a 20 MB single line, are found and redacted."""
    monkeypatch.setattr(S, "_BLOCK", 1 << 16)
    p = tmp_path / "big.jsonl"
    filler = "x " * 40_000
    parts = []
    for k in range(30):
        parts.append(filler[: 1000 + 997 * k] + f" {GH} ")
    line = json.dumps({"text": "".join(parts) + "y" * 20_000_000}) + "\n"
    p.write_text('{"a":1}\n' + line + json.dumps({"t": AWS}) + "\n")
    found = S.scan_file(p)
    assert sum(1 for f in found if f.type == "GitHub Token") == 1  # one secret, many times on one line
    assert {(f.line, f.type) for f in found} >= {(2, "GitHub Token"), (3, "AWS Access Key")}
    out = tmp_path / "o.jsonl"
    n = S.redact_file(p, out)
    data = out.read_text()
    assert n == 31 and GH not in data and AWS not in data
    json.loads(data.splitlines()[1])


def test_builtin_fallback_without_detect_secrets(tmp_path, monkeypatch):
    before = S.backend()  # "builtin" already when the optional library is not installed
    for name in list(sys.modules):
        if name.startswith("detect_secrets"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "detect_secrets", None)  # import fails
    mod = importlib.reload(S)
    try:
        assert mod.backend() == "builtin"
        got = {(f.line, f.type) for f in mod.scan_file(_session(tmp_path))}
        assert {(1, "AWS Access Key"), (2, "GitHub Token"), (3, "Private Key"), (4, "Env Assignment"),
                (5, "Slack Token")} <= got
    finally:
        monkeypatch.undo()
        importlib.reload(S)
    assert S.backend() == before


def test_dense_trigger_text_holds_no_finding(tmp_path):
    """20 MB of lines dense with a trigger (`://` every 50 bytes) and no credential in them: nothing is
    reported.  How fast this goes is the benchmark's business (bench/: `send` with and without the scan),
    not a timed assertion that a loaded machine fails."""
    line = json.dumps({"type": "assistant", "text": "refactor the parser so that it reads https://x.org/y " * 40})
    p = tmp_path / "t.jsonl"
    p.write_text((line + "\n") * (20_000_000 // len(line)))
    assert S.scan_file(p) == []


# -- the prefilter and the streaming scanner ------------------------------------------------------------
B64 = base64.b64encode(random.Random(7).randbytes(30_000)).decode()


def _findings_of(data: bytes) -> set[tuple[int, str]]:
    return {(f.line, f.type) for f in S.scan_bytes(data)}


def test_short_triggers_inside_a_base64_blob_are_not_examined():
    """A pasted screenshot holds 3-letter triggers by chance; an AWS-key shape inside it is not a key, but
    the same key right after the blob, and a long trigger inside one, are still found."""
    if S.backend() != "detect-secrets":
        pytest.skip("needs the optional detect-secrets (pip install '.[secrets]'): the builtin has no GitLab rule")
    blob = B64[:5000] + AWS + B64[5000:10000]
    lines = [json.dumps({"data": blob}), json.dumps({"data": B64[:3000] + '", "t": "' + AWS}),
             json.dumps({"data": B64[:3000] + "\\n" + GL + "\\n" + B64[3000:6000]})]
    got = _findings_of(("\n".join(lines) + "\n").encode())
    assert (1, "AWS Access Key") not in got
    assert (2, "AWS Access Key") in got and (3, "GitLab Token") in got


def test_without_the_simd_matcher_the_same_findings(monkeypatch, tmp_path):
    p = _session(tmp_path)
    fast = S.scan_file(p)
    monkeypatch.setattr(S._rules().prefilter, "_ac", None)
    assert S.scan_file(p) == fast and fast


_TOKENS = st.sampled_from([AWS, GH, GL, SLACK, "MY_API_KEY=s3cr3tValue99", B64[:200], "\\n", "\n", " ", "x" * 50,
                           "eyJ", "aws", "AKIA", '"', "\\u0041KIA"])


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(_TOKENS, max_size=40), cuts=st.lists(st.integers(1, 5000), max_size=8))
def test_any_feeding_of_the_bytes_gives_the_same_matches(parts, cuts):
    """Fed in any chunking, the scanner reports what one pass over the whole file reports, and the
    SIMD prefilter reports the same triggers as one bytes.find pass per trigger."""
    data = "".join(parts).encode() * 3
    whole = S.Scanner()
    whole.feed(data)
    ref = whole.close()
    step, S._STEP = S._STEP, 1  # search after every feed, however small
    try:
        sc = S.Scanner()
        at = 0
        for c in cuts:
            sc.feed(data[at:at + c])
            at += c
        sc.feed(data[at:])
        assert sc.close() == ref
    finally:
        S._STEP = step
    view = memoryview(data)
    fast = S._rules().prefilter.hits(view, 0)
    slow = LiteralFinder(S._rules().triggers)
    slow._ac = None
    every = slow.hits(view, 0)
    # Leftmost-first leaves out a trigger that starts inside an earlier one, and only those.
    assert set(fast) <= set(every)
    for a, _b in set(every) - set(fast):
        assert any(x < a < y for x, y in fast)


@pytest.mark.parametrize("small", [256 << 10, 5000])
def test_background_scan_of_packed_blocks_matches_scan_files(tmp_path, monkeypatch, small):
    """send's in-pass scan (blocks fed from the packer to a worker thread) finds what scan_files finds,
    with the same line numbers, file by file, whether files travel whole in batches or block by block
    (`small`: the largest file handed over whole); a failure on the worker reaches the caller."""
    monkeypatch.setattr(S.BackgroundScan, "_SMALL", small)
    monkeypatch.setattr(S.BackgroundScan, "_BATCH", 3 * small)
    files = [("s1", "a.jsonl", _session(tmp_path)), ("s2", "b.jsonl", tmp_path / "clean.jsonl")]
    files[1][2].write_bytes(b'{"t":"nothing"}\n' * 5000 + json.dumps({"t": GL}).encode() + b"\n")
    for i in range(6):  # small ones around them, some with a secret
        p = tmp_path / f"small{i}.jsonl"
        p.write_bytes(b'{"t":"x"}\n' * (i * 50) + (json.dumps({"t": GL}).encode() + b"\n" if i % 2 else b""))
        files.insert(i % 3, (f"t{i}", f"small{i}.jsonl", p))
    files.append(("e", "empty.jsonl", tmp_path / "empty.jsonl"))
    files[-1][2].write_bytes(b"")
    with S.BackgroundScan(queued=2) as bg:
        for sid, arc, path in files:
            data = path.read_bytes()
            bg.begin(sid, arc, path)
            for i in range(0, len(data), 777):
                bg.feed(data[i:i + 777])
            bg.end()
    assert bg.findings == S.scan_files(files)
    assert ("s2", 5001, "GitLab Token") in {(f.session_id, f.line, f.type) for f in bg.findings}
    assert {f.session_id for f in bg.findings} >= {"t1", "t3", "t5"}

    class Boom(S.Scanner):
        def feed(self, block):
            raise RuntimeError("scanner failed")

    orig, S.Scanner = S.Scanner, Boom
    try:
        try:
            with S.BackgroundScan(queued=1) as bg:
                bg.begin("s", "x", files[0][2])
                for _ in range(10):  # more blocks than the queue holds: the producer must not hang
                    bg.feed(b"x" * 100)
                bg.end()
        except RuntimeError as exc:
            assert "scanner failed" in str(exc)
        else:
            raise AssertionError("the worker's error was swallowed")
    finally:
        S.Scanner = orig


def test_a_trigger_across_the_scanned_edge_is_found(monkeypatch):
    """A search stops _WINDOW bytes before the end of what was fed; a trigger that starts before that
    edge and ends after it must still be found (in the pass that examines where it starts)."""
    monkeypatch.setattr(S, "_STEP", 1)
    data = (b"x " * 3000 + GH.encode() + b" " + b"y " * 3000) * 2
    p = data.index(b"ghp_")
    for k in range(1, 4):  # the edge lands inside "ghp_"
        sc = S.Scanner()
        sc.feed(data[: p + S._WINDOW + k])
        sc.feed(data[p + S._WINDOW + k:])
        assert [m[1] for m in sc.close()] == ["GitHub Token", "GitHub Token"], k
