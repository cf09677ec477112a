#!/usr/bin/env python3
"""Side-by-side speed of engines on one machine, in one run: ArbOS replays and speedtest kernels.

Usage:
  python3 bench/side_by_side.py [--engines cpp,prev,interp,jit] [--rounds 5]
                                [--arbos] [--kernels all|NAME,NAME] [--steps N] [--write]

Engines (each an external command, so any build can be compared with any other):
  cpp     arb-avm-cpp's runner: AVMRUN=/path/to/avmrun (built by ../shared/anchors/build-avm-cpp.sh)
  interp  this build's `avm run --engine interp` (AVM_BIN, default target/release/avm)
  jit     this build's `avm run --engine jit` (the block JIT)
  regions this build's `avm run --engine regions` (the region JIT, compiling in the background)
  prev:E  an earlier build of `avm` on engine E (interp, jit, regions): AVM_PREV=/path/to/avm;
          `prev` alone is `prev:interp`. Each engine is also compared with its earlier build, so
          `--engines prev:interp,interp,prev:jit,jit` answers "did this change make it faster?"
          (build the older commit with `git worktree add ../before COMMIT`, then
          `CARGO_TARGET_DIR=../before-target cargo build --release --bin avm` there).

Every cell is the best of --rounds runs, the engines interleaved within each round (one run of
each engine, then the next round), of the wall time of the run alone (load excluded: each runner
reports `wall_ms` for the run and `load_ms` apart), with the peak RSS of the process
(/usr/bin/time). Each run's steps, gas and machine hash must agree with the first engine's, or
the script stops. Reads ../shared/corpus (or $AVM_SHARED/corpus); without it there is nothing to
measure and the script says so. With --write the tables replace the block between the
`side-by-side:begin` and `side-by-side:end` markers in README.md, under the command that made
them.
"""

import argparse
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AVM_SHARED", ROOT.parent / "shared"))
AVM = Path(os.environ.get("AVM_BIN", ROOT / "target" / "release" / "avm"))

# Steps per kernel run: long enough that the run dominates start-up, short enough for CI-sized
# machines (the hashing and curve kernels run at 0.001-4 M steps/s).
KERNEL_STEPS = {
    "hash_0_0": 1_000_000,
    "dup0_ethhash2_0_0": 2_000_000,
    "tset_push_tset_hash_4_1": 1_000_000,
    "dup2_dup2_dup2_tset_hash_0_1": 1_000_000,
    "keccakf_1_1": 1_000_000,
    "sha256f_3_1": 2_000_000,
    "ecrecover_4_1": 50_000,
    "ecadd_4_2": 100_000,
    "ecmul_3_2": 20_000,
    "ecpairing1_1_1": 500,
    "ecpairing2_1_1": 300,
    "ecpairing4_1_1": 200,
    "ecpairing8_1_1": 100,
}
DEFAULT_KERNEL_STEPS = 10_000_000


def build_and_engine(engine):
    """The `avm` binary and its --engine for an engine name (`interp`, `prev:jit`, ...)."""
    if engine == "prev":
        engine = "prev:interp"
    if engine.startswith("prev:"):
        return os.environ["AVM_PREV"], engine.removeprefix("prev:")
    return str(AVM), engine


def engine_command(engine, program, inbox, steps):
    """The command line that runs `program` on `engine`, printing one JSON object."""
    if engine == "cpp":
        cmd = [os.environ["AVMRUN"], str(program)]
        if inbox:
            cmd += ["--inbox", str(inbox)]
        if steps:
            cmd += ["--max-steps", str(steps)]
        return cmd
    binary, avm_engine = build_and_engine(engine)
    cmd = [binary, "run", str(program), "--json", "--engine", avm_engine]
    if inbox:
        cmd += ["--inbox", str(inbox)]
    if steps:
        cmd += ["--max-steps", str(steps)]
    return cmd


def run_once(engine, program, inbox, steps):
    """Wall ms of the run, peak RSS in MB, and what the run must agree on."""
    with tempfile.NamedTemporaryFile("r") as rss:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss.name]
        cmd += engine_command(engine, program, inbox, steps)
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        peak_kb = int(rss.read().strip().splitlines()[-1])
    result = json.loads(out)
    # `gas` since report schema 2; the C++ harness and older builds of avm say `gas_used`.
    gas = result["gas"] if "gas" in result else result["gas_used"]
    agreed = (int(result["steps"]), int(gas), result["machine_hash"].lower())
    return float(result["wall_ms"]), peak_kb / 1024, agreed


def measure(engines, program, inbox, steps, rounds):
    best = {e: (math.inf, 0.0) for e in engines}
    reference = None
    for _ in range(rounds):
        for engine in engines:
            ms, mb, agreed = run_once(engine, program, inbox, steps)
            if reference is None:
                reference = agreed
            elif agreed != reference:
                sys.exit(f"{program.name}: {engine} gives {agreed}, expected {reference}")
            best[engine] = (min(best[engine][0], ms), max(best[engine][1], mb))
    return reference[0], best


