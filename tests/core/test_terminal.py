"""The interactive paths, driven through a real terminal (a pty, with pexpect): the tool and session
pickers with arrow keys and space, the typed fallback on a dumb terminal, the passphrase confirmation and
re-asking, the secrets question, and Ctrl-C / Ctrl-D at each prompt ("interrupted; nothing was changed",
exit 130, nothing written)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from support.fixtures import fixtures_dir
from support.machines import PASSPHRASE, git_repo, make_machine

pexpect = pytest.importorskip("pexpect")

DOWN, UP, SPACE, ENTER, CTRL_C, CTRL_D = "\x1b[B", "\x1b[A", " ", "\r", "\x03", "\x04"
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def claude_session(home: Path, cwd: Path, title: str, when: str, extra: str = "") -> str:
    """A small session in Claude Code's on-disk format (as `demo` writes it), with its own title."""
    from sync_ai_sessions.adapters.claude import encode_project_dir

    sid = str(uuid.uuid4())
    folder = home / ".claude" / "projects" / encode_project_dir(str(cwd))
    folder.mkdir(parents=True, exist_ok=True)
    u1, a1 = str(uuid.uuid4()), str(uuid.uuid4())
    base = {"isSidechain": False, "userType": "external", "entrypoint": "cli", "cwd": str(cwd), "sessionId": sid,
            "version": "2.1.330", "gitBranch": "main"}
    recs = [
        {**base, "parentUuid": None, "type": "user", "uuid": u1, "timestamp": when,
         "message": {"role": "user", "content": title + extra}},
        {**base, "parentUuid": u1, "type": "assistant", "uuid": a1, "timestamp": when,
         "message": {"id": "msg_x", "type": "message", "role": "assistant", "model": "m",
                     "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                     "usage": {"input_tokens": 1, "output_tokens": 1}}},
    ]
    (folder / f"{sid}.jsonl").write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs))
    return sid


def codex_session(home: Path, cwd: Path) -> str:
    """The real Codex rollout fixture, recorded in `cwd`."""
    (src,) = (fixtures_dir() / "codex" / "exec-0.169.0").glob("rollout-*.jsonl")
    d = home / ".codex" / "sessions" / "2026" / "11" / "24"
    d.mkdir(parents=True)
    (d / src.name).write_bytes(src.read_bytes().replace(b"/home/alice/src/projA", str(cwd).encode()))
    return src.name[-42:-6]


@pytest.fixture
def machine(tmp_path):
    m = make_machine(tmp_path, "M")
    repo = git_repo(m.root / "proj", "git@github.com:o/r.git")
    return m, repo


def spawn(m, repo, *args: str, passphrase: bool = False, term: str = "xterm", **env: str):
    e = {k: v for k, v in m.env.items() if k != "SYNC_AI_SESSIONS_PASSPHRASE" or passphrase}
    e.update({"TERM": term, "COLUMNS": "120", "LINES": "40", **env})
    e.pop("CI", None)
    child = pexpect.spawn(sys.executable, ["-m", "sync_ai_sessions", *args], env=e, cwd=str(repo),
                          encoding="utf-8", timeout=60, dimensions=(40, 120))
    return child


def finish(child) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def interrupted(child) -> None:
    child.expect("interrupted; nothing was changed")
    assert finish(child) == 130


def inspect_file(m, path: Path) -> dict:
    rc, doc = m.run_json("inspect", "--from", str(path))
    assert rc == 0, doc
    return doc


