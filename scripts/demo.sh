#!/usr/bin/env bash
# The demo: installs timrest alone (no test tools) into ./.venv-demo with `pip install .` (pip
# fetches maturin for the build and cargo compiles the extension), then runs `timrest demo`, which
# starts the TIM emulator in-process, seeds groups, deletes one sender's messages from all of them
# over real HTTP, and shows the history before and after.
#
# It prints one line per stage, and cargo's "Compiling ..." lines while it builds (pip alone would
# be silent for minutes).
#
#   TIMREST_DEMO_VENV=path   use another virtualenv (default: .venv-demo)
#   PYTHON=python3.x         the interpreter that creates it (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TIMREST_DEMO_VENV:-.venv-demo}"
start=$SECONDS
if [ ! -x "$venv/bin/python" ]; then
  echo "demo: [1/3] creating the virtualenv $venv"
  "${PYTHON:-python3}" -m venv "$venv"
else
  echo "demo: [1/3] reusing the virtualenv $venv"
fi
echo "demo: [2/3] building timrest and installing it into $venv (pip install .): the first build compiles"
echo "demo:       about 115 crates: 97 s on our idle 2-core machine; later builds reuse target/ and take seconds"
# pip -v streams the build's output; only cargo's progress lines and the outcome are kept.
if ! "$venv/bin/python" -m pip install -v --disable-pip-version-check . 2>&1 |
  { grep --line-buffered -E '^ *(Compiling|Finished|Built wheel|Successfully installed|ERROR|error)' || true; }; then
  echo "demo: the build failed; \`$venv/bin/python -m pip install -v .\` shows all of its output" >&2
  exit 1
fi
echo "demo: [3/3] running \`timrest demo\` (built and installed in $((SECONDS - start)) s)"
echo
"$venv/bin/timrest" demo