def ratio_pairs(engines):
    """The (engine, baseline) pairs a table shows: each engine against the first, each engine
    against its earlier build, each JIT against the interpreter; each pair once."""
    pairs = [(e, engines[0]) for e in engines[1:]]
    for engine in ("interp", "jit", "regions"):
        for earlier in (f"prev:{engine}",) + (("prev",) if engine == "interp" else ()):
            if engine in engines and earlier in engines:
                pairs.append((engine, earlier))
    for jit in ("jit", "regions"):
        if jit in engines and "interp" in engines:
            pairs.append((jit, "interp"))
    return list(dict.fromkeys(pairs))


def table(title, rows, engines):
    pairs = ratio_pairs(engines)
    head = ["steps"] + [f"{e} M steps/s" for e in engines]
    head += [f"{a} / {b}" for a, b in pairs]
    head += [f"{e} peak RSS MB" for e in engines]
    lines = [f"| {title} | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    ratios = {}
    for name, steps, best in rows:
        rate = {e: steps / best[e][0] / 1e3 for e in engines}
        cells = [f"{steps:,}"] + [f"{rate[e]:,.1f}" if rate[e] >= 1 else f"{rate[e]:.3f}" for e in engines]
        for a, b in pairs:
            r = rate[a] / rate[b]
            ratios.setdefault((a, b), []).append(r)
            cells.append(f"{r:.2f}×")
        cells += [f"{best[e][1]:.0f}" for e in engines]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if len(rows) > 1:
        cells = ["geomean", ""] + [""] * len(engines)
        for key, rs in ratios.items():
            cells.append(f"**{math.exp(sum(map(math.log, rs)) / len(rs)):.2f}×**")
        cells += [""] * len(engines)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="cpp,prev,interp,jit")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--arbos", action="store_true", help="the 11 ArbOS replays")
    parser.add_argument("--kernels", default="", help="'all' or a comma-separated list")
    parser.add_argument("--steps", type=int, help="steps per kernel run (default: per kernel)")
    parser.add_argument("--write", action="store_true", help="replace the README block")
    args = parser.parse_args()
    engines = args.engines.split(",")
    corpus = SHARED / "corpus"
    if not corpus.is_dir():
        sys.exit(f"skipping: {corpus} is absent, and it holds every program this script measures")
    tables = []
    if args.arbos:
        arbos = corpus / "arbos"
        rows = []
        for inbox in sorted(arbos.glob("*.inbox.json")):
            name = inbox.name.removesuffix(".inbox.json")
            steps, best = measure(engines, arbos / "arbos.mexe", inbox, None, args.rounds)
            rows.append((name, steps, best))
            print(f"{name}: " + ", ".join(f"{e} {best[e][0]:.1f} ms" for e in engines), file=sys.stderr)
        tables.append(table("ArbOS replay", rows, engines))
    if args.kernels:
        speedtest = corpus / "speedtest"
        names = sorted(p.stem for p in speedtest.glob("*.mexe"))
        if args.kernels != "all":
            names = args.kernels.split(",")
        rows = []
        for name in names:
            steps = args.steps or KERNEL_STEPS.get(name, DEFAULT_KERNEL_STEPS)
            steps, best = measure(engines, speedtest / f"{name}.mexe", None, steps, args.rounds)
            if min(ms for ms, _ in best.values()) < 1:
                print(f"skipping {name}: it stops after {steps} steps, too soon to time", file=sys.stderr)
                continue
            rows.append((name, steps, best))
            print(f"{name}: " + ", ".join(f"{e} {best[e][0]:.1f} ms" for e in engines), file=sys.stderr)
        tables.append(table("kernel", rows, engines))
    text = "\n\n".join(tables)
    print(text)
    if args.write:
        command = "python3 bench/side_by_side.py " + " ".join(map(shlex.quote, sys.argv[1:]))
        command = command.replace(" --write", "")
        header = (
            f"Generated by `{command}` on {date.today()}, {platform.machine()}, "
            f"{os.cpu_count()} cores: best of {args.rounds} interleaved rounds, wall time of the run "
            "(load excluded), steps, gas and machine hash equal for every engine in every run. "
            "Engines: " + ", ".join(engine_name(e) for e in engines) + "."
        )
        readme = ROOT / "README.md"
        old = readme.read_text()
        block = f"<!-- side-by-side:begin -->\n{header}\n\n{text}\n<!-- side-by-side:end -->"
        new = re.sub(
            r"<!-- side-by-side:begin -->.*?<!-- side-by-side:end -->", lambda _: block, old, flags=re.S
        )
        if new == old and block not in old:
            sys.exit("README.md has no side-by-side:begin/end markers")
        readme.write_text(new)


ENGINE_NAMES = {
    "cpp": "`cpp` arb-avm-cpp's interpreter (`../shared/anchors/build-avm-cpp.sh`)",
    "prev": "`prev` this project's interpreter when the machine-layout issue was filed (commit c11a83b)",
    "interp": "`interp` this build's interpreter",
    "jit": "`jit` this build's block JIT",
    "regions": "`regions` this build's region JIT (compiling in the background)",
}


def engine_name(engine):
    """How the README names an engine column."""
    if engine.startswith("prev:"):
        return f"`{engine}` the build AVM_PREV on engine {engine.removeprefix('prev:')}"
    return ENGINE_NAMES[engine]


if __name__ == "__main__":
    main()
