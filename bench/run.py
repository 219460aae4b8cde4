"""Benchmark: `send --to FILE` / `receive --from FILE` against `tar -c | zstd -3 | age -e -r KEY` and back.

    python bench/run.py [--cases sizes,many,lookup] [--sizes 10M,100M,1G] [--reps 5] [--tools demo,claude,codex]
                        [--many 1000,2000,20000] [--many-tools claude,codex] [--lookup 10000] [--no-write]

Runs both side by side (interleaved, same corpus, same run), takes medians, measures peak RSS with
/usr/bin/time -v, payload sizes, the scrypt cost and the time to find one repo's sessions among many,
then writes bench/RESULTS.md.  The many-session case (`bench/many.py`: thousands of small sessions copied
from the real-CLI fixtures) runs against `age -p` pipelines.  `--cases many` runs that case alone and
replaces only its section of RESULTS.md.  Corpora live in bench/out/ (gitignored); `--clean` deletes them
after.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import gen  # noqa: E402
import many  # noqa: E402

OUT = BENCH / "out"
PASSPHRASE = "correct horse battery staple 42"
REMOTE = "git@github.com:acme/app.git"


def sh(cmd: list[str] | str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, shell=isinstance(cmd, str), **kw)


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        sh(["git", "init", "-q", str(path)])
        sh(["git", "-C", str(path), "remote", "add", "origin", REMOTE])
    return Path(os.path.realpath(path))


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (bytes, largest process of the command) of one run.

    Dirty pages are written out first, so no run pays for the previous one's writeback."""
    os.sync()
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd!r} failed ({p.returncode}): {p.stdout[-2000:]} {p.stderr[-3000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return wall, int(m.group(1)) * 1024 if m else 0, p


def drop_tree(p: Path) -> None:
    shutil.rmtree(p, ignore_errors=True)


def tree_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def fmt_s(x: float) -> str:
    return f"{x:.2f} s"


def fmt_b(n: float) -> str:
    for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{int(n)} B"


def machine_info() -> dict[str, str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as fh:
            mem = next((fmt_b(int(ln.split()[1]) * 1024) for ln in fh if ln.startswith("MemTotal")), mem)
    except OSError:
        pass
    import zstandard

    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "zstandard": zstandard.__version__,
        "zstd": sh(["zstd", "--version"]).stdout.strip().split(",")[0].replace("*** ", ""),
        "age": sh(["age", "--version"]).stdout.strip(),
        "tar": sh(["tar", "--version"]).stdout.splitlines()[0],
    }


class Setup:
    """Machine A (sender) and machine B (receiver): separate HOMEs, the same repo at different paths."""

    def __init__(self, root: Path, tool: str):
        self.root = root
        self.tool = tool
        self.home_a = root / "A" / "home"  # replaced per corpus size by use_size()
        self.home_b = root / "B" / "home"
        self.repo_a = git_repo(root / "A" / "src" / "app")
        self.repo_b = git_repo(root / "B" / "work" / "checkouts" / "app")
        self.key = root / "age.key"
        if not self.key.exists():
            sh(["age-keygen", "-o", str(self.key)])
        self.recipient = sh(["age-keygen", "-y", str(self.key)]).stdout.strip()

    def env(self, home: Path) -> dict[str, str]:
        e = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "SYNC_AI_SESSIONS_PASSPHRASE": PASSPHRASE,
        }
        for k in ("SYNC_AI_SESSIONS_SCRYPT_LOG2N",):
            if k in os.environ:
                e[k] = os.environ[k]
        return e

    def tool_home(self, home: Path) -> Path:
        return home / {"claude": ".claude", "codex": ".codex", "demo": ".sais-demo"}[self.tool]

    def session_dir(self) -> str:
        """The folder (relative to the tool home) holding this repo's sessions: what the user would tar."""
        if self.tool == "claude":
            return f"projects/{gen.claude_enc(str(self.repo_a))}"
        if self.tool == "demo":
            return f"sessions/{gen.claude_enc(str(self.repo_a))}"
        return "sessions"

    def corpus(self, size: int) -> int:
        """Machine A's tool home holding a corpus of `size` bytes (kept per size, reused across runs)."""
        self.home_a = self.root / f"A-{size >> 20}M" / "home"
        th = self.tool_home(self.home_a)
        marker = th / f".bench-{size}"
        if not marker.exists():
            drop_tree(th)
            self.home_a.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            gen.gen_size(self.tool, th, str(self.repo_a), size)
            print(f"  generated {fmt_b(size)} corpus in {time.perf_counter() - t0:.1f} s", flush=True)
            marker.touch()
        return tree_bytes(th / self.session_dir())


def py_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sync_ai_sessions", *args]


def bench_size(st: Setup, size: int, reps: int) -> dict:
    plain = st.corpus(size)
    work = st.root / "io"
    drop_tree(work)
    work.mkdir(parents=True)
    sais = work / "handoff.sais"
    agef = work / "handoff.tar.zst.age"
    th_a = st.tool_home(st.home_a)
    env_a, env_b = st.env(st.home_a), st.env(st.home_b)
    pipe = f"tar -C {th_a} -c {st.session_dir()} | zstd -3 -q | age -e -r {st.recipient} > {agef}"
    rpipe_dest = work / "untar"
    rpipe = f"age -d -i {st.key} {agef} | zstd -d -q | tar -x -C {rpipe_dest}"
    r: dict[str, list] = {k: [] for k in ("send", "send_rss", "send_ns", "send_ns_rss", "pipe", "pipe_rss",
                                          "recv", "recv_rss", "rpipe", "rpipe_rss")}
    send_args = ["send", "--tool", st.tool, "--cwd", str(st.repo_a), "--to", str(sais), "--json"]
    # warm the page cache once (both sides read the same files)
    sh(f"cat $(find {th_a} -type f) > /dev/null")
    for i in range(reps):
        w, rss, p = timed(py_cmd(*send_args, "--no-scan"), env_a)
        assert json.loads(p.stdout)["ok"]
        r["send_ns"].append(w)
        r["send_ns_rss"].append(rss)
        w, rss, p = timed(py_cmd(*send_args), env_a)
        doc = json.loads(p.stdout)
        assert doc["ok"], doc
        r["send"].append(w)
        r["send_rss"].append(rss)
        w, rss, _ = timed(["sh", "-c", pipe])
        r["pipe"].append(w)
        r["pipe_rss"].append(rss)
        drop_tree(st.tool_home(st.home_b))
        drop_tree(st.home_b / ".config")
        drop_tree(st.home_b / ".sync-ai-sessions")  # our journals: a fresh machine has none
        w, rss, p = timed(py_cmd("receive", "--from", str(sais), "--cwd", str(st.repo_b), "--json"), env_b)
        doc = json.loads(p.stdout)
        assert doc["ok"] and len(doc["imported"]) == len(gen.SHARES), doc
        r["recv"].append(w)
        r["recv_rss"].append(rss)
        drop_tree(rpipe_dest)
        rpipe_dest.mkdir()
        w, rss, _ = timed(["sh", "-c", rpipe])
        r["rpipe"].append(w)
        r["rpipe_rss"].append(rss)
        print(f"  rep {i + 1}: send {r['send'][-1]:.2f} s (--no-scan {r['send_ns'][-1]:.2f} s) / "
              f"pipe {r['pipe'][-1]:.2f} s; "
              f"receive {r['recv'][-1]:.2f} s / reverse {r['rpipe'][-1]:.2f} s", flush=True)
    # Check the received bytes: same size as the sent ones, and no machine-A repo path left in them.
    got = st.tool_home(st.home_b) / ("projects" if st.tool == "claude" else "sessions")
    recv_bytes = tree_bytes(got)
    leftover = subprocess.run(["grep", "-rlF", str(st.repo_a), str(got)], capture_output=True).stdout.strip()
    med = {k: statistics.median(v) for k, v in r.items()}
    med.update(tool=st.tool, size=size, plain=plain, sais=sais.stat().st_size, age=agef.stat().st_size,
               recv_bytes=recv_bytes, leftover=bool(leftover), reps=reps,
               raw={k: v for k, v in r.items()})
    drop_tree(work)
    drop_tree(st.tool_home(st.home_b))
    return med


def bench_kdf(reps: int = 3) -> tuple[float, str]:
    from sync_ai_sessions.format.container import KdfParams

    p = KdfParams()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        p.derive(PASSPHRASE, b"\x00" * 16)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), f"N=2^{p.log2_n}, r={p.r}, p={p.p} ({128 * p.r * (1 << p.log2_n) >> 20} MiB)"


