#!/usr/bin/env bash
# The demo: installs timrest into ./.venv (scripts/venv.sh: builds the wheel with maturin), then runs
# `timrest demo`, which starts the TIM emulator in-process, seeds groups, deletes one sender's
# messages from all of them over real HTTP, and shows the history before and after.
#
#   TIMREST_VENV=path   use another virtualenv (default: .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
"${TIMREST_VENV:-.venv}/bin/timrest" demo
