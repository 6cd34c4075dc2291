#!/usr/bin/env bash
# The demo: installs timrest alone (no test tools) into ./.venv-demo with `pip install .` (pip
# fetches maturin for the build and cargo compiles the extension), then runs `timrest demo`, which
# starts the TIM emulator in-process, seeds groups, deletes one sender's messages from all of them
# over real HTTP, and shows the history before and after.
#
#   TIMREST_DEMO_VENV=path   use another virtualenv (default: .venv-demo)
#   PYTHON=python3.x         the interpreter that creates it (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TIMREST_DEMO_VENV:-.venv-demo}"
if [ ! -x "$venv/bin/python" ]; then
  echo "demo: creating $venv"
  "${PYTHON:-python3}" -m venv "$venv"
fi
echo "demo: building and installing timrest into $venv (pip install .)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check .
"$venv/bin/timrest" demo
