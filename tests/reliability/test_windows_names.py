"""One Windows name check for everything an import writes: names legal on POSIX that Windows cannot hold
(device names, reserved characters, trailing dot or space, overlong names) are refused before anything is
written, rather than failing half-way; long paths are written through the \\\\?\\ form."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

import pytest

from reliability.payloads import assert_refused, build, file_entry, receive_cli, session_lines
from sync_ai_sessions import osops

BAD = ["CON", "nul.txt", "Com1.log", "LPT\u00b9", "aux .md", "a?b", "a*b", "a<b", 'a"b', "a|b", "a:b",
       "x.", "x ", "conin$", "n" * 256]
GOOD = ["console", "nul_", "COM10", "a.b.c", ".hidden", "x..y", "日本語.txt", "a b", "n" * 255, "CONx.txt"]


@pytest.mark.parametrize("name", BAD)
def test_names_windows_cannot_hold(name):
    assert osops.windows_name_problem([name]) is not None


@pytest.mark.parametrize("name", GOOD)
def test_names_windows_can_hold(name):
    assert osops.windows_name_problem(["sessions", name]) is None


def test_path_length_limits():
    assert osops.windows_name_problem(["a"], 32767) is None
    assert "32,767" in osops.windows_name_problem(["a"], 32768).replace("32767", "32,767")


def _two_sessions(sidecar: str) -> list:
    good, bad = session_lines("s-good", 2), session_lines("s-bad", 2)
    files = [("sessions/s-good.jsonl", good), ("sessions/s-bad.jsonl", bad), (f"sessions/s-bad/{sidecar}", b"x")]
    sessions = [{"id": "s-good", "files": [file_entry(*files[0])]},
                {"id": "s-bad", "files": [file_entry(*files[1]), file_entry(*files[2], role="sidecar")]}]
    return files, sessions


@pytest.mark.parametrize("name", ["CON", "nul.txt", "a?b", "trailing.", "trailing "])
def test_an_import_is_refused_before_anything_is_written(world, tmp_path, monkeypatch, name):
    files, sessions = _two_sessions(name)
    blob = build(files, sessions, tmp=tmp_path)
    monkeypatch.setattr(osops, "WINDOWS", True)
    r = assert_refused(world, blob, "Windows names (device, reserved characters, trailing dot)", exit_codes={4})
    assert r.doc["error"]["code"] == "unsafe_payload" and "on Windows" in r.doc["error"]["message"], r.doc
    assert not list(world.tool_home.rglob("s-good.jsonl"))  # the good session before it was not placed
    monkeypatch.setattr(osops, "WINDOWS", False)  # the same names are fine on POSIX
    r = receive_cli(world, blob)
    assert r.exit_code == 0, r.stdout


def test_long_paths_use_the_extended_form(monkeypatch):
    monkeypatch.setattr(osops, "WINDOWS", True)
    short = Path(r"C:\Users\me\.claude\projects\x.jsonl")
    assert osops.long_path(short) == short
    deep = "C:\\Users\\me\\.claude\\projects\\" + "\\".join(["d" * 40] * 6) + "\\x.jsonl"
    got = str(osops.long_path(Path(deep)))
    assert got.startswith("\\\\?\\C:\\Users\\me") and PureWindowsPath(got[4:]) == PureWindowsPath(deep)
    unc = "\\\\server\\share\\" + "d" * 250
    assert str(osops.long_path(Path(unc))).startswith("\\\\?\\UNC\\server\\share\\")
    assert osops.long_path(Path(got)) == Path(got)  # already extended
    monkeypatch.setattr(osops, "WINDOWS", False)
    assert osops.long_path(Path(deep)) == Path(deep)