def bench_lookup(root: Path, tools: list[str], sessions: int, repos: int, reps: int) -> list[dict]:
    from sync_ai_sessions.adapters import REGISTRY, get_adapter
    from sync_ai_sessions.gitrepo import Repo

    out = []
    home = root / "home"
    names = [f"/home/alice/src/repo{i:03d}" for i in range(repos)]
    for tool in tools:
        if tool not in REGISTRY:
            continue
        th = home / (".claude" if tool == "claude" else ".codex")
        marker = th / f".bench-lookup-{sessions}-{repos}"
        if not marker.exists():
            drop_tree(th)
            t0 = time.perf_counter()
            gen.gen_lookup(tool, th, names, sessions)
            marker.touch()
            print(f"  generated {sessions} {tool} sessions in {time.perf_counter() - t0:.1f} s", flush=True)
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", "")}
        adapter = get_adapter(tool, env)
        repo = Repo(root=Path(names[7]))
        found = adapter.find_sessions(repo)  # warm
        ts = []
        for _ in range(reps):
            adapter = get_adapter(tool, env)
            t0 = time.perf_counter()
            found = adapter.find_sessions(repo)
            ts.append(time.perf_counter() - t0)
        out.append({"tool": tool, "sessions": sessions, "repos": repos, "found": len(found),
                    "expected": len(range(7, sessions, repos)), "warm": statistics.median(ts), "raw": ts})
        print(f"  {tool}: {len(found)} sessions found in {statistics.median(ts):.3f} s (warm median)", flush=True)
    return out


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "-"