def test_tool_picker_with_arrows_offers_only_tools_with_sessions(machine):
    m, repo = machine
    claude_session(m.home, repo, "Claude work", "2026-11-24T10:00:00.000Z")
    codex_session(m.home, repo)
    (m.home / ".gemini").mkdir()  # a tool with a folder but no session for this repo: not offered
    child = spawn(m, repo, "send", "--to", "h.sais")
    child.expect("Send which tool's sessions")
    child.expect("Codex CLI")
    assert "Gemini" not in child.before and "Qwen" not in child.before
    child.send(DOWN)
    child.send(ENTER)
    child.expect("Passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect(r"Passphrase \(again\): ")  # no passphrase check on this device: asked twice
    child.sendline(PASSPHRASE)
    child.expect("Sent 1 session")
    assert finish(child) == 0
    assert inspect_file(m, repo / "h.sais")["tool"] == "codex"


def test_session_picker_space_deselects_and_filter(machine):
    m, repo = machine
    claude_session(m.home, repo, "Newest topic", "2026-11-24T12:00:00.000Z")
    older = claude_session(m.home, repo, "Older topic", "2026-11-24T09:00:00.000Z")
    child = spawn(m, repo, "send", "--tool", "claude", "--to", "h.sais", passphrase=True)
    child.expect("Send which sessions")
    child.expect("Older topic")
    assert "Newest topic" in child.before and " B" in child.before  # sizes shown
    child.send(SPACE)  # the first (newest) is deselected
    child.send(ENTER)
    child.expect("Sent 1 session")
    assert finish(child) == 0
    assert [s["id"] for s in inspect_file(m, repo / "h.sais")["sessions"]] == [older]


def test_typed_fallback_asks_again_after_a_typo(machine):
    m, repo = machine
    claude_session(m.home, repo, "Newest topic", "2026-11-24T12:00:00.000Z")
    older = claude_session(m.home, repo, "Older topic", "2026-11-24T09:00:00.000Z")
    child = spawn(m, repo, "send", "--tool", "claude", "--to", "h.sais", passphrase=True, term="dumb")
    child.expect(r"Send which sessions\? \(e\.g\. 1,3 or 2-4; Enter = all\)")
    child.sendline("5")
    child.expect("there is no session 5 in the list")
    child.expect("Send which sessions")
    child.sendline("2")
    child.expect("Sent 1 session")
    assert finish(child) == 0
    assert [s["id"] for s in inspect_file(m, repo / "h.sais")["sessions"]] == [older]


@pytest.mark.parametrize("key", [CTRL_C, CTRL_D])
def test_interrupt_at_the_passphrase_prompt(machine, key):
    m, repo = machine
    claude_session(m.home, repo, "Topic", "2026-11-24T12:00:00.000Z")
    child = spawn(m, repo, "send", "--tool", "claude", "--to", "h.sais")
    child.expect("Passphrase: ")
    child.send(key)
    interrupted(child)
    assert not (repo / "h.sais").exists() and not list(repo.glob(".h.sais*"))


@pytest.mark.parametrize("key", [CTRL_C, CTRL_D])
def test_interrupt_at_the_passphrase_confirmation_and_on_receive(machine, key, tmp_path):
    m, repo = machine
    claude_session(m.home, repo, "Topic", "2026-11-24T12:00:00.000Z")
    child = spawn(m, repo, "send", "--tool", "claude", "--to", "h.sais")
    child.expect("Passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect(r"Passphrase \(again\): ")
    child.send(key)
    interrupted(child)
    assert m.run_json("send", "--tool", "claude", "--to", str(repo / "h.sais"), cwd=repo)[0] == 0
    child = spawn(m, repo, "receive", "--from", "h.sais")
    child.expect("Passphrase: ")
    child.send(key)
    interrupted(child)


@pytest.mark.parametrize("key", [CTRL_C, CTRL_D])
def test_interrupt_at_the_pickers(machine, key):
    m, repo = machine
    claude_session(m.home, repo, "Newest topic", "2026-11-24T12:00:00.000Z")
    claude_session(m.home, repo, "Older topic", "2026-11-24T09:00:00.000Z")
    codex_session(m.home, repo)
    child = spawn(m, repo, "send", "--to", "h.sais", passphrase=True)
    child.expect("Codex CLI")
    child.send(key)
    if key == CTRL_D:  # Ctrl-D does nothing in a list: Ctrl-C still ends it
        child.send(CTRL_C)
    interrupted(child)
    child = spawn(m, repo, "send", "--tool", "claude", "--to", "h.sais", passphrase=True)
    child.expect("Older topic")
    child.send(CTRL_C)
    interrupted(child)
    child = spawn(m, repo, "send", "--tool", "claude", "--to", "h.sais", passphrase=True, term="dumb")
    child.expect("Send which sessions")
    child.send(key)
    interrupted(child)
    assert not (repo / "h.sais").exists()


@pytest.mark.parametrize(("answer", "sent"), [("n", False), ("y", True), (CTRL_C, False), (CTRL_D, False)])
def test_secrets_question(machine, answer, sent):
    m, repo = machine
    claude_session(m.home, repo, "Deploy", "2026-11-24T12:00:00.000Z", extra=f" with GITHUB_TOKEN={TOKEN}")
    child = spawn(m, repo, "send", "--tool", "claude", "--to", "h.sais", passphrase=True)
    child.expect("possible secret")
    child.expect(str(m.home / ".claude" / "projects"))  # the real file, not the name inside the handoff
    child.expect(r"Send anyway\? \[y/N\]: ")
    child.send(answer if answer in (CTRL_C, CTRL_D) else answer + "\r")
    if sent:
        child.expect("Sent 1 session")
        assert finish(child) == 0
    else:
        child.expect("nothing was sent" if answer == "n" else "interrupted; nothing was changed")
        assert finish(child) == 130
    assert (repo / "h.sais").exists() == sent and not list(repo.glob(".h.sais*"))


def test_no_question_with_redact_or_yes(machine):
    m, repo = machine
    claude_session(m.home, repo, "Deploy", "2026-11-24T12:00:00.000Z", extra=f" with GITHUB_TOKEN={TOKEN}")
    for flag in ("--redact", "--yes"):
        child = spawn(m, repo, "send", "--tool", "claude", "--to", f"h{flag}.sais", flag, passphrase=True)
        child.expect("Sent 1 session")
        assert "Send anyway" not in child.before
        assert finish(child) == 0


def test_weak_and_mismatched_passphrases_are_asked_again(machine):
    m, repo = machine
    claude_session(m.home, repo, "Topic", "2026-11-24T12:00:00.000Z")
    child = spawn(m, repo, "send", "--tool", "claude", "--to", "h.sais")
    child.expect("Passphrase: ")
    child.sendline("hunter2")
    child.expect("too weak")
    child.expect("Passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect(r"Passphrase \(again\): ")
    child.sendline(PASSPHRASE + "x")
    child.expect("differ. Try again")
    child.expect("Passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect(r"Passphrase \(again\): ")
    child.sendline(PASSPHRASE)
    child.expect("Sent 1 session")
    assert finish(child) == 0
    assert inspect_file(m, repo / "h.sais")["tool"] == "claude"


def test_with_a_passphrase_check_send_asks_once_and_checks_every_source(machine, tmp_path):
    m, repo = machine
    claude_session(m.home, repo, "Topic", "2026-11-24T12:00:00.000Z")
    assert m.run_json("install", "--passphrase-file", _file(tmp_path, PASSPHRASE))[0] == 0
    child = spawn(m, repo, "send", "--tool", "claude", "--to", "h.sais")
    child.expect("Passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect("Sent 1 session")  # asked once: the check stands for the second time
    assert finish(child) == 0
    wrong = "another horse battery staple 9"
    sources = (({"SYNC_AI_SESSIONS_PASSPHRASE": wrong}, []), ({}, ["--passphrase-file", _file(tmp_path, wrong)]))
    for env, args in sources:
        rc, doc = m.run_json("send", "--tool", "claude", "--to", str(tmp_path / "w.sais"), *args, env=env, cwd=repo)
        assert rc == 4 and doc["error"]["code"] == "wrong_passphrase", doc
        assert not (tmp_path / "w.sais").exists()


def test_install_generate_keeps_an_existing_check(machine, tmp_path):
    m, _repo = machine
    rc, first = m.run_json("install", "--generate")
    assert rc == 0
    cfg = (m.home / ".sync-ai-sessions" / "config.json").read_bytes()
    rc, doc = m.run_json("install", "--generate")
    assert rc == 6 and doc["error"]["code"] == "verifier_exists"
    assert "sync-ai-sessions install" in doc["error"]["message"] and "--force" in doc["error"]["message"]
    assert (m.home / ".sync-ai-sessions" / "config.json").read_bytes() == cfg
    # the second device's way: type (here: a file with) the first device's passphrase
    assert m.run_json("install", "--passphrase-file", _file(tmp_path, first["passphrase"]))[0] == 0
    rc, doc = m.run_json("install", "--passphrase-file", _file(tmp_path, PASSPHRASE))
    assert rc == 6 and doc["error"]["code"] == "verifier_exists"
    assert m.run_json("install", "--generate", "--force")[0] == 0


def _file(tmp_path: Path, text: str) -> str:
    p = tmp_path / f"pass-{abs(hash(text))}.txt"
    p.write_text(text + "\n")
    return str(p)


def test_no_prompt_without_a_terminal(machine):
    m, repo = machine
    claude_session(m.home, repo, "Topic", "2026-11-24T12:00:00.000Z")
    env = {k: v for k, v in m.env.items() if k != "SYNC_AI_SESSIONS_PASSPHRASE"}
    import subprocess

    p = subprocess.run([sys.executable, "-m", "sync_ai_sessions", "send", "--to", "h.sais"], cwd=repo, env=env,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 2 and "--tool" in p.stderr
    p = subprocess.run([sys.executable, "-m", "sync_ai_sessions", "send", "--tool", "claude", "--to", "h.sais"],
                       cwd=repo, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 5 and "--generate" in p.stderr
    assert shutil.which("git") and os.path.isdir(repo)


def test_install_without_a_terminal_names_both_ways_out(machine):
    m, _repo = machine
    rc, doc = m.run_json("install", env={"SYNC_AI_SESSIONS_PASSPHRASE": ""})
    assert rc == 5 and doc["error"]["code"] == "no_passphrase"
    assert "--generate" in doc["error"]["message"] and "--no-passphrase" in doc["error"]["message"]
