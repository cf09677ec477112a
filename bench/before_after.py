#!/usr/bin/env python3
"""Two builds of `avm` side by side, interleaved, on each engine: did a change make it faster?

  python3 bench/before_after.py BEFORE_AVM AFTER_AVM [--engines interp,jit,regions]
                                [--rounds 5] [--kernels add_2_1,swap1_0_0,...]

Build the older commit beside the checkout (`git worktree add ../before COMMIT`, then
`CARGO_TARGET_DIR=../before-target cargo build --release --bin avm` there). For each of the 11
ArbOS replays (and each speedtest kernel named, at 10 M steps) and each engine, every round runs
the before build then the after build once; a cell is the best of --rounds of the run's own
wall time (`wall_ms` of `avm run --json`: load excluded). Prints one row per program and a
geomean per engine of after/before speed (above 1: the after build is faster). Reads
../shared/corpus (or $AVM_SHARED/corpus); without it there is nothing to measure.
"""

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AVM_SHARED", ROOT.parent / "shared"))


def programs(kernels):
    """(name, arguments of `avm run`) for each replay and kernel."""
    arbos = SHARED / "corpus" / "arbos"
    cases = [
        (inbox.name[: -len(".inbox.json")], [str(arbos / "arbos.mexe"), "--inbox", str(inbox)])
        for inbox in sorted(arbos.glob("*.inbox.json"))
    ]
    for kernel in kernels:
        program = SHARED / "corpus" / "speedtest" / f"{kernel}.mexe"
        if not program.is_file():
            sys.exit(f"no speedtest kernel {kernel} in {program.parent}")
        cases.append((kernel, [str(program), "--max-steps", "10000000"]))
    return cases


def wall_ms(avm, engine, args):
    out = subprocess.run(
        [avm, "run", "--engine", engine, "--json", *args],
        check=True, capture_output=True, text=True,
    ).stdout
    return float(json.loads(out)["wall_ms"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--engines", default="interp,jit,regions")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kernels", default="")
    args = parser.parse_args()
    if not (SHARED / "corpus").is_dir():
        sys.exit(f"{SHARED / 'corpus'} not found: nothing to measure")
    engines = args.engines.split(",")
    kernels = [k for k in args.kernels.split(",") if k]
    builds = {"before": args.before, "after": args.after}
    ratios = {engine: [] for engine in engines}
    print("| program | " + " | ".join(f"{e} before ms | {e} after ms | {e} after/before" for e in engines) + " |")
    print("|---" * (1 + 3 * len(engines)) + "|")
    for name, run_args in programs(kernels):
        best = {}
        for _ in range(args.rounds):
            for engine in engines:
                for tag, avm in builds.items():
                    ms = wall_ms(avm, engine, run_args)
                    best[engine, tag] = min(best.get((engine, tag), math.inf), ms)
        cells = []
        for engine in engines:
            before, after = best[engine, "before"], best[engine, "after"]
            ratios[engine].append(before / after)
            cells.append(f"{before:.2f} | {after:.2f} | {before / after:.3f}×")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    for engine in engines:
        values = ratios[engine]
        geomean = math.exp(sum(map(math.log, values)) / len(values))
        print(f"{engine}: after/before speed geomean {geomean:.3f}×, {min(values):.3f}–{max(values):.3f}×")


if __name__ == "__main__":
    main()
