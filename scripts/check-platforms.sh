#!/usr/bin/env bash
# Compiles (cargo check, build scripts and C included) the crate for the platforms of the release
# workflow that this machine cannot run: Windows x64, macOS arm64, Linux aarch64 musl. Type errors,
# a `cfg(unix)` without its twin, a libc call that Windows lacks: each fails here in minutes,
# before .github/workflows/wheels.yml meets it. Nothing is linked or run (that is the workflow's
# job). Not part of scripts/test.sh: it needs the three rustup targets (downloaded once) and zig
# from PyPI (ziglang) as the C compiler of ring's build script.
#
#     bash scripts/check-platforms.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(realpath -m "${CARGO_TARGET_DIR:-target}")/platforms"
mkdir -p "$work/cc"
if [ ! -x "$work/zig/bin/python" ]; then
    python3 -m venv "$work/zig"
    "$work/zig/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary :all: "ziglang>=0.13"
fi
zig="$("$work/zig/bin/python" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')"

# rust target -> zig target
targets=(
    "x86_64-pc-windows-gnu x86_64-windows-gnu"
    "aarch64-apple-darwin aarch64-macos"
    "aarch64-unknown-linux-musl aarch64-linux-musl"
)
for pair in "${targets[@]}"; do
    read -r rust_target zig_target <<<"$pair"
    rustup target list --installed | grep -qx "$rust_target" || rustup target add "$rust_target"
    # cc-rs passes clang's spelling of the target (and -arch on macOS), which zig cc does not take.
    cc="$work/cc/$rust_target-cc"
    cat >"$cc" <<EOF
#!/usr/bin/env bash
args=()
for a in "\$@"; do case "\$a" in --target=*|-arch|arm64) ;; *) args+=("\$a");; esac; done
exec "$zig" cc -target $zig_target "\${args[@]}"
EOF
    ar="$work/cc/zig-ar"
    printf '#!/bin/sh\nexec "%s" ar "$@"\n' "$zig" >"$ar"
    chmod +x "$cc" "$ar"
    env_target="$(echo "$rust_target" | tr '-' '_')"
    echo "check-platforms: $rust_target"
    # The Python extension (abi3: any CPython 3.9+), and the library with every test and example.
    env "CC_$env_target=$cc" "AR_$env_target=$ar" PYO3_CROSS=1 PYO3_CROSS_PYTHON_VERSION=3.9 \
        CARGO_TARGET_DIR="$work/target" RUSTFLAGS="-D warnings" \
        cargo check --quiet --target "$rust_target" --features python --lib
    env "CC_$env_target=$cc" "AR_$env_target=$ar" \
        CARGO_TARGET_DIR="$work/target" RUSTFLAGS="-D warnings" \
        cargo check --quiet --target "$rust_target" --features emulator --all-targets
done
echo "check-platforms: the crate compiles for ${#targets[@]} platforms"
