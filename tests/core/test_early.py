"""The entry point starts scrypt before the program is imported (`sync_ai_sessions.early`): the command
then uses that derivation (scrypt runs once), and anything unexpected starts nothing."""

from __future__ import annotations

import io
import os
import threading

import pytest

from sync_ai_sessions import early
from sync_ai_sessions.errors import CryptoError
from sync_ai_sessions.format import container as c
from sync_ai_sessions.format import header

PW = "correct horse battery staple 42"


@pytest.fixture(autouse=True)
def counted(monkeypatch):
    """Cheap scrypt, counted; no derivation left over between tests."""
    monkeypatch.setenv("SYNC_AI_SESSIONS_SCRYPT_LOG2N", "10")
    real = header.KdfParams.derive
    calls: list[str] = []

    def derive(self, passphrase, salt):
        calls.append(passphrase)
        return real(self, passphrase, salt)

    monkeypatch.setattr(header.KdfParams, "derive", derive)
    header._early.clear()
    yield calls
    header._early.clear()


def handoff(path, data: bytes = b"hello " * 5000, pw: str = PW):
    with open(path, "wb") as out, c.EncryptWriter(out, pw, threads=0) as w:
        w.write(data)
    return path


def read_all(path, pw: str = PW) -> bytes:
    with open(path, "rb") as fh:
        return c.DecryptReader(fh, pw).read()


def test_receive_uses_the_key_started_early(tmp_path, counted):
    f = handoff(tmp_path / "h.sais")
    counted.clear()
    assert early.start(["receive", "--from", str(f), "--cwd", "x", "--json"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW})
    assert len(header._early) == 1
    assert read_all(f) == b"hello " * 5000
    assert counted == [PW]  # one scrypt: the early one
    assert header._early == []


def test_option_spellings_and_the_file_wins_over_the_environment(tmp_path, counted):
    f = handoff(tmp_path / "h.sais")
    pwf = tmp_path / "pw"
    pwf.write_text(PW + "\n")
    counted.clear()
    env = {"SYNC_AI_SESSIONS_PASSPHRASE": "not this one at all"}
    assert early.start(["receive", f"--from={f}", f"--passphrase-file={pwf}"], env)
    assert read_all(f) == b"hello " * 5000
    assert counted == [PW]


def test_a_wrong_passphrase_is_still_refused(tmp_path, counted):
    f = handoff(tmp_path / "h.sais")
    assert early.start(["receive", "--from", str(f)], {"SYNC_AI_SESSIONS_PASSPHRASE": "a wrong passphrase!!"})
    with pytest.raises(CryptoError) as exc:
        read_all(f, "a wrong passphrase!!")
    assert exc.value.code == "wrong_passphrase"
    assert header._early == []


def test_another_header_or_passphrase_derives_afresh(tmp_path, counted):
    f, g = handoff(tmp_path / "f.sais"), handoff(tmp_path / "g.sais")
    counted.clear()
    assert early.start(["receive", "--from", str(f)], {"SYNC_AI_SESSIONS_PASSPHRASE": PW})
    assert read_all(g) == b"hello " * 5000  # g's salt differs: not f's key
    assert len(counted) == 2 and len(header._early) == 1
    with pytest.raises(CryptoError):
        read_all(f, "some other passphrase")
    assert len(header._early) == 1  # the early key is kept for the passphrase it was made for
    assert read_all(f) == b"hello " * 5000
    assert len(counted) == 3 and header._early == []


def test_a_failed_early_derivation_is_done_again_where_it_belongs(tmp_path, counted, monkeypatch):
    f = handoff(tmp_path / "h.sais")
    real = header.KdfParams.derive
    fails = [1]

    def flaky(self, passphrase, salt):
        if fails:
            fails.pop()
            raise MemoryError("no memory for scrypt just now")
        return real(self, passphrase, salt)

    monkeypatch.setattr(header.KdfParams, "derive", flaky)
    assert early.start(["receive", "--from", str(f)], {"SYNC_AI_SESSIONS_PASSPHRASE": PW})
    assert read_all(f) == b"hello " * 5000


def test_send_takes_the_new_header_and_key_started_early(counted):
    counted.clear()
    assert early.start(["send", "--tool", "demo", "--to", "out.sais"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW})
    (job,) = [j for j, _ in header._early]
    key = c.Key(PW)
    hdr, kek = key.header, key.get()
    assert key.early and hdr is job.header and kek == job.result()
    assert counted == [PW] and header._early == []
    out = io.BytesIO()
    with c.EncryptWriter(out, kek=kek, header=hdr, threads=0) as w:
        w.write(b"x" * 100)
    assert c.DecryptReader(io.BytesIO(out.getvalue()), PW).read() == b"x" * 100
    # A receive never takes a new handoff's key, and a send never takes a received one's.
    assert c.Key(PW).header is not hdr


@pytest.mark.parametrize(
    "argv, env",
    [
        (["receive", "--from", "{f}"], {}),  # a prompt would ask: nothing to start with
        (["receive", "--from", "{f}", "--help"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        (["receive", "--gist", "abc"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        (["receive", "--from", "{missing}"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        (["receive", "--from", "{text}"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        (["receive", "--from", "{hostile}"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        (["receive", "--from", "{f}", "--passphrase-file", "{missing}"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        (["receive", "--from"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        (["receive", "--", "--from", "{f}"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        (["doctor"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        (["send", "--tool", "demo", "--dry-run"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),  # needs no key
        (["--json", "receive", "--from", "{f}"], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
        ([], {"SYNC_AI_SESSIONS_PASSPHRASE": PW}),
    ],
)
def test_nothing_starts_on_anything_unexpected(tmp_path, counted, argv, env):
    f = handoff(tmp_path / "h.sais")
    (tmp_path / "notes.txt").write_text("not a handoff")
    hostile = bytearray(f.read_bytes()[: c.HEADER_LEN])
    hostile[11] = 30  # log2_n = 30: refused before any work
    (tmp_path / "hostile.sais").write_bytes(bytes(hostile))
    names = {"f": f, "missing": tmp_path / "nope.sais", "text": tmp_path / "notes.txt",
             "hostile": tmp_path / "hostile.sais"}
    counted.clear()
    assert not early.start([a.format(**names) for a in argv], env)
    assert counted == [] and header._early == []


def test_a_fifo_is_neither_waited_on_nor_read(tmp_path, counted):
    """`--from` a FIFO (or /dev/stdin): no blocking open, no byte taken from it."""
    fifo = tmp_path / "pipe.sais"
    os.mkfifo(fifo)
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(early.start(["receive", "--from", str(fifo)],
                                                               {"SYNC_AI_SESSIONS_PASSPHRASE": PW})), daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the waiting open() so the thread can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("early.start waited on a FIFO")
    assert got == [False] and counted == [] and header._early == []


def test_the_entry_point_runs_the_command(tmp_path, monkeypatch, capsys):
    """`python -m sync_ai_sessions` / the console scripts: early start, then the Click program."""
    from sync_ai_sessions import __main__ as entry

    monkeypatch.setattr("sys.argv", ["sync-ai-sessions", "--version"])
    with pytest.raises(SystemExit) as exc:
        entry.main()
    assert exc.value.code == 0
    assert "sync-ai-sessions" in capsys.readouterr().out
