#!/usr/bin/env bash
# Formatting and clippy, for every feature combination we ship.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features emulator -- -D warnings
cargo clippy --all-targets --features python -- -D warnings
