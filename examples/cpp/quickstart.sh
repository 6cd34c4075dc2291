#!/usr/bin/env bash
# Quick start for C++: install libtimrest, build examples/cpp/delete_by_sender.cpp with pkg-config and
# with CMake, and run both against the local emulator (no account needed).
set -euo pipefail

src="${TIMREST_SRC:-.}"                    # a clone of timrest (default: the current directory)
prefix="${PREFIX:-$PWD/timrest-prefix}"   # /usr/local works too (as root; then run ldconfig once)
bash "$src/scripts/install.sh" "$prefix"

# pkg-config: it looks in $prefix/lib/pkgconfig only when told to (a system prefix needs no PKG_CONFIG_PATH).
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
libdir="$(pkg-config --variable=libdir timrest)"
c++ -std=c++17 "$src/examples/cpp/delete_by_sender.cpp" $(pkg-config --cflags --libs timrest) \
    -Wl,-rpath,"$libdir" -o delete_by_sender

# CMake: examples/cpp/CMakeLists.txt finds the package through CMAKE_PREFIX_PATH.
cmake -S "$src/examples/cpp" -B build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
cmake --build build

# A local TIM server with the demo groups; it exits when this script does (its stdin closes).
coproc EMULATOR { exec "$prefix/bin/timrest-emulator" --seed-demo --stop-on-stdin-eof; }
read -r _ _ _ url <&"${EMULATOR[0]}"       # it prints "timrest-emulator listening on URL"
export TIM_BASE_URL="$url" TIM_SDKAPPID=1400000000
export TIM_SECRET_KEY=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e   # the demo key

./delete_by_sender release-team spammer42
./build/delete_by_sender ops-oncall spammer42
