#!/usr/bin/env bash
# Creates (or refreshes) ./.venv with what the Python tests need, then builds timrest and installs it
# there with `pip install .`. Re-running is cheap: the tools are installed again only when the list
# below changes, and the build reuses cargo's target/ directory, so only changed crates recompile.
#
#   TIMREST_VENV=path   use another virtualenv (default: .venv)
#   PYTHON=python3.x    the interpreter that creates it (default: python3)
#   TIMREST_INSTALL=x   what pip installs as timrest (default: . — scripts/package.sh gives the built wheel)
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TIMREST_VENV:-.venv}"
python="${PYTHON:-python3}"
tools=(
  "maturin>=1.9.4,<2"
  "pytest>=8"
  "mypy>=1.10"
  "tls-sig-api-v2==1.1"   # the official UserSig signer, for the interop tests
  # The progress bar, and running examples/python/cleanup.ipynb in a real kernel (tests/python/test_notebook.py):
  # ipywidgets gives tqdm.auto its notebook widget; pandas (the heaviest, ~70 MB with numpy) shows the report as a table.
  "tqdm>=4.66"
  "nbclient>=0.10"
  "ipykernel>=6.29"
  "ipywidgets>=8.1"
  "pandas>=2"
  "hypothesis>=6.100"     # property tests (tests/python/test_properties.py)
  # timrest.AsyncClient: its suite also runs on uvloop, and behind a real ASGI server (tests/python/test_async.py).
  "uvloop>=0.19"
  "starlette>=0.37"
  "uvicorn>=0.29"
  "pproxy==2.7.9"         # a real HTTP CONNECT and SOCKS5 proxy (tests/python/test_proxy.py)
  "atheris>=2.3"          # the fuzz targets of the Python readers (fuzz/python, scripts/fuzz.sh)
  # timrest.otel against the SDK's in-memory exporter and reader (the SDK in tests only), and
  # timrest.prometheus in one process and in multiprocess mode (tests/python/test_telemetry.py).
  "opentelemetry-api>=1.27"
  "opentelemetry-sdk>=1.27"
  "prometheus-client>=0.20"
)

if [ ! -x "$venv/bin/python" ]; then
  echo "venv: creating $venv"
  "$python" -m venv "$venv"
fi
stamp="$venv/.timrest-tools"
if [ "$(cat "$stamp" 2>/dev/null)" != "${tools[*]}" ]; then
  echo "venv: installing ${tools[*]}"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${tools[@]}"
  echo "${tools[*]}" >"$stamp"
fi

install="${TIMREST_INSTALL:-.}"
echo "venv: building and installing timrest (pip install $install)"
# No build isolation: the venv's maturin builds, and cargo's target/ is reused between runs.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --no-build-isolation --no-deps --force-reinstall "$install"
"$venv/bin/python" -c 'import timrest; print("venv: timrest", timrest.__version__, "at", timrest.__file__)'
