"""Rewriting with Windows on either side (rewrite_cross through PathRewriter), both directions, on any OS:
every form a tool writes is translated, JSON-in-JSON stays JSON, file:// URLs follow the target's rule, and
POSIX -> Windows -> POSIX gives back the original bytes."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.pathcheck import check_lines

from sync_ai_sessions import pathflavor as pf
from sync_ai_sessions.engine.rewrite import PathRewriter, Rule

WIN, POSIX = pf.flavor("windows"), pf.flavor("posix")
W_ROOT, W_HOME = "C:\\Users\\alice\\src\\my-app", "C:\\Users\\alice"
P_ROOT, P_HOME = "/Users/bob/work/my-app", "/Users/bob"


def to_posix() -> PathRewriter:
    return PathRewriter([Rule(W_ROOT, P_ROOT), Rule(W_HOME, P_HOME)], source_flavor="windows", target_flavor="posix")


def to_windows() -> PathRewriter:
    return PathRewriter([Rule(P_ROOT, W_ROOT), Rule(P_HOME, W_HOME)], source_flavor="posix", target_flavor="windows")


def line(**kw: object) -> bytes:
    return json.dumps(kw, ensure_ascii=False, separators=(",", ":")).encode()


def test_codex_arguments_are_decoded_rewritten_and_reencoded_both_ways() -> None:
    args = json.dumps({"cmd": ["powershell", "type src\\x.py"], "workdir": W_ROOT + "\\src"})
    src = line(type="function_call", arguments=args, cwd=W_ROOT)
    assert b"\\\\\\\\" in src  # the path is escaped twice in the raw line
    out = to_posix().rewrite(src)
    doc = json.loads(out)
    assert json.loads(doc["arguments"])["workdir"] == P_ROOT + "/src"
    assert doc["cwd"] == P_ROOT
    check_lines(out, [W_ROOT, W_HOME], WIN, POSIX)
    back = to_windows().rewrite(out)
    assert back == src  # and POSIX -> Windows re-escapes twice: still valid JSON inside JSON
    check_lines(back, [P_ROOT, P_HOME], POSIX, WIN)


def test_every_windows_form_becomes_the_posix_path() -> None:
    forms = [W_ROOT + "\\src\\x.py", "c:\\users\\alice\\src\\my-app\\src\\x.py", "C:/Users/alice/src/my-app/src/x.py",
             "/c/Users/alice/src/my-app/src/x.py", "\\\\?\\C:\\Users\\alice\\src\\my-app\\src\\x.py",
             "c:\\Users\\Alice\\SRC\\my-app/src\\x.py"]
    for f in forms:
        out = json.loads(to_posix().rewrite(line(text=f"see {f} now", file_path=f)))
        assert out["text"] == f"see {P_ROOT}/src/x.py now", f
        assert out["file_path"] == P_ROOT + "/src/x.py", f


def test_paths_with_spaces_unc_urls_and_escapes() -> None:
    rw = to_posix()
    out = json.loads(rw.rewrite(line(path=W_ROOT + "\\Design Notes\\a b.md",
                                     text="open " + W_ROOT + "\\Design Notes\\a.md please")))
    assert out["path"] == P_ROOT + "/Design Notes/a b.md"
    assert out["text"] == "open " + P_ROOT + "/Design Notes/a.md please"
    url = "file:///C:/Users/alice/src/my-app/Design%20Notes/%C3%A9.md#L3"
    assert json.loads(rw.rewrite(line(cwd=url)))["cwd"] == "file://" + P_ROOT + "/Design%20Notes/%C3%A9.md#L3"
    back = json.loads(to_windows().rewrite(line(cwd="file://" + P_ROOT + "/x%20y")))["cwd"]
    assert back == "file:///C:/Users/alice/src/my-app/x%20y"
    assert pf.url_path(back, WIN) == W_ROOT + "\\x y"
    unc = PathRewriter([Rule("\\\\nas\\team\\app", "/srv/app")], source_flavor="windows", target_flavor="posix")
    for f in ("\\\\nas\\team\\app\\x", "//nas/team/app/x", "\\\\?\\UNC\\nas\\team\\app\\x", "\\\\NAS\\Team\\app\\x"):
        assert json.loads(unc.rewrite(line(p=f)))["p"] == "/srv/app/x", f
    # \u escapes and \/ are kept as the line wrote them
    esc = b'{"t":"' + json.dumps("s:/ " + W_ROOT + "\\\u00e9")[1:-1].encode().replace(b"/", b"\\/") + b'"}'
    out2 = to_posix().rewrite(esc)
    assert out2 == b'{"t":"' + ("s:/ " + P_ROOT + "/\\u00e9").replace("/", "\\/").encode() + b'"}'


def test_windows_to_windows_keeps_each_style() -> None:
    rw = PathRewriter([Rule(W_ROOT, "D:\\w\\my-app")], source_flavor="windows", target_flavor="windows")
    cases = {W_ROOT + "\\a": "D:\\w\\my-app\\a", "C:/Users/alice/src/my-app/a": "D:/w/my-app/a",
             "/c/Users/alice/src/my-app/a": "/d/w/my-app/a", "c:\\users\\alice\\src\\my-app\\a": "d:\\w\\my-app\\a",
             "\\\\?\\C:\\Users\\alice\\src\\my-app": "\\\\?\\D:\\w\\my-app"}
    for old, new in cases.items():
        assert json.loads(rw.rewrite(line(t=old)))["t"] == new, old


def test_plain_text_files_and_boundaries() -> None:
    rw = to_posix()
    text = (f"log: {W_ROOT}\\x.py:10 ok\n\"quoted {W_ROOT}\\y\" and {W_ROOT}-other\\z, {W_HOME}x\n").encode()
    out = rw.rewrite(text).decode()
    assert f"{P_ROOT}/x.py:10 ok" in out and f"{P_ROOT}/y" in out
    assert f"{P_HOME}/src/my-app-other/z" in out  # the root is no whole name there; the home is
    assert f"{W_HOME}x" in out  # not a whole name: kept
    # A list of paths (PATH-like) converts each one.
    out2 = json.loads(rw.rewrite(line(t=f"{W_ROOT}\\bin;{W_HOME}\\lib")))["t"]
    assert out2 == f"{P_ROOT}/bin;{P_HOME}/lib"


_word = st.text("abcXYZ019_-.é", min_size=1, max_size=6).filter(lambda w: w not in (".", ".."))


@st.composite
def _posix_doc(draw: st.DrawFn) -> bytes:
    def path() -> str:
        base = draw(st.sampled_from([P_ROOT, P_HOME]))
        return base + "".join("/" + draw(_word) for _ in range(draw(st.integers(0, 3))))

    def text() -> str:
        bits = []
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["path", "word", "url"]))
            bits.append(path() if kind == "path" else draw(_word) if kind == "word" else pf.file_url(path(), POSIX))
        return " ".join(bits)

    spaced = P_ROOT + "/" + draw(_word) + " " + draw(_word) + "/" + draw(_word)
    args = json.dumps({"workdir": path(), "cmd": ["sh", "-c", text()]}, ensure_ascii=draw(st.booleans()))
    doc: dict[str, object] = {"cwd": path(), "text": text(), "file_path": spaced, "arguments": args,
                              "n": draw(st.integers())}
    if draw(st.booleans()):  # an array of paths
        doc["directories"] = [path(), spaced]
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_posix_doc())
def test_posix_windows_posix_gives_back_the_bytes(doc: bytes) -> None:
    there = to_windows().rewrite(doc)
    check_lines(there, [P_ROOT, P_HOME], POSIX, WIN)
    assert to_posix().rewrite(there) == doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_posix_doc())
def test_windows_posix_windows_gives_back_the_bytes(posix_doc: bytes) -> None:
    doc = to_windows().rewrite(posix_doc)  # a Windows-shaped document (native spelling, real case)
    there = to_posix().rewrite(doc)
    check_lines(there, [W_ROOT, W_HOME], WIN, POSIX)
    assert to_windows().rewrite(there) == doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_posix_doc(), st.booleans())
def test_reading_only_the_strings_at_hits_equals_reading_every_token(posix_doc: bytes, win: bool) -> None:
    """The shortcut (`_line_at_hits`: each hit's string found from its quotes) gives what tokenising the
    whole line gives, or declines."""
    rw = to_windows()
    doc = rw.rewrite(posix_doc) if win else posix_doc
    plan = (to_posix() if win else rw)._cross
    assert plan is not None
    hits = plan._hits(doc)
    fast = plan._line_at_hits(doc, hits)
    if fast is not None:
        assert fast == plan._line_tokens(doc, hits)
        FAST_HITS["yes"] += 1
    else:
        FAST_HITS["no"] += 1


FAST_HITS = {"yes": 0, "no": 0}


def test_the_shortcut_is_taken_and_declined() -> None:
    test_reading_only_the_strings_at_hits_equals_reading_every_token()
    assert FAST_HITS["yes"] > 20 and FAST_HITS["no"] > 20, FAST_HITS
