#!/usr/bin/env bash
# Installs the timrest C library as a system library under PREFIX:
#
#   PREFIX/include/timrest.h
#   PREFIX/lib/libtimrest.so.VERSION            the library, SONAME libtimrest.so.0.MINOR (build.rs, asked
#                                               for by TIMREST_SONAME=1: a plain cargo build has none)
#   PREFIX/lib/libtimrest.so.0.MINOR -> libtimrest.so.VERSION      what programs load at run time
#   PREFIX/lib/libtimrest.so -> libtimrest.so.VERSION              what the linker finds for -ltimrest
#   PREFIX/lib/libtimrest.a
#   PREFIX/lib/pkgconfig/timrest.pc, timrest-static.pc
#   PREFIX/lib/cmake/timrest/timrestConfig.cmake, timrestConfigVersion.cmake
#   PREFIX/bin/timrest-emulator                 the local TIM server, for trying the library
#
# This is what cargo-c's `cargo cinstall` lays out (same names, SONAME and files), produced here with
# cargo alone: cargo-c would add a long compile of its own to every fresh machine and CI run.
#
# Usage: bash scripts/install.sh PREFIX [--profile dist|release] [--no-build] [--no-emulator]
#
# The default profile is `dist`, what we ship (thin LTO, no debug info). The library is built by a
# plain `cargo build --lib` (no features): it never contains pyo3 or the emulator, whatever else was
# built in the same target directory before. CARGO_TARGET_DIR is honoured. Then, for example:
#   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#   cc app.c $(pkg-config --cflags --libs timrest) -Wl,-rpath,"$(pkg-config --variable=libdir timrest)"
# or, for a system prefix such as /usr/local, run `ldconfig` as root instead of the rpath.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: bash scripts/install.sh PREFIX [--profile dist|release] [--no-build] [--no-emulator]" >&2
    exit 2
}

prefix=""
profile="dist"
build=1
emulator=1
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) [ $# -ge 2 ] || usage; profile="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --no-emulator) emulator=0; shift ;;
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
built="$target_dir/$profile_dir"
cargo="${CARGO:-cargo}"

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
major="${version%%.*}"
rest="${version#*.}"
minor="${rest%%.*}"
if [ "$major" = 0 ]; then soversion="0.$minor"; else soversion="$major"; fi
soname="libtimrest.so.$soversion"
# What the Rust standard library in libtimrest.a needs from the system (rustc --print
# native-static-libs, Linux/glibc): the .pc files take it as flags, the CMake package as a list.
libs_private="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
link_libraries="$(sed -e 's/-l//g' -e 's/ /;/g' <<<"$libs_private")"

# The emulator binary first: building it builds the library too, with the emulator feature, over
# the plain one. The plain library is built last, so that it is what target/ holds when copied.
# cargo prints its progress on stderr ("Compiling ..."); these lines name the stages around it.
if [ "$build" = 1 ]; then
    # Only the installed library has a SONAME (build.rs): the plain cargo output in a shared
    # target directory gets it back at the next plain build.
    export TIMREST_SONAME=1
    if [ "$emulator" = 1 ]; then
        echo "install.sh: [1/3] building timrest-emulator ($profile profile; a first build compiles ~70 crates, about a minute on 2 cores)"
        "$cargo" build --profile "$profile" --features emulator --bin timrest-emulator
    fi
    echo "install.sh: [2/3] building libtimrest ($profile profile, no features; 47 s more the first time)"
    "$cargo" build --lib --profile "$profile"
fi
echo "install.sh: [3/3] installing under $prefix"
for f in libtimrest.so libtimrest.a; do
    [ -f "$built/$f" ] || { echo "install.sh: $built/$f is missing (build it, or drop --no-build)" >&2; exit 1; }
done
if [ "$emulator" = 1 ] && [ ! -f "$built/timrest-emulator" ]; then
    echo "install.sh: $built/timrest-emulator is missing (build it, drop --no-build, or pass --no-emulator)" >&2
    exit 1
fi
if command -v readelf >/dev/null && ! readelf -d "$built/libtimrest.so" | grep -q "SONAME.*\[$soname\]"; then
    echo "install.sh: $built/libtimrest.so has no SONAME $soname (built without TIMREST_SONAME=1, or with the python feature?): drop --no-build" >&2
    exit 1
fi

mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
lib="$prefix/lib"
install -d "$prefix/include" "$lib/pkgconfig" "$lib/cmake/timrest"
install -m 644 include/timrest.h "$prefix/include/timrest.h"
rm -f "$lib/libtimrest.so" "$lib/$soname" "$lib/libtimrest.so.$version"
install -m 755 "$built/libtimrest.so" "$lib/libtimrest.so.$version"
ln -s "libtimrest.so.$version" "$lib/$soname"
ln -s "libtimrest.so.$version" "$lib/libtimrest.so"
install -m 644 "$built/libtimrest.a" "$lib/libtimrest.a"
# The archive carries the debug sections of the Rust standard library it bundles: a quarter of it.
if command -v strip >/dev/null; then
    strip --strip-debug "$lib/libtimrest.a"
fi
fill() {
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" -e "s|@MINOR@|$minor|g" \
        -e "s|@SONAME@|$soname|g" -e "s|@LIBS_PRIVATE@|$libs_private|g" -e "s|@LINK_LIBRARIES@|$link_libraries|g" \
        "$1" > "$2"
}
fill timrest.pc.in "$lib/pkgconfig/timrest.pc"
fill timrest-static.pc.in "$lib/pkgconfig/timrest-static.pc"
fill cmake/timrestConfig.cmake.in "$lib/cmake/timrest/timrestConfig.cmake"
fill cmake/timrestConfigVersion.cmake.in "$lib/cmake/timrest/timrestConfigVersion.cmake"
if [ "$emulator" = 1 ]; then
    install -d "$prefix/bin"
    install -m 755 "$built/timrest-emulator" "$prefix/bin/timrest-emulator"
fi
echo "install.sh: timrest $version ($profile, SONAME $soname) installed under $prefix"
