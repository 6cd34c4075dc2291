#!/usr/bin/env bash
# Runs every test of the project from a fresh clone: lint, Rust (with the C and C++ programs),
# Python, 15 s of each fuzz target (scripts/fuzz.sh --smoke), a 60-second fleet soak, and the
# packages we publish (the sdist, a wheel built from it, installed in fresh venvs).
# Needs only Rust, Python 3 with pip and gcc/g++: scripts/deps.sh installs redis-server, cmake,
# pkg-config and valgrind with apt-get when they are missing; the Python tools go into ./.venv and
# target/package/.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bash scripts/deps.sh
bash scripts/lint.sh
bash scripts/test-rust.sh
bash scripts/test-python.sh
bash scripts/fuzz.sh --smoke
SOAK_SECS=60 bash scripts/soak.sh
bash scripts/package.sh
echo "scripts/test.sh: every suite passed in $((SECONDS - started)) s"
