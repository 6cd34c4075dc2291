#!/usr/bin/env bash
# C and C++ tests of libtimrest, against the library as we ship it.
#
# 1. Builds the shipped library (`--profile dist`, plain `cargo build --lib`: no pyo3, no emulator)
#    in its own target directory, so that it is never one of the feature-enabled builds (maturin's,
#    `cargo test --features emulator`'s) that share target/, and installs it into a temporary
#    prefix with scripts/install.sh: header, .so, .a, timrest.pc.
# 2. Runs tests/c_abi.rs against that prefix (TIMREST_C_PREFIX): the C99 and C++17 test programs
#    and the examples, compiled with -Wall -Wextra -Werror -pedantic through
#    `pkg-config --cflags --libs timrest`, each case against the emulator natively and under
#    valgrind; the symbol checks (no Py*, no libpython). And tests/header.rs: the committed header
#    is what cbindgen generates, its version macros match Cargo.toml.
#
# `cargo test --features emulator` (scripts/test-rust.sh) runs the same C tests against a
# `release` build that tests/c_abi.rs installs by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cc gcc g++ pkg-config valgrind nm readelf ldd; do
    command -v "$tool" >/dev/null || { echo "test-c: '$tool' is required" >&2; exit 1; }
done

target_dir="${CARGO_TARGET_DIR:-target}"
prefix="$(mktemp -d "${TMPDIR:-/tmp}/timrest-c.XXXXXX")"
trap 'rm -rf "$prefix"' EXIT

CARGO_TARGET_DIR="$target_dir/c-lib" bash scripts/install.sh "$prefix" --profile dist
TIMREST_C_PREFIX="$prefix" cargo test --features emulator --test c_abi --test header
echo "test-c: C and C++ tests passed (natively and under valgrind) against the dist build"
