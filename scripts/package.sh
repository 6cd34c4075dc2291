#!/usr/bin/env bash
# Builds what we publish into dist/ and proves that a newcomer can install and use it:
#
# 1. dist/timrest-VERSION.tar.gz: `maturin sdist` (what `cargo package` lists: git's files less
#    Cargo.toml's `exclude`).
# 2. dist/timrest-VERSION-cp39-abi3-manylinux_2_17_x86_64.whl, built FROM THAT SDIST the way
#    `pip install timrest-*.tar.gz` builds it: `pip wheel` with build isolation (maturin comes from
#    PyPI, as pyproject.toml's build-system asks), in the `dist` profile that pyproject.toml's
#    [tool.maturin] sets, linked by zig (PyPI's ziglang) against glibc 2.17: manylinux2014.
#    `auditwheel show` checks the tag. An aarch64 wheel too, when rustc has that target.
# 3. Checks both (tests/packaging/test_dist.py): the sdist holds what a build needs (Cargo.toml,
#    Cargo.lock, src/, python/, include/, README, licences) and nothing stray (no target/, .venv,
#    caches, built files, untracked files); the wheel holds the package, its stubs (_native.pyi,
#    py.typed) and the licences, nothing else; the metadata (PEP 639 licence, classifiers PyPI
#    knows, Python 3.9-3.13); the native module is the stripped dist build and does not link
#    libpython. Then `twine check dist/*`. Tools live in their own venv (target/package/tools).
# 4. For every CPython 3.9 ... 3.13 found (python3.X on PATH or under pyenv): a fresh venv holding
#    only the wheel, and tests/packaging/smoke.py in it (emulator round trip, typed errors, a batch,
#    the `timrest` command). Python 3 itself (python3) is required; the others are used when present.
# 5. The whole Python suite (pytest, stubtest, mypy) against that wheel, installed in
#    target/package/venv (scripts/test-python.sh with TIMREST_VENV and TIMREST_INSTALL).
#
#   bash scripts/package.sh            everything above
#   bash scripts/package.sh --no-suite steps 1-4 only
#
# Work files go to CARGO_TARGET_DIR/package (default target/package); the build from the sdist starts
# from an empty cargo target directory every time (about a minute on two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

suite=1
case "${1:-}" in
    "") ;;
    --no-suite) suite=0 ;;
    *) echo "usage: bash scripts/package.sh [--no-suite]" >&2; exit 2 ;;
esac

for tool in cargo git readelf nm python3; do
    command -v "$tool" >/dev/null || { echo "package: '$tool' is required" >&2; exit 1; }
done

repo="$PWD"
work="${CARGO_TARGET_DIR:-target}/package"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
pip=(-m pip --quiet --disable-pip-version-check)

# -- tools: maturin (the sdist), twine, pytest and trove-classifiers (the checks) ----------------
tools_venv="$work/tools"
# ziglang: zig as the C compiler and linker of the wheel, against glibc 2.17's symbols (manylinux2014);
# auditwheel: the check that the wheel is what its tag says.
tools=("maturin>=1.9.4,<2" "twine>=6.1" "pytest>=8" "trove-classifiers>=2024.10" "ziglang>=0.13" "auditwheel>=6.1")
if [ ! -x "$tools_venv/bin/python" ]; then
    python3 -m venv "$tools_venv"
fi
stamp="$tools_venv/.timrest-tools"
if [ "$(cat "$stamp" 2>/dev/null)" != "${tools[*]}" ]; then
    echo "package: installing ${tools[*]} into $tools_venv"
    "$tools_venv/bin/python" "${pip[@]}" install --upgrade pip
    "$tools_venv/bin/python" "${pip[@]}" install "${tools[@]}"
    echo "${tools[*]}" >"$stamp"
fi

# -- 1 and 2: the sdist, then the wheel built from it ------------------------------------------
rm -rf dist
mkdir -p dist
step=$SECONDS
# (cargo warns that the manifest names no homepage or repository: the project has none to name yet.)
"$tools_venv/bin/maturin" sdist --out dist
sdist="dist/timrest-$version.tar.gz"
[ -f "$sdist" ] || { echo "package: maturin sdist made no $sdist" >&2; exit 1; }
echo "package: built $sdist ($(du -k "$sdist" | cut -f1) KiB) in $((SECONDS - step)) s"

