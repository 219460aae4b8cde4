"""Printed commands in the user's shell: POSIX sh (run here for real), PowerShell and cmd (checked against
their quoting rules as documented: about_Quoting_Rules, cmd's /? text)."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.machines import git_repo, make_machine, write_demo_session

from sync_ai_sessions import osops, shells

HARD = ["My App", "it's", "a$b", "[x]*", "x;y", "a`b", "Álvaro 日本", "‘smart’", "-flag", "%PATH%", "a&b"]


def _ps_single_quoted(word: str) -> str:
    """Read one PowerShell single-quoted string (about_Quoting_Rules: any of ' ‘ ’ ‚ ‛ opens and closes
    it; two of them in a row stand for one)."""
    q = shells._PS_QUOTES
    assert word[0] in q and word[-1] in q
    out, i, body = [], 0, word[1:-1]
    while i < len(body):
        if body[i] in q:
            assert i + 1 < len(body) and body[i + 1] in q, f"lone quote in {word!r}"
            out.append(body[i])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


@given(st.text(min_size=1))
def test_powershell_quoting_round_trips(s):
    q = shells.quote(s, shells.POWERSHELL)
    if q == s:
        assert shells._PS_SAFE.match(s)
    else:
        assert _ps_single_quoted(q) == s


@given(st.text(alphabet=st.characters(blacklist_characters='"\x00'), min_size=1))
def test_cmd_quoting_keeps_the_word_whole(s):
    q = shells.quote(s, shells.CMD)
    assert (q == s and shells._CMD_SAFE.match(s)) or (q.startswith('"') and q.endswith('"') and q[1:-1] == s)


@pytest.mark.skipif(os.name == "nt", reason="runs POSIX sh")
@pytest.mark.parametrize("name", HARD)
def test_sh_commands_run_in_the_folder(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    line = shells.in_folder(str(d), ["pwd"], shells.SH)
    p = subprocess.run(["sh", "-c", line], capture_output=True, timeout=30)
    assert p.returncode == 0 and p.stdout.decode().strip() == str(d)
    p = subprocess.run(["sh", "-c", shells.in_folder(str(tmp_path / "missing"), ["echo", "ran"], shells.SH)],
                       capture_output=True, timeout=30)
    assert b"ran" not in p.stdout


def test_rendered_per_shell():
    folder = r"C:\Users\me\My App [old]"
    argv = ["claude", "--resume", "0b1c"]
    assert shells.in_folder(folder, argv, shells.POWERSHELL) == (
        r"cd -LiteralPath 'C:\Users\me\My App [old]'; if ($?) { claude --resume 0b1c }")
    assert shells.in_folder(folder, argv, shells.CMD) == r'cd /d "C:\Users\me\My App [old]" && claude --resume 0b1c'
    posix = shells.in_folder("/Users/you/dev/my app", argv, shells.SH)
    assert posix == "cd '/Users/you/dev/my app' && claude --resume 0b1c"
    assert shells.quote("it's", shells.POWERSHELL) == "'it''s'"
    assert shells.quote("‘a’", shells.POWERSHELL) == "'‘‘a’’'"
    assert shells.join(["codex", "resume", "-c", 'model_provider="x"', "id"], shells.POWERSHELL) == (
        "codex resume -c 'model_provider=\"x\"' id")


def test_which_shell(monkeypatch):
    assert shells.user_shell({"SYNC_AI_SESSIONS_SHELL": "PowerShell"}) == shells.POWERSHELL
    assert shells.user_shell({"SYNC_AI_SESSIONS_SHELL": "cmd"}) == shells.CMD
    monkeypatch.setattr(osops, "WINDOWS", False)
    assert shells.user_shell({}) == shells.SH
    monkeypatch.setattr(osops, "WINDOWS", True)
    assert shells.user_shell({"MSYSTEM": "MINGW64"}) == shells.SH
    fake = types.ModuleType("shellingham")
    fake.detect_shell = lambda: ("cmd", r"C:\Windows\System32\cmd.exe")
    monkeypatch.setitem(sys.modules, "shellingham", fake)
    shells._detect_windows_shell.cache_clear()
    assert shells.user_shell({}) == shells.CMD
    fake.detect_shell = lambda: ("pwsh", r"C:\Program Files\PowerShell\7\pwsh.exe")
    shells._detect_windows_shell.cache_clear()
    assert shells.user_shell({}) == shells.POWERSHELL

    def nothing():
        raise RuntimeError("ShellDetectionFailure")

    fake.detect_shell = nothing
    shells._detect_windows_shell.cache_clear()
    assert shells.user_shell({}) == shells.POWERSHELL
    shells._detect_windows_shell.cache_clear()


def test_receive_prints_the_resume_command_for_powershell(tmp_path):
    a = make_machine(tmp_path, "A")
    b = make_machine(tmp_path, "B", SYNC_AI_SESSIONS_SHELL="powershell")
    ra = git_repo(a.root / "src" / "proj", "git@github.com:o/r.git")
    rb = git_repo(b.root / "my dev" / "it's", "https://github.com/o/r")
    write_demo_session(a, ra, "s1")
    h = tmp_path / "h h.sais"
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h),
                         env={"SYNC_AI_SESSIONS_SHELL": "cmd"})
    assert rc == 0 and doc["receive"] == f'sync-ai-sessions receive --from "{h}"', doc
    rc, doc = b.run_json("receive", "--from", str(h), "--cwd", str(rb))
    assert rc == 0, doc
    quoted = "'" + str(rb).replace("'", "''") + "'"
    assert doc["imported"][0]["resume"] == f"cd -LiteralPath {quoted}; if ($?) {{ demo-tool --resume s1 }}"
