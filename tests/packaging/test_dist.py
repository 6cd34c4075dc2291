"""What we publish: the sdist and the wheel in dist/ (scripts/package.sh builds them, then runs this).

Not part of tests/python (which tests the installed package and runs without dist/): run it as
``TIMREST_DIST=dist python -m pytest -c pyproject.toml tests/packaging/test_dist.py``.
"""

from __future__ import annotations

import email.parser
import email.message
import os
import re
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
import trove_classifiers

REPO = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("TIMREST_DIST", REPO / "dist")).resolve()

# Path components that never belong in a distribution: build output, virtualenvs, caches, VCS.
STRAY_PARTS = {
    "target",
    "dist",
    "build",
    ".venv",
    "venv",
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ipynb_checkpoints",
}
STRAY_SUFFIXES = (".so", ".a", ".o", ".pyc", ".pyo", ".whl", ".tar.gz", ".dylib", ".dll")


def cargo_version() -> str:
    package = (REPO / "Cargo.toml").read_text(encoding="utf-8").split("[package]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', package, re.M)
    assert match is not None
    return match.group(1)


VERSION = cargo_version()


def only(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {DIST}, found {[p.name for p in found]}"
    return found[0]


def git_files(*paths: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", "--", *paths], cwd=REPO, capture_output=True, text=True, check=True)
    return {line for line in out.stdout.splitlines() if line}


@pytest.fixture(scope="module")
def sdist_files() -> dict[str, bytes]:
    path = only(f"timrest-{VERSION}.tar.gz")
    prefix = f"timrest-{VERSION}/"
    files: dict[str, bytes] = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            assert member.name.startswith(prefix), member.name
            assert not member.issym() and not member.islnk(), f"link in the sdist: {member.name}"
            if member.isfile():
                data = tar.extractfile(member)
                assert data is not None
                files[member.name[len(prefix) :]] = data.read()
    return files


@pytest.fixture(scope="module")
def wheel_path() -> Path:
    return only(f"timrest-{VERSION}-*.whl")


@pytest.fixture(scope="module")
def wheel_files(wheel_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel_path) as whl:
        return {name: whl.read(name) for name in whl.namelist() if not name.endswith("/")}


def metadata(raw: bytes) -> email.message.Message:
    return email.parser.BytesParser().parsebytes(raw)


def check_metadata(meta: email.message.Message) -> None:
    assert meta["Name"] == "timrest"
    assert meta["Version"] == VERSION
    assert meta["Metadata-Version"] in {"2.4", "2.5"}, meta["Metadata-Version"]
    assert meta["License-Expression"] == "MIT OR Apache-2.0"
    assert sorted(meta.get_all("License-File") or []) == ["LICENSE-APACHE", "LICENSE-MIT"]
    assert meta["License"] is None, "the legacy License field sits beside License-Expression"
    assert meta["Requires-Python"] == ">=3.9"
    assert meta["Summary"] and "Tencent Cloud IM" in meta["Summary"]
    assert meta["Description-Content-Type"].startswith("text/markdown")
    assert "delete_group_msg_by_sender" in meta.get_payload()  # the README is the long description
    classifiers = meta.get_all("Classifier") or []
    unknown = [c for c in classifiers if c not in trove_classifiers.classifiers]
    assert not unknown, f"not trove classifiers (PyPI refuses them): {unknown}"
    assert not [c for c in classifiers if c.startswith("License ::")], "PEP 639: no License classifier"
    for minor in range(9, 14):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Operating System ::") for c in classifiers)
    assert any(c.startswith("Topic ::") for c in classifiers)
    assert meta.get_all("Keywords")
    assert meta["Author"] or meta["Author-email"]


# -- the sdist --------------------------------------------------------------------------------


def test_sdist_holds_what_a_build_needs(sdist_files: dict[str, bytes]) -> None:
    needed = git_files("src", "python", "include") | {
        "Cargo.toml",
        "Cargo.lock",
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "PKG-INFO",
    }
    assert "python/timrest/_native.pyi" in needed and "python/timrest/py.typed" in needed
    missing = sorted(needed - set(sdist_files))
    assert not missing, f"missing from the sdist: {missing}"
    for name in ("Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md", "LICENSE-MIT"):
        assert sdist_files[name] == (REPO / name).read_bytes(), f"{name} differs from the tree's"


def test_sdist_holds_nothing_stray(sdist_files: dict[str, bytes]) -> None:
    for name in sdist_files:
        parts = set(Path(name).parts)
        assert not parts & STRAY_PARTS, f"stray path in the sdist: {name}"
        assert not name.endswith(STRAY_SUFFIXES), f"built file in the sdist: {name}"
    # Only what git tracks (an uncommitted scratch file would otherwise ship), and maturin's PKG-INFO.
    untracked = sorted(set(sdist_files) - git_files() - {"PKG-INFO"})
    assert not untracked, f"files in the sdist that git does not track: {untracked}"
    assert ".ci/run" not in sdist_files


def test_sdist_metadata(sdist_files: dict[str, bytes]) -> None:
    check_metadata(metadata(sdist_files["PKG-INFO"]))


# -- the wheel --------------------------------------------------------------------------------


def test_wheel_holds_the_package_and_nothing_else(wheel_files: dict[str, bytes]) -> None:
    # Every file of the package, subpackages (timrest.cli) included, at its place under timrest/.
    package = {str(Path(p).relative_to("python")) for p in git_files("python/timrest")} | {"timrest/_native.abi3.so"}
    assert {"timrest/_native.pyi", "timrest/py.typed", "timrest/__init__.py", "timrest/testing.py",
            "timrest/cli/__init__.py", "timrest/cli/purge.py"} <= package
    info = f"timrest-{VERSION}.dist-info/"
    info_files = ("METADATA", "WHEEL", "RECORD", "entry_points.txt", "licenses/LICENSE-MIT", "licenses/LICENSE-APACHE")
    expected_info = {info + name for name in info_files}
    names = set(wheel_files)
    assert package <= names, f"missing from the wheel: {sorted(package - names)}"
    assert expected_info <= names, f"missing from the wheel: {sorted(expected_info - names)}"
    # maturin adds a CycloneDX SBOM of the Rust dependencies under dist-info/sboms/: welcome, nothing else.
    sbom = re.compile(rf"{re.escape(info)}sboms/[^/]+\.json")
    extra = sorted(n for n in names - package - expected_info if not sbom.fullmatch(n))
    assert not extra, f"stray files in the wheel: {extra}"


def test_wheel_metadata(wheel_files: dict[str, bytes]) -> None:
    info = f"timrest-{VERSION}.dist-info/"
    check_metadata(metadata(wheel_files[info + "METADATA"]))
    wheel = metadata(wheel_files[info + "WHEEL"])
    assert wheel["Root-Is-Purelib"] == "false"
    # One abi3 wheel for CPython >= 3.9, tagged manylinux2014 (glibc 2.17; also spelt manylinux_2_17,
    # PEP 600), so that hosts on glibc 2.17 and later install it. PyPI refuses plain linux_x86_64.
    tags = wheel.get_all("Tag") or []
    assert "cp39-abi3-manylinux_2_17_x86_64" in tags, tags
    assert set(tags) <= {"cp39-abi3-manylinux_2_17_x86_64", "cp39-abi3-manylinux2014_x86_64"}, tags
    entry_points = wheel_files[info + "entry_points.txt"].decode()
    assert re.search(r"^timrest\s*=\s*timrest\.cli:main$", entry_points, re.M), entry_points
    assert wheel_files[info + "licenses/LICENSE-MIT"] == (REPO / "LICENSE-MIT").read_bytes()
    assert wheel_files[info + "licenses/LICENSE-APACHE"] == (REPO / "LICENSE-APACHE").read_bytes()


def test_wheel_python_files_are_the_sdists(wheel_files: dict[str, bytes], sdist_files: dict[str, bytes]) -> None:
    # The wheel was built from the sdist: its Python files are the sdist's, byte for byte.
    sources = {name for name in sdist_files if name.startswith("python/timrest/")}
    assert len(sources) >= 8, sources
    for name in sources:
        assert wheel_files["timrest/" + name.removeprefix("python/timrest/")] == sdist_files[name], name


def test_native_module_is_the_dist_build(wheel_files: dict[str, bytes], tmp_path: Path) -> None:
    # The `dist` profile strips debug info (Cargo.toml); `release` keeps line tables. And an abi3
    # extension must not link libpython: the interpreter that loads it provides the symbols.
    so = tmp_path / "_native.abi3.so"
    so.write_bytes(wheel_files["timrest/_native.abi3.so"])
    sections = subprocess.run(["readelf", "-S", "-W", str(so)], capture_output=True, text=True, check=True).stdout
    assert ".debug_info" not in sections and ".debug_line" not in sections, "debug info: not the dist profile"
    dynamic = subprocess.run(["readelf", "-d", "-W", str(so)], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
    assert needed, dynamic
    assert not [lib for lib in needed if "python" in lib], needed
    assert "PyInit__native" in subprocess.run(
        ["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True, check=True
    ).stdout


def test_native_module_needs_nothing_newer_than_glibc_2_17(wheel_files: dict[str, bytes], tmp_path: Path) -> None:
    # What manylinux2014 promises, read from the library itself (auditwheel show checks the same in
    # scripts/package.sh): every versioned symbol it takes from glibc is from 2.17 or older, and it
    # has no SONAME (it is loaded by path, never linked against).
    so = tmp_path / "_native.abi3.so"
    so.write_bytes(wheel_files["timrest/_native.abi3.so"])
    versions = subprocess.run(["readelf", "-V", "-W", str(so)], capture_output=True, text=True, check=True).stdout
    glibc = {tuple(int(p) for p in v.split(".")) for v in re.findall(r"GLIBC_(\d+\.\d+(?:\.\d+)?)", versions)}
    assert glibc and max(glibc) <= (2, 17), sorted(glibc)
    dynamic = subprocess.run(["readelf", "-d", "-W", str(so)], capture_output=True, text=True, check=True).stdout
    assert "SONAME" not in dynamic, dynamic
