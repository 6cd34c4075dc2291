#!/usr/bin/env bash
# Benchmarks of timrest against what users would otherwise use (design §9; docs/benchmarks.md).
#
#   bash scripts/bench.sh [--quick]
#
# 1. bench/.venv: requests, the official tls-sig-api-v2 signer, timsdk (PyPI), and timrest built
#    from this tree with `pip install .` (maturin, features python + emulator).
# 2. cargo: the release `timrest-emulator` binary and the `clients` bench (Rust core, raw floor,
#    Rust delete_many, throughput clients); then plain `cargo build --release`, the C library the
#    C program links (built last: maturin and feature builds write target/release/libtimrest.so too,
#    so the library is copied to target/bench/ right after the plain build).
# 3. bench/run.py: starts the emulator as its own process, runs every client against it, prints
#    the table and writes it to target/bench/results.md (and the raw figures to results.json).
# 4. bench/fleet.py (section "fleet"): fleets of 1, 4 and 8 processes on the local limiter, the
#    Redis limiter and a static split, and the cost of one Redis acquire; target/bench/fleet.md.
# 5. bench/async_clients.py (section "async"): AsyncClient against asyncio.to_thread and httpx with
#    the official signer; target/bench/async.md.
# 6. bench/incident.py (section "incident"): purge_senders with the deep pass against its bound,
#    max over commands (calls / rate), and a sequential script; target/bench/incident.md.
# 7. bench/memory.py (section "memory", not in the default run: ~10 minutes): the RSS of a
#    1 000 000-line delete-batch from a file and from stdin, and of the emulator under 1 MiB bodies.
# 8. bench/redis_outage.py (section "redis-outage", not in the default run: ~1 minute per run): 8
#    processes on one Redis killed for 1 s, 60007 answers and wall time against the no-outage run.
#
# Figures only: nothing here is a pass/fail test. --quick runs fewer calls (a smoke run);
# --sections per-call,instructions,bulk,throughput,footprint picks sections ("instructions" counts
# instructions per call under valgrind's callgrind: the measure machine load does not move).
# --update-docs writes the footprint and instructions sections of docs/benchmarks.md and the README's
# import time from this run (never by hand).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo cc python3; do
    command -v "$tool" >/dev/null || { echo "bench: '$tool' is required" >&2; exit 1; }
done

venv=bench/.venv
python="${PYTHON:-python3}"
target="${CARGO_TARGET_DIR:-target}"
out="$target/bench"
mkdir -p "$out"
packages=(
    "maturin>=1.9.4,<2"
    "requests>=2.31,<3"
    "tls-sig-api-v2==1.1"
    "timsdk==1.1.12"
    "httpx>=0.27,<1"      # bench/async_clients.py: the hand-written async client
    "opentelemetry-sdk>=1.28"    # section 1c: the cost of timrest.otel's hook, with the SDK behind it
    "prometheus-client>=0.20"    # and of timrest.prometheus's
)

if [ ! -x "$venv/bin/python" ]; then
    echo "bench: creating $venv"
    "$python" -m venv "$venv"
fi
stamp="$venv/.bench-packages"
if [ "$(cat "$stamp" 2>/dev/null)" != "${packages[*]}" ]; then
    echo "bench: installing ${packages[*]}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
    echo "${packages[*]}" >"$stamp"
fi

echo "bench: building timrest into $venv (pip install .)"
# `pip wheel` then install the wheel: the same build as `pip install .` (pyproject's `dist` profile), and
# the wheel is kept for its size.
rm -rf "$out/wheel"
"$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-build-isolation --no-deps \
    -w "$out/wheel" .
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall \
    "$out"/wheel/timrest-*.whl


echo "bench: building the emulator and the Rust clients (release)"
cargo build --quiet --release --features emulator --bin timrest-emulator
clients="$(cargo bench --quiet --no-run --bench clients --message-format=json |
    "$venv/bin/python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "clients" and m.get("executable"):
        print(m["executable"])')"

echo "bench: building the C library (plain cargo build --release) and the C program"
cargo build --quiet --release
mkdir -p "$out/lib"
# Under its SONAME too (build.rs sets libtimrest.so.0.MINOR): that is the name the program loads.
cp "$target/release/libtimrest.so" "$out/lib/"
soname="$(readelf -d "$out/lib/libtimrest.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
[ -z "$soname" ] || cp "$out/lib/libtimrest.so" "$out/lib/$soname"
cc -std=c11 -O2 -Wall -Wextra -Werror -pedantic -I include bench/c/per_call.c \
    -L "$out/lib" -ltimrest -Wl,-rpath,"$(cd "$out/lib" && pwd)" -o "$out/per_call"

sections="per-call,instructions,bulk,throughput,footprint,fleet,async,incident"
for arg in "$@"; do case "$arg" in --sections=*) sections="${arg#--sections=}" ;; esac; done
prev=""
for arg in "$@"; do [ "$prev" = "--sections" ] && sections="$arg"; prev="$arg"; done
run_args=()
skip=""
for arg in "$@"; do
    if [ -n "$skip" ]; then skip=""; continue; fi
    case "$arg" in
        --sections) skip=1 ;;
        --sections=*) ;;
        *) run_args+=("$arg") ;;
    esac
done
main_sections="$(echo "$sections" | tr ',' '\n' | { grep -v -e '^fleet$' -e '^async$' -e '^incident$' -e '^memory$' -e '^redis-outage$' || true; } | paste -sd, -)"

if [ -n "$main_sections" ]; then
"$venv/bin/python" bench/run.py --sections "$main_sections" \
    --emulator "$target/release/timrest-emulator" \
    --clients "$clients" \
    --c-program "$out/per_call" \
    --wheel-dir "$out/wheel" \
    --out "$out" "${run_args[@]}"
fi

if [[ ",$sections," == *",fleet,"* ]]; then
    bash scripts/deps.sh
    echo "bench: fleets on one quota (bench/fleet.py)"
    "$venv/bin/python" bench/fleet.py --out "$out"
fi

if [[ ",$sections," == *",async,"* ]]; then
    echo "bench: the asyncio face (bench/async_clients.py)"
    "$venv/bin/python" bench/async_clients.py --out "$out"
fi

if [[ ",$sections," == *",incident,"* ]]; then
    echo "bench: the incident job against its bound (bench/incident.py)"
    "$venv/bin/python" bench/incident.py --out "$out"
fi

if [[ ",$sections," == *",redis-outage,"* ]]; then
    echo "bench: a fleet through a Redis outage (bench/redis_outage.py)"
    "$venv/bin/python" bench/redis_outage.py --out "$out"
fi

if [[ ",$sections," == *",memory,"* ]]; then
    echo "bench: memory under large inputs (bench/memory.py)"
    "$venv/bin/python" bench/memory.py --emulator "$target/release/timrest-emulator" --out "$out"
fi
