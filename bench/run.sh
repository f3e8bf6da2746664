#!/usr/bin/env bash
# The ax benchmark harness (issue 7): direct-to-mock vs ax (logging ON, temp SQLite DB),
# and with --peers LiteLLM proxy and Portkey gateway, measured in ONE run with the
# targets interleaved (A B A B …) inside every scenario.
#
#   bench/run.sh [--peers] [--duration S] [--warmup S] [--rounds N] [--out FILE]
#                [--scenarios "c1 c16 c64 s1 s16"] [--no-build]
# Env: BENCH_PROFILE (release), BENCH_BASE_PORT (19100), BENCH_KEEP=1 keeps the work dir,
# BENCH_COLD_STARTS (3 launches per gateway; the cold start reported is their median),
# LITELLM_VERSION, PORTKEY_VERSION, BENCH_PEERS_DIR (bench/.peers).
#
# Scenarios: non-streaming at concurrency 1, 16, 64; streaming (20 chunks, 5 ms apart)
# at 1 and 16. Figures per target: req/s, p50/p90/p99, latency added over direct,
# gateway CPU per request (utime+stime of the process tree from /proc), idle and peak
# RSS, cold start (launch → first 200, median of 3 launches). Writes
# bench/results/<UTC date>.md (+ .jsonl).
# Load: bench/load (ax-load), closed loop, keep-alive connections, TCP_NODELAY.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PEERS=0
DURATION="${BENCH_DURATION:-5}"
WARMUP="${BENCH_WARMUP:-1}"
ROUNDS="${BENCH_ROUNDS:-3}"
OUT=""
BUILD=1
SCENARIOS="${BENCH_SCENARIOS:-c1 c16 c64 s1 s16}"
LITELLM_VERSION="${LITELLM_VERSION:-1.106.2}"
PORTKEY_VERSION="${PORTKEY_VERSION:-1.15.2}"
PEERS_DIR="${BENCH_PEERS_DIR:-$ROOT/bench/.peers}"
BASE_PORT="${BENCH_BASE_PORT:-19100}"
# Launches per gateway for the cold-start median.
COLD_STARTS="${BENCH_COLD_STARTS:-3}"
# Cargo profile of the binaries (the CI smoke run uses dev to reuse the test build).
PROFILE="${BENCH_PROFILE:-release}"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) PEERS=1 ;;
    --duration) DURATION="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --scenarios) SCENARIOS="$2"; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ -n "$OUT" ] || OUT="$ROOT/bench/results/$(date -u +%Y-%m-%d).md"
mkdir -p "$(dirname "$OUT")"
COMMAND="bench/run.sh$([ "$PEERS" = 1 ] && echo ' --peers' || true) --duration $DURATION --warmup $WARMUP --rounds $ROUNDS"

MOCK_PORT=$BASE_PORT
AX_PORT=$((BASE_PORT + 80))
LITELLM_PORT=$((BASE_PORT + 81))
PORTKEY_PORT=$((BASE_PORT + 82))
KEY="sk-bench"

# 10k-stream scenarios and the peers' sockets need more than the default 1024 fds.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }

