"""`--json` output is exactly what `json.dumps(doc, ensure_ascii=False, indent=2, default=str)` writes,
whatever the document: the faster encoder (ui.dumps_indented) changes no byte."""

from __future__ import annotations

import json
import math
from pathlib import PurePosixPath

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_ai_sessions.ui import dumps_indented

_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
            | st.text() | st.builds(PurePosixPath, st.text(min_size=1)))
_keys = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
_docs = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
                     | st.dictionaries(_keys, inner, max_size=5), max_leaves=40)


_rows = st.lists(st.dictionaries(st.text(), _scalars, min_size=1, max_size=6), min_size=1, max_size=8)


def _reference(doc):
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str)


@settings(max_examples=400, deadline=None)
@given(_docs)
def test_the_same_text_as_the_standard_encoder(doc):
    assert dumps_indented(doc) == _reference(doc)


@settings(max_examples=300, deadline=None)
@given(_rows, st.integers(0, 3))
def test_rows_of_plain_values_at_any_depth(rows, depth):
    """A list of flat objects (a send's sessions) is encoded in one call, its separators told apart."""
    doc = rows
    for _ in range(depth):
        doc = {"k": doc, "x": [doc]}
    assert dumps_indented(doc) == _reference(doc)


def test_a_send_result_shape():
    doc = {"ok": True, "sessions": [{"id": f"s{i}", "title": "t\u2028\"q\"\n", "lines": i, "bytes": 1.5,
                                     "cwd": None, "flag": i % 2 == 0, "k},\x00{": "},\x00{"} for i in range(50)],
           "empty": {}, "none": [], "nested": [[1, [2, {}]], {"a": {"b": [None]}}], "nan": math.nan,
           "path": PurePosixPath("/a/b")}
    assert dumps_indented(doc) == _reference(doc)
