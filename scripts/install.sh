#!/usr/bin/env bash
# Installs the C library of timrest under PREFIX:
#   PREFIX/include/timrest.h
#   PREFIX/lib/libtimrest.so  PREFIX/lib/libtimrest.a
#   PREFIX/lib/pkgconfig/timrest.pc
#
# Usage: bash scripts/install.sh PREFIX [--profile release|dist] [--no-build]
#
# The library is built by a plain `cargo build --lib` (no features): it never contains pyo3 or the
# emulator, whatever else was built in the same target directory before (the build is redone when
# the features differ). CARGO_TARGET_DIR is honoured. Then:
#   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#   cc app.c $(pkg-config --cflags --libs timrest) -Wl,-rpath,PREFIX/lib
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: bash scripts/install.sh PREFIX [--profile release|dist] [--no-build]" >&2
    exit 2
}

prefix=""
profile="release"
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) [ $# -ge 2 ] || usage; profile="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) [ -z "$prefix" ] || usage; prefix="$1"; shift ;;
    esac
done
[ -n "$prefix" ] || usage

target_dir="${CARGO_TARGET_DIR:-target}"
case "$profile" in
    dev) profile_dir="debug" ;;
    *) profile_dir="$profile" ;;
esac

if [ "$build" = 1 ]; then
    "${CARGO:-cargo}" build --lib --profile "$profile"
fi

built="$target_dir/$profile_dir"
for f in libtimrest.so libtimrest.a; do
    [ -f "$built/$f" ] || { echo "install.sh: $built/$f is missing (build it, or drop --no-build)" >&2; exit 1; }
done

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
libs_private="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
install -d "$prefix/include" "$prefix/lib/pkgconfig"
install -m 644 include/timrest.h "$prefix/include/timrest.h"
install -m 755 "$built/libtimrest.so" "$prefix/lib/libtimrest.so"
install -m 644 "$built/libtimrest.a" "$prefix/lib/libtimrest.a"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@LIBS_PRIVATE@|$libs_private|g" \
    timrest.pc.in > "$prefix/lib/pkgconfig/timrest.pc"
echo "install.sh: timrest $version ($profile) installed under $prefix"
