#!/bin/sh
# Runs every cargo-fuzz target for SECONDS each (default 600), one after another, and prints one
# line per target: runs, coverage and whether it found anything. Findings stay in
# fuzz/artifacts/<target>/ (never committed); a finding makes the script exit non-zero.
#   fuzz/run_all.sh [SECONDS] [TARGET...]
# A program's values are never freed (runtime::heap: they are immortal), so a target that loads a
# program per input grows with every run (`source`: about 2 GB a minute at 50,000 runs a second).
# Each target runs in slices of SLICE seconds (default 30), a fresh process each on the same
# corpus, with a 4 GB limit, so that only a real runaway is a finding.
set -u
cd "$(dirname "$0")"
seconds=${1:-600}
slice=${SLICE:-30}
[ $# -gt 0 ] && shift
targets=${*:-$(cargo fuzz list)}
[ -d corpus ] || ./seed.sh
cargo fuzz build --sanitizer none -O >/dev/null 2>&1 || { echo "cargo fuzz build failed" >&2; exit 1; }
status=0
for target in $targets; do
  mkdir -p "corpus/$target" logs
  log="logs/$target.log"
  : >"$log"
  left=$seconds runs=0 verdict=clean
  while [ "$left" -gt 0 ]; do
    now=$(( left < slice ? left : slice ))
    cargo fuzz run --sanitizer none -O "$target" "corpus/$target" -- \
      -max_total_time="$now" -max_len=4096 -rss_limit_mb=4096 -print_final_stats=1 >>"$log" 2>&1
    code=$?
    done_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    runs=$(( runs + ${done_runs:-0} ))
    left=$(( left - now ))
    if [ $code -ne 0 ]; then
      verdict="FOUND (exit $code, see fuzz/$log)"
      status=1
      break
    fi
  done
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  echo "$target: ${seconds} s in ${slice} s slices, $runs runs, ${cov:-cov: ?}, $verdict"
done
exit $status
