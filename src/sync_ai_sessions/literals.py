"""Finding a few literal byte strings in a block, fast.

One pass of a SIMD multi-literal search (the `ahocorasick-rs` wheel, in leftmost-first mode: the mode that
lets it use its Teddy search, about 2 GB/s here for some thirty literals at once), or, without the wheel,
one `bytes.find` pass per literal (about 1-3 GB/s each).  Used by the secret scan for its triggers and by
adapters for rare keys (a whole run of lines is searched once; only the lines around a hit are parsed).
"""

from __future__ import annotations


def every_start(data: bytes, literals: list[bytes]) -> list[int]:
    """Where each of `literals` occurs in `data`, every occurrence (overlapping ones too), in order; one
    `bytes.find` pass per literal (memchr-fast), for a handful of literals."""
    out: list[int] = []
    for t in literals:
        i = data.find(t)
        while i != -1:
            out.append(i)
            i = data.find(t, i + 1)
    out.sort()
    return out


class LiteralFinder:
    def __init__(self, literals: list[bytes]) -> None:
        self.literals = literals
        try:
            import ahocorasick_rs
        except ImportError:
            self._ac = None
        else:
            self._ac = ahocorasick_rs.BytesAhoCorasick(literals, matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST)

    def hits(self, data: bytes | memoryview, at: int = 0) -> list[tuple[int, int]]:
        """Sorted (start, end) of the literals in `data`, plus `at`.  The SIMD pass leaves out a literal
        that starts inside an earlier hit; the `find` passes report every occurrence."""
        if self._ac is not None:
            return [(at + a, at + b) for _i, a, b in self._ac.find_matches_as_indexes(data)]
        buf = data.tobytes() if isinstance(data, memoryview) else data
        out: list[tuple[int, int]] = []
        for t in self.literals:
            i = buf.find(t)
            while i != -1:
                out.append((at + i, at + i + len(t)))
                i = buf.find(t, i + 1)
        out.sort()
        return out

    def starts(self, data: bytes) -> list[int]:
        """Where the hits start, in order."""
        return [a for a, _ in self.hits(data)]