if [ "$BUILD" = 1 ]; then
  log "building $PROFILE binaries (ax, ax-mock-upstream, ax-load)"
  cargo build --profile "$PROFILE" -q -p ax-cli -p ax-mock-upstream -p ax-load
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN_DIR="$TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
AX="$BIN_DIR/ax"
MOCK="$BIN_DIR/ax-mock-upstream"
LOAD="$BIN_DIR/ax-load"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ax-bench.XXXXXX")"
PIDS=()
# Each server runs in its own process group (setsid).
# term_group PID: asks the group to stop.
term_group() { kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true; }
# reap_group PID TRIES: waits up to TRIES × 0.1 s for it to go, then kills the group.
reap_group() {
  local _
  for _ in $(seq "$2"); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$1" 2>/dev/null || true
}
# stop_group PID: ends a server's process group and waits for it.
stop_group() {
  term_group "$1"
  reap_group "$1" 100
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local pid
  # Every group gets its TERM first, so they all wind down at once; then each is reaped.
  for pid in "${PIDS[@]}"; do term_group "$pid"; done
  for pid in "${PIDS[@]}"; do reap_group "$pid" 50; done
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

# ~1 KB chat request (system prompt, two turns), streaming and not.
BODY="$WORK/body.json"
BODY_STREAM="$WORK/body-stream.json"
python3 "$ROOT/bench/bodies.py" "$BODY" "$BODY_STREAM"

JSONL="$WORK/results.jsonl"
META="$WORK/meta.json"
: > "$JSONL"

now_ns() { date +%s%N; }


# start NAME URL HEADER... -- CMD...: launches CMD in its own process group and measures
# launch → first 200 on URL, COLD_STARTS times (a single launch swings with the disk and
# the other tenants of the machine; the report takes the median). The first launches
# are stopped again; the last one stays up: its pid, idle RSS and cold start are kept.
# FRESH[NAME], when set, is a file prefix deleted before every launch (a new database).
declare -A PID_OF URL_OF HDRS_OF FRESH
start() {
  local name="$1" url="$2"; shift 2
  local hdrs=() joined=""
  while [ "$1" != "--" ]; do hdrs+=("-H" "$1"); joined="${joined:+$joined|}$1"; shift; done
  shift
  local i t0 pid probe
  for i in $(seq "$COLD_STARTS"); do
    if [ -n "${FRESH[$name]:-}" ]; then rm -f "${FRESH[$name]}"*; fi
    t0="$(now_ns)"
    setsid "$@" > "$WORK/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if ! probe="$("$LOAD" probe --url "$url" --body-file "$BODY" "${hdrs[@]}" --since-ns "$t0" \
        --timeout 120 --pid "$pid")"; then
      log "$name did not answer 200; its log:"; tail -20 "$WORK/$name.log" >&2; exit 1
    fi
    if [ "$i" -lt "$COLD_STARTS" ]; then
      printf '{"kind":"cold","target":"%s","probe":%s}\n' "$name" "$probe" >> "$JSONL"
      stop_group "$pid"
    fi
  done
  PID_OF[$name]=$pid; URL_OF[$name]=$url; HDRS_OF[$name]="$joined"
  sleep 1
  local rss; rss="$("$LOAD" rss --pid "$pid")"
  printf '{"kind":"start","target":"%s","pid":%s,"probe":%s,"idle":%s}\n' \
    "$name" "$pid" "$probe" "$rss" >> "$JSONL"
  log "$name up: $probe $rss"
}

log "work dir $WORK; load: $(uptime)"
UPTIME_BEFORE="$(uptime)"

# The mock upstream: latency 0, 20 chunks 5 ms apart for streams.
MOCK_URL="http://127.0.0.1:$MOCK_PORT/v1/chat/completions"
start mock "$MOCK_URL" "authorization: Bearer $KEY" -- \
  "$MOCK" --listen "127.0.0.1:$MOCK_PORT" --lenient --latency-ms 0 --chunks 20 --chunk-delay-ms 5
TARGETS=(direct)
PID_OF[direct]=""; URL_OF[direct]="$MOCK_URL"; HDRS_OF[direct]="authorization: Bearer $KEY"

# ax: logging ON to a temp SQLite database, only the OpenAI upstream (the mock).
FRESH[ax]="$WORK/ax.db"
start ax "http://127.0.0.1:$AX_PORT/v1/chat/completions" -- \
  env AX_LISTEN="127.0.0.1:$AX_PORT" AX_DATABASE_URL="sqlite://$WORK/ax.db" \
  OPENAI_API_KEY="$KEY" OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" \
  PROVIDER_LOGGING_ENABLED=true AX_LOG=warn "$AX" serve
TARGETS+=(ax)

if [ "$PEERS" = 1 ]; then
  mkdir -p "$PEERS_DIR"
  if [ ! -x "$PEERS_DIR/venv/bin/litellm" ]; then
    log "installing LiteLLM $LITELLM_VERSION in $PEERS_DIR/venv"
    python3 -m venv "$PEERS_DIR/venv"
    "$PEERS_DIR/venv/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"
  fi
  PK="$PEERS_DIR/portkey/node_modules/@portkey-ai/gateway/build/start-server.js"
  if [ ! -f "$PK" ]; then
    log "installing Portkey gateway $PORTKEY_VERSION in $PEERS_DIR/portkey"
    mkdir -p "$PEERS_DIR/portkey"
    (cd "$PEERS_DIR/portkey" && { [ -f package.json ] || npm init -y > /dev/null; } &&
      npm install --no-audit --no-fund -s "@portkey-ai/gateway@$PORTKEY_VERSION")
  fi
  cat > "$WORK/litellm.yaml" <<EOF
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:$MOCK_PORT/v1
      api_key: $KEY
litellm_settings:
  telemetry: false
EOF
  # One worker, no database (no DATABASE_URL); LiteLLM refuses to start without a
  # master key, which clients then present.
  start litellm "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" \
    "authorization: Bearer sk-bench-master" -- \
    env -u DATABASE_URL LITELLM_LOG=ERROR LITELLM_MASTER_KEY=sk-bench-master \
    "$PEERS_DIR/venv/bin/litellm" \
    --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT" --num_workers 1
  TARGETS+=(litellm)
  start portkey "http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions" \
    "authorization: Bearer $KEY" "x-portkey-provider: openai" \
    "x-portkey-custom-host: http://127.0.0.1:$MOCK_PORT/v1" -- \
    env NODE_ENV=production node "$PK" "--port=$PORTKEY_PORT" --headless
  TARGETS+=(portkey)
fi

# scenario NAME → "concurrency stream(0|1)"
scenario() {
  case "$1" in
    c1) echo "1 0" ;; c16) echo "16 0" ;; c64) echo "64 0" ;;
    s1) echo "1 1" ;; s16) echo "16 1" ;;
    *) echo "unknown scenario $1" >&2; return 1 ;;
  esac
}

