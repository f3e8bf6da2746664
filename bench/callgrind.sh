#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind (bench/README.md "Profile"):
# the wall clock on a shared 2-core machine moves by ±20 % between identical runs, an
# instruction count does not.
#
#   bench/callgrind.sh [--bin-dir DIR] [--seconds S] [--concurrency N] [--durability MODE]
#
# ax (release, logging ON, a temp SQLite store) proxies the ~1 KB OpenAI chat request of
# bench/run.sh to the mock upstream (lenient). After 3 s of warm-up the counters are
# zeroed, S seconds (default 15) of load at concurrency N (default 4) run, and the total
# is divided by the requests served. Prints one JSON line. Needs valgrind.
# CG_KEEP=DIR keeps the callgrind output there (for callgrind_annotate).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN_DIR="$ROOT/target/release"
SECONDS_LOAD=15
CONC=4
DURABILITY=buffered
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) BIN_DIR="$2"; shift ;;
    --seconds) SECONDS_LOAD="$2"; shift ;;
    --concurrency) CONC="$2"; shift ;;
    --durability) DURABILITY="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "callgrind.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${CG_KEEP:-}" ]; then cp "$WORK"/cg.out* "$CG_KEEP"/ 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

MOCK_PORT="${CG_MOCK_PORT:-19301}"
AX_PORT="${CG_AX_PORT:-19302}"
KEY="sk-bench-0000"
python3 "$ROOT/bench/bodies.py" "$WORK/body.json"

lenient=()
if "$BIN_DIR/ax-mock-upstream" --help 2>/dev/null | grep -q -- --lenient; then lenient=(--lenient); fi
"$BIN_DIR/ax-mock-upstream" --listen "127.0.0.1:$MOCK_PORT" --latency-ms 0 "${lenient[@]}" \
  >"$WORK/mock.log" 2>&1 &
PIDS+=($!)

env -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY \
  OPENAI_API_KEY="$KEY" OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" \
  AX_DATABASE_URL="sqlite://$WORK/ax.db" AX_LOG=warn AX_LOG_DURABILITY="$DURABILITY" \
  valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$WORK/cg.out" \
  "$BIN_DIR/ax" serve --listen "127.0.0.1:$AX_PORT" >"$WORK/ax.log" 2>&1 &
VG=$!
PIDS+=($VG)

URL="http://127.0.0.1:$AX_PORT/v1/chat/completions"
load() {
  "$BIN_DIR/ax-load" run --url "$URL" --body-file "$WORK/body.json" \
    -H "authorization: Bearer $KEY" -H "content-type: application/json" \
    -c "$CONC" --duration "$1" --warmup 0 --timeout 120
}
# Under valgrind the server takes a while to come up.
for _ in $(seq 1 240); do
  if "$BIN_DIR/ax-load" probe --url "$URL" --body-file "$WORK/body.json" \
      -H "authorization: Bearer $KEY" -H "content-type: application/json" --timeout 1 \
      >/dev/null 2>&1; then break; fi
  sleep 0.5
done
load 3 >/dev/null
callgrind_control -z "$VG" >/dev/null
result="$(load "$SECONDS_LOAD")"
callgrind_control -d "$VG" >/dev/null
sleep 1
python3 - "$result" "$WORK" "$CONC" "$SECONDS_LOAD" "$DURABILITY" <<'PY'
import glob, json, re, sys
run = json.loads(sys.argv[1])
work, conc, secs, durability = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
# `callgrind_control -d` after zeroing writes part 1: exactly the measured window.
files = sorted(glob.glob(work + "/cg.out.1")) or sorted(glob.glob(work + "/cg.out*.1"))
text = open(files[0], errors="replace").read() if files else ""
m = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
total = int(m.group(1)) if m else 0
requests = run.get("ok", run.get("requests", 0))
print(json.dumps({
    "instructions_total": total,
    "requests": requests,
    "instructions_per_request": round(total / requests) if requests else None,
    "concurrency": int(conc),
    "seconds": float(secs),
    "durability": durability,
    "errors": run.get("errors"),
}))
PY
