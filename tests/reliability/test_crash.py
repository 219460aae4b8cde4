"""Crash safety: SIGKILL the receiving process at random points of many imports.

After every kill: no session file the tool could see is partial (each visible file holds either its bytes
from before the import or exactly its final bytes; temporaries are hidden `.sais-*.partial` names), local
sessions outside the handoff are byte-identical, and running `receive` again completes the import to the
same end state as an uninterrupted run."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from reliability.payloads import CASES, SRC_ROOT, build, file_entry, make_world, session_lines, snapshot
from sync_ai_sessions.adapters.demo import enc
from sync_ai_sessions.commands.receive import receive
from sync_ai_sessions.ui import UI

N_NEW, N_FF, N_LOCAL = 16, 8, 6
KILLS = int(os.environ.get("SAIS_KILLS", "300"))
BUDGET_S = float(os.environ.get("SAIS_KILL_BUDGET", "40"))
# The loop stops after BUDGET_S once MIN_KILLS kills happened; a loaded machine (imports slower, so
# fewer kills per second) runs on past the budget until MIN_KILLS, but never past HARD_BUDGET_S.
MIN_KILLS = min(KILLS, 100)
HARD_BUDGET_S = float(os.environ.get("SAIS_KILL_HARD_BUDGET", "240"))


def _visible(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if not Path(k).name.startswith(".sais-")}


def _setup(tmp_path: Path):
    w = make_world(tmp_path / "w")
    files, sessions = [], []
    for i in range(N_NEW + N_FF):
        sid = f"s{i:03d}-{'ff' if i < N_FF else 'new'}"
        data = session_lines(sid, 5 + i % 7)
        side = f"sessions/{sid}/notes/n.txt"
        files += [(f"sessions/{sid}.jsonl", data), (side, f"notes for {sid} at {SRC_ROOT}".encode())]
        sessions.append({"id": sid, "cwd_rel": "sub/dir" if i % 3 == 0 else "",
                         "files": [file_entry(f"sessions/{sid}.jsonl", data),
                                   file_entry(side, files[-1][1], role="sidecar")]})
    payload = tmp_path / "handoff.sais"
    payload.write_bytes(build(files, sessions, tmp=tmp_path))
    folder = w.tool_home / "sessions" / enc(str(w.repo))
    folder.mkdir(parents=True)
    for i in range(N_FF):  # local sessions that the handoff extends (fast-forward)
        sid = f"s{i:03d}-ff"
        cwd = str(w.repo / "sub/dir") if i % 3 == 0 else str(w.repo)
        d = w.tool_home / "sessions" / enc(cwd)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{sid}.jsonl").write_bytes(session_lines(sid, 3, cwd=cwd))
    for i in range(N_LOCAL):  # unrelated local sessions
        w.demo_session(f"local-{i}", [{"text": f"local {i}"}] * (i + 1))
    return w, payload


def _run(w, payload: Path) -> dict:
    return receive(from_file=str(payload), cwd=str(w.repo), env=w.env, ui=UI(json_mode=True)).to_json()


def _child(w, payload: Path) -> int:
    pid = os.fork()
    if pid == 0:  # the receiving process
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            _run(w, payload)
            os._exit(0)
        except BaseException:
            os._exit(3)
    return pid


@pytest.fixture
def fast_tmp(tmp_path):
    """A RAM-backed temp folder when there is one (file creation there is ~10x cheaper: more kills per second)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="sais-kill-", dir=shm))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_at_random_points(fast_tmp):
    tmp_path = fast_tmp
    w, payload = _setup(tmp_path)
    template_home = tmp_path / "template-home"
    shutil.copytree(w.tool_home, template_home, symlinks=True)
    before = snapshot(template_home)

    # Reference: one uninterrupted import (in a child, timed), then the end state it leaves.
    timings = []
    for _ in range(3):
        shutil.rmtree(w.tool_home)
        shutil.copytree(template_home, w.tool_home, symlinks=True)
        shutil.rmtree(w.cfg, ignore_errors=True)  # as in the kill loop below: a fresh config folder
        t = time.monotonic()
        pid = _child(w, payload)
        _, status = os.waitpid(pid, 0)
        timings.append(time.monotonic() - t)
        assert os.waitstatus_to_exitcode(status) == 0
    duration = min(timings)
    final = snapshot(w.tool_home)
    assert len(final) > len(before)
    changed = {k for k in final if before.get(k) != final[k]}
    assert len([k for k in changed if k.endswith(".jsonl")]) == N_NEW + N_FF

    rng = random.Random(1234)
    kills = completed = leftovers = reruns = 0
    states: dict[str, int] = {"before": 0, "after": 0}
    started = time.monotonic()
    for it in range(KILLS):
        spent = time.monotonic() - started
        if (spent > BUDGET_S and kills >= MIN_KILLS) or spent > HARD_BUDGET_S:
            break
        shutil.rmtree(w.tool_home)
        shutil.copytree(template_home, w.tool_home, symlinks=True)
        shutil.rmtree(w.cfg, ignore_errors=True)
        t = time.monotonic()
        pid = _child(w, payload)
        time.sleep(rng.uniform(0, duration))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            kills += 1
        else:
            completed += 1
            assert os.waitstatus_to_exitcode(status) == 0
            # it finished before the kill: aim the next kills inside the time an import really takes
            duration = max(min(duration, 0.9 * (time.monotonic() - t)), 0.002)

        snap = snapshot(w.tool_home)
        leftovers += sum(1 for k in snap if Path(k).name.startswith(".sais-"))
        for k, v in _visible(snap).items():
            if v[0] != "file":
                continue
            assert v == before.get(k) or v == final.get(k), f"kill {it}: {k} is partial or foreign"
            states["before" if v == before.get(k) else "after"] += 1
        for k, v in before.items():
            if k not in changed:
                assert snap.get(k) == v, f"kill {it}: local {k} changed"
            elif v[0] == "file":
                assert k in snap, f"kill {it}: local {k} vanished"

        # every few kills, and always at the end, the next receive must complete the import
        if it % 4 == 0 or it == KILLS - 1:
            doc = _run(w, payload)
            reruns += 1
            assert doc["ok"] is True
            assert _visible(snapshot(w.tool_home)) == _visible(final), f"kill {it}: re-run did not complete"
    elapsed = time.monotonic() - started
    CASES["SIGKILL during receive (kills)"] += kills
    CASES["SIGKILL: runs that finished before the kill"] += completed
    CASES["SIGKILL: re-runs of receive after a kill"] += reruns
    print(f"kill loop: {kills} kills + {completed} completed in {elapsed:.1f}s, import takes {duration * 1000:.0f} ms,"
          f" {reruns} re-runs, {leftovers} hidden .sais-*.partial temporaries seen, file states {states}")
    assert kills >= MIN_KILLS
