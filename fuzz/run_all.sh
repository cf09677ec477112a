#!/bin/sh
# Runs every cargo-fuzz target for SECONDS each (default 600), one after another, and prints one
# line per target: runs, coverage and whether it found anything. Findings stay in
# fuzz/artifacts/<target>/ (never committed); a finding makes the script exit non-zero.
# A program's values are never freed (runtime::heap: they are immortal), so targets that load a
# program per input grow by about 2 KB a run (`source`: 2 GB in 10 minutes); the RSS limit is
# raised to 16 GB so that only a real runaway is a finding.
#   fuzz/run_all.sh [SECONDS] [TARGET...]
set -u
cd "$(dirname "$0")"
seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-$(cargo fuzz list)}
[ -d corpus ] || ./seed.sh
cargo fuzz build --sanitizer none -O >/dev/null 2>&1 || { echo "cargo fuzz build failed" >&2; exit 1; }
status=0
for target in $targets; do
  mkdir -p "corpus/$target" logs
  log="logs/$target.log"
  cargo fuzz run --sanitizer none -O "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=16384 -print_final_stats=1 >"$log" 2>&1
  code=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $code -eq 0 ]; then verdict=clean; else verdict="FOUND (exit $code, see fuzz/$log)"; status=1; fi
  echo "$target: ${seconds} s, ${runs:-?} runs, ${cov:-cov: ?}, $verdict"
done
exit $status
