#!/usr/bin/env bash
# Runs every test of ax: the Rust workspace (unit, property, snapshot and integration
# tests, CLI tests against the real binary) and the official-SDK tests, which drive a
# real `ax serve` with the openai, anthropic and google-genai Python SDKs from a venv
# this script creates (.venv, reused when present).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets

# No switch skips them: the SDKs are the only outside judge of the wire formats.
bash tests/sdk/run.sh
