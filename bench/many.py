"""The many-session corpus: thousands of small sessions, each a copy of a real-CLI fixture.

Every `claude -p` or `codex exec` run is one session, so scripted use makes thousands of small ones.  This
corpus is built from the files the real CLIs wrote (the repository's `tests/fixtures/`): each session
is one fixture transcript, or a prefix of whole lines of one (a session
that ended earlier: the CLIs append line by line, so every such prefix is a state the real tool leaves),
with its session id, working directory and home replaced.  Sidecars come along as the fixtures have them
(Claude subagents and file-history; Codex `history.jsonl` lines for TUI sessions and some
`session_index.jsonl` thread names).

Sizes are mixed: Claude 92 % small `-p` runs (3.8-4 KB, the 1.0.128 and 2.0.77 print fixtures) and 8 %
prefixes of the larger interactive / subagent / file-history / resumed fixtures (up to 240 KB); Codex
the four rollouts (37-41 KB, most of it the base instructions every rollout starts with), half of them
cut to a prefix of at least 3 lines.

    python bench/many.py gen HOME --tool claude --repo /path/of/repo --count 2000
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import random
import re
import select
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fixtures_dir() -> Path:
    cand = HERE.parent / "tests" / "fixtures"  # the repository's own copies, never a machine path
    if (cand / "claude").is_dir() and (cand / "codex").is_dir():
        return cand
    raise SystemExit(f"fixtures not found in {cand}")


def claude_enc(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", path)


@dataclass
class Template:
    name: str
    lines: list[bytes]  # the transcript, line by line (each with its newline)
    sid: str
    cwd: str
    home: str
    sidecars: list[tuple[str, bytes]] = field(default_factory=list)  # (path relative to the tool home, bytes)
    weight: float = 1.0
    cut: float = 0.0  # probability that a session of this template is a prefix of its lines
    min_lines: int = 3


_CWD = re.compile(rb'"cwd":"([^"]+)"')
_HOME = re.compile(r"^(/home/[^/]+|/Users/[^/]+)")


def _template(name: str, transcript: Path, sid: str, sidecars: list[tuple[str, Path]], **kw) -> Template:
    data = transcript.read_bytes()
    cwd = _CWD.search(data).group(1).decode()
    home = _HOME.match(cwd).group(1)
    return Template(name, data.splitlines(keepends=True), sid, cwd, home,
                    [(rel, p.read_bytes()) for rel, p in sidecars], **kw)


def claude_templates(fx: Path) -> list[Template]:
    out = []
    small = {"1.0.128-print": 0.46, "2.0.77-print": 0.46}
    large = {"2.1.330-interactive": 0.025, "2.1.330-print-subagent": 0.02, "2.1.330-print-filehistory": 0.02,
             "2.1.330-print-after-resume-on-B": 0.015}
    for name, w in {**small, **large}.items():
        base = fx / "claude" / name
        t = next(p for p in sorted((base / "projects").glob("*/*.jsonl")))
        sid = t.stem
        side: list[tuple[str, Path]] = []
        sub = t.parent / sid
        if sub.is_dir():
            side += [(f"projects/{{enc}}/{{sid}}/{p.relative_to(sub).as_posix()}", p)
                     for p in sorted(sub.rglob("*")) if p.is_file()]
        fh = base / "file-history" / sid
        if fh.is_dir():
            side += [(f"file-history/{{sid}}/{p.relative_to(fh).as_posix()}", p)
                     for p in sorted(fh.rglob("*")) if p.is_file()]
        out.append(_template(name, t, sid, side, weight=w, cut=0.0 if name in small else 0.7, min_lines=10))
    return out


def codex_templates(fx: Path) -> list[Template]:
    out = []
    for d in sorted((fx / "codex").iterdir()):
        t = next(d.glob("rollout-*.jsonl"))
        sid = t.stem[-36:]
        out.append(_template(d.name, t, sid, [], weight=1.0, cut=0.5, min_lines=3))
    return out


def _uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[rng.randrange(4)]}{h[17:20]}-{h[20:32]}"


def _uuid7(ms: int, rng: random.Random) -> str:
    h = f"{ms:012x}{rng.getrandbits(80):020x}"
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{'89ab'[rng.randrange(4)]}{h[17:20]}-{h[20:32]}"


def _session_bytes(t: Template, rng: random.Random, subst: list[tuple[bytes, bytes]]) -> bytes:
    lines = t.lines
    if t.cut and rng.random() < t.cut and len(lines) > t.min_lines:
        lines = lines[: rng.randint(t.min_lines, len(lines))]
    data = b"".join(lines)
    for old, new in subst:
        data = data.replace(old, new)
    return data


def _write(path: Path, data: bytes, made: set[Path]) -> None:
    if path.parent not in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        made.add(path.parent)
    with open(path, "wb") as fh:
        fh.write(data)


def gen_many(tool: str, home: Path, repo: str, count: int, *, user_home: str, seed: int = 3) -> int:
    """Write `count` sessions of `repo` into the tool home `home`; returns the bytes written."""
    rng = random.Random(seed)
    fx = fixtures_dir()
    temps = claude_templates(fx) if tool == "claude" else codex_templates(fx)
    weights = [t.weight for t in temps]
    made: set[Path] = set()
    total = 0
    history: list[bytes] = []
    index: list[bytes] = []
    enc = claude_enc(repo)
    for i in range(count):
        t = rng.choices(temps, weights)[0]
        # Claude ids are UUIDv4, Codex thread ids UUIDv7 (time-ordered).
        sid = _uuid4(rng) if tool == "claude" else _uuid7(1_795_000_000_000 + i * 60_000 + rng.randrange(60_000), rng)
        subst = [(t.cwd.encode(), repo.encode()), (claude_enc(t.cwd).encode(), enc.encode()),
                 (t.home.encode(), user_home.encode()), (t.sid.encode(), sid.encode())]
        data = _session_bytes(t, rng, subst)
        if tool == "claude":
            path = home / "projects" / enc / f"{sid}.jsonl"
            for rel, side in t.sidecars:
                b = side
                for old, new in subst:
                    b = b.replace(old, new)
                p = home / rel.format(enc=enc, sid=sid)
                _write(p, b, made)
                total += len(b)
        else:
            day = 1 + (i * 28) // max(count, 1)
            s = i % 86400
            stamp = f"2026-11-{day:02d}T{s // 3600:02d}-{s // 60 % 60:02d}-{s % 60:02d}"
            path = home / "sessions" / "2026" / "11" / f"{day:02d}" / f"rollout-{stamp}-{sid}.jsonl"
            if t.name.startswith("tui"):
                history.append(json.dumps({"session_id": sid, "ts": 1_795_000_000 + i,
                                           "text": f"fix the failing test number {i}"}).encode() + b"\n")
            if rng.random() < 0.05:
                index.append(json.dumps({"id": sid, "thread_name": f"task {i}",
                                         "updated_at": "2026-11-24T00:15:40.000000Z"}).encode() + b"\n")
        _write(path, data, made)
        total += len(data)
    if history:
        (home / "history.jsonl").write_bytes(b"".join(history))
    if index:
        (home / "session_index.jsonl").write_bytes(b"".join(index))
    return total


# -- the benchmark -----------------------------------------------------------------------------------

@dataclass
class Run:
    wall: float
    cpu: float  # user + sys of the command and everything it waited for
    rss: int  # peak RSS in bytes (largest single process)


def _rusage_run(ru, wall: float) -> Run:
    return Run(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024)


def run_popen(cmd: list[str], env: dict[str, str]) -> tuple[Run, str]:
    os.sync()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read the pipes ourselves and reap with wait4, so the rusage is this command's alone.
    out = bytearray()
    err = bytearray()
    fds = {p.stdout.fileno(): out, p.stderr.fileno(): err}
    while fds:
        r, _, _ = select.select(list(fds), [], [])
        for fd in r:
            chunk = os.read(fd, 1 << 16)
            if chunk:
                fds[fd] += chunk
            else:
                del fds[fd]
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise RuntimeError(f"{cmd!r} failed ({p.returncode}): {bytes(out[-2000:])!r} {bytes(err[-3000:])!r}")
    return _rusage_run(ru, wall), out.decode()


def run_age(cmd: str, passphrase: str) -> Run:
    """A shell pipeline whose `age -p` / `age -d` reads the passphrase from a terminal.

    age reads passphrases only from the terminal (no flag, variable or stdin for it), so the pipeline
    runs on a pseudo-terminal and the passphrase is typed when age prompts for it (twice for -p: enter and
    confirm).  The time includes that exchange, a few milliseconds."""
    os.sync()
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvp("sh", ["sh", "-c", cmd])
    seen = b""
    answered = 0
    while True:
        try:
            select.select([fd], [], [], 60)
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the terminal closed (the pipeline ended)
            break
        if not chunk:
            break
        seen += chunk
        if seen.count(b"passphrase") > answered:
            answered = seen.count(b"passphrase")
            os.write(fd, passphrase.encode() + b"\n")
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    os.close(fd)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{cmd!r} failed: {seen[-2000:]!r}")
    return _rusage_run(ru, wall)


def _drop(p: Path) -> None:
    shutil.rmtree(p, ignore_errors=True)


def _git_repo(path: Path, remote: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        subprocess.run(["git", "init", "-q", str(path)], check=True)
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", remote], check=True)
    return Path(os.path.realpath(path))


TOOL_DIR = {"claude": ".claude", "codex": ".codex"}


def bench_many(root: Path, tool: str, count: int, reps: int, *, passphrase: str, remote: str,
               env_extra: dict[str, str] | None = None) -> dict:
    """Send, receive (fresh) and receive again (nothing to do) of `count` small sessions, against
    `tar -c | zstd -3 | age -p` and `age -d | zstd -d | tar -x && sync`, interleaved `reps` times."""
    base = root / tool
    repo_a = _git_repo(base / "A" / "src" / "app", remote)
    repo_b = _git_repo(base / "B" / "work" / "checkouts" / "app", remote)
    home_a = base / f"A-{count}" / "home"
    home_b = base / "B" / "home"
    th_a, th_b = home_a / TOOL_DIR[tool], home_b / TOOL_DIR[tool]
    marker = th_a / f".bench-many-{count}"
    if not marker.exists():
        _drop(home_a)
        th_a.mkdir(parents=True)
        t0 = time.perf_counter()
        n = gen_many(tool, th_a, str(repo_a), count, user_home=str(home_a))
        marker.write_text(str(n))
        print(f"  generated {count} {tool} sessions ({n / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s",
              flush=True)
    plain = int(marker.read_text())
    # What the user would tar: the repo's project folder (Claude; plus file-history), the rollouts (Codex).
    if tool == "claude":
        tar_what = f"projects/{claude_enc(str(repo_a))}" + (" file-history" if (th_a / "file-history").is_dir()
                                                           else "")
    else:
        tar_what = "sessions" + "".join(f" {f}" for f in ("history.jsonl", "session_index.jsonl")
                                        if (th_a / f).is_file())
    work = base / "io"
    _drop(work)
    work.mkdir(parents=True)
    sais, agef, untar = work / "handoff.sais", work / "handoff.tar.zst.age", work / "untar"

    def env(home: Path) -> dict[str, str]:
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
             "NO_COLOR": "1", "GIT_CONFIG_NOSYSTEM": "1", "SYNC_AI_SESSIONS_PASSPHRASE": passphrase}
        if "PYTHONPATH" in os.environ:  # e.g. a snapshot of the code to benchmark
            e["PYTHONPATH"] = os.environ["PYTHONPATH"]
        e.update(env_extra or {})
        return e

    py = [sys.executable, "-m", "sync_ai_sessions"]
    send = [*py, "send", "--tool", tool, "--cwd", str(repo_a), "--to", str(sais), "--json"]
    recv = [*py, "receive", "--from", str(sais), "--cwd", str(repo_b), "--json"]
    pipe = f"tar -C {th_a} -c {tar_what} | zstd -3 -q | age -p > {agef}"
    rpipe = f"age -d {agef} | zstd -d -q | tar -x -C {untar} && sync"
    subprocess.run(f"find {th_a} -type f -print0 | xargs -0 cat > /dev/null", shell=True, check=True)
    r: dict[str, list[Run]] = {k: [] for k in ("send", "pipe", "recv", "rpipe", "noop", "cold")}

    def ours_send() -> None:
        sais.unlink(missing_ok=True)  # send --to never replaces a file (--force would): each repetition writes anew
        run, out = run_popen(send, env(home_a))
        doc = json.loads(out)
        assert doc["ok"] and len(doc["sessions"]) == count, (len(doc.get("sessions", [])), count)
        r["send"].append(run)

    def theirs_send() -> None:
        agef.unlink(missing_ok=True)
        r["pipe"].append(run_age(pipe, passphrase))

    def ours_recv() -> None:
        _drop(th_b)
        _drop(home_b / ".config")
        _drop(home_b / ".sync-ai-sessions")  # our journals, locks and staging: a fresh machine has none
        os.sync()  # (untimed) each side starts with nothing to write back: the pipeline's `sync` would
        # otherwise also flush what the command before it wrote (ours, or its own last repetition)
        run, out = run_popen(recv, env(home_b))
        doc = json.loads(out)
        assert doc["ok"] and len(doc["imported"]) == count, (len(doc["imported"]), count)
        r["recv"].append(run)
        os.sync()
        run, out = run_popen(recv, env(home_b))
        doc = json.loads(out)
        assert doc["ok"] and not doc["imported"] and len(doc["skipped"]) == count, doc["imported"][:3]
        r["noop"].append(run)

    def theirs_recv() -> None:
        _drop(untar)
        untar.mkdir()
        os.sync()
        r["rpipe"].append(run_age(rpipe, passphrase))

    # The first send on a machine (here: with the discovery cache deleted)
    # reads every session; the repetitions then find them remembered (statcache.py), as a user's
    # next send does.  Both are reported.
    _drop(home_a / ".sync-ai-sessions")
    ours_send()
    r["cold"].append(r["send"].pop())
    for i in range(reps):
        # Alternate which of the two goes first, so neither always runs on the other's page cache.
        for a, b in ((ours_send, theirs_send), (ours_recv, theirs_recv)):
            (a, b) = (a, b) if i % 2 == 0 else (b, a)
            a()
            b()
        print(f"  rep {i + 1}: send {r['send'][-1].wall:.2f} s / pipe {r['pipe'][-1].wall:.2f} s; receive "
              f"{r['recv'][-1].wall:.2f} s, again {r['noop'][-1].wall:.2f} s / reverse {r['rpipe'][-1].wall:.2f} s",
              flush=True)
    got = th_b / ("projects" if tool == "claude" else "sessions")
    leftover = subprocess.run(["grep", "-rlF", str(repo_a), str(got)], capture_output=True).stdout.strip()
    out = {"tool": tool, "count": count, "plain": plain, "reps": reps, "sais": sais.stat().st_size,
           "age": agef.stat().st_size, "leftover": bool(leftover),
           "raw": {k: [[x.wall, x.cpu, x.rss] for x in v] for k, v in r.items()}}
    _drop(work)
    _drop(th_b)
    _drop(home_b / ".config")
    _drop(home_b / ".sync-ai-sessions")
    return out


def med(res: dict, key: str, col: int = 0) -> float:
    return statistics.median(x[col] for x in res["raw"][key])


def paired(res: dict, ours: str, theirs: str) -> float:
    return statistics.median(a[0] / b[0] for a, b in zip(res["raw"][ours], res["raw"][theirs], strict=True))


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares seconds per session."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")


TARGETS = {"send": 1.25, "recv": 1.5, "noop": 1.0}


def _first(res: dict) -> float:
    """The send with no discovery cache (older results have none: their every send read everything)."""
    cold = res["raw"].get("cold")
    return cold[0][0] if cold else med(res, "send")


def render_many(results: list[dict]) -> list[str]:
    L = ["## Many small sessions\n"]
    L.append("Corpus from `bench/many.py`: copies of the real-CLI fixtures (mixed sizes, see its docstring), all in "
             "one repo.  Pipelines: `tar -c | zstd -3 -q | age -p > F` and `age -d F | zstd -d -q | tar -x && sync` "
             "with age's passphrase mode (scrypt work factor 18, like ours), typed on a pseudo-terminal when age "
             "asks for it.  An untimed `sync` comes before every receive-side command, so that none pays for "
             "writing back what the one before it wrote (the pipeline's own `sync` would).  `send` runs the "
             "secret scan (the default).  \"again\" is the same `receive` run a "
             "second time: nothing to import.  \"first send\" is one send with no caches "
             "(`~/.sync-ai-sessions/cache`, see statcache.py): every session read and scanned, as on a "
             "machine's first send; the repetitions find the unchanged sessions remembered (what discovery "
             "learned, and which files the secret scan found clean).  Wall time: median of the "
             "repetitions; in brackets the median of "
             "the per-repetition ratios (both commands of a pair run back to back, alternating which goes "
             "first).  CPU: user + sys seconds, median.\n")
    L.append("| tool | sessions | MB | send | first send | tar\\|zstd\\|age -p | ratio (≤ 1.25) | ratio first "
             "| receive | again "
             "| age -d\\|zstd -d\\|tar -x | ratio receive (≤ 1.5) | ratio again (≤ 1.0) | CPU send / pipe "
             "| CPU receive / again / reverse |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in results:
        L.append(
            f"| {s['tool']} | {s['count']:,} | {s['plain'] / 1e6:.1f} | {med(s, 'send'):.2f} s "
            f"| {_first(s):.2f} s "
            f"| {med(s, 'pipe'):.2f} s | {med(s, 'send') / med(s, 'pipe'):.2f}× ({paired(s, 'send', 'pipe'):.2f}×) "
            f"| {_first(s) / med(s, 'pipe'):.2f}× "
            f"| {med(s, 'recv'):.2f} s | {med(s, 'noop'):.2f} s | {med(s, 'rpipe'):.2f} s "
            f"| {med(s, 'recv') / med(s, 'rpipe'):.2f}× ({paired(s, 'recv', 'rpipe'):.2f}×) "
            f"| {med(s, 'noop') / med(s, 'rpipe'):.2f}× ({paired(s, 'noop', 'rpipe'):.2f}×) "
            f"| {med(s, 'send', 1):.2f} / {med(s, 'pipe', 1):.2f} "
            f"| {med(s, 'recv', 1):.2f} / {med(s, 'noop', 1):.2f} / {med(s, 'rpipe', 1):.2f} |")
    L.append("\nPer-session slope (least squares over the session counts above, of the median wall times; "
             "target for receive < 1 ms):\n")
    L.append("| tool | send | pipeline | receive | again | reverse pipeline |")
    L.append("|---|---|---|---|---|---|")
    for tool in dict.fromkeys(s["tool"] for s in results):
        rs = [s for s in results if s["tool"] == tool]
        cells = [f"{slope([(s['count'], med(s, k)) for s in rs]) * 1000:.3f} ms"
                 for k in ("send", "pipe", "recv", "noop", "rpipe")]
        L.append(f"| {tool} | " + " | ".join(cells) + " |")
    L.append("\n| tool | sessions | handoff | pipeline output | peak RSS send / receive |")
    L.append("|---|---|---|---|---|")
    for s in results:
        L.append(f"| {s['tool']} | {s['count']:,} | {s['sais'] / 1e6:.2f} MB | {s['age'] / 1e6:.2f} MB "
                 f"| {max(x[2] for x in s['raw']['send']) / 2**20:.0f} / "
                 f"{max(x[2] for x in s['raw']['recv']) / 2**20:.0f} MiB |")
    bad = [f"{s['tool']} {s['count']}" for s in results if s["leftover"]]
    L.append(f"\nMachine A's repo path left in received files: {', '.join(bad) if bad else 'none'}.\n")
    return L


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("home", type=Path)
    g.add_argument("--tool", default="claude", choices=("claude", "codex"))
    g.add_argument("--repo", required=True)
    g.add_argument("--count", type=int, default=2000)
    g.add_argument("--user-home", default=os.path.expanduser("~"))
    b = sub.add_parser("bench", help="one adapter and session count, printed (bench/run.py --cases many for all)")
    b.add_argument("--tool", default="claude", choices=("claude", "codex"))
    b.add_argument("--count", type=int, default=2000)
    b.add_argument("--reps", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "gen":
        n = gen_many(a.tool, a.home, a.repo, a.count, user_home=a.user_home)
        print(f"{a.count} sessions, {n} bytes")
        return
    res = bench_many(HERE / "out" / "many", a.tool, a.count, a.reps, passphrase="correct horse battery staple 42",
                     remote="git@github.com:acme/app.git")
    print("\n".join(render_many([res])))


if __name__ == "__main__":
    main()
