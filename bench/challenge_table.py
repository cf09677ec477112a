#!/usr/bin/env python3
"""What a dispute game costs on each ArbOS replay: rounds, host time of each side against one
plain run of the replay, bytes of the final proof, peak memory.

  python3 bench/challenge_table.py [--faults 3] [--degree 400]

For each of the 11 replays, plays `avm challenge --json` at --faults seeded gas points, with the
faulty player as asserter and as challenger (2 x --faults games a replay), each in a fresh
process under /usr/bin/time. A cell is the worst over the replay's games: rounds, the honest
player's host time (`honest_ms`: positioning, hashing, proving; the asserter's own assertion
included) over one plain interpreter run of the replay in the same process (`replay_ms`), the
final one-step proof's bytes (games the honest player wins by proving; when the faulty player
must prove it cannot, and times out), and the process's peak RSS. Reads ../shared/corpus (or
$AVM_SHARED/corpus); without it there is nothing to measure.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AVM_SHARED", ROOT.parent / "shared"))
AVM = Path(os.environ.get("AVM_BIN", ROOT / "target" / "release" / "avm"))


def game(program, inbox, fault, side, degree):
    """The verdict line of one game and the process's peak RSS in MB."""
    with tempfile.NamedTemporaryFile("r") as rss:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss.name, str(AVM), "challenge", str(program),
               "--inbox", str(inbox), "--fault-at-gas", str(fault), "--faulty", side,
               "--degree", str(degree), "--json"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        peak_mb = int(rss.read().strip().splitlines()[-1]) / 1024
    return json.loads(out.splitlines()[-1]), peak_mb


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=3)
    parser.add_argument("--degree", type=int, default=400)
    args = parser.parse_args()
    arbos = SHARED / "corpus" / "arbos"
    if not arbos.is_dir():
        sys.exit(f"{arbos} not found: nothing to measure")
    seed = 0x5EED
    print("| ArbOS replay | gas | games | honest wins | rounds | honest ms | replay ms | honest / replay | proof bytes | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    worst_ratio = 0.0
    for expect in sorted(arbos.glob("*.expect.json")):
        name = expect.name[: -len(".expect.json")]
        gas = json.loads(expect.read_text())["expected"]["gas"]
        rows = []
        for _ in range(args.faults):
            seed = (seed * 6364136223846793005 + 1442695040888963407) % 2**64
            fault = 1 + (seed >> 11) % gas
            for side in ("asserter", "challenger"):
                rows.append(game(arbos / "arbos.mexe", arbos / f"{name}.inbox.json", fault, side,
                                 args.degree))
        wins = sum(v["winner"] == "honest" for v, _ in rows)
        ratio = max(v["honest_ms"] / v["replay_ms"] for v, _ in rows)
        worst_ratio = max(worst_ratio, ratio)
        proofs = [v["proof_bytes"] for v, _ in rows if v["proof_bytes"] is not None]
        print(f"| {name} | {gas:,} | {len(rows)} | {wins} | {max(v['rounds'] for v, _ in rows)} "
              f"| {max(v['honest_ms'] for v, _ in rows):.1f} | {min(v['replay_ms'] for v, _ in rows):.1f} "
              f"| {ratio:.2f}× | {max(proofs) if proofs else '-'} | {max(m for _, m in rows):.0f} |",
              flush=True)
    print(f"worst honest / replay: {worst_ratio:.2f}×")


if __name__ == "__main__":
    main()
