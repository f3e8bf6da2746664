#!/usr/bin/env bash
# Official-SDK tests: the openai, anthropic and google-genai Python SDKs, unmodified,
# drive a real `ax serve` whose providers are the mock upstream (each provider's real
# wire format) on loopback. Creates its own venv (.venv) from requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/sdk/requirements.txt

cargo build -q -p ax-cli -p ax-mock-upstream
target_dir=$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/debug"

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
up_port=$(free_port)
ax_port=$(free_port)
work=$(mktemp -d)
cleanup() {
  [ -n "${ax_pid:-}" ] && kill "$ax_pid" 2>/dev/null || true
  [ -n "${up_pid:-}" ] && kill "$up_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Strict (the default): the real SDKs, through ax, must pass the checks the real APIs make.
"$bin/ax-mock-upstream" --listen "127.0.0.1:$up_port" --chunks 4 \
  --openai-key test-openai --anthropic-key test-anthropic --gemini-key test-gemini >"$work/upstream.log" 2>&1 &
up_pid=$!

upstream="http://127.0.0.1:$up_port"
env -u AX_CONFIG \
  AX_LISTEN="127.0.0.1:$ax_port" \
  AX_DATABASE_URL="sqlite://$work/ax.db" \
  ANTHROPIC_API_KEY=test-anthropic ANTHROPIC_BASE_URL="$upstream" \
  GEMINI_API_KEY=test-gemini GEMINI_BASE_URL="$upstream" \
  OPENAI_API_KEY=test-openai OPENAI_BASE_URL="$upstream/v1" \
  AX_LOG=warn \
  "$bin/ax" serve >"$work/ax.log" 2>&1 &
ax_pid=$!

for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$ax_port/healthz', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

status=0
AX_URL="http://127.0.0.1:$ax_port" AX_DB="$work/ax.db" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/sdk || status=$?

# Graceful shutdown must flush every log row; the database must be intact.
kill -TERM "$ax_pid"
wait "$ax_pid" || { echo "ax serve exited non-zero after SIGTERM"; status=1; }
ax_pid=
"$venv/bin/python" - "$work/ax.db" <<'PY' || status=1
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
ok = db.execute("PRAGMA integrity_check").fetchone()[0]
rows = db.execute("SELECT count(*) FROM provider_logs").fetchone()[0]
metrics = db.execute("SELECT count(*) FROM provider_metrics").fetchone()[0]
print(f"after SIGTERM: integrity_check={ok}, provider_logs={rows}, provider_metrics={metrics}")
assert ok == "ok"
assert rows > 0 and rows == metrics, "every request has one log row and one metrics row"
PY
if [ "$status" != 0 ]; then
  echo "--- ax log"; tail -50 "$work/ax.log" || true
  echo "--- upstream log"; tail -20 "$work/upstream.log" || true
fi
exit "$status"
