#!/usr/bin/env bash
# Runs the libFuzzer targets under fuzz/, one per parser of untrusted bytes: cargo fuzz for the Rust
# ones, atheris (in the venv of scripts/venv.sh) for the Python readers of fuzz/python/.
#
#   bash scripts/fuzz.sh --smoke            every target for 15 s, on a copy of its corpus (the test command runs this)
#   bash scripts/fuzz.sh [--secs N] [T...]  targets T (default: all) for N s each (default 600), two at a
#                                           time (one per core), growing fuzz/corpus/T; crashes in fuzz/artifacts/T
#   bash scripts/fuzz.sh --build            only installs cargo-fuzz and builds the targets
#
# Stable Rust runs them with RUSTC_BOOTSTRAP=1 (cargo fuzz passes -Z flags for the sanitizer and the
# coverage instrumentation; their runtimes ship with the toolchain). cargo-fuzz is installed once into
# target/fuzz-tools; the fuzz build has its own target directory, target/fuzz. Each run ends with a
# line: target, seconds, executions, coverage (libFuzzer's cov and ft) and corpus size. A crash, a
# panic, a leak, a timeout (10 s an input) or an input over 2 GB RSS fails the run; libFuzzer
# prints the input's path, and fuzz/README.md says how to turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
build_only=0
python_targets_asked=()
secs=600
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1; secs=15; shift ;;
        --secs) secs="$2"; shift 2 ;;
        --build) build_only=1; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done

tools="$PWD/target/fuzz-tools"
cargo_fuzz="$tools/bin/cargo-fuzz"
if [ ! -x "$cargo_fuzz" ]; then
    echo "fuzz.sh: installing cargo-fuzz into $tools (once; about 2 minutes)"
    cargo install --quiet --locked --root "$tools" cargo-fuzz --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1
fuzz="$cargo_fuzz"
fuzz_dir=(--target-dir "$PWD/target/fuzz")
asked_all=0
if [ ${#targets[@]} -eq 0 ]; then
    asked_all=1
    mapfile -t targets < <("$fuzz" list)
else
    # A name of fuzz/python/ is a Python target.
    rust=()
    for t in "${targets[@]}"; do
        if [ -f "fuzz/python/$t.py" ]; then python_targets_asked+=("$t"); else rust+=("$t"); fi
    done
    targets=("${rust[@]}")
fi
echo "fuzz.sh: building the cargo fuzz targets (a sanitizer build; the first one takes a few minutes)"
"$fuzz" build "${fuzz_dir[@]}"
[ "$build_only" = 0 ] || exit 0

logs="$PWD/target/fuzz/logs"
mkdir -p fuzz/artifacts
mkdir -p "$logs"

# One target: runs it, prints its figures; fails on any finding.
run_one() {
    local t="$1" corpus log
    if [ "$smoke" = 1 ]; then
        # A copy: the smoke run leaves the committed corpus alone.
        corpus="$(mktemp -d)"
        cp fuzz/corpus/"$t"/* "$corpus"/
    else
        corpus="fuzz/corpus/$t"
    fi
    log="$logs/$t.log"
    if ! "$fuzz" run "${fuzz_dir[@]}" "$t" "$corpus" -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 > "$log" 2>&1; then
        echo "fuzz.sh: $t FOUND A FAILURE; the end of its log ($log):" >&2
        tail -n 40 "$log" >&2
        return 1
    fi
    local runs cov corp
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    cov="$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)"
    corp="$(find "$corpus" -type f | wc -l)"
    printf 'fuzz.sh: %-17s %5d s  %10s runs  %-22s corpus %s\n' "$t" "$secs" "$runs" "$cov" "$corp"
    [ "$smoke" = 0 ] || rm -rf "$corpus"
}

# The Python readers (fuzz/python/*.py, atheris) run in the project's venv (scripts/venv.sh).
python="${TIMREST_VENV:-.venv}/bin/python"
run_python() {
    local t="$1" corpus log
    corpus="$(mktemp -d)"
    log="$logs/$t.log"
    if ! "$python" "fuzz/python/$t.py" "$corpus" "fuzz/corpus/$t" -max_total_time="$secs" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/" > "$log" 2>&1; then
        echo "fuzz.sh: $t FOUND A FAILURE; the end of its log ($log):" >&2
        tail -n 40 "$log" >&2
        return 1
    fi
    local runs cov
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    cov="$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)"
    printf 'fuzz.sh: %-17s %5d s  %10s runs  %-22s corpus %s (python)\n' "$t" "$secs" "$runs" "$cov" \
        "$(find "$corpus" "fuzz/corpus/$t" -type f | wc -l)"
    [ "$smoke" = 0 ] && cp -n "$corpus"/* "fuzz/corpus/$t/" 2>/dev/null || true
    rm -rf "$corpus"
}
python_targets=("${python_targets_asked[@]}")
if [ "$asked_all" = 1 ]; then
    for f in fuzz/python/*.py; do python_targets+=("$(basename "$f" .py)"); done
fi

failed=0
if [ "$smoke" = 1 ]; then
    for t in "${targets[@]}"; do run_one "$t" || failed=1; done
else
    # Two at a time, one per core.
    pids=()
    for t in "${targets[@]}"; do
        run_one "$t" & pids+=($!)
        if [ ${#pids[@]} -ge 2 ]; then
            wait "${pids[0]}" || failed=1
            pids=("${pids[@]:1}")
        fi
    done
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
fi
if [ "$build_only" = 0 ]; then
    for t in "${python_targets[@]}"; do run_python "$t" || failed=1; done
fi
if [ "$failed" = 1 ]; then
    echo "fuzz.sh: a target found a failure (above)" >&2
    exit 1
fi
echo "fuzz.sh: $((${#targets[@]} + ${#python_targets[@]})) targets ran ${secs} s each, nothing found"
