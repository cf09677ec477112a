#!/usr/bin/env python3
"""What a dispute game costs on each ArbOS replay: rounds, host time of each side against one
plain run of the replay, bytes of the final proof, peak memory.

  python3 bench/challenge_table.py [--faults 3] [--degree 400] [--repeat 3]

For each of the 11 replays, plays `avm challenge --json` at --faults seeded gas points, with the
faulty player as asserter and as challenger (2 x --faults games a replay), each --repeat times in
a fresh process under /usr/bin/time. A game's time ratio is its best repetition's: the honest
player's host time (`honest_ms`: positioning, hashing, proving, the referee's checks of its
moves; the asserter's own assertion included) over one plain interpreter run of the replay in
the same process (`replay_ms`). A cell is the worst over the replay's games: rounds, the honest
player's ms and ratio (over all games, then apart for the games where the honest player is the
asserter and where it is the challenger), the final one-step proof's bytes (games the honest
player wins by proving; when the faulty player must prove it cannot, and times out), and the
process's peak RSS. Reads ../shared/corpus (or $AVM_SHARED/corpus); without it there is nothing
to measure.
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
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    arbos = SHARED / "corpus" / "arbos"
    if not arbos.is_dir():
        sys.exit(f"{arbos} not found: nothing to measure")
    seed = 0x5EED
    print("| ArbOS replay | gas | games | honest wins | rounds | honest ms | replay ms | honest / replay "
          "| honest asserter / replay | honest challenger / replay | proof bytes | peak RSS MB |")
    print("|---" * 12 + "|")
    worst_ratio = 0.0
    for expect in sorted(arbos.glob("*.expect.json")):
        name = expect.name[: -len(".expect.json")]
        gas = json.loads(expect.read_text())["expected"]["gas"]
        rows = []
        for _ in range(args.faults):
            seed = (seed * 6364136223846793005 + 1442695040888963407) % 2**64
            fault = 1 + (seed >> 11) % gas
            for side in ("asserter", "challenger"):
                plays = [game(arbos / "arbos.mexe", arbos / f"{name}.inbox.json", fault, side,
                              args.degree) for _ in range(args.repeat)]
                rows.append(min(plays, key=lambda p: p[0]["honest_ms"] / p[0]["replay_ms"]))
        wins = sum(v["winner"] == "honest" for v, _ in rows)
        ratio_of = lambda v: v["honest_ms"] / v["replay_ms"]
        ratio = max(ratio_of(v) for v, _ in rows)
        # The faulty side is the other one: `winner_side` is the honest player's side.
        by_side = {side: max((ratio_of(v) for v, _ in rows if v["winner_side"] == side), default=0)
                   for side in ("asserter", "challenger")}
        worst_ratio = max(worst_ratio, ratio)
        proofs = [v["proof_bytes"] for v, _ in rows if v["proof_bytes"] is not None]
        print(f"| {name} | {gas:,} | {len(rows)} | {wins} | {max(v['rounds'] for v, _ in rows)} "
              f"| {max(v['honest_ms'] for v, _ in rows):.1f} | {min(v['replay_ms'] for v, _ in rows):.1f} "
              f"| {ratio:.2f}× | {by_side['asserter']:.2f}× | {by_side['challenger']:.2f}× "
              f"| {max(proofs) if proofs else '-'} | {max(m for _, m in rows):.0f} |",
              flush=True)
    print(f"worst honest / replay: {worst_ratio:.2f}×")


if __name__ == "__main__":
    main()
