"""The gist list is read one way for every use (`GistTransport._listed`): pages followed by their next
links up to a limit, only our gists kept, an unreadable page one clear error.  A stub stands in for gh."""

from __future__ import annotations

from typing import Any

import pytest

from sync_ai_sessions.errors import FormatError
from sync_ai_sessions.transports.gist import GistTransport
from sync_ai_sessions.transports.gist_encoding import MARKER, PART_MARKER


class Page:
    def __init__(self, body: Any, next_url: str | None = None):
        self.body = body
        self.headers = {"link": f'<{next_url}>; rel="next"'} if next_url else {}

    def json(self) -> Any:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


class StubGh:
    host = "github.com"

    def __init__(self, pages: dict[str, Page]):
        self.pages = pages
        self.asked: list[str] = []

    def api_ok(self, url: str) -> Page:
        self.asked.append(url)
        return self.pages[url]


def transport(pages: dict[str, Page]) -> tuple[GistTransport, StubGh]:
    t = GistTransport({"PATH": ""}, check=False)
    t.gh = StubGh(pages)  # type: ignore[assignment]
    return t, t.gh  # type: ignore[return-value]


def gist(gid: Any, description: str = MARKER) -> dict[str, Any]:
    return {"id": gid, "description": description}


PAGES = {
    "gists?per_page=100": Page([gist("a"), gist("x", "someone else's"), "not a gist", gist("b", PART_MARKER)],
                               "p2"),
    "p2": Page({"message": "not a list"}, "p3"),
    "p3": Page([gist("c"), gist(7)]),
}


def test_our_gists_follow_every_page_and_keep_only_ours():
    t, gh = transport(PAGES)
    assert [g["id"] for g in t._our_gists()] == ["a", "b", "c", 7]
    assert gh.asked == ["gists?per_page=100", "p2", "p3"]


def test_pages_stop_at_the_limit_and_recent_gists_need_a_string_id(monkeypatch):
    monkeypatch.setattr("sync_ai_sessions.transports.gist._iso", lambda t: "T")
    t, gh = transport({"gists?per_page=100&since=T": PAGES["gists?per_page=100"], "p2": PAGES["p2"]})
    assert list(t._listed("gists?per_page=100&since=T", pages=2)) == [gist("a"), gist("b", PART_MARKER)]
    assert gh.asked == ["gists?per_page=100&since=T", "p2"]
    gh.pages["p3"] = PAGES["p3"]
    assert list(t._recent(0)) == ["a", "b", "c"]


def test_an_unreadable_page_is_a_format_error():
    t, _ = transport({"gists?per_page=100": Page(ValueError("not JSON"))})
    with pytest.raises(FormatError, match="unreadable gist list"):
        t._our_gists()
