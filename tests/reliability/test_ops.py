"""Undo, the import lock, disk full, file modes, and the passphrase never leaking."""

from __future__ import annotations

import errno
import functools
import os
import stat
import subprocess
import sys
import threading
import time

import pytest
from support.machines import PASSPHRASE

from reliability.payloads import CASES, build, cli, file_entry, receive_cli, session_lines, snapshot
from sync_ai_sessions.adapters.demo import enc
from sync_ai_sessions.engine import importer, intake
from sync_ai_sessions.engine.journal import import_lock


def _handoff(world, tmp_path):
    """Fast-forwards s-ff (local prefix), creates s-new with a sidecar folder."""
    ff_in = session_lines("s-ff", 5)
    new = session_lines("s-new", 3)
    files = [("sessions/s-ff.jsonl", ff_in), ("sessions/s-new.jsonl", new), ("sessions/s-new/a/b.txt", b"side")]
    sessions = [{"id": "s-ff", "files": [file_entry(*files[0])]},
                {"id": "s-new", "cwd_rel": "pkg", "files": [file_entry(*files[1]),
                                                             file_entry(*files[2], role="sidecar")]}]
    folder = world.tool_home / "sessions" / enc(str(world.repo))
    folder.mkdir(parents=True)
    (folder / "s-ff.jsonl").write_bytes(session_lines("s-ff", 2, cwd=str(world.repo)))
    world.demo_session("other", [{"text": "keep"}])
    return build(files, sessions, tmp=tmp_path), folder


def test_undo_reverts_exactly_and_reports(world, tmp_path):
    blob, _folder = _handoff(world, tmp_path)
    before = snapshot(world.home)
    r = receive_cli(world, blob)
    assert r.exit_code == 0, r.stdout
    assert {i["action"] for i in r.doc["imported"]} == {"new", "fast-forward"}
    assert snapshot(world.home) != before
    u = cli(world, "undo", "--json")
    assert u.exit_code == 0, u.stdout
    assert snapshot(world.home) == before  # truncated back, created files and folders removed
    ops = {(o["op"], os.path.basename(o["path"])) for o in u.doc["reverted"]}
    assert ("extend", "s-ff.jsonl") in ops and ("create", "s-new.jsonl") in ops and ("create", "b.txt") in ops
    assert any(o == "mkdir" for o, _ in ops)
    assert {s["id"] for s in u.doc["sessions"]} == {"s-ff", "s-new"}
    again = cli(world, "undo", "--json")
    assert again.exit_code == 3 and again.doc["error"]["code"] == "no_journal"


def test_undo_refuses_when_a_session_changed_since(world, tmp_path):
    blob, folder = _handoff(world, tmp_path)
    assert receive_cli(world, blob).exit_code == 0
    with open(folder / "s-ff.jsonl", "a") as fh:
        fh.write('{"type":"user","text":"resumed and went on"}\n')
    after = snapshot(world.home)
    u = cli(world, "undo", "--json")
    assert u.exit_code == 6 and u.doc["error"]["code"] == "changed_since", u.stdout
    assert snapshot(world.home) == after


def test_undo_refuses_when_a_session_was_replaced_by_one_of_the_same_size(world, tmp_path):
    """The journal knows a placed file by size and inode: a same-size rewrite by rename is a change."""
    blob, folder = _handoff(world, tmp_path)
    assert receive_cli(world, blob).exit_code == 0
    p = next(folder.parent.glob("*-pkg")) / "s-new.jsonl"
    data = p.read_bytes()
    tmp = p.with_name("edited.tmp")
    tmp.write_bytes(data.replace(b"turn 0", b"turn X"))
    assert len(tmp.read_bytes()) == len(data)
    os.replace(tmp, p)
    after = snapshot(world.home)
    u = cli(world, "undo", "--json")
    assert u.exit_code == 6 and u.doc["error"]["code"] == "changed_since", u.stdout
    assert snapshot(world.home) == after


def test_undo_after_an_import_placed_by_copying(world, tmp_path, monkeypatch):
    """Staging on another file system (link() fails with EXDEV): files are copied into place, the journal
    records the copies' inodes, and undo still reverts exactly."""
    blob, _ = _handoff(world, tmp_path)
    before = snapshot(world.home)
    monkeypatch.setattr(importer.os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EXDEV, "x")))
    r = receive_cli(world, blob)
    monkeypatch.undo()
    assert r.exit_code == 0, r.stdout
    assert snapshot(world.home) != before
    u = cli(world, "undo", "--json")
    assert u.exit_code == 0, u.stdout
    assert snapshot(world.home) == before


def test_new_files_are_not_fsynced_but_fast_forwards_are(world, tmp_path, monkeypatch):
    """New files are not fsynced one by one unless `receive --delete` (a crash can then only lose what
    receiving again restores); a fast-forward, which replaces a session that was here, always is."""
    blob, _ = _handoff(world, tmp_path)
    synced: list[str] = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    assert receive_cli(world, blob).exit_code == 0
    monkeypatch.undo()
    staged = [p for p in synced if "/staging/" in p]
    assert len(staged) == 1 and staged[0].endswith("s-ff.jsonl"), synced


