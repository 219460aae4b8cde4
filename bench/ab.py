"""A/B: the same big-session benchmark for two checkouts of this project, interleaved in one run.

    python bench/ab.py --base NAME=../other-checkout [--base NAME2=...] [--size 1G] [--reps 5]
                       [--tools demo,claude,codex] [--no-write]

The "no change may make the 1 GiB figures worse by more than 5 %" rule needs both sides measured in the
same minutes on the same corpus: a VM's speed drifts by more than 5 % between runs. This script runs
`send --no-scan`, `send` and `receive` of "head" (the checkout whose `.venv` runs this script) and of
each `--base` (another checkout with its own `.venv`, e.g. `git worktree add ../base <commit>` then
`python3 -m venv .venv && .venv/bin/pip install -e .` there), the order of the variants reversed every
other repetition (ABBA), plus the `tar | zstd | age` pipelines once per repetition. It reports medians,
head / base per repetition (median of the paired ratios) and every side's ratio to the pipeline, writes
the `ab` section of RESULTS.md, and exits 1 when head is more than 5 % slower than a base on some
command.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import gen  # noqa: E402
import run  # noqa: E402

OPS = ("send_ns", "send", "recv")
LABEL = {"send_ns": "send --no-scan", "send": "send", "recv": "receive"}
LIMIT = 1.05  # head may be at most 5 % slower than base


def describe(checkout: Path) -> str:
    p = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return p.stdout.strip()[:70] or str(checkout.name)


def bench_tool(st: run.Setup, size: int, reps: int, pythons: dict[str, str]) -> dict:
    plain = st.corpus(size)
    work = st.root / "io-ab"
    run.drop_tree(work)
    work.mkdir(parents=True)
    th_a = st.tool_home(st.home_a)
    env_a, env_b = st.env(st.home_a), st.env(st.home_b)
    agef = work / "p.tar.zst.age"
    untar = work / "untar"
    pipe = f"tar -C {th_a} -c {st.session_dir()} | zstd -3 -q | age -e -r {st.recipient} > {agef}"
    rpipe = f"age -d -i {st.key} {agef} | zstd -d -q | tar -x -C {untar}"
    r: dict[str, list[float]] = {f"{v}:{op}": [] for v in pythons for op in OPS}
    r.update(pipe=[], rpipe=[])
    rss: dict[str, int] = {}
    run.sh(f"cat $(find {th_a} -type f) > /dev/null")
    order = list(pythons)
    for i in range(reps):
        for v in (order if i % 2 == 0 else order[::-1]):
            sais = work / f"{v}.sais"
            sais.unlink(missing_ok=True)
            base = [pythons[v], "-m", "sync_ai_sessions"]
            send = [*base, "send", "--tool", st.tool, "--cwd", str(st.repo_a), "--to", str(sais), "--json"]
            w, m, p = run.timed([*send, "--no-scan"], env_a)
            assert json.loads(p.stdout)["ok"]
            r[f"{v}:send_ns"].append(w)
            sais.unlink()
            w, m2, p = run.timed(send, env_a)
            assert json.loads(p.stdout)["ok"]
            r[f"{v}:send"].append(w)
            run.drop_tree(st.tool_home(st.home_b))
            run.drop_tree(st.home_b / ".config")
            run.drop_tree(st.home_b / ".sync-ai-sessions")  # our journals: a fresh machine has none
            w, m3, p = run.timed([*base, "receive", "--from", str(sais), "--cwd", str(st.repo_b), "--json"], env_b)
            doc = json.loads(p.stdout)
            assert doc["ok"] and len(doc["imported"]) == len(gen.SHARES), doc
            r[f"{v}:recv"].append(w)
            rss[v] = max(rss.get(v, 0), m, m2, m3)
        w, _, _ = run.timed(["sh", "-c", pipe])
        r["pipe"].append(w)
        run.drop_tree(untar)
        untar.mkdir()
        w, _, _ = run.timed(["sh", "-c", rpipe])
        r["rpipe"].append(w)
        print(f"  rep {i + 1}: " + "; ".join(f"{v} " + " / ".join(f"{r[f'{v}:{op}'][-1]:.2f}" for op in OPS)
                                             for v in order)
              + f"; pipes {r['pipe'][-1]:.2f} / {r['rpipe'][-1]:.2f} s", flush=True)
    run.drop_tree(work)
    run.drop_tree(st.tool_home(st.home_b))
    return {"tool": st.tool, "plain": plain, "reps": reps, "raw": r, "rss": rss}


def paired(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def render(res: list[dict], names: dict[str, str], started: str, load: tuple[float, float]) -> tuple[str, bool]:
    ok = True
    bases = [v for v in names if v != "head"]
    L = ["## A/B: this checkout against earlier ones, one run\n",
         f"- Date: {started}; load average (1 min) at start / end: {load[0]:.2f} / {load[1]:.2f}",
         *[f"- {v}: `{names[v]}`" for v in names],
         f"- `python bench/ab.py {' '.join(f'--base {b}=CHECKOUT' for b in bases)}`; medians of "
         f"{res[0]['reps'] if res else 0} repetitions, the variants' order reversed every other repetition; "
         "pipelines as in the size case, once per repetition",
         f"- head / base: median of the repetitions' paired ratios; limit {LIMIT:.2f} (5 % slower)\n",
         "| tool | size | command | " + " | ".join(names) + " | " + " | ".join(f"head / {b}" for b in bases)
         + " | " + " | ".join(f"{v} / pipeline" for v in names) + " |",
         "|---|---|---|" + "---|" * (2 * len(names) + len(bases))]
    for x in res:
        r = x["raw"]
        for op in OPS:
            h = r[f"head:{op}"]
            pipe = r["rpipe"] if op == "recv" else r["pipe"]
            cells = []
            for b in bases:
                hb = paired(h, r[f"{b}:{op}"])
                ok &= hb <= LIMIT
                cells.append(f"{hb:.3f}" + ("" if hb <= LIMIT else " (over)"))
            L.append(f"| {x['tool']} | {run.fmt_b(x['plain'])} | {LABEL[op]} | "
                     + " | ".join(run.fmt_s(statistics.median(r[f'{v}:{op}'])) for v in names) + " | "
                     + " | ".join(cells) + " | "
                     + " | ".join(f"{paired(r[f'{v}:{op}'], pipe):.2f}×" for v in names) + " |")
    L.append("\nPeak RSS (largest of the three commands): " + "; ".join(
        f"{x['tool']} " + ", ".join(f"{v} {run.fmt_b(x['rss'][v])}" for v in names) for x in res))
    L.append(f"\nVerdict: {'every ratio within' if ok else 'SOME RATIO OVER'} the {LIMIT:.2f} limit.\n")
    return "\n".join(L), ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", action="append", required=True, metavar="NAME=CHECKOUT",
                    help="another checkout of this project, with its .venv (repeatable)")
    ap.add_argument("--size", default="1G")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tools", default="demo,claude,codex")
    ap.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    head_root = Path(sys.prefix).resolve().parent  # the checkout whose .venv runs this script
    checkouts = {"head": head_root}
    pythons = {"head": sys.executable}
    for spec in a.base:
        name, sep, path = spec.partition("=")
        if not sep or not name or name == "head":
            sys.exit(f"ab: --base wants NAME=CHECKOUT, got {spec!r}")
        checkouts[name] = Path(path).resolve()
        pythons[name] = str(checkouts[name] / ".venv" / "bin" / "python")
        if not Path(pythons[name]).exists():
            sys.exit(f"ab: {pythons[name]} not found (create that checkout's .venv first)")
    started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load0 = os.getloadavg()[0]
    size = gen.parse_size(a.size)
    res = []
    for tool in [t for t in a.tools.split(",") if t]:
        print(f"{tool} {a.size}:", flush=True)
        res.append(bench_tool(run.Setup(run.OUT / "run" / tool, tool), size, a.reps, pythons))
    md, ok = render(res, {v: describe(c) for v, c in checkouts.items()}, started,
                    (load0, os.getloadavg()[0]))
    print(md)
    (run.OUT / "last-ab.json").write_text(json.dumps(res, indent=1))
    if not a.no_write:
        old = a.out.read_text() if a.out.exists() else ""
        head = old.split("\n<!-- bench:", 1)[0] if "<!-- bench:" in old else "# Benchmark results\n"
        a.out.write_text(run.merge_results(old, {"ab": run.section("ab", [md])}, head.rstrip("\n") + "\n"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
