#!/usr/bin/env bash
# Rust unit, property, doc and integration tests (the integration tests talk HTTP to the emulator).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --features emulator