for sc in $SCENARIOS; do
  read -r conc stream <<< "$(scenario "$sc")"
  for round in $(seq "$ROUNDS"); do
    for t in "${TARGETS[@]}"; do
      args=(run --url "${URL_OF[$t]}" -c "$conc" -d "$DURATION" --warmup "$WARMUP"
            --label "$t")
      if [ "$stream" = 1 ]; then args+=(--stream --body-file "$BODY_STREAM" --expect "[DONE]")
      else args+=(--body-file "$BODY" --expect "Hello from mock-openai"); fi
      [ -n "${PID_OF[$t]}" ] && args+=(--pid "${PID_OF[$t]}")
      # Headers are stored joined with '|'.
      if [ -n "${HDRS_OF[$t]}" ]; then
        IFS='|' read -ra hs <<< "${HDRS_OF[$t]}"
        for h in "${hs[@]}"; do args+=(-H "$h"); done
      fi
      res="$("$LOAD" "${args[@]}")"
      printf '{"kind":"run","scenario":"%s","round":%s,"target":"%s","stream":%s,"result":%s}\n' \
        "$sc" "$round" "$t" "$stream" "$res" >> "$JSONL"
      log "$sc r$round $t: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.0f req/s, p50 %.3f ms, errors %d" % (r["rps"], r["latency_ms"]["p50"], r["errors"]))' "$res")"
    done
  done
done

# End-of-run RSS (after every scenario) and peak (VmHWM) per gateway.
for t in "${TARGETS[@]}"; do
  pid="${PID_OF[$t]}"; [ -n "$pid" ] || continue
  hwm="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
  rss="$("$LOAD" rss --pid "$pid")"
  printf '{"kind":"end","target":"%s","hwm_kb":%s,"end":%s}\n' "$t" "${hwm:-0}" "$rss" >> "$JSONL"
done

# ax's log rows (written by the batched writer; flushed on shutdown).
kill -TERM -- "-${PID_OF[ax]}" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "${PID_OF[ax]}" 2>/dev/null || break; sleep 0.1; done
ROWS="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from provider_logs").fetchone()[0])' "$WORK/ax.db" 2>/dev/null || echo null)"
printf '{"kind":"ax_log_rows","rows":%s}\n' "$ROWS" >> "$JSONL"

python3 - "$META" <<PY
import json, platform, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
json.dump({
  "command": "$COMMAND", "date": sh("date -u +%Y-%m-%dT%H:%MZ"),
  "commit": sh("git rev-parse --short HEAD"),
  "dirty": bool(sh("git status --porcelain --untracked-files=no")),
  "cpu": cpu, "nproc": sh("nproc"), "kernel": platform.release(),
  "uptime_before": """$UPTIME_BEFORE""", "uptime_after": sh("uptime"),
  "duration": $DURATION, "warmup": $WARMUP, "rounds": $ROUNDS,
  "litellm": sh("$PEERS_DIR/venv/bin/pip show litellm 2>/dev/null | sed -n 's/^Version: //p'") if $PEERS else None,
  "portkey": sh("node -p \"require('$PEERS_DIR/portkey/node_modules/@portkey-ai/gateway/package.json').version\" 2>/dev/null") if $PEERS else None,
  "rustc": sh("rustc --version"),
}, open(sys.argv[1], "w"))
PY

printf '{"kind":"meta","meta":%s}\n' "$(cat "$META")" >> "$JSONL"
python3 "$ROOT/bench/report.py" --jsonl "$JSONL" --out "$OUT"
cp "$JSONL" "${OUT%.md}.jsonl"
log "wrote $OUT"
