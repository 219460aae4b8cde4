"""CLI conventions: help and --json shapes (snapshot-tested), usage errors as one JSON document, --debug
everywhere, bare command = help, -V, commands in order of use, examples, completion of tool names, and
`send --to` that never silently replaces a file.

Snapshots live in tests/core/snapshots/; after a deliberate change, regenerate them with
`SAIS_UPDATE_SNAPSHOTS=1 pytest tests/core/test_cli_conventions.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.machines import git_repo, make_machine, two_machines, write_demo_session

from sync_ai_sessions.adapters import tool_names
from sync_ai_sessions.cli import ORDER

SNAP = Path(__file__).parent / "snapshots"
COMMANDS = ORDER


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COLUMNS": "100", "LANG": "C.UTF-8", "NO_COLOR": "1",
         "HOME": str(cwd or Path.cwd())}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "sync_ai_sessions", *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=120)


def snapshot(name: str, text: str) -> None:
    path = SNAP / name
    if os.environ.get("SAIS_UPDATE_SNAPSHOTS"):
        SNAP.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing snapshot {path}: run with SAIS_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"{name} changed: review, then SAIS_UPDATE_SNAPSHOTS=1"


def shape(v):
    """The structure of a JSON document: keys, and the type of each value (lists by their first item)."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return type(v).__name__


def test_bare_command_shows_help_and_exits_0(tmp_path):
    p = run(cwd=tmp_path)
    assert p.returncode == 0 and "Usage: sync-ai-sessions" in p.stdout
    listed = [ln.split()[0] for ln in p.stdout.split("Commands:")[1].split("Examples:")[0].splitlines() if ln.strip()]
    assert listed == ORDER  # in the order of use, not alphabetical
    assert "_SYNC_AI_SESSIONS_COMPLETE=bash_source" in p.stdout
    snapshot("help-main.txt", p.stdout)


def test_version(tmp_path):
    from sync_ai_sessions import __version__

    for flag in ("-V", "--version"):
        p = run(flag, cwd=tmp_path)
        assert p.returncode == 0 and p.stdout.strip() == f"sync-ai-sessions, version {__version__}"


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_examples_json_and_debug(cmd, tmp_path):
    p = run(cmd, "--help", cwd=tmp_path)
    assert p.returncode == 0
    assert "Examples:" in p.stdout and f"sync-ai-sessions {cmd}" in p.stdout.split("Examples:")[1]
    assert "--json" in p.stdout and "--debug" in p.stdout
    # the tool list comes from the adapter registry: a new adapter does not change the snapshots
    tools = r",\s+".join(re.escape(n) for n in tool_names())
    snapshot(f"help-{cmd}.txt", re.sub(tools, "<tools>", p.stdout))


@pytest.mark.parametrize("args", [["send", "--bogus"], ["receive", "--from"], ["nope"],
                                  ["install", "--transport", "x"]])
def test_usage_errors_are_one_json_document(args, tmp_path):
    p = run(args[0], "--json", *args[1:], cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    doc = json.loads(p.stdout)
    assert doc["ok"] is False and doc["error"]["code"] == "usage" and doc["error"]["exit_code"] == 2
    assert doc["error"]["message"]
    p = run(*args, cwd=tmp_path)  # without --json: click's usage message on stderr, nothing on stdout
    assert p.returncode == 2 and p.stdout == "" and "Error:" in p.stderr


def test_tool_names_complete(tmp_path):
    p = run(env={"_SYNC_AI_SESSIONS_COMPLETE": "bash_complete", "COMP_WORDS": "sync-ai-sessions send --tool ",
                 "COMP_CWORD": "3"}, cwd=tmp_path)
    assert p.returncode == 0
    got = {ln.split(",", 1)[1] for ln in p.stdout.splitlines()}
    assert {"claude", "codex", "gemini", "qwen"} <= got and "demo" not in got
    p = run(env={"_SYNC_AI_SESSIONS_COMPLETE": "bash_complete", "COMP_WORDS": "sync-ai-sessions s",
                 "COMP_CWORD": "1"}, cwd=tmp_path)
    assert {ln.split(",", 1)[1] for ln in p.stdout.splitlines()} == {"sessions", "send"}


def test_send_to_refuses_to_overwrite_and_prints_the_absolute_path(tmp_path):
    a, _b, ra, _rb = two_machines(tmp_path, "b", "https://github.com/o/r")
    write_demo_session(a, ra, "s1")
    p = a.run("send", "--tool", "demo", "--to", "h.sais", cwd=ra)  # relative: to the folder it is run in
    assert p.returncode == 0, p.stderr
    assert f"receive --from {ra / 'h.sais'}" in p.stderr
    kept = (ra / "h.sais").read_bytes()
    rc, doc = a.run_json("send", "--tool", "demo", "--to", "h.sais", cwd=ra)
    assert rc == 6 and doc["error"]["code"] == "file_exists" and str(ra / "h.sais") in doc["error"]["message"]
    assert (ra / "h.sais").read_bytes() == kept and sorted(p.name for p in ra.iterdir()) == [".git", "h.sais"]
    rc, doc = a.run_json("send", "--tool", "demo", "--to", "h.sais", "--force", cwd=ra)
    assert rc == 0 and doc["file"] == str(ra / "h.sais") and (ra / "h.sais").read_bytes() != kept


def test_send_dry_run_lists_and_sends_nothing(tmp_path):
    a, _b, ra, _rb = two_machines(tmp_path, "b", "https://github.com/o/r")
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    write_demo_session(a, ra, "s1", lines=[{"text": f"export GITHUB_TOKEN={token}"}])
    before = sorted(p for p in a.home.rglob("*"))
    # no passphrase needed, no gh, nothing written (not even our config folder)
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--dry-run",
                         env={"SYNC_AI_SESSIONS_PASSPHRASE": "", "GH_CONFIG_DIR": "/nonexistent"})
    assert rc == 0 and doc["dry_run"] is True and [s["id"] for s in doc["sessions"]] == ["s1"], doc
    assert doc["sessions"][0]["bytes"] > 0 and doc["secrets"]["found"] >= 1
    assert token not in json.dumps(doc)
    assert sorted(p for p in a.home.rglob("*")) == before
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--dry-run", "--to", str(tmp_path / "x.sais"))
    assert rc == 0 and doc["file"] == str(tmp_path / "x.sais") and not (tmp_path / "x.sais").exists()