def test_second_receive_waits_for_the_lock(world, tmp_path):
    blob, _ = _handoff(world, tmp_path)
    home = os.path.realpath(world.tool_home)
    held = threading.Event()
    release = threading.Event()

    def holder():
        with import_lock(world.env, __import__("pathlib").Path(home)):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    path = world.base / "h.sais"
    path.write_bytes(blob)
    p = subprocess.Popen([sys.executable, "-m", "sync_ai_sessions", "receive", "--from", str(path), "--cwd",
                          str(world.repo), "--json", "--debug"], env=world.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    assert p.poll() is None, "the second receive did not wait"
    release.set()
    out, err = p.communicate(timeout=60)
    t.join()
    assert p.returncode == 0, (out, err)


def test_second_receive_refuses_with_exit_6(world, tmp_path, monkeypatch):
    blob, _ = _handoff(world, tmp_path)
    monkeypatch.setattr(intake, "import_lock", functools.partial(import_lock, wait=0.3))
    before = snapshot(world.home)
    with import_lock(world.env, __import__("pathlib").Path(os.path.realpath(world.tool_home))):
        r = receive_cli(world, blob)
    assert r.exit_code == 6 and r.doc["error"]["code"] == "busy", r.stdout
    assert "another sync-ai-sessions import" in r.doc["error"]["message"]
    assert snapshot(world.home) == before


@pytest.mark.parametrize("target", ["link", "replace", "fsync", "copyfile", "stage"])
def test_disk_full_leaves_nothing_partial(world, tmp_path, monkeypatch, target):
    blob, _ = _handoff(world, tmp_path)
    before = snapshot(world.home)
    calls = {"n": 0}

    def enospc(real):
        def f(*a, **k):
            calls["n"] += 1
            if calls["n"] >= 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(*a, **k)
        return f

    if target == "link":
        monkeypatch.setattr(importer.os, "link", enospc(os.link))
    elif target == "replace":
        calls["n"] = 1
        monkeypatch.setattr(importer.os, "replace", enospc(os.replace))
    elif target == "fsync":
        monkeypatch.setattr(os, "fsync", enospc(os.fsync))
    elif target == "copyfile":  # the copy fallback (cross-device staging)
        import shutil as sh
        monkeypatch.setattr(importer.os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EXDEV, "x")))
        monkeypatch.setattr(importer.shutil, "copyfile", enospc(sh.copyfile))
    else:  # while staging the handoff (before anything is imported)
        import builtins
        real_open = builtins.open

        def bad_open(file, mode="r", *a, **k):
            staged = "/files/" in str(file) or "/work/" in str(file)  # version 1 / version 2 staging
            if "w" in mode and "/staging/" in str(file) and staged:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_open(file, mode, *a, **k)
        monkeypatch.setattr(builtins, "open", bad_open)
    r = receive_cli(world, blob)
    monkeypatch.undo()
    CASES["disk full (injected ENOSPC)"] += 1
    assert r.exit_code == 7 and r.doc["error"]["code"] == "io", r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert snapshot(world.home) == before
    assert receive_cli(world, blob).exit_code == 0  # and with space again, it imports


def test_disk_full_on_a_small_tmpfs(world, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        world.tool_home = mnt / "demo-home"
        world.env["SAIS_DEMO_HOME"] = str(world.tool_home)
        keep = world.demo_session("local", [{"text": "mine"}])
        kept = keep.read_bytes()
        big = os.urandom(600_000)
        blob = build([("sessions/big.jsonl", big)], tmp=tmp_path)
        before = snapshot(world.tool_home)
        r = receive_cli(world, blob)
        assert r.exit_code == 7 and r.doc["error"]["code"] == "io", r.stdout
        assert snapshot(world.tool_home) == before and keep.read_bytes() == kept
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_modes_and_passphrase_never_leaks(world, tmp_path):
    """Config folder and journals are private, and the passphrase shows up in no output, even with --debug."""
    blob, _ = _handoff(world, tmp_path)
    pw = PASSPHRASE
    outs = []
    r = receive_cli(world, blob, "--debug")
    assert r.exit_code == 0
    outs.append(r.stdout + r.stderr)
    assert stat.S_IMODE(os.stat(world.cfg).st_mode) == 0o700
    for d in (world.cfg / "journal", world.cfg / "locks", world.cfg / "staging"):  # (emptied ones are removed)
        assert not d.exists() or stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    assert any((world.cfg / "journal").iterdir())
    for f in [*(world.cfg / "journal").iterdir()]:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
        assert pw not in f.read_text()
    # failing cases, through real processes with --debug: wrong passphrase, tampered, internal error path
    bad = bytearray(blob)
    bad[-5] ^= 1
    (world.base / "bad.sais").write_bytes(bytes(bad))
    (world.base / "h.sais").write_bytes(blob)
    runs = [
        (["receive", "--from", str(world.base / "bad.sais"), "--cwd", str(world.repo), "--debug"], {}),
        (["receive", "--from", str(world.base / "h.sais"), "--cwd", str(world.repo), "--debug", "--json"],
         {"SYNC_AI_SESSIONS_PASSPHRASE": pw + "x"}),
        (["receive", "--from", str(world.base / "h.sais"), "--cwd", str(world.base), "--debug"], {}),
        (["send", "--tool", "demo", "--cwd", str(world.repo), "--to", str(world.base / "nodir" / "x"), "--debug"],
         {}),
        (["send", "--tool", "demo", "--cwd", str(world.repo), "--to", str(world.base / "out.sais"), "--debug"], {}),
        (["send", "--tool", "demo", "--cwd", str(world.repo), "--to", str(world.base / "o2.sais"), "--debug"],
         {"SYNC_AI_SESSIONS_PASSPHRASE": "short"}),
    ]
    for args, extra in runs:
        p = subprocess.run([sys.executable, "-m", "sync_ai_sessions", *args], env={**world.env, **extra},
                           capture_output=True, text=True, timeout=120)
        outs.append(p.stdout + p.stderr)
        assert "--passphrase" not in " ".join(args)
    assert sum(1 for o in outs if "Traceback" in o) >= 1, "--debug should show at least one traceback"
    for o in outs:
        assert pw not in o and "correct horse" not in o
