#!/usr/bin/env bash
# Endurance targets of issue 7, ax only (each phase with a fresh ax and a fresh temp DB):
#   1. N concurrent slow streams (1 chunk/s, 10 chunks) held at once: errors, peak RSS;
#   2. a soak at concurrency 16: RSS growth after the first minute, errors, and log rows
#      in SQLite versus requests served.
#
#   bench/endurance.sh [--streams N] [--soak-min M] [--out FILE] [--no-build]
#
# N defaults to 10000, capped by the fd hard limit (ax holds two sockets per stream).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
STREAMS=10000
SOAK_MIN=10
OUT=""
BUILD=1
BASE_PORT="${BENCH_BASE_PORT:-19600}"
while [ $# -gt 0 ]; do
  case "$1" in
    --streams) STREAMS="$2"; shift ;;
    --soak-min) SOAK_MIN="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "endurance.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$OUT" ] || OUT="$ROOT/bench/results/$(date -u +%Y-%m-%d)-endurance.md"
mkdir -p "$(dirname "$OUT")"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS="$(ulimit -n)"
MAX_STREAMS=$(( (FDS - 200) / 2 ))
REQUESTED=$STREAMS
[ "$STREAMS" -le "$MAX_STREAMS" ] || STREAMS=$MAX_STREAMS

log() { echo "[endurance $(date -u +%H:%M:%S)] $*" >&2; }
if [ "$BUILD" = 1 ]; then
  cargo build --release -q -p ax-cli -p ax-mock-upstream -p ax-load
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ax-endurance.XXXXXX")"
# Server pids, one a line (launch runs inside command substitutions, i.e. subshells).
PIDFILE="$WORK/pids"
: > "$PIDFILE"
cleanup() {
  local pid
  while read -r pid; do kill -TERM -- "-$pid" 2>/dev/null || true; done < "$PIDFILE"
  sleep 0.5
  while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done < "$PIDFILE"
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

BODY="$WORK/body.json"
BODY_STREAM="$WORK/body-stream.json"
printf '%s' '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"When will order 48213 arrive?"}],"max_tokens":64}' > "$BODY"
printf '%s' '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"When will order 48213 arrive?"}],"max_tokens":64}' > "$BODY_STREAM"

# launch NAME CMD…: own process group; prints the pid.
launch() {
  local name="$1"; shift
  setsid "$@" > "$WORK/$name.log" 2>&1 &
  echo "$!" >> "$PIDFILE"
  echo "$!"
}
# ax_up NAME MOCK_PORT AX_PORT: ax with logging ON to a fresh DB; prints the pid.
ax_up() {
  local pid
  pid="$(launch "$1" env AX_LISTEN="127.0.0.1:$3" AX_DATABASE_URL="sqlite://$WORK/$1.db" \
    OPENAI_API_KEY=sk-bench OPENAI_BASE_URL="http://127.0.0.1:$2/v1" \
    PROVIDER_LOGGING_ENABLED=true AX_LOG=warn "$BIN/ax" serve)"
  "$BIN/ax-load" probe --url "http://127.0.0.1:$3/v1/chat/completions" --body-file "$BODY" \
    --pid "$pid" --timeout 60 > /dev/null
  echo "$pid"
}
stop() {
  kill -TERM -- "-$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
}
rows() {
  python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from provider_logs").fetchone()[0])' "$1"
}
rss_mb() { "$BIN/ax-load" rss --pid "$1" | python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["rss_kb"]/1024))'; }

UPTIME_BEFORE="$(uptime)"

# Phase 1: slow streams.
log "phase 1: $STREAMS concurrent streams, 1 chunk/s, 10 chunks (fd limit $FDS)"
M1=$((BASE_PORT)); A1=$((BASE_PORT + 80))
launch mock-slow "$BIN/ax-mock-upstream" --listen "127.0.0.1:$M1" --lenient --chunks 10 --chunk-delay-ms 1000 > /dev/null
"$BIN/ax-load" probe --url "http://127.0.0.1:$M1/v1/models" -H "authorization: Bearer sk-bench" --timeout 30 > /dev/null
AXP="$(ax_up ax-slow "$M1" "$A1")"
IDLE1="$(rss_mb "$AXP")"
S_JSON="$("$BIN/ax-load" run --url "http://127.0.0.1:$A1/v1/chat/completions" --body-file "$BODY_STREAM" \
  --stream --expect "[DONE]" -c "$STREAMS" -d 20 --warmup 0 --ramp 5 --timeout 30 --threads 2 \
  --pid "$AXP")"
HWM1="$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$AXP/status")"
stop "$AXP"
log "phase 1: $S_JSON"