def paired(s: dict, ours: str, theirs: str) -> str:
    """Median over the repetitions of ours / theirs, each pair run back to back: the VM's speed drifts
    within a run (the reverse pipeline alone went from 5.3 to 2.2 s in one), which moves a ratio of
    medians more than it moves a pair."""
    pairs = [a / b for a, b in zip(s["raw"][ours], s["raw"][theirs], strict=True) if b]
    return f"{statistics.median(pairs):.2f}×" if pairs else "-"


def render(info: dict, started: str, load: tuple[str, str], kdf: tuple[float, str], sizes: list[dict],
           lookup: list[dict], tool: str) -> str:
    L = []
    L.append("## Big sessions: the size case\n")
    L.append(f"- Date: {started}")
    L.append(f"- Load average (1 min) at start / end: {load[0]} / {load[1]}")
    L.append(f"- Adapters: {tool}; corpus from `bench/gen.py` (4 sessions of 50/25/15/10 % of the size)")
    L.append("- Pipeline: `tar -c DIR | zstd -3 | age -e -r KEY > F` and `age -d -i KEY F | zstd -d | tar -x`")
    L.append(f"- Figures are medians of {sizes[0]['reps'] if sizes else 0} interleaved repetitions, warm page cache; "
             "wall time of the whole command (process start included); peak RSS from `/usr/bin/time -v` "
             "(largest single process)\n")
    if sizes:
        emit_sizes(L, sizes)
    render_tail(L, sizes, kdf, lookup)
    return "\n".join(L)


