#!/usr/bin/env bash
# Rust unit, property, doc and integration tests. The integration tests talk HTTP to the emulator;
# tests/c_abi.rs builds a plain `release` libtimrest (no emulator, no pyo3), installs it into a
# temporary prefix and runs the C99 and C++17 programs against it, natively and under valgrind.
# (scripts/test-c.sh runs only the C tests, against the `dist` build we ship.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# The telemetry features are on, so that tests/telemetry_features.rs runs and every other test
# runs with events always built (the `metrics` feature observes each one).
cargo test --features emulator,metrics,tracing
