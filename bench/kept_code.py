#!/usr/bin/env python3
"""The ArbOS replays as a node runs them: one process per replay and engine keeps its JIT's
compiled code from run to run (`avm bench --keep-code`), so after the first runs the JITs run
warm, as they do in a node that runs ArbOS all day.

Usage: python3 bench/kept_code.py [--repeat K]

Each cell is the median of K runs (default 40, after one unmeasured warm-up) of `avm bench
ARBOS --inbox REPLAY --engine all --keep-code`; the early runs, which still compile, are in
the K. Reads ../shared/corpus (or $AVM_SHARED/corpus) and says so when it is absent. Prints a
markdown table.
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
AVM = Path(os.environ.get("AVM_BIN", ROOT / "target" / "release" / "avm"))
ENGINES = ["interp", "jit", "regions"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    arbos = SHARED / "corpus" / "arbos"
    if not arbos.is_dir():
        sys.exit(f"{arbos} is absent: no ArbOS replays to measure")
    head = ["ArbOS replay", "steps"] + [f"{e} M steps/s" for e in ENGINES]
    head += ["jit / interp", "regions / interp"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    ratios = {"jit": [], "regions": []}
    for inbox in sorted(arbos.glob("*.inbox.json")):
        name = inbox.name.removesuffix(".inbox.json")
        cmd = [str(AVM), "bench", str(arbos / "arbos.mexe"), "--inbox", str(inbox)]
        cmd += ["--engine", "all", "--keep-code", "--repeat", str(args.repeat), "--json"]
        rows = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        speed = {row["engine"]: row["minstr_per_s"] for row in rows}
        cells = [name, f"{rows[0]['steps']:,}"] + [f"{speed[e]:.1f}" for e in ENGINES]
        for jit in ratios:
            ratios[jit].append(speed[jit] / speed["interp"])
            cells.append(f"{ratios[jit][-1]:.2f}×")
        lines.append("| " + " | ".join(cells) + " |")
        print(f"{name}: " + ", ".join(f"{e} {speed[e]:.1f}" for e in ENGINES), file=sys.stderr)
    geomean = [f"**{math.exp(sum(map(math.log, rs)) / len(rs)):.2f}×**" for rs in ratios.values()]
    lines.append("| geomean | " + " | ".join([""] * (len(ENGINES) + 1)) + " | " + " | ".join(geomean) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
