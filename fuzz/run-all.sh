#!/usr/bin/env bash
# Runs every fuzz target for $SECS seconds (default 60), one at a time, seeded from
# seeds/<target> with the JSON dictionary; prints libFuzzer's final stats per target.
# Usage: fuzz/run-all.sh [seconds] [extra cargo-fuzz flags, e.g. -a]
set -u
cd "$(dirname "$0")"
SECS=${1:-60}
shift || true
for t in $(cargo fuzz list); do
  mkdir -p "corpus/$t" "seeds/$t"
  echo "=== $t"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$@" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECS" -dict=json.dict -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    2>&1 | grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb|Done [0-9]+ runs|ERROR|panicked|SUMMARY|Test unit written|deadly signal|timeout"
  echo "exit ${PIPESTATUS[0]}"
done
