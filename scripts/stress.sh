#!/usr/bin/env bash
# The long reliability runs, kept out of scripts/test.sh (which runs 3-second versions):
#
#   the emulator under load: 8 client threads post and delete over HTTP against one in-process
#   emulator for STRESS_SECS seconds (default 20), then every group's history must be exactly
#   what was sent minus what was deleted, no request may have failed, and the RSS must level off
#   (tests/faults.rs, emulator_under_load_loses_and_duplicates_nothing). Prints the figures:
#   requests, requests/s, groups, messages kept and deleted, RSS at start, after warm-up, peak, end.
#
# Usage: bash scripts/stress.sh            (STRESS_SECS=60 bash scripts/stress.sh for longer)
# Built in release mode, so that the client threads, not the debug build, are the load.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${STRESS_SECS:-20}"
echo "stress: emulator under load for ${secs} s (release build)"
TIMREST_STRESS_SECS="$secs" cargo test --release --features emulator --test faults \
    emulator_under_load_loses_and_duplicates_nothing -- --exact --nocapture
echo "stress: passed"
