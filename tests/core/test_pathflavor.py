"""pathflavor: spellings, file:// URLs and the comparison rules of each OS, as values (run on any OS)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_ai_sessions import pathflavor as pf

WIN = pf.flavor("windows")
LINUX = pf.Flavor("posix", "linux")
MAC = pf.Flavor("posix", "darwin")


def test_windows_structure_and_spellings() -> None:
    assert pf.split_windows("C:\\work\\app") == ("C:", ["work", "app"])
    assert pf.split_windows("c:/work//app/") == ("c:", ["work", "app"])
    assert pf.split_windows("\\\\?\\C:\\work") == ("C:", ["work"])
    assert pf.split_windows("\\\\?\\UNC\\srv\\share\\x") == ("\\\\srv\\share", ["x"])
    assert pf.split_windows("//srv/share/x") == ("\\\\srv\\share", ["x"])
    assert pf.split_windows("/home/a") is None
    texts = {s.style: s.text for s in pf.spellings("C:\\Users\\Al\\app", WIN)}
    assert texts == {"native": "C:\\Users\\Al\\app", "slash": "C:/Users/Al/app", "bash": "/c/Users/Al/app",
                     "extended": "\\\\?\\C:\\Users\\Al\\app", "lower": "c:\\users\\al\\app"}
    unc = {s.style: s.text for s in pf.spellings("\\\\srv\\share\\app", WIN)}
    assert unc["extended"] == "\\\\?\\UNC\\srv\\share\\app" and unc["slash"] == "//srv/share/app"
    assert [s.text for s in pf.spellings("/tmp/claude-1", LINUX)] == ["/tmp/claude-1", "/private/tmp/claude-1"]
    assert pf.from_git_bash("/c/work/app") == "C:\\work\\app" and pf.git_bash("D:\\x") == "/d/x"
    assert pf.render("D:\\w\\app", "bash", WIN) == "/d/w/app"
    assert pf.render("D:\\w\\app", "extended", WIN) == "\\\\?\\D:\\w\\app"


def test_file_urls() -> None:
    assert pf.file_url("C:\\a b\\é.txt", WIN) == "file:///C:/a%20b/%C3%A9.txt"
    assert pf.file_url("\\\\srv\\share\\x y", WIN) == "file://srv/share/x%20y"
    assert pf.file_url("/home/a b/x", LINUX) == "file:///home/a%20b/x"
    assert pf.url_path("file:///C:/a%20b/x", WIN) == "C:\\a b\\x"
    assert pf.url_path("file:///c|/x", WIN) == "c:\\x"
    assert pf.url_path("file://srv/share/x", WIN) == "\\\\srv\\share\\x"
    assert pf.url_path("file:///home/a%20b", LINUX) == "/home/a b"
    assert pf.url_path("file://host/x", LINUX) is None  # a POSIX machine has no UNC hosts
    assert pf.url_path("https://x", LINUX) is None


_comp = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='\\/:*?"<>|%'),
                min_size=1, max_size=8).filter(lambda c: c.strip() == c and c not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["C:", "d:"]), st.lists(_comp, max_size=5), st.lists(_comp, min_size=1, max_size=5))
def test_file_urls_round_trip(drive: str, win_parts: list[str], posix_parts: list[str]) -> None:
    w = drive + "\\" + "\\".join(win_parts)
    assert pf.url_path(pf.file_url(w, WIN), WIN) == w
    p = "/" + "/".join(posix_parts)
    assert pf.url_path(pf.file_url(p, LINUX), LINUX) == p


def test_comparison_rules_follow_the_file_system() -> None:
    assert pf.same("C:\\Work\\App", "c:/work/app/", WIN)
    assert pf.same("\\\\?\\C:\\work", "C:\\WORK", WIN)
    assert pf.same("C:\\caf\u00e9", "C:\\CAFE\u0301", WIN)  # NFC/NFD and case
    assert not pf.same("/home/A", "/home/a", LINUX)
    assert pf.same("/Users/A/caf\u00e9", "/users/a/cafe\u0301", MAC)
    assert pf.same("/private/tmp/x", "/tmp/x", MAC) and not pf.same("/private/tmp/x", "/tmp/x", LINUX)
    assert pf.relative("c:\\work\\app\\Sub\\x", "C:\\Work\\App", WIN) == "Sub/x"
    assert pf.relative("C:\\work\\app", "C:\\work\\app", WIN) == ""
    assert pf.relative("C:\\work\\apple", "C:\\work\\app", WIN) is None
    assert pf.relative("/private/tmp/r/sub", "/tmp/r", MAC) == "sub"
    assert pf.relative("/home/a/App/s", "/home/a/app", LINUX) is None
    assert pf.is_inside("/home/a/app/s", "/home/a/app", LINUX)
    assert pf.join("C:\\w\\app", "sub/x", WIN) == "C:\\w\\app\\sub\\x"
    assert pf.join("/w/app/", "sub", LINUX) == "/w/app/sub"


def test_recorded_root_and_codex_cwd_match_follow_the_flavour() -> None:
    from sync_ai_sessions.adapters.codex import CodexAdapter

    assert pf.strip_rel("c:\\work\\app\\Sub\\x", "sub/x", WIN) == "c:\\work\\app"
    assert pf.strip_rel("C:\\app\\sub", "sub", WIN) == "C:\\app"
    assert pf.strip_rel("C:\\sub", "sub", WIN) == "C:\\"
    assert pf.strip_rel("/home/a/app/sub", "sub", LINUX) == "/home/a/app"
    assert pf.strip_rel("/home/a/app/Sub", "sub", LINUX) is None
    # Codex's rollouts may spell the drive (or any part) in another case than git does.
    rel = CodexAdapter._rel_to
    assert rel("C:\\work\\app", "c:\\work\\app\\Sub", {}, WIN) == "Sub"
    assert rel("C:\\work\\app", "\\\\?\\C:\\WORK\\APP", {}, WIN) == ""
    assert rel("C:\\work\\app", "C:\\work\\apple", {}, WIN) is None
    assert rel("/home/a/app", "/home/a/App/x", {}, LINUX) is None
    assert pf.basename("C:\\w\\My App\\", WIN) == "My App" and pf.basename("C:\\", WIN) == ""
