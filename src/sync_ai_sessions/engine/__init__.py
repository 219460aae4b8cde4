"""The import engine: everything that turns a verified payload into files and rows in a tool's folder.

Adapters plan (`adapters/base.py`: recipes for staged files, placements, line appends, file edits, rows);
this package acts, the same way for every tool:

* `intake.py`    receives a payload: plans every session, streams its files into staging or into a
                 comparison with the local file, then applies the plan under the import lock;
* `staging.py`   writes the staged files the adapters' recipes describe (the one place that does);
* `importer.py`  executes one import's plan: the never-overwrite decision, placing, rollback;
* `decide.py`    how incoming bytes relate to the local session (identical, prefix either way, diverged);
* `place.py`     writes inside a tool's folder (inside-the-home check, atomic replace, tools' lock folders);
* `store.py`     rows in a tool's SQLite database;
* `journal.py`   the write-ahead journal `undo` and recovery read, and the import lock;
* `bgwrite.py`   file writes on their own thread;
* `rewrite.py`, `rewrite_cross.py`   machine A's paths into machine B's, while the bytes stream.
"""