step=$SECONDS
echo "package: building the manylinux2014 wheel from $sdist (pip wheel, build isolation, dist profile, zig)"
# A PEP 517 build, as `pip install timrest-*.tar.gz` does, with maturin told to link through zig against
# glibc 2.17 and to tag the wheel manylinux2014 (manylinux_2_17): it installs on CentOS 7, Amazon
# Linux 2, Debian 10 and anything newer, whatever glibc this machine has. maturin looks for zig as
# `python3 -m ziglang` (the isolated build environment has no ziglang), then as the `zig` command:
# CARGO_ZIGBUILD_ZIG_PATH names a small wrapper around the tools' ziglang.
# A fresh cargo target directory every time: maturin stamps every file of the sdist with the same
# old mtime, so a reused target directory would never see a changed source and would ship a stale library.
rm -rf "$work/cargo" "$work/zig"
mkdir -p "$work/zig"
# pip's build isolation hides every site-packages but its own (PYTHONPATH and a sitecustomize): the
# wrapper clears that, so that the tools' Python sees its ziglang.
printf '#!/bin/sh\nunset PYTHONPATH PYTHONNOUSERSITE\nexec "%s" -m ziglang "$@"\n' "$tools_venv/bin/python" \
    >"$work/zig/zig"
chmod +x "$work/zig/zig"
PATH="$work/zig:$PATH" CARGO_ZIGBUILD_ZIG_PATH="$work/zig/zig" \
    MATURIN_PEP517_ARGS="--zig --compatibility manylinux2014" CARGO_TARGET_DIR="$work/cargo" \
    "$tools_venv/bin/python" "${pip[@]}" wheel --no-deps --wheel-dir dist "$sdist"
wheel="$(ls dist/timrest-"$version"-*.whl)"
echo "package: built $wheel ($(du -k "$wheel" | cut -f1) KiB) in $((SECONDS - step)) s"
"$tools_venv/bin/python" -m zipfile -l "$wheel"
# auditwheel reads the symbols the library needs: every one must be in manylinux2014's glibc 2.17.
for w in dist/*.whl; do
    shown="$("$tools_venv/bin/auditwheel" show "$w")"
    echo "$shown"
    tr -s ' \n' ' ' <<<"$shown" | grep -q 'is consistent with the following platform tag: "manylinux_2_17_x86_64"' || {
        echo "package: auditwheel does not find $w manylinux_2_17_x86_64 (manylinux2014)" >&2
        exit 1
    }
done
# aarch64: cross-building needs the aarch64-unknown-linux-gnu standard library for rustc, which only
# rustup's servers give (`rustup target add`); this machine reaches crates.io, PyPI and Debian only.
if rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
    echo "package: building the aarch64 manylinux2014 wheel (zig)"
    PATH="$work/zig:$PATH" CARGO_ZIGBUILD_ZIG_PATH="$work/zig/zig" CARGO_TARGET_DIR="$work/cargo-aarch64" \
        "$tools_venv/bin/maturin" build --profile dist \
        --zig --compatibility manylinux2014 --target aarch64-unknown-linux-gnu --out dist
else
    echo "package: no aarch64 wheel: rustc's aarch64-unknown-linux-gnu target is not installed (rustup target add)"
fi

# -- 3: contents and metadata -------------------------------------------------------------------
TIMREST_DIST="$PWD/dist" "$tools_venv/bin/python" -m pytest -c pyproject.toml -p no:cacheprovider \
    tests/packaging/test_dist.py
"$tools_venv/bin/twine" check --strict dist/*

# -- 4: fresh venvs, one per CPython found, holding only the wheel ------------------------------
# The first python3.X that runs: pyenv's installs, then PATH (where a pyenv shim may name a version
# that is installed but not selected, and fail).
find_python() {
    local minor="$1" candidate
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$minor".*/bin/python3."$minor" \
        "$(command -v "python3.$minor" || true)"; do
        if [ -x "$candidate" ] && "$candidate" -c 'import ensurepip, venv' >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
}
smoked=()
for minor in 9 10 11 12 13; do
    interpreter="$(find_python "$minor")"
    [ -n "$interpreter" ] || continue
    venv="$work/smoke-3.$minor"
    rm -rf "$venv"
    "$interpreter" -m venv "$venv"
    "$venv/bin/python" "${pip[@]}" install "$wheel"
    # From another directory, isolated (-I): nothing of the source tree can be imported.
    (cd "$work" && "$venv/bin/python" -I "$repo/tests/packaging/smoke.py" "$version")
    smoked+=("3.$minor")
done
[ "${#smoked[@]}" -gt 0 ] || { echo "package: no CPython 3.9-3.13 found for the smoke test" >&2; exit 1; }
echo "package: smoke test passed in fresh venvs on Python ${smoked[*]}"

# -- 5: the whole Python suite against the wheel ------------------------------------------------
if [ "$suite" = 1 ]; then
    TIMREST_VENV="$work/venv" TIMREST_INSTALL="$PWD/$wheel" bash scripts/test-python.sh
fi
echo "package: $sdist and $wheel checked in $((SECONDS - started)) s"
