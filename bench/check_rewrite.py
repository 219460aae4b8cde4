"""Differential check: PathRewriter.rewrite (needle search) == the reference regex `self._re.sub(self._sub, ...)`.

    python bench/check_rewrite.py [--cases 20000]
"""

from __future__ import annotations

import argparse
import random

from sync_ai_sessions.engine.rewrite import PathRewriter, Rule

RULESETS = [
    ([Rule("/home/alice/src/app", "/home/bob/w/app"), Rule("/home/alice", "/home/bob")], "posix", "posix"),
    ([Rule("/home/alice/src/my app.v2", "/srv/é/x"), Rule("/home/alice", "/h/b")], "posix", "posix"),
    ([Rule("C:\\Users\\al\\proj", "/home/bob/proj"), Rule("C:\\Users\\al", "/home/bob")], "windows", "posix"),
    ([Rule("/home/alice/proj", "C:\\Users\\bob\\proj")], "posix", "windows"),
    ([Rule("/home/alice/src/app", "/x/app"), Rule("0a1b2c3d-aaaa", "ffff-eeee", kind="token")], "posix", "posix"),
    ([Rule("/a", "/b"), Rule("/a/a", "/c")], "posix", "posix"),
    ([Rule("/home/al/src/app", "/w/app"), Rule("/home/al/src/app/sub", "/w/app/sub"),  # Claude-like nesting
      Rule("/home/al/.claude/projects/-home-al-src-app", "/h/.claude/projects/-w-app"),
      Rule("/home/al/.claude/projects", "/h/.claude/projects"), Rule("/home/al/.claude", "/h/.claude"),
      Rule("/tmp/claude-1/-home-al-src-app", "/tmp/claude-2/-w-app"), Rule("/tmp/claude-1", "/tmp/claude-2"),
      Rule("/home/al", "/h"), Rule("é/x y", "z")], "posix", "posix"),
    ([Rule("C:\\Users\\al\\proj", "D:\\w\\proj"), Rule("C:\\Users\\al", "D:\\u")], "windows", "windows"),
]


def pieces(rw: PathRewriter, rng: random.Random) -> list[bytes]:
    extra = [b"/", b"\\", b"\\\\", b"\\/", b"\\n", b"\\t", b"n", b"x", b" ", b'"', b"file://", b"%20", b"-", b".",
             b"\n", b"\xc3\xa9", b"C:", b"c:", b"/src", b"\\\\src", b"_", b"~", b"a", b":"]
    return list(rw.needles) + [n[: rng.randint(1, len(n))] for n in rw.needles] + extra


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20000)
    a = ap.parse_args()
    rng = random.Random(7)
    bad = 0
    for rules, sf, tf in RULESETS:
        rw = PathRewriter(rules, source_flavor=sf, target_flavor=tf)
        assert rw._re is not None
        ps = pieces(rw, rng)
        for _ in range(a.cases):
            data = b"".join(rng.choice(ps) for _ in range(rng.randint(0, 12)))
            want = rw._re.sub(rw._sub, data)
            got = rw.rewrite(data)
            if got != want:
                bad += 1
                if bad < 10:
                    print("MISMATCH", rules, data, want, got)
    print("mismatches:", bad)
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
