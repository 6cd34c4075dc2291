#!/usr/bin/env bash
# Runs the demo on the embedded emulator: a group before and after one sender's messages are deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --features emulator --example demo
