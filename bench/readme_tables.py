#!/usr/bin/env python3
"""Regenerates the README's interpreter-vs-JIT tables from `avm bench --json`.

Usage: python3 bench/readme_tables.py [--write] [--no-build]

Builds the release `avm`, then measures (each cell: median of 3 runs, both engines, in this one
run of the script): the project's macro workloads, a selection of the speedtest kernels and the
11 ArbOS replays of ../shared/corpus (skipped, with the reason printed, when ../shared is absent).
Prints the markdown; with --write, replaces the block between the `perf:begin` and `perf:end`
markers in README.md. Measure on an idle machine: a busy one reads up to 40% slower.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AVM_SHARED", ROOT.parent / "shared"))
AVM = Path(os.environ.get("AVM_BIN", ROOT / "target" / "release" / "avm"))
REPEAT = "3"

# The kernels in the interpreter-vs-JIT table: arithmetic, stack, tuple, hashing and curve code.
KERNELS = [
    "add_2_1",
    "nop_0_0",
    "push_pop_0_0",
    "dup1_dup1_tget_0_1",
    "dup2_dup2_dup2_tset_0_1",
    "lt_2_1",
    "iszero_0_0",
    "mul_2_1",
    "div_2_1",
    "exp_2_1",
    "hash_0_0",
    "tset_push_tset_hash_4_1",
    "keccakf_1_1",
    "sha256f_3_1",
    "ecrecover_4_1",
    "ecpairing1_1_1",
    "ecpairing8_1_1",
]

# Steps per kernel run: about a second on the interpreter.
KERNEL_STEPS = {
    "hash_0_0": 3_000_000,
    "tset_push_tset_hash_4_1": 3_000_000,
    "keccakf_1_1": 2_000_000,
    "sha256f_3_1": 5_000_000,
    "ecrecover_4_1": 200_000,
    "ecpairing1_1_1": 2_000,
    "ecpairing8_1_1": 500,
}
DEFAULT_KERNEL_STEPS = 30_000_000


def bench(*args):
    out = subprocess.run(
        [str(AVM), "bench", "--json", "--repeat", REPEAT, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def by_engine(rows):
    return {row["engine"]: row for row in rows}


def fmt_rate(m):
    return f"{m:,.1f}" if m >= 1 else f"{m:.3f}"


def fmt_mb(*mbs):
    """The largest of the peak RSS figures, or "-" where the OS reports none."""
    known = [mb for mb in mbs if mb is not None]
    return f"{max(known):.0f}" if known else "-"


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "-"


def workloads_table():
    rows = bench()
    labels = list(dict.fromkeys(r["label"] for r in rows))
    lines = [
        "| workload | steps | interp M steps/s | jit M steps/s | jit / interp | jit compile ms | peak RSS MB (interp / jit) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in labels:
        e = by_engine([r for r in rows if r["label"] == name])
        i, j = e["interp"], e["jit"]
        lines.append(
            f"| {name} | {i['steps']:,} | {fmt_rate(i['minstr_per_s'])} | {fmt_rate(j['minstr_per_s'])} "
            f"| {ratio(j['minstr_per_s'], i['minstr_per_s'])} | {j['compile_ms']:.1f} "
            f"| {fmt_mb(i['peak_rss_mb'])} / {fmt_mb(j['peak_rss_mb'])} |"
        )
    return "\n".join(lines)


def kernels_table():
    speedtest = SHARED / "corpus" / "speedtest"
    if not speedtest.is_dir():
        print(f"skipping kernels: {speedtest} is absent", file=sys.stderr)
        return "(kernels: ../shared/corpus is absent on the machine that generated this table)"
    lines = [
        "| kernel | steps | interp M steps/s | jit M steps/s | jit / interp |",
        "|---|---|---|---|---|",
    ]
    for name in KERNELS:
        path = speedtest / f"{name}.mexe"
        steps = KERNEL_STEPS.get(name, DEFAULT_KERNEL_STEPS)
        e = by_engine(bench(path, "--max-steps", steps))
        i, j = e["interp"]["minstr_per_s"], e["jit"]["minstr_per_s"]
        lines.append(f"| {name} | {steps:,} | {fmt_rate(i)} | {fmt_rate(j)} | {ratio(j, i)} |")
    return "\n".join(lines)


def arbos_table():
    arbos = SHARED / "corpus" / "arbos"
    if not arbos.is_dir():
        print(f"skipping ArbOS: {arbos} is absent", file=sys.stderr)
        return "(ArbOS replays: ../shared/corpus is absent on the machine that generated this table)"
    lines = [
        "| ArbOS replay | steps | interp M steps/s | jit M steps/s | jit / interp | peak RSS MB (interp / jit) |",
        "|---|---|---|---|---|---|",
    ]
    for inbox in sorted(arbos.glob("*.inbox.json")):
        name = inbox.name.removesuffix(".inbox.json")
        e = by_engine(bench(arbos / "arbos.mexe", "--inbox", inbox))
        i, j = e["interp"], e["jit"]
        lines.append(
            f"| {name} | {i['steps']:,} | {i['minstr_per_s']:.1f} | {j['minstr_per_s']:.1f} "
            f"| {ratio(j['minstr_per_s'], i['minstr_per_s'])} "
            f"| {fmt_mb(i['peak_rss_mb'])} / {fmt_mb(j['peak_rss_mb'])} |"
        )
    return "\n".join(lines)


def main():
    if "--no-build" not in sys.argv:
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--bin", "avm"], cwd=ROOT, check=True
        )
    cores = os.cpu_count()
    text = "\n\n".join(
        [
            f"Generated by `python3 bench/readme_tables.py --write` on {platform.machine()}, "
            f"{cores} cores; every cell is the median of {REPEAT} runs of `avm bench` "
            "(steps over wall time, load excluded, JIT compile time included). Comparisons with "
            "arb-avm-cpp are measured side by side (`bench/side_by_side.py`, above).",
            "Macro workloads (`avm bench`, programs in `engine/src/workloads/`):",
            workloads_table(),
            "Speedtest kernels (`avm bench ../shared/corpus/speedtest/K.mexe --max-steps N`):",
            kernels_table(),
            "ArbOS replays (`avm bench ../shared/corpus/arbos/arbos.mexe --inbox R.inbox.json`):",
            arbos_table(),
        ]
    )
    if "--write" in sys.argv:
        readme = ROOT / "README.md"
        body = readme.read_text()
        begin, end = "<!-- perf:begin -->", "<!-- perf:end -->"
        start, stop = body.index(begin) + len(begin), body.index(end)
        readme.write_text(body[:start] + "\n" + text + "\n" + body[stop:])
    print(text)


if __name__ == "__main__":
    main()
