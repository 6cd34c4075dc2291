#!/usr/bin/env bash
# Runs every test of the project from a fresh clone: lint, Rust (with the C and C++ programs),
# Python. Needs only Rust, Python 3 with pip, gcc/g++, pkg-config and valgrind; installs the
# Python tools into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bash scripts/lint.sh
bash scripts/test-rust.sh
bash scripts/test-python.sh
echo "scripts/test.sh: every suite passed in $((SECONDS - started)) s"
