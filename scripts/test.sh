#!/usr/bin/env bash
# Runs every test of ax: the Rust workspace (unit, property, snapshot and integration
# tests, CLI tests against the real binary) and the official-SDK tests, which drive a
# real `ax serve` with the openai, anthropic and google-genai Python SDKs from a venv
# this script creates (.venv, reused when present).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets

if [ "${AX_SKIP_SDK_TESTS:-}" = "1" ]; then
  echo "official-SDK tests skipped (AX_SKIP_SDK_TESTS=1)"
  exit 0
fi
if [ -f tests/sdk/run.sh ]; then
  bash tests/sdk/run.sh
fi
