#!/usr/bin/env bash
# Runs every test of the project from a fresh clone: lint, Rust, C/C++, Python.
# Needs only Rust, Python 3 with pip, and gcc; installs the rest into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/lint.sh
bash scripts/test-rust.sh
bash scripts/test-c.sh
bash scripts/test-python.sh
echo "scripts/test.sh: every suite passed"
