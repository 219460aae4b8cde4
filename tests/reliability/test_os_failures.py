"""Failure injection for the OS-specific operations (sync_ai_sessions.osops) as Windows, FAT/exFAT/SMB and
antivirus software make them fail: link refusals, sharing violations, read-only flushes, CRLF journals."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from reliability.payloads import cli, receive_cli, snapshot
from reliability.test_ops import _handoff
from sync_ai_sessions import osops
from sync_ai_sessions.engine.journal import read_journal

fcntl = pytest.importorskip("fcntl", reason="the descriptor spy reads POSIX open flags")


def _refuse(err: int):
    def link(*_a, **_k):
        raise OSError(err, os.strerror(err))
    return link


@pytest.mark.parametrize("err", [errno.EINVAL, errno.EACCES, errno.EPERM, errno.EXDEV, errno.ENOTSUP])
def test_a_refused_link_takes_the_copy_path(world, tmp_path, monkeypatch, err):
    """FAT/exFAT/SMB refuse hard links with EINVAL, an antivirus with EACCES: the import copies instead."""
    blob, folder = _handoff(world, tmp_path)
    monkeypatch.setattr(os, "link", _refuse(err))
    r = receive_cli(world, blob)
    monkeypatch.undo()
    assert r.exit_code == 0, r.stdout
    assert {i["action"] for i in r.doc["imported"]} == {"new", "fast-forward"}
    new = next(folder.parent.glob("*-pkg")) / "s-new.jsonl"
    assert new.stat().st_nlink == 1 and b"turn 0" in new.read_bytes()  # a copy, not a link
    assert not list(world.tool_home.rglob("*.partial"))
    _h, ops, done = read_journal(Path(r.doc["journal"]))
    assert done is not None and any(o["op"] == "inode" for o in ops)
    assert cli(world, "undo", "--json").exit_code == 0  # the copies' inodes were journalled


def test_a_full_disk_on_link_is_not_papered_over_by_a_copy(tmp_path, monkeypatch):
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"x")
    monkeypatch.setattr(os, "link", _refuse(errno.ENOSPC))
    with pytest.raises(OSError) as exc:
        osops.hardlink(src, dst)
    assert exc.value.errno == errno.ENOSPC
    monkeypatch.undo()
    (tmp_path / "c").write_bytes(b"y")
    with pytest.raises(FileExistsError):
        osops.hardlink(src, tmp_path / "c")


def _sharing_violation() -> PermissionError:
    exc = PermissionError(errno.EACCES, "The process cannot access the file because it is being used")
    exc.winerror = 32  # ERROR_SHARING_VIOLATION, as Windows sets it
    return exc


def test_a_sharing_violation_on_replace_is_retried(world, tmp_path, monkeypatch):
    """The fast-forward's replace meets a file another program holds open, twice; then it goes through."""
    blob, folder = _handoff(world, tmp_path)
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) <= 2:
            raise _sharing_violation()
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    r = receive_cli(world, blob)
    monkeypatch.undo()
    assert r.exit_code == 0, r.stdout
    assert len(calls) >= 3 and calls[0] == calls[1] == calls[2]
    assert b"turn 4" in (folder / "s-ff.jsonl").read_bytes()


def test_sharing_violations_that_last_fail_and_other_errors_are_not_retried(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"1")
    calls = []
    monkeypatch.setattr(osops, "_RETRY_DELAYS", (0, 0, 0))

    def always(src, dst):
        calls.append(1)
        raise _sharing_violation()

    monkeypatch.setattr(os, "replace", always)
    with pytest.raises(PermissionError):
        osops.replace(a, b)
    assert len(calls) == 5  # first try, three retries, the last try

    calls.clear()

    def denied(src, dst):
        calls.append(1)
        raise PermissionError(errno.EACCES, "denied")

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(PermissionError):
        osops.replace(a, b)
    assert len(calls) == 1


def test_no_fsync_goes_to_a_read_only_descriptor(world, tmp_path, monkeypatch):
    """Windows cannot flush a read-only handle: every fsync of a durable receive (fast-forward, --delete)
    goes to a descriptor open for writing (or a folder, which Windows never flushes)."""
    blob, _folder = _handoff(world, tmp_path)
    real, seen = os.fsync, []

    def spy(fd):
        mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        is_dir = os.path.isdir(f"/proc/self/fd/{fd}")
        seen.append((mode, is_dir))
        assert mode != os.O_RDONLY or is_dir, "fsync on a read-only file descriptor"
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    monkeypatch.setattr(osops, "_F_FULLFSYNC", None)
    r = receive_cli(world, blob, "--delete")  # new files are flushed too
    monkeypatch.undo()
    assert r.exit_code == 0, r.stdout
    assert sum(not d for _m, d in seen) >= 3  # files were flushed (so the spy saw them): journal, ff, new


def test_fsync_dir_does_nothing_on_windows(tmp_path, monkeypatch):
    monkeypatch.setattr(osops, "WINDOWS", True)
    monkeypatch.setattr(os, "fsync", lambda fd: pytest.fail("no directory fsync on Windows"))
    osops.fsync_dir(tmp_path)


def test_journals_survive_crlf_and_blank_lines(world, tmp_path):
    """A journal that went through a text-mode tool (CRLF, blank lines) still undoes everything."""
    blob, _folder = _handoff(world, tmp_path)
    before = snapshot(world.home)
    r = receive_cli(world, blob)
    assert r.exit_code == 0, r.stdout
    j = Path(r.doc["journal"])
    raw = j.read_bytes()
    assert b"\r" not in raw
    j.write_bytes(b"\r\n" + raw.replace(b"\n", b"\r\n\r\n"))
    header, ops, done = read_journal(j)
    assert header["journal"] == 1 and done is not None and ops
    u = cli(world, "undo", "--json")
    assert u.exit_code == 0 and u.doc["reverted"], u.stdout
    assert snapshot(world.home) == before


def test_positional_fallbacks_from_threads(tmp_path):
    """The Windows pread/pwrite (seek + read/write under one lock) from many threads on one descriptor."""
    p = tmp_path / "f"
    size, step = 64 * 4096, 4096
    fd = osops.open_fd(p, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, size)

        def put(i: int) -> None:
            osops._pwrite_seek(fd, bytes([i % 251]) * step, i * step)

        ts = [threading.Thread(target=put, args=(i,)) for i in range(size // step)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for i in range(size // step):
            assert osops._pread_seek(fd, step, i * step) == bytes([i % 251]) * step
        assert osops._pread_seek(fd, 10, size - 4) == bytes([(size // step - 1) % 251]) * 4
    finally:
        os.close(fd)


def test_rename_noreplace_never_replaces(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"new")
    b.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        osops.rename_noreplace(a, b)
    assert b.read_bytes() == b"old" and a.exists()
    osops.rename_noreplace(a, tmp_path / "c")
    assert (tmp_path / "c").read_bytes() == b"new" and not a.exists()


def test_pid_alive():
    assert osops.pid_alive(os.getpid())
    assert not osops.pid_alive(0)
    assert not osops.pid_alive(2 ** 22 + 12345)
