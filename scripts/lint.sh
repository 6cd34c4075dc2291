#!/usr/bin/env bash
# Formatting and clippy, for every feature combination we ship, and the API docs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features emulator -- -D warnings
cargo clippy --all-targets --features python -- -D warnings
# API docs: every public item documented (missing_docs), no broken intra-doc links, no rustdoc warning.
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" cargo doc --quiet --no-deps --features emulator
