"""Hermetic "machines" for tests: a temp HOME, our config dir, a git clone with a remote.

`Machine` is the one machine helper: its environment (nothing read from the real `~`), its clone,
`run`/`run_json`/`ours` for our CLI and `cli` for a real AI CLI. The end-to-end tests of each tool
subclass it only to add that tool's environment and a shortcut or two (see tests/<tool>/test_*_e2e.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from support.clis import cli_path

PASSPHRASE = "correct horse battery staple 42"


def git_repo(path: Path, remote: str | None, env: dict[str, str] | None = None, branch: str | None = None) -> Path:
    """`git init` at `path` (made if missing) with `origin` = `remote`; the real path of the clone."""
    path.mkdir(parents=True, exist_ok=True)
    kw: dict = {"check": True, "env": env, "capture_output": env is not None}
    subprocess.run(["git", "init", "-q", *(["-b", branch] if branch else []), str(path)], **kw)
    if remote:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", remote], **kw)
    return Path(os.path.realpath(path))


@dataclass
class Machine:
    root: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    repo: Path | None = None  # the clone the machine works in, when it has one

    def run(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        e = dict(self.env)
        if env:
            e.update(env)
        return subprocess.run([sys.executable, "-m", "sync_ai_sessions", *args], capture_output=True, text=True,
                              env=e, input=input, cwd=cwd or self.root, timeout=300)

    def run_json(self, *args: str, **kw) -> tuple[int, dict]:
        p = self.run(*args, "--json", **kw)
        try:
            doc = json.loads(p.stdout)
        except ValueError as exc:
            raise AssertionError(f"not JSON (rc={p.returncode}): {p.stdout!r} {p.stderr!r}") from exc
        return p.returncode, doc

    def ours(self, *args: str, cwd: Path | None = None) -> dict:
        """Our CLI with `--json` from the clone, no stdin; it must succeed: its JSON document."""
        p = self.run(*args, "--json", input="", cwd=cwd or self.repo)
        assert p.returncode == 0, (p.returncode, p.stdout[-3000:], p.stderr[-3000:])
        doc = json.loads(p.stdout)
        assert doc["ok"] is True, doc
        return doc

    def cli(self, name: str, *args: str, ok: bool = True, timeout: int = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """The real AI CLI `name` (see support.clis) in the clone (or `cwd`); with ok=True it must exit 0."""
        p = subprocess.run([str(cli_path(name)), *args], cwd=cwd or self.repo or self.root, env=self.env,
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if ok:
            assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr[-4000:])
        return p


def in_process(m: Machine, *args: str, ok: bool = True) -> dict:
    """Our CLI with --json in this process (click's runner: the console script's code path, no interpreter
    start-up), with exactly `m.env` as the environment; with ok=True it must succeed."""
    from click.testing import CliRunner  # here: importing this module must not import the whole program

    from sync_ai_sessions.cli import main

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(m.env)
    try:
        r = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"{args[0]} raised {type(r.exception).__name__}: {r.exception}") from r.exception
    doc = json.loads(r.stdout)
    if ok:
        assert r.exit_code == 0 and doc["ok"] is True, (args, r.exit_code, doc, r.stderr[-2000:])
    return doc


def picked_in_process(m: Machine, answer: str, *args: str) -> tuple[dict, str]:
    """`in_process` as on a plain terminal where the user types `answer` at the session picker: the JSON
    document and what the picker printed (its numbered list) on stderr."""
    import pytest

    from sync_ai_sessions import pickers

    shown: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pickers, "can_ask", lambda: True)
        mp.setattr(pickers, "full_screen", lambda: False)
        mp.setattr(pickers.click, "prompt", lambda *a, **k: answer)
        mp.setattr(pickers.click, "echo", lambda msg="", **k: shown.append(str(msg)))
        doc = in_process(m, *args)
    return doc, "\n".join(shown)


def make_machine(base: Path, name: str, **extra_env: str) -> Machine:
    root = base / name
    home = root / "home"
    home.mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "USERPROFILE": str(home),  # what the CLIs (and we) read on Windows
        "LANG": "C.UTF-8",
        "SYNC_AI_SESSIONS_PASSPHRASE": PASSPHRASE,
        "SYNC_AI_SESSIONS_SCRYPT_LOG2N": "10",
        "GIT_CONFIG_NOSYSTEM": "1",
        "NO_COLOR": "1",
    }
    env.update(extra_env)
    return Machine(root=root, home=home, env=env)


def two_machines(base: Path, b_repo: str, b_remote: str) -> tuple[Machine, Machine, Path, Path]:
    """Machines A and B with a clone of one repo each: A's at src/proj (an ssh remote), B's at `b_repo`
    with `b_remote` (another spelling of the same remote)."""
    a = make_machine(base, "A")
    b = make_machine(base, "B")
    ra = git_repo(a.root / "src" / "proj", "git@github.com:o/r.git")
    rb = git_repo(b.root / b_repo, b_remote)
    return a, b, ra, rb


def demo_enc(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", path)


def write_demo_session(m: Machine, cwd: Path, sid: str, lines: list[dict] | None = None,
                       sidecar: str | None = None) -> Path:
    d = m.home / ".sais-demo" / "sessions" / demo_enc(str(cwd))
    d.mkdir(parents=True, exist_ok=True)
    lines = lines or [{"type": "user", "text": "hello", "file": f"{cwd}/src/app.py"}]
    p = d / f"{sid}.jsonl"
    with open(p, "w") as fh:
        for rec in lines:
            fh.write(json.dumps({"cwd": str(cwd), "sessionId": sid, **rec}) + "\n")
    if sidecar is not None:
        (d / sid).mkdir(exist_ok=True)
        (d / sid / "notes.txt").write_text(sidecar)
    return p
