"""Process-wide allocator and garbage-collector tuning for the command line (not applied when the package
is used as a library).

`send` and `receive` pass their data along in blocks of about 1 MiB (file reads, zstd output, decrypted
chunks, rewritten lines).  glibc's malloc serves blocks that size with a fresh mmap and unmaps them when
they are freed, so every block pays the kernel's page faults again: on the 2-core VM of bench/RESULTS.md
that is about 3 s per GB of fresh pages, against 0.25 s per GB for reused ones.  Raising the mmap
threshold to 32 MiB keeps such blocks in the heap, where a freed block is reused by the next one.
Measured there (1 GiB Claude receive, medians of 7): 4.18 s -> 3.85 s.  The price is memory kept for
reuse: peak RSS of a 1 GiB Claude `send` 296 -> 320 MB (receive unchanged at 288 MB).  Returning free
heap above 8 MiB to the kernel instead kept 296 MB but took send from about 6 s back to 7.1-7.2 s.
"""

from __future__ import annotations

import ctypes
import gc
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_blocks() -> bool:
    """Ask glibc to keep blocks up to 32 MiB in the heap; True if it did.  No-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # The trim threshold (free memory kept at the top of the heap) follows, as glibc's own dynamic rule does.
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 64 << 20))


# Objects allocated between young collections: Python's default, 700, made a send or receive of 20,000
# small sessions spend 0.6 s / 1.1 s (10-17 % of its main thread) in the cyclic collector, which then also
# walks every module, function and class loaded at start-up at each full collection.
_GC_YOUNG = 50_000


def collect_less() -> None:
    """Tune the cyclic garbage collector for one command's batch of work: what start-up loaded is frozen
    (never walked again) and young collections run every 50,000 allocations instead of 700.  Memory stays
    bounded (cycles are still collected: the work makes few); measured on 20,000 Claude sessions, the
    collector's time went 0.62 -> 0.15 s (send) and 1.14 -> 0.19 s (receive)."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG, older, oldest)
