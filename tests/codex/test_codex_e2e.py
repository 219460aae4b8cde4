"""End to end with the real `codex` CLI against a fake Responses API on 127.0.0.1.

Machine A runs `codex exec` (with a real `exec_command` tool call) in its clone, sends with our CLI to a file;
machine B receives into a clone at another path, with another model provider id as its default.  B1 is a
fresh CODEX_HOME; on B2 Codex already ran in the same repo (an older, indexed session exists, so without
the re-index `--last` would silently resume that one).  The proof is what the real CLI sends to the model
on resume: the earlier turns (prompt, tool call and output, reply) and no machine-A path.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from codex.fake_responses import FakeResponses, user_texts
from support.clis import cli_path
from support.machines import PASSPHRASE, Machine, git_repo, make_machine

pytestmark = pytest.mark.realcli

REMOTE = "https://github.com/example/widget.git"
PROMPT_A = "RUNTOOL please run pwd"


def write_config(codex_home: Path, base_url: str, provider: str) -> None:
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        f'model = "gpt-5.4"\n'
        f'model_provider = "{provider}"\n'
        'approval_policy = "never"\n'
        'sandbox_mode = "read-only"\n'
        "check_for_update_on_startup = false\n"
        'cli_auth_credentials_store = "file"\n'
        "[features]\nplugins = false\napps = false\nshell_snapshot = false\n"
        "[analytics]\nenabled = false\n"
        "[feedback]\nenabled = false\n"
        f"[model_providers.{provider}]\n"
        f'name = "{provider}"\n'
        f'base_url = "{base_url}"\n'
        'env_key = "FAKE_OPENAI_KEY"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\nsupports_websockets = false\n"
    )


def codex(m: Machine, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in m.env.items() if not k.startswith("SYNC_AI_SESSIONS")}
    env["FAKE_OPENAI_KEY"] = "dummy-key"
    p = subprocess.run([str(cli_path("codex")), *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, f"codex {args} rc={p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    return p


def picker_text(m: Machine, cwd: Path, wait_for: list[str], timeout: float = 20.0) -> str:
    """What the real TUI picker (`codex resume`) shows in `cwd`, read from a pseudo-terminal.

    exec sessions are listed only with --include-non-interactive; --no-daemon keeps the TUI from spawning
    its background app-server.  Returns once every string in `wait_for` appeared (or on timeout).
    """
    env = {k: v for k, v in m.env.items() if not k.startswith("SYNC_AI_SESSIONS")}
    env.update(FAKE_OPENAI_KEY="dummy-key", TERM="xterm-256color")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    proc = subprocess.Popen([str(cli_path("codex")), "resume", "--no-daemon", "--include-non-interactive"],
                            cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                buf += chunk
                if b"\x1b[6n" in chunk:  # the TUI asks where the cursor is
                    os.write(master, b"\x1b[1;1R")
            text = re.sub(rb"\x1b\[[0-9;?>]*[A-Za-z~]", b" ", buf).decode("utf-8", "replace")
            if all(w in text for w in wait_for):
                break
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        os.close(master)
    return re.sub(rb"\x1b\[[0-9;?>]*[A-Za-z~]", b" ", buf).decode("utf-8", "replace")


def thread_id(p: subprocess.CompletedProcess[str]) -> str:
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            ev = json.loads(line)
            if ev.get("type") == "thread.started":
                return ev["thread_id"]
    raise AssertionError(f"no thread.started event in {p.stdout!r}")


def assert_resumed_a(req: dict, forbidden: list[str], new_prompt: str) -> None:
    """The request holds A's whole turn (prompt, tool call + output, reply) and nothing of A's paths."""
    body = req["body"]
    texts = user_texts(body)
    assert PROMPT_A in texts, texts
    assert texts[-1] == new_prompt
    kinds = [it.get("type") for it in body["input"]]
    assert "function_call" in kinds and "function_call_output" in kinds, kinds
    replies = [it for it in body["input"] if it.get("role") == "assistant"]
    assert any("FAKE-REPLY[A]" in json.dumps(r) for r in replies)
    raw = req["raw"]
    for path in forbidden:
        for enc in (path, path.replace("/", "\\/")):
            assert enc.encode() not in raw, f"machine-A path {enc} sent to the model"


def test_codex_session_moves_to_other_machine(tmp_path: Path) -> None:
    a = make_machine(tmp_path, "A")
    b1 = make_machine(tmp_path, "B1")
    b2 = make_machine(tmp_path, "B2")
    proj_a = git_repo(a.root / "src" / "widget", REMOTE)
    proj_b1 = git_repo(b1.root / "work" / "clone-of-widget", REMOTE)
    proj_b2 = git_repo(b2.root / "elsewhere" / "widget2", REMOTE)
    a_home = a.home / ".codex"  # A uses the default location; B machines set CODEX_HOME
    b1_home, b2_home = b1.root / "codex-home", b2.root / "codex-home"
    b1.env["CODEX_HOME"], b2.env["CODEX_HOME"] = str(b1_home), str(b2_home)
    handoff = tmp_path / "handoff.sais"

    with FakeResponses("A") as api_a, FakeResponses("B1") as api_b1, FakeResponses("B2") as api_b2:
        write_config(a_home, api_a.base_url, "fake")
        write_config(b1_home, api_b1.base_url, "local")
        write_config(b2_home, api_b2.base_url, "local")

        # B2: Codex already used in this repo; that session is older than A's and indexed in B2's DB.
        old_b2 = thread_id(codex(b2, proj_b2, "exec", "--json", "older B2 work"))
        assert (b2_home / "state_5.sqlite").exists()

        # A: a session with a real tool call.
        sid = thread_id(codex(a, proj_a, "exec", "--json", PROMPT_A))
        assert len(api_a.responses_requests()) == 2  # the call, then the reply after the tool output
        rollout_a = next((a_home / "sessions").rglob(f"rollout-*-{sid}.jsonl"))
        assert str(proj_a).encode() in rollout_a.read_bytes()

        rc, doc = a.run_json("send", "--tool", "codex", "--cwd", str(proj_a), "--to", str(handoff))
        assert rc == 0 and doc["ok"], doc
        assert [s["id"] for s in doc["sessions"]] == [sid]

        forbidden = [str(a.root)]
        for m, proj, home, api, old in ((b1, proj_b1, b1_home, api_b1, None), (b2, proj_b2, b2_home, api_b2, old_b2)):
            rc, doc = m.run_json("receive", "--from", str(handoff), "--cwd", str(proj))
            assert rc == 0 and doc["ok"], doc
            (imp,) = doc["imported"]
            assert imp["id"] == sid and imp["action"] == "new"
            assert f"codex resume {sid}" in imp["resume"]
            placed = Path(imp["path"])
            assert placed.name == rollout_a.name
            assert placed.parent.relative_to(home / "sessions") == rollout_a.parent.relative_to(a_home / "sessions")
            data = placed.read_bytes()
            assert str(a.root).encode() not in data and str(proj).encode() in data
            assert b'"model_provider":"fake"' not in data and b'"model_provider_id":"local"' in data

            # The picker in the clone (cwd and provider filters, Codex's own index) lists it, newest first.
            screen = picker_text(m, proj, [PROMPT_A, "older B2 work"] if old else [PROMPT_A])
            assert PROMPT_A in screen, screen[-2000:]
            if old:
                assert "older B2 work" in screen and screen.index(PROMPT_A) < screen.index("older B2 work")

            # --last from the clone picks the imported session (on B2: not the older indexed one).
            codex(m, proj, "exec", "resume", "--last", "next via last")
            assert_resumed_a(api.responses_requests()[-1], forbidden, "next via last")
            if old:
                assert "older B2 work" not in user_texts(api.responses_requests()[-1]["body"])

            # By id: the whole history again, now including the turn just added on this machine.
            codex(m, proj, "exec", "resume", sid, "next by id")
            req = api.responses_requests()[-1]
            assert_resumed_a(req, forbidden, "next by id")
            assert "next via last" in user_texts(req["body"])
            headers = {k.lower(): v for k, v in req["headers"].items()}
            assert headers.get("session-id") == sid or headers.get("thread-id") == sid, headers


def test_windows_origin_session_resumes_on_linux(tmp_path: Path) -> None:
    """A real rollout made on A, given its Windows shape (support.windows_shape: `C:\\Users\\alice\\...`,
    twice-escaped `arguments`, `file:///C:/...` URLs, the other forms in text) and sealed again with
    `os_flavor: "windows"`; B receives it and `codex exec resume` sends the whole history and no Windows
    path (nothing naming `alice`)."""
    from support.windows_shape import WIN_HOME, Shaper, reseal_as_windows

    a, b = make_machine(tmp_path, "A"), make_machine(tmp_path, "B")
    proj_a = git_repo(a.root / "src" / "widget", REMOTE)
    proj_b = git_repo(b.root / "work" / "clone-of-widget", REMOTE)
    a_home, b_home = a.home / ".codex", b.root / "codex-home"
    b.env["CODEX_HOME"] = str(b_home)
    handoff, win = tmp_path / "handoff.sais", tmp_path / "win.sais"
    with FakeResponses("A") as api_a, FakeResponses("B") as api_b:
        write_config(a_home, api_a.base_url, "fake")
        write_config(b_home, api_b.base_url, "local")
        sid = thread_id(codex(a, proj_a, "exec", "--json", PROMPT_A))
        rc, doc = a.run_json("send", "--tool", "codex", "--cwd", str(proj_a), "--to", str(handoff))
        assert rc == 0 and doc["ok"], doc
        w_root = WIN_HOME + "\\src\\widget"
        shaper = Shaper({str(proj_a): w_root, str(a.home): WIN_HOME})
        manifest = reseal_as_windows(handoff, win, PASSPHRASE, shaper)
        assert manifest["source"]["repo_root"] == w_root
        rc, doc = b.run_json("receive", "--from", str(win), "--cwd", str(proj_b))
        assert rc == 0 and doc["ok"], doc
        (imp,) = doc["imported"]
        data = Path(imp["path"]).read_bytes()
        assert b"alice" not in data.lower() and str(proj_b).encode() in data
        for line in data.splitlines():
            rec = json.loads(line)
            p = rec.get("payload") or {}
            if p.get("type") == "function_call":
                assert json.loads(p["arguments"])["workdir"] == str(proj_b)
        codex(b, proj_b, "exec", "resume", sid, "next by id")
        req = api_b.responses_requests()[-1]
        assert_resumed_a(req, [str(a.root)], "next by id")
        assert b"alice" not in req["raw"].lower(), "a Windows path of machine A reached the model"
