#!/usr/bin/env bash
# CI smoke run of the benchmark harness: a few seconds, ax and direct only, dev build.
# Proves the harness works (both targets answer, non-zero req/s, a results file is
# written), not the numbers. Never installs the peers.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ax-bench-smoke.XXXXXX")"
trap 'rm -rf "$OUT_DIR"' EXIT

BENCH_PROFILE="${BENCH_PROFILE:-dev}" BENCH_BASE_PORT="${BENCH_BASE_PORT:-19300}" \
  "$ROOT/bench/run.sh" --duration 0.5 --warmup 0.2 --rounds 1 --scenarios "c1 c16 s1" \
  --out "$OUT_DIR/smoke.md"

python3 - "$OUT_DIR/smoke.jsonl" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = [r for r in runs if r["kind"] == "run"]
seen = set()
for r in runs:
    res = r["result"]
    if res["requests"] == 0 or res["rps"] <= 0:
        sys.exit(f"smoke: {r['target']} {r['scenario']} served no requests: {res.get('first_error')}")
    if res["errors"]:
        sys.exit(f"smoke: {r['target']} {r['scenario']} had errors: {res['first_error']}")
    seen.add((r["target"], r["scenario"]))
want = {(t, s) for t in ("direct", "ax") for s in ("c1", "c16", "s1")}
if seen != want:
    sys.exit(f"smoke: missing runs {sorted(want - seen)}")
print(f"smoke: ok, {len(runs)} runs")
PY
test -s "$OUT_DIR/smoke.md"
grep -q '^| ax |' "$OUT_DIR/smoke.md"
echo "smoke: results file written ($(wc -l < "$OUT_DIR/smoke.md") lines)"
