#!/usr/bin/env bash
# The Python tests, against the INSTALLED wheel (never the source tree): builds and installs timrest
# into ./.venv (scripts/venv.sh), then runs pytest over real HTTP to timrest.testing.Emulator, checks
# the stubs against the extension module (mypy.stubtest) and type-checks the package and the typed
# example with mypy --strict. Extra arguments go to pytest (e.g. -k pickle).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

bash scripts/venv.sh
venv="${TIMREST_VENV:-.venv}"
py="$venv/bin/python"

# The repository root holds no importable `timrest` (the package sources are under python/), and
# pytest runs with --import-mode=importlib, so `import timrest` finds the installed copy; a test
# checks that it came from site-packages.
"$py" -m pytest -c pyproject.toml "$@"

echo "test-python: stubtest"
"$py" -m mypy.stubtest timrest._native
echo "test-python: mypy --strict"
"$py" -m mypy --strict -p timrest
"$py" -m mypy --strict examples/python/
"$py" -m mypy --strict scripts/soak.py fuzz/seeds/make.py fuzz/python/
echo "test-python: all passed"
