"""Synthetic but realistic session trees for the benchmark (shapes taken from the real-CLI fixtures).

Claude Code transcripts (`<CFG>/projects/<enc(cwd)>/<uuid>.jsonl`) and Codex rollouts
(`<CODEX_HOME>/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl`) made of the line kinds the real CLIs
write: many small bookkeeping lines (queue-operation, mode, permission-mode, token_count, ...), user
prompts, assistant turns with tool_use, tool results with long outputs that mention repo paths, and
user turns carrying base64 screenshots.  Text comes from a pool of code-like lines large enough that
zstd's window (2 MiB at level 3) sees no artificial repetition; images are random bytes (as
compressible as a real PNG: not at all).

    python bench/gen.py size OUT --repo /path/of/repo --bytes 100M [--tool claude]
    python bench/gen.py lookup OUT --sessions 10000 --repos 200
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

_WORDS = None


def parse_size(s: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)B?", s.strip().upper())
    if not m:
        raise ValueError(f"bad size {s!r}")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)])


def claude_enc(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", path)


class TextPool:
    """Code- and log-like text; slices of it become tool outputs and file contents."""

    def __init__(self, rng: random.Random, size: int = 24 << 20):
        syll = ["get", "set", "user", "id", "path", "conf", "load", "item", "data", "req", "resp", "err",
                "parse", "node", "tree", "key", "val", "map", "list", "str", "buf", "io", "http", "db",
                "test", "mock", "init", "run", "sync", "task", "log", "time", "util", "core", "view"]
        words = ["".join(rng.choices(syll, k=rng.randint(1, 3))) for _ in range(6000)]
        words += ["def", "return", "import", "from", "class", "if", "else", "for", "in", "None", "True",
                  "self", "await", "async", "const", "let", "function", "=>", "==", "{", "}", "(", ")"] * 30
        kinds = ["    ", "        ", "", "  ", "            "]
        lines: list[str] = []
        total = 0
        while total < size:
            n = rng.randint(2, 14)
            ln = rng.choice(kinds) + " ".join(rng.choices(words, k=n))
            r = rng.random()
            if r < 0.05:
                ln += f"  # line {rng.randint(1, 4000)} {rng.getrandbits(32):08x}"
            elif r < 0.08:
                ln = f"{rng.choice(words)}.py:{rng.randint(1, 900)}: {ln.strip()}"
            lines.append(ln)
            total += len(ln) + 1
        self.text = "\n".join(lines)
        self.rng = rng

    def take(self, n: int) -> str:
        start = self.rng.randrange(0, max(1, len(self.text) - n))
        return self.text[start:start + n]


def _ts(i: int) -> str:
    s = 1_800_000_000 + i
    return f"2026-11-24T{(s // 3600) % 24:02d}:{(s // 60) % 60:02d}:{s % 60:02d}.{i % 1000:03d}Z"


def claude_lines(rng: random.Random, pool: TextPool, cwd: str, sid: str, budget: int) -> Iterator[bytes]:
    """Lines of one Claude Code transcript, about `budget` bytes in all."""
    common = {"userType": "external", "entrypoint": "cli", "cwd": cwd, "sessionId": sid,
              "version": "2.1.330", "gitBranch": "main"}
    parent = None
    i = 0
    written = 0

    def emit(d: dict) -> bytes:
        return (json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

    first = [
        {"type": "queue-operation", "operation": "enqueue", "timestamp": _ts(0), "sessionId": sid,
         "content": "fix the flaky test in src/app"},
        {"type": "mode", "mode": "default", "sessionId": sid},
        {"type": "permission-mode", "permissionMode": "default", "sessionId": sid},
    ]
    for d in first:
        b = emit(d)
        written += len(b)
        yield b
    files = [f"{cwd}/src/{pool.take(12).strip().replace(' ', '_') or 'x'}.py" for _ in range(40)]
    while written < budget:
        i += 1
        u = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        r = rng.random()
        if r < 0.35:  # small bookkeeping / progress lines
            d = {"parentUuid": parent, "isSidechain": False, "type": "progress",
                 "data": {"type": "hook_progress", "hookEvent": "PostToolUse", "hookName": "PostToolUse:Bash",
                          "command": "callback"}, "uuid": u, "timestamp": _ts(i), **common}
        elif r < 0.50:  # user prompt
            d = {"parentUuid": parent, "isSidechain": False, "promptId": u, "type": "user",
                 "message": {"role": "user", "content": pool.take(rng.randint(40, 600))},
                 "uuid": u, "timestamp": _ts(i), "permissionMode": "default", **common}
        elif r < 0.72:  # assistant turn with a tool call
            tid = f"toolu_{rng.getrandbits(64):016x}"
            d = {"parentUuid": parent, "isSidechain": False,
                 "message": {"id": f"msg_{rng.getrandbits(64):016x}", "type": "message", "role": "assistant",
                             "model": "claude-opus-5-5",
                             "content": [{"type": "text", "text": pool.take(rng.randint(50, 1500))},
                                         {"type": "tool_use", "id": tid, "name": "Read",
                                          "input": {"file_path": rng.choice(files)}}],
                             "stop_reason": "tool_use",
                             "usage": {"input_tokens": rng.randint(10, 90000), "output_tokens": rng.randint(5, 900),
                                       "service_tier": "standard"}},
                 "requestId": f"req_{rng.getrandbits(48):012x}", "type": "assistant", "uuid": u,
                 "timestamp": _ts(i), **common}
        elif r < 0.996:  # tool result: long output mentioning repo paths
            n = int(rng.paretovariate(1.2) * 1500)
            n = min(n, 400_000)
            out = pool.take(n)
            fp = rng.choice(files)
            out = f"{fp}\n{out}\n(see {fp}:{rng.randint(1, 500)} and {cwd}/tests)"
            d = {"parentUuid": parent, "isSidechain": False, "type": "user",
                 "message": {"role": "user", "content": [{"tool_use_id": f"toolu_{rng.getrandbits(64):016x}",
                                                          "type": "tool_result", "content": out}]},
                 "uuid": u, "timestamp": _ts(i),
                 "toolUseResult": {"type": "text", "file": {"filePath": fp, "numLines": out.count("\n")}},
                 **common}
        else:  # a screenshot pasted by the user
            raw = rng.randbytes(rng.randint(20_000, 300_000))
            d = {"parentUuid": parent, "isSidechain": False, "type": "user",
                 "message": {"role": "user", "content": [
                     {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                  "data": base64.b64encode(b"\x89PNG\r\n\x1a\n" + raw).decode()}},
                     {"type": "text", "text": "what is wrong in this screenshot?"}]},
                 "uuid": u, "timestamp": _ts(i), **common}
        parent = u
        b = emit(d)
        written += len(b)
        yield b


def codex_lines(rng: random.Random, pool: TextPool, cwd: str, sid: str, budget: int) -> Iterator[bytes]:
    """Lines of one Codex rollout (session_meta first, with the long base instructions)."""
    def emit(d: dict) -> bytes:
        return (json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

    meta = {"timestamp": _ts(0), "type": "session_meta",
            "payload": {"id": sid, "timestamp": _ts(0), "cwd": cwd, "originator": "codex_exec",
                        "cli_version": "0.169.0", "source": "exec", "model_provider": "openai",
                        "base_instructions": {"text": pool.take(20_000)},
                        "git": {"commit_hash": f"{rng.getrandbits(160):040x}", "branch": "main",
                                "repository_url": "git@github.com:acme/app.git"}}}
    b = emit(meta)
    written = len(b)
    yield b
    yield emit({"timestamp": _ts(1), "type": "turn_context",
                "payload": {"cwd": cwd, "approval_policy": "never", "model": "gpt-5.4",
                            "sandbox_policy": {"type": "workspace-write", "writable_roots": [cwd]}}})
    i = 1
    while written < budget:
        i += 1
        r = rng.random()
        if r < 0.4:
            d = {"timestamp": _ts(i), "type": "event_msg",
                 "payload": {"type": "token_count", "info": {"total_token_usage": {
                     "input_tokens": rng.randint(1, 99999), "output_tokens": rng.randint(1, 9999)}}}}
        elif r < 0.6:
            d = {"timestamp": _ts(i), "type": "response_item",
                 "payload": {"type": "function_call", "name": "exec_command", "call_id": f"call_{i}",
                             "arguments": json.dumps({"cmd": f"rg -n {pool.take(10).strip()!r}",
                                                      "workdir": cwd})}}
        elif r < 0.75:
            d = {"timestamp": _ts(i), "type": "response_item",
                 "payload": {"type": "message", "role": "assistant",
                             "content": [{"type": "output_text", "text": pool.take(rng.randint(50, 2000))}]}}
        else:
            n = min(int(rng.paretovariate(1.2) * 1500), 400_000)
            d = {"timestamp": _ts(i), "type": "response_item",
                 "payload": {"type": "function_call_output", "call_id": f"call_{i}",
                             "output": f"Process exited with code 0\nOutput:\n{cwd}/src\n{pool.take(n)}"}}
        b = emit(d)
        written += len(b)
        yield b


def write_session(tool: str, home: Path, cwd: str, budget: int, rng: random.Random, pool: TextPool,
                  day: int = 0) -> Path:
    sid_u = uuid.UUID(int=rng.getrandbits(128), version=4)
    sid = str(sid_u)
    if tool in ("claude", "demo"):  # the demo adapter keeps Claude-shaped lines in sessions/<enc(cwd)>/
        path = home / ("projects" if tool == "claude" else "sessions") / claude_enc(cwd) / f"{sid}.jsonl"
        lines = claude_lines(rng, pool, cwd, sid, budget)
    else:
        d = 1 + day % 28
        stamp = f"2026-11-{d:02d}T00-{rng.randint(0, 59):02d}-{rng.randint(0, 59):02d}"
        path = home / "sessions" / "2026" / "11" / f"{d:02d}" / f"rollout-{stamp}-{sid}.jsonl"
        lines = codex_lines(rng, pool, cwd, sid, budget)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb", buffering=1 << 20) as fh:
        for ln in lines:
            fh.write(ln)
    return path


# The size case: a repo's sessions in a few big transcripts (Codex/Gemini users report single sessions of
# hundreds of MB): shares of the total.
SHARES = (0.5, 0.25, 0.15, 0.1)


def gen_size(tool: str, home: Path, repo: str, total: int, seed: int = 1) -> list[Path]:
    rng = random.Random(seed)
    pool = TextPool(rng)
    return [write_session(tool, home, repo, int(total * s), rng, pool, day=i) for i, s in enumerate(SHARES)]


def gen_lookup(tool: str, home: Path, repos: list[str], sessions: int, seed: int = 2) -> None:
    """`sessions` small sessions spread over `repos` (round robin), each a few KB to a few tens of KB."""
    rng = random.Random(seed)
    pool = TextPool(rng, size=4 << 20)
    for i in range(sessions):
        cwd = repos[i % len(repos)]
        if rng.random() < 0.2:
            cwd += "/src"
        write_session(tool, home, cwd, rng.randint(2_000, 30_000), rng, pool, day=i)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("size")
    s.add_argument("home", type=Path)
    s.add_argument("--repo", required=True)
    s.add_argument("--bytes", default="10M")
    s.add_argument("--tool", default="claude", choices=("claude", "codex", "demo"))
    lk = sub.add_parser("lookup")
    lk.add_argument("home", type=Path)
    lk.add_argument("--sessions", type=int, default=10_000)
    lk.add_argument("--repos", type=int, default=200)
    lk.add_argument("--tool", default="claude", choices=("claude", "codex"))
    a = ap.parse_args()
    if a.cmd == "size":
        for p in gen_size(a.tool, a.home, a.repo, parse_size(a.bytes)):
            print(p, os.path.getsize(p))
    else:
        gen_lookup(a.tool, a.home, [f"/home/alice/src/repo{i:03d}" for i in range(a.repos)], a.sessions)


if __name__ == "__main__":
    main()
