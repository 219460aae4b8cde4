"""The command line's process tuning: what it changes, and that it is the command line's alone."""

from __future__ import annotations

import gc
import subprocess
import sys

from sync_ai_sessions.memtune import collect_less


def test_collect_less_freezes_start_up_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        collect_less()
        assert gc.get_freeze_count() > 1000  # the modules, classes and functions loaded so far
        assert gc.get_threshold() == (50_000, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_importing_the_package_leaves_the_collector_alone():
    code = ("import gc, sync_ai_sessions.commands.send, sync_ai_sessions.engine.importer; "
            "print(gc.get_threshold()[0], gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["700", "0"]