def test_sessions_lists_this_repo_with_short_ids(tmp_path):
    a, b, ra, rb = two_machines(tmp_path, "b", "https://github.com/o/r")
    write_demo_session(a, ra, "3f2a91c0-aaaa-4000-8000-000000000001")
    write_demo_session(a, ra, "3f2a91c0-bbbb-4000-8000-000000000002")
    write_demo_session(a, ra, "77777777-cccc-4000-8000-000000000003")
    write_demo_session(a, a.root / "other", "88888888-dddd-4000-8000-000000000004")  # another repo
    rc, doc = a.run_json("sessions", "--tool", "demo", "--cwd", str(ra))
    assert rc == 0 and doc["repo"] == "github.com/o/r" and doc["repo_root"] == str(ra)
    shorts = {s["id"]: s["short_id"] for s in doc["sessions"]}
    assert len(shorts) == 3 and shorts["77777777-cccc-4000-8000-000000000003"] == "77777777"
    assert shorts["3f2a91c0-aaaa-4000-8000-000000000001"] == "3f2a91c0-a"
    # a unique prefix selects; an ambiguous one lists the matches; an unknown one points to `sessions`
    h = tmp_path / "h.sais"
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h), "--session", "7777")
    assert rc == 0 and [s["id"] for s in doc["sessions"]] == ["77777777-cccc-4000-8000-000000000003"]
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h), "--session", "3f2a")
    assert rc == 2 and doc["error"]["code"] == "ambiguous_id"
    assert "3f2a91c0-aaaa" in doc["error"]["message"] and "3f2a91c0-bbbb" in doc["error"]["message"]
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h), "--session", "nope")
    assert rc == 3 and doc["error"]["code"] == "no_session" and "sync-ai-sessions sessions" in doc["error"]["message"]
    # on B, an imported session says where it came from
    assert b.run_json("receive", "--from", str(h), "--cwd", str(rb))[0] == 0
    rc, doc = b.run_json("sessions", "--cwd", str(rb), "--tool", "demo")
    [s] = doc["sessions"]
    assert rc == 0 and s["tool"] == "demo" and s["imported_from"]
    p = b.run("sessions", "--cwd", str(rb), "--tool", "demo", env={"TZ": "UTC"})
    assert f"imported from {s['imported_from']}" in p.stdout and "77777777" in p.stdout


def test_json_shapes(tmp_path):
    """The documents' structure (keys and value types) for each command, one scenario, snapshot-tested."""
    a, b, ra, rb = two_machines(tmp_path, "b", "https://github.com/o/r")
    write_demo_session(a, ra, "s1")
    h = tmp_path / "h.sais"
    docs = {}
    docs["send"] = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(h))[1]
    docs["send --dry-run"] = a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--dry-run")[1]
    docs["sessions"] = a.run_json("sessions", "--tool", "demo", "--cwd", str(ra))[1]
    docs["inspect"] = b.run_json("inspect", "--from", str(h), "--cwd", str(rb))[1]
    docs["receive --dry-run"] = b.run_json("receive", "--from", str(h), "--cwd", str(rb), "--dry-run")[1]
    docs["receive"] = b.run_json("receive", "--from", str(h), "--cwd", str(rb))[1]
    docs["receive again"] = b.run_json("receive", "--from", str(h), "--cwd", str(rb))[1]
    docs["error"] = b.run_json("receive", "--from", str(tmp_path / "missing"))[1]
    docs["usage error"] = b.run_json("receive", "--frm", "x")[1]
    for d in docs.values():
        if "secrets" in d:
            d["secrets"].pop("detector", None)
    snapshot("json-shapes.json", json.dumps({k: shape(v) for k, v in docs.items()}, indent=1, sort_keys=True) + "\n")
    # the same names for the same things across commands
    assert docs["send"]["repo"] == docs["receive"]["repo"] == docs["sessions"]["repo"] == "github.com/o/r"
    assert set(docs["send"]["sessions"][0]) == set(docs["sessions"]["sessions"][0]) - {"tool", "short_id",
                                                                                         "imported_from"}


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c not in ("demo",)])
def test_debug_is_accepted_everywhere(cmd, tmp_path):
    m = make_machine(tmp_path, "M", GH_CONFIG_DIR=str(tmp_path / "gh"))
    git_repo(m.root / "r", "git@github.com:o/r.git")
    args = {"delete": ["x"], "prune": ["--older-than", "1"], "receive": ["--from", "missing"],
            "inspect": ["--from", "missing"], "send": ["--tool", "demo", "--dry-run"],
            "install": ["--no-passphrase"]}.get(cmd, [])
    p = m.run(cmd, *args, "--debug", "--json", cwd=m.root / "r")
    assert p.returncode != 2 or json.loads(p.stdout)["error"]["code"] != "usage", p.stdout
    json.loads(p.stdout)
