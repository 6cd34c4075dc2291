#!/usr/bin/env bash
# Quick start for C: install libtimrest, build examples/c/delete_by_sender.c the three ways, and run
# each against the local emulator (no account needed).
set -euo pipefail

src="${TIMREST_SRC:-.}"                    # a clone of timrest (default: the current directory)
prefix="${PREFIX:-$PWD/timrest-prefix}"   # /usr/local works too (as root; then run ldconfig once)
bash "$src/scripts/install.sh" "$prefix"   # header, libtimrest.so.0.1, .a, pkg-config, CMake package, timrest-emulator
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"

# 1. pkg-config, shared. The rpath lets the program find libtimrest.so.0.1 without LD_LIBRARY_PATH.
cc -std=c99 "$src/examples/c/delete_by_sender.c" $(pkg-config --cflags --libs timrest) \
    -Wl,-rpath,"$(pkg-config --variable=libdir timrest)" -o delete_by_sender
# 2. pkg-config, static: libtimrest.a and what it needs from the system.
cc -std=c99 "$src/examples/c/delete_by_sender.c" $(pkg-config --cflags --libs timrest-static) -o delete_by_sender_static
# 3. Plain flags.
cc -std=c99 "$src/examples/c/delete_by_sender.c" -I"$prefix/include" -L"$prefix/lib" -ltimrest \
    -Wl,-rpath,"$prefix/lib" -o delete_by_sender_plain

# A local TIM server with the demo groups (`timrest emulator`, from the Python package, is the same program).
coproc EMULATOR { exec "$prefix/bin/timrest-emulator" --seed-demo --stop-on-stdin-eof; }
read -r _ _ _ url <&"${EMULATOR[0]}"       # it prints "timrest-emulator listening on URL"
export TIM_BASE_URL="$url" TIM_SDKAPPID=1400000000
export TIM_SECRET_KEY=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e   # the demo key

for program in ./delete_by_sender ./delete_by_sender_static ./delete_by_sender_plain; do
    "$program" release-team spammer42
done
