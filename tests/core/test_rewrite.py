"""PathRewriter's fast paths give exactly what its reference regex gives (`rw._re.sub(rw._sub, data)`).

`rewrite` takes the leftmost-longest needle matches of one SIMD pass (`_rewrite_matches`) or, without
that library, finds needles with bytes.find and replaces them needle by needle with split/join
(`_rewrite_fast`); when a match is not a whole name, either falls back to a left-to-right scan.  All
must agree with the one regex that defines the result, on inputs made of needles, their prefixes,
escapes and boundary bytes.
"""

from __future__ import annotations

import copy
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_ai_sessions.engine.rewrite import PathRewriter, Rule

RULESETS = [
    ([Rule("/home/alice/src/app", "/home/bob/w/app"), Rule("/home/alice", "/home/bob")], "posix", "posix"),
    ([Rule("/home/alice/src/my app.v2", "/srv/é/x"), Rule("/home/alice", "/h/b")], "posix", "posix"),
    ([Rule("/home/al/src/app", "/w/app"), Rule("/home/al/src/app/sub", "/w/app/sub"),  # Claude-like nesting
      Rule("/home/al/.claude/projects/-home-al-src-app", "/h/.claude/projects/-w-app"),
      Rule("/home/al/.claude/projects", "/h/.claude/projects"), Rule("/home/al/.claude", "/h/.claude"),
      Rule("/tmp/claude-1/-home-al-src-app", "/tmp/claude-2/-w-app"), Rule("/tmp/claude-1", "/tmp/claude-2"),
      Rule("/home/al", "/h"), Rule("-home-al-src-app", "-w-app", kind="token")], "posix", "posix"),
    ([Rule("/a", "/b"), Rule("/a/a", "/c")], "posix", "posix"),
    # a replacement that holds a needle (no fast path) and one whose last byte is not a name byte
    ([Rule("/home/al", "/home/al2/x"), Rule("/srv/app", "/")], "posix", "posix"),
]
# (With Windows on either side the rewriter works on decoded strings: tests/core/test_rewrite_cross.py.)
REWRITERS = [PathRewriter(r, source_flavor=sf, target_flavor=tf) for r, sf, tf in RULESETS]
# The same rewriters without the SIMD matcher (ahocorasick-rs): bytes.find and split/join instead.
BY_FIND = [copy.copy(rw) for rw in REWRITERS]
for _rw in BY_FIND:
    _rw._matcher = None
MATCHER_USED = {"yes": 0, "no": 0}
EXTRA = [b"/", b"\\", b"\\\\", b"\\/", b"\\n", b"\\t", b"n", b"x", b" ", b'"', b"file://", b"%20", b"-", b".",
         b"\n", b"\xc3\xa9", b"_", b"~", b"a", b":", b'{"cwd":"', b'","text":"see ', b"\\n  at "]
FAST_USED = {"yes": 0, "no": 0}


def pieces(rw: PathRewriter) -> list[bytes]:
    return list(rw.needles) + [n[:k] for n in rw.needles for k in (1, len(n) // 2, len(n) - 1)] + EXTRA


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(REWRITERS) - 1), st.data())
def test_rewrite_equals_the_reference_regex(i, data):
    rw = REWRITERS[i]
    ps = pieces(rw)
    # Mostly whole needles between separators (the fast path's case), sometimes anything at all.
    glue = st.sampled_from([b" ", b'"', b"\\n", b"/", b":"]) if data.draw(st.booleans()) else st.sampled_from(ps)
    parts = data.draw(st.lists(st.tuples(st.sampled_from(ps), glue), max_size=30))
    text = b"".join(a + b for a, b in parts)
    assert rw._re is not None
    ref = rw._re.sub(rw._sub, text)
    assert rw.rewrite(text) == ref
    assert BY_FIND[i].rewrite(text) == ref
    if getattr(rw, "_fast", None) is not None:
        FAST_USED["yes" if rw._rewrite_fast(text) is not None else "no"] += 1
    if getattr(rw, "_matcher", None) is not None:
        MATCHER_USED["yes" if rw._rewrite_matches(text) is not None else "no"] += 1


def test_the_fast_path_is_exercised_and_refused_where_unsafe():
    test_rewrite_equals_the_reference_regex()
    assert FAST_USED["yes"] > 200 and FAST_USED["no"] > 200, FAST_USED
    assert MATCHER_USED["yes"] > 200 and MATCHER_USED["no"] > 200, MATCHER_USED
    # A replacement that contains a needle would let one replacement feed the next: no fast path.
    assert REWRITERS[4]._fast is None
    assert REWRITERS[2]._fast is not None  # the Claude-like nesting keeps it


def test_a_long_block_of_valid_occurrences_takes_the_fast_path():
    rw = REWRITERS[2]
    line = b'{"cwd":"/home/al/src/app","text":"see /home/al/src/app/x.py\\n/home/al/.claude/projects/x"}\n'
    block = line * 5000
    out = rw._rewrite_fast(block)
    assert out is not None and out == rw._re.sub(rw._sub, block)
    assert b"/home/al/" not in out and out.count(b"/w/app") == 10000


def test_post_edit_sees_runs_of_whole_lines_even_past_the_long_line_cut():
    """`post` (an adapter's own edit after the rewrite) is given whole lines: a line longer than the
    16 MiB cut is held whole rather than split, so a pattern on it is never cut in two."""
    rw = PathRewriter([Rule("/old/root", "/new/place")])
    huge = b'{"a":"' + b"z" * (17 << 20) + b'","k":"/old/root/x"}\n'
    data = b'{"k":"/old/root"}\n' + huge + b'{"k":"/old/root/y"}'
    seen: list[bytes] = []

    def post(run: bytes) -> bytes:
        seen.append(run)
        return run.replace(b'"k"', b'"K"')

    out = io.BytesIO()
    rw.rewrite_stream((data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)), out, post=post)
    want = data.replace(b"/old/root", b"/new/place").replace(b'"k"', b'"K"')
    assert out.getvalue() == want
    assert all(r.endswith(b"\n") for r in seen[:-1]) and any(len(r) > 17 << 20 for r in seen)
    plain = io.BytesIO()  # without post the long line is cut (bounded memory), same bytes
    rw.rewrite_stream((data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)), plain)
    assert plain.getvalue() == data.replace(b"/old/root", b"/new/place")
