"""Text at the edges, as a Windows console or a stripped-down locale presents it: our output is UTF-8
whatever the code page, git's output is read as file names, passphrase files may carry a BOM or be UTF-16."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from support.machines import PASSPHRASE, Machine, git_repo, make_machine, write_demo_session

TITLE = "fix → 😀 日本 naïve"


def _claude_with_title(m: Machine, cwd: Path) -> str:
    from sync_ai_sessions.commands.demo import _claude_session

    sid = str(uuid.uuid4())
    p = _claude_session(m.home, cwd, sid)
    p.write_bytes(p.read_bytes().replace(b"Where is the config loaded?", TITLE.encode()))
    return sid


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_json_and_human_output_are_utf8_whatever_the_console_encoding(tmp_path, encoding):
    a = make_machine(tmp_path, "A", PYTHONIOENCODING=encoding)
    repo = git_repo(a.root / "proj", "git@github.com:o/r.git")
    _claude_with_title(a, repo)
    argv = [sys.executable, "-m", "sync_ai_sessions", "send", "--tool", "claude", "--cwd", str(repo),
            "--to", str(tmp_path / "h.sais")]
    p = subprocess.run([*argv, "--json"], env=a.env, capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout.decode("utf-8"))
    assert doc["sessions"][0]["title"].startswith(TITLE)
    assert TITLE.encode() in p.stdout  # as UTF-8 itself, not escaped

    p = subprocess.run([*argv[:-2], "--to", str(tmp_path / "h2.sais")], env=a.env, capture_output=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert b"Traceback" not in p.stderr


@pytest.mark.skipif(os.name == "nt", reason="a POSIX locale")
def test_find_repo_in_a_folder_named_alvaro_under_lc_all_c(tmp_path):
    repo = git_repo(tmp_path / "Users" / "Álvaro" / "my app", "git@github.com:o/r.git")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C", "PYTHONUTF8": "0",
           "PYTHONCOERCECLOCALE": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    code = (
        "import os, sys\n"
        "from sync_ai_sessions.gitrepo import find_repo\n"
        "r = find_repo(os.fsdecode(sys.argv[1].encode('utf-8', 'surrogateescape')))\n"
        "assert r.root.is_dir(), r.root\n"
        "sys.stdout.buffer.write(os.fsencode(r.root) + b'\\n' + sys.getfilesystemencoding().encode())\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(repo)], env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    root, fs_encoding = p.stdout.split(b"\n")
    assert root == os.fsencode(repo)
    assert fs_encoding != b"utf-8"  # the test really ran with a non-UTF-8 locale

    p = subprocess.run([sys.executable, "-m", "sync_ai_sessions", "doctor", "--json"], env=env, cwd=repo,
                       capture_output=True, timeout=120)
    assert p.returncode in (0, 3), p.stderr
    doc = json.loads(p.stdout.decode("utf-8"))
    assert "internal" not in json.dumps(doc)
    assert "Álvaro" in json.dumps(doc, ensure_ascii=False)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_passphrase_files_as_powershell_and_notepad_write_them(tmp_path, encoding):
    """PowerShell 5's `>` writes UTF-16 with a BOM, `Out-File -Encoding utf8` UTF-8 with a BOM: the key
    is the one the same passphrase gives from the environment."""
    a = make_machine(tmp_path, "A")
    b = make_machine(tmp_path, "B")
    ra = git_repo(a.root / "src" / "proj", "git@github.com:o/r.git")
    rb = git_repo(b.root / "proj", "https://github.com/o/r")
    write_demo_session(a, ra, "s1")
    f = tmp_path / "pass.txt"
    f.write_bytes((PASSPHRASE + "\r\n").encode(encoding))
    a.env.pop("SYNC_AI_SESSIONS_PASSPHRASE")
    h = tmp_path / "h.sais"
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h), "--passphrase-file", str(f))
    assert rc == 0, doc
    rc, doc = b.run_json("receive", "--from", str(h), "--cwd", str(rb))  # the passphrase from the environment
    assert rc == 0, doc
    assert [i["action"] for i in doc["imported"]] == ["new"]


def test_passphrase_file_decoding():
    from sync_ai_sessions.passphrase import decode_passphrase_file

    for enc in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"):
        assert decode_passphrase_file("pässwörd → 日本\n".encode(enc), "f") == "pässwörd → 日本"
    assert decode_passphrase_file(b"trailing spaces kept  \r\n", "f") == "trailing spaces kept  "
    from sync_ai_sessions.errors import UsageError

    with pytest.raises(UsageError, match="not UTF-8 or UTF-16"):
        decode_passphrase_file(b"\xff\xfe\x00\xd8", "f")  # a lone surrogate in UTF-16
    with pytest.raises(UsageError, match="not UTF-8 or UTF-16"):
        decode_passphrase_file(b"caf\xe9 latin-1", "f")
