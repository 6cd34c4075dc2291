#!/usr/bin/env bash
# The fleet soak (issue 26; docs/reliability.md): 8 Python workers on one Redis limiter against one
# emulator with faults, Redis restarted every 60 s and frozen for 3 s every 45 s; checks that
# nothing was lost or done twice, that RSS and fds level off, and prints a table.
#
#   SOAK_SECS=600 bash scripts/soak.sh     (default 600; the test command runs SOAK_SECS=60)
#
# Needs the venv of scripts/venv.sh and redis-server (scripts/deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${TIMREST_VENV:-.venv}/bin/python"
export SOAK_SECS="${SOAK_SECS:-600}"
export SOAK_DIR="${SOAK_DIR:-target/soak}"
exec "$python" scripts/soak.py