# Phase 2: soak at concurrency 16 (mock latency 0).
log "phase 2: soak $SOAK_MIN min at c16"
M2=$((BASE_PORT + 1)); A2=$((BASE_PORT + 81))
launch mock-soak "$BIN/ax-mock-upstream" --listen "127.0.0.1:$M2" --lenient > /dev/null
"$BIN/ax-load" probe --url "http://127.0.0.1:$M2/v1/models" -H "authorization: Bearer sk-bench" --timeout 30 > /dev/null
AXS="$(ax_up ax-soak "$M2" "$A2")"
IDLE2="$(rss_mb "$AXS")"
"$BIN/ax-load" run --url "http://127.0.0.1:$A2/v1/chat/completions" --body-file "$BODY" \
  --expect "Hello from mock-openai" -c 16 -d "$((SOAK_MIN * 60))" --warmup 0 --pid "$AXS" \
  > "$WORK/soak.json" &
LOADPID=$!
sleep 60
RSS_1MIN="$(rss_mb "$AXS")"
RSS_SAMPLES="$RSS_1MIN"
while kill -0 "$LOADPID" 2>/dev/null; do
  sleep 30
  kill -0 "$LOADPID" 2>/dev/null && RSS_SAMPLES="$RSS_SAMPLES $(rss_mb "$AXS")"
done
wait "$LOADPID"
RSS_END="$(rss_mb "$AXS")"
stop "$AXS"
ROWS="$(rows "$WORK/ax-soak.db")"
SOAK_JSON="$(cat "$WORK/soak.json")"
log "phase 2: $SOAK_JSON rows=$ROWS"

python3 - "$OUT" <<PY
import json, sys
s = json.loads('''$S_JSON''')
k = json.loads('''$SOAK_JSON''')
rows = int("$ROWS")
# Every request ax answered (the probe's one included) must have its row. Requests that
# were in flight when the driver stopped are answered and logged but not counted by it.
served = k["requests"] + k["errors"] + 1
rss1, rss_end = float("$RSS_1MIN"), float("$RSS_END")
growth = (rss_end - rss1) / rss1 * 100 if rss1 else 0.0
samples = "$RSS_SAMPLES".split()
def ok(b): return "met" if b else "**missed**"
o = [f"# ax endurance — $(date -u +%Y-%m-%dT%H:%MZ)", "",
     f"Command: \`bench/endurance.sh --streams $REQUESTED --soak-min $SOAK_MIN\` (commit "
     f"\`$(git rev-parse --short HEAD)\`). Machine: $(nproc) cores; load before: "
     f"\`$UPTIME_BEFORE\`; after: \`$(uptime)\`.", "",
     "## Slow streams", "",
     f"{s['concurrency']} concurrent streams (requested $REQUESTED; the fd hard limit is "
     f"$FDS and ax holds two sockets per stream), each 10 chunks 1 s apart; connections opened over 5 s, load for 20 s.", "",
     "| figure | value |", "|---|---:|",
     f"| streams completed | {s['requests']} |", f"| errors | {s['errors']} |",
     f"| TTFB p50 / p99 | {s['ttfb_ms']['p50']:.1f} / {s['ttfb_ms']['p99']:.1f} ms |",
     f"| total p50 / p99 | {s['latency_ms']['p50']:.0f} / {s['latency_ms']['p99']:.0f} ms |",
     f"| ax RSS idle / peak sampled / VmHWM | $IDLE1 / {s.get('rss_peak_kb', 0)/1024:.1f} / $HWM1 MB |",
     f"| ax CPU | {s.get('cpu_ms', 0):.0f} ms |", "",
     "## Soak at concurrency 16", "",
     "| figure | value |", "|---|---:|",
     f"| duration | {k['duration_s']:.0f} s |",
     f"| requests / errors | {k['requests']} / {k['errors']} |",
     f"| req/s | {k['rps']:.0f} |",
     f"| p50 / p99 | {k['latency_ms']['p50']:.3f} / {k['latency_ms']['p99']:.3f} ms |",
     f"| CPU per request | {k.get('cpu_us_per_req', 0):.1f} µs |",
     f"| RSS idle / after 1 min / end | $IDLE2 / {rss1:.1f} / {rss_end:.1f} MB |",
     f"| RSS every 30 s from 1 min | {' '.join(samples)} MB |",
     f"| log rows / requests served (probe included) | {rows} / {served} |", "",
     "## Targets (issue 7)", "", "| target | measured | status |", "|---|---:|---|",
     f"| 10,000 slow streams held, no errors | {s['concurrency']} streams, {s['errors']} errors | "
     f"{ok(s['errors'] == 0 and s['concurrency'] >= 10000)} |",
     f"| ... with RSS ≤ 400 MB | $HWM1 MB | {ok(float('$HWM1') <= 400)} |",
     f"| soak: RSS growth ≤ 5 % after the first minute | {growth:.1f} % | {ok(growth <= 5)} |",
     f"| soak: zero errors | {k['errors']} | {ok(k['errors'] == 0)} |",
     f"| soak: log rows = requests | {rows} vs {served} | {ok(rows >= served)} |", ""]
if s["first_error"] or k["first_error"]:
    o.append(f"First errors: streams \`{str(s['first_error'])[:200]}\`; soak \`{str(k['first_error'])[:200]}\`.")
open(sys.argv[1], "w").write("\n".join(o) + "\n")
PY
log "wrote $OUT"
