#!/usr/bin/env bash
# C and C++ tests of libtimrest (filled in by the C ABI work).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "test-c: no C tests yet"