def emit_sizes(L: list[str], sizes: list[dict]) -> None:
    L.append("### Send / receive versus the pipeline\n")
    L.append("`send` runs the secret scan by default; `--no-scan` skips it.  `demo` is the core's test adapter "
             "(head-only session scan): it shows the container, archive, rewrite and import engine alone.\n")
    L.append("Ratios: of the medians, then (in brackets) the median of the repetitions' own ratios (both "
             "commands of a pair run in the same repetition, seconds apart).\n")
    L.append("| tool | size | send | send --no-scan | tar\\|zstd\\|age | ratio send (target ≤ 1.10) "
             "| ratio --no-scan | receive | age -d\\|zstd -d\\|tar -x | ratio (target ≤ 1.25) |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for s in sizes:
        L.append(f"| {s['tool']} | {fmt_b(s['plain'])} | {fmt_s(s['send'])} | {fmt_s(s['send_ns'])} "
                 f"| {fmt_s(s['pipe'])} | {ratio(s['send'], s['pipe'])} ({paired(s, 'send', 'pipe')}) "
                 f"| {ratio(s['send_ns'], s['pipe'])} ({paired(s, 'send_ns', 'pipe')}) "
                 f"| {fmt_s(s['recv'])} | {fmt_s(s['rpipe'])} | {ratio(s['recv'], s['rpipe'])} "
                 f"({paired(s, 'recv', 'rpipe')}) |")
    L.append("\n### Payload size\n")
    L.append("| tool | size | handoff file | pipeline output | ratio (target ≤ 1.00) | as a gist (base64, ×4/3) | "
             "compression |")
    L.append("|---|---|---|---|---|---|---|")
    for s in sizes:
        L.append(f"| {s['tool']} | {fmt_b(s['plain'])} | {fmt_b(s['sais'])} | {fmt_b(s['age'])} "
                 f"| {s['sais'] / s['age']:.3f} | {fmt_b(s['sais'] * 4 / 3)} | {s['plain'] / s['sais']:.2f}× |")
    L.append("\n### Peak memory (RSS)\n")
    L.append(f"Target: flat in the input size, ≤ scrypt working memory (256 MiB) + 100 MB = "
             f"{fmt_b((256 << 20) + 100_000_000)}.\n")
    L.append("| tool | size | send | send --no-scan | pipeline (largest process) | receive | reverse pipeline |")
    L.append("|---|---|---|---|---|---|---|")
    for s in sizes:
        L.append(f"| {s['tool']} | {fmt_b(s['plain'])} | {fmt_b(s['send_rss'])} | {fmt_b(s['send_ns_rss'])} "
                 f"| {fmt_b(s['pipe_rss'])} | {fmt_b(s['recv_rss'])} | {fmt_b(s['rpipe_rss'])} |")


def render_tail(L: list[str], sizes: list[dict], kdf: tuple[float, str], lookup: list[dict]) -> None:
    if sizes:
        L.append("\n### Correctness checks in the same run\n")
    for s in sizes:
        L.append(f"- {s['tool']} {fmt_b(s['plain'])}: received {fmt_b(s['recv_bytes'])} of transcripts "
                 f"(sent {fmt_b(s['plain'])}; paths rewritten to B's clone, so sizes differ by the path length "
                 f"difference); machine A's repo path left in received files: {'YES' if s['leftover'] else 'none'}")
    L.append("\n### Key derivation\n")
    L.append(f"scrypt {kdf[1]}: {kdf[0]:.2f} s on this machine (median of 3), once per command "
             "(never per chunk or per file).\n")
    if lookup:
        L.append("### Finding one repo's sessions\n")
        L.append("`adapter.find_sessions(repo)` in-process, warm (median), target < 0.5 s.\n")
        L.append("| tool | sessions on disk | repos | found | time |")
        L.append("|---|---|---|---|---|")
        for x in lookup:
            L.append(f"| {x['tool']} | {x['sessions']:,} | {x['repos']} | {x['found']} (expected {x['expected']}) "
                     f"| {x['warm']:.3f} s |")
    L.append("")


SECTIONS = ("sizes", "many", "ab")


def section(name: str, lines: list[str]) -> str:
    return f"<!-- bench:{name} -->\n" + "\n".join(lines) + f"\n<!-- /bench:{name} -->\n"


def merge_results(old: str, new: dict[str, str], head: str) -> str:
    """RESULTS.md with the sections that ran replaced and the others kept from `old`."""
    kept = {}
    for name in SECTIONS:
        m = re.search(rf"<!-- bench:{name} -->\n.*?<!-- /bench:{name} -->\n", old, re.S)
        if m:
            kept[name] = m.group(0)
    kept.update(new)
    return head + "\n" + "\n".join(kept[n] for n in SECTIONS if n in kept)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="sizes,many,lookup",
                    help="which cases to run: sizes (4 big sessions), many (thousands of small ones), lookup")
    ap.add_argument("--many", default="1000,2000,20000", help="session counts for the many-session case")
    ap.add_argument("--many-tools", default="claude,codex")
    ap.add_argument("--sizes", default="10M,100M,1G")
    ap.add_argument("--reps", type=int, default=5)  # 3 left medians moving by +-30 % on a noisy VM
    ap.add_argument("--tools", default="demo,claude,codex",
                    help="adapters for the size cases (demo: the core alone, with a head-only session scan)")
    ap.add_argument("--lookup", type=int, default=10_000, help="sessions for the lookup case (0 = skip)")
    ap.add_argument("--lookup-repos", type=int, default=200)
    ap.add_argument("--lookup-tools", default="claude,codex")
    ap.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    ap.add_argument("--no-write", action="store_true", help="print the table, do not write RESULTS.md")
    ap.add_argument("--clean", action="store_true", help="delete the generated corpora afterwards")
    a = ap.parse_args()

    cases = {c for c in a.cases.split(",") if c}
    started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load0 = os.getloadavg()[0]
    info = machine_info()
    root = OUT / "run"
    tools = [t for t in a.tools.split(",") if t]
    sizes: list[dict] = []
    lookup: list[dict] = []
    kdf = (0.0, "")
    out: dict[str, str] = {}
    if cases & {"sizes", "lookup"}:
        print("scrypt...", flush=True)
        kdf = bench_kdf()
    if "sizes" in cases:
        for tool in tools:
            st = Setup(root / tool, tool)
            for s in [x for x in a.sizes.split(",") if x]:
                n = gen.parse_size(s)
                print(f"{tool} {s}:", flush=True)
                sizes.append(bench_size(st, n, a.reps))
    if "lookup" in cases and a.lookup:
        print(f"lookup among {a.lookup}:", flush=True)
        lookup = bench_lookup(root / "lookup", a.lookup_tools.split(","), a.lookup, a.lookup_repos, max(a.reps, 5))
    if cases & {"sizes", "lookup"}:
        load1 = os.getloadavg()[0]
        out["sizes"] = render(info, started, (f"{load0:.2f}", f"{load1:.2f}"), kdf, sizes, lookup, ", ".join(tools))
    many_results: list[dict] = []
    if "many" in cases:
        m_started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        m_load0 = os.getloadavg()[0]
        for tool in [t for t in a.many_tools.split(",") if t]:
            for count in [int(x) for x in a.many.split(",") if x]:
                print(f"{tool}, {count} sessions:", flush=True)
                many_results.append(many.bench_many(OUT / "many", tool, count, a.reps, passphrase=PASSPHRASE,
                                                    remote=REMOTE))
        m_load1 = os.getloadavg()[0]
        L = many.render_many(many_results)
        L.insert(1, f"- Date: {m_started}; load average (1 min) at start / end: {m_load0:.2f} / {m_load1:.2f}; "
                    f"{a.reps} repetitions\n")
        out["many"] = "\n".join(L)
    head = ("# Benchmark results\n\nGenerated by `python bench/run.py` (see `bench/README.md`); do not edit by "
            "hand.  Each section comes from the last run of its case.\n\n"
            f"- Machine: {info['cpu']}, {info['memory']} RAM, {info['os']}\n"
            f"- Software: Python {info['python']}, zstandard {info['zstandard']}, {info['zstd']}, "
            f"age {info['age']}, {info['tar']}\n")
    md = merge_results(a.out.read_text() if a.out.exists() else "",
                       {k: section(k, [v]) for k, v in out.items()}, head)
    print(md)
    (OUT / f"last-{'-'.join(sorted(cases))}.json").write_text(
        json.dumps({"sizes": sizes, "lookup": lookup, "kdf": kdf, "many": many_results}, indent=1))
    if not a.no_write:
        a.out.write_text(md)
    if a.clean:
        drop_tree(root)
        drop_tree(OUT / "many")


if __name__ == "__main__":
    main()
