"""Fuzz the gist reader's parsing of untrusted input: the plaintext index and gist references.

The index comes from a gist anyone could have made; a reference is what the user pasted. Whatever they
hold, the reader answers with a valid result or one clear SyncError, never another exception.
"""

from __future__ import annotations

import contextlib
import hashlib
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_ai_sessions.errors import SyncError
from sync_ai_sessions.transports.gist_encoding import (
    INDEX_FORMAT,
    INDEX_VERSION,
    parse_gist_ref,
    part_name,
    validate_index,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


def _valid(n: int = 3) -> dict:
    parts = [{"file": part_name(i), "size": 100, "gist": 0, "sha256": hashlib.sha256(b"%d" % i).hexdigest()}
             for i in range(1, n + 1)]
    return {"format": INDEX_FORMAT, "version": INDEX_VERSION, "encoding": "base64", "size": 100 * n,
            "parts": parts, "gists": []}


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_random_json_is_a_clear_error(value):
    with contextlib.suppress(SyncError):
        validate_index(value, "abc123")


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["format", "version", "encoding", "size", "parts", "gists"]), json_values,
       st.integers(0, 2), st.sampled_from(["file", "size", "gist", "sha256"]), json_values)
def test_mutated_index_is_valid_or_a_clear_error(key, value, part, pkey, pvalue):
    one_part = _valid()
    one_part["parts"][part][pkey] = pvalue
    for idx in (dict(_valid(), **{key: value}), one_part):
        try:
            out = validate_index(idx, "abc123")
        except SyncError:
            continue
        # accepted: then it is self-consistent
        assert sum(p["size"] for p in out["parts"]) == out["size"]
        assert [p["file"] for p in out["parts"]] == [part_name(i) for i in range(1, len(out["parts"]) + 1)]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_gist_refs_are_hex_ids_or_a_clear_error(ref):
    try:
        gid = parse_gist_ref(ref)
    except SyncError:
        return
    assert re.fullmatch(r"[0-9a-f]{8,64}", gid)


def test_gist_url_forms():
    gid = "0123456789abcdef0123"
    for ref in (gid, gid.upper(), f"https://gist.github.com/alice/{gid}", f"https://gist.github.com/{gid}.git/",
                f"  {gid}\n"):
        assert parse_gist_ref(ref) == gid
    for bad in ("../user", "gists?per_page=100", "-X DELETE", "", "abc"):
        try:
            parse_gist_ref(bad)
        except SyncError:
            continue
        raise AssertionError(bad)
