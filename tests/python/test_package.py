"""The installed package: where it comes from, its version, its public names, its table of errors."""

from __future__ import annotations

import inspect
import re
import sysconfig
from pathlib import Path

import timrest
import timrest.exceptions as exc
from timrest import _native

REPO = Path(__file__).resolve().parents[2]

# Design §3, as written there: class -> its bases (the builtin ones included).
DESIGN_HIERARCHY: dict[str, tuple[str, ...]] = {
    "TimError": ("Exception",),
    "ConfigError": ("TimError", "ValueError"),
    "InvalidArgumentError": ("TimError", "ValueError"),
    "TransportError": ("TimError", "ConnectionError"),
    "RequestTimeoutError": ("TransportError", "TimeoutError"),
    "ProtocolError": ("TimError",),
    "LimiterError": ("TimError",),
    "ApiError": ("TimError",),
    "ServerError": ("ApiError",),
    "RateLimitedError": ("ApiError",),
    "AuthError": ("ApiError",),
    "UserSigExpiredError": ("AuthError",),
    "PermissionDeniedError": ("ApiError",),
    "InvalidRequestError": ("ApiError",),
    "InvalidCommandError": ("InvalidRequestError",),
    "InvalidParameterError": ("InvalidRequestError",),
    "GroupNotFoundError": ("ApiError",),
    "InvalidGroupIdError": ("ApiError",),
}


def test_tests_run_against_the_installed_package_not_the_source_tree() -> None:
    installed = Path(timrest.__file__).resolve()
    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    assert any(installed.is_relative_to(s) for s in site), installed
    assert not installed.is_relative_to(REPO / "python")
    assert Path(_native.__file__).resolve().parent == installed.parent


def test_version_is_the_crate_version() -> None:
    cargo = (REPO / "Cargo.toml").read_text(encoding="utf-8")
    package = cargo.split("[package]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', package, re.M)
    assert match is not None
    assert timrest.__version__ == match.group(1) == _native.__version__


def test_stubs_and_marker_ship_in_the_package() -> None:
    folder = Path(timrest.__file__).parent
    assert (folder / "py.typed").is_file()
    assert (folder / "_native.pyi").is_file()


def test_public_names() -> None:
    assert sorted(timrest.__all__) == sorted(set(timrest.__all__))
    for name in timrest.__all__:
        assert hasattr(timrest, name), name
    for name in exc.__all__:
        assert getattr(timrest, name) is getattr(exc, name), name
    from timrest import testing

    assert testing.Emulator.__module__ == "timrest.testing"
    assert {"Emulator", "DEMO_SDKAPPID", "DEMO_SECRET_KEY"} <= set(testing.__all__)


def test_every_row_of_the_code_table_has_its_class() -> None:
    rows = _native.error_kinds()
    assert len(rows) == 16
    for row in rows:
        cls = getattr(exc, row["python_class"])
        assert issubclass(cls, exc.TimError), row
        assert cls.default_kind == row["name"], row
        assert cls.default_retryable == row["retryable"], row
    # Every class of the module is a table row, except the two abstract parents.
    table = {row["python_class"] for row in rows}
    assert set(exc.__all__) - table == {"TimError", "InvalidRequestError"}


def test_class_hierarchy_is_the_one_of_design_section_3() -> None:
    assert set(DESIGN_HIERARCHY) == set(exc.__all__)
    for name, bases in DESIGN_HIERARCHY.items():
        cls = getattr(exc, name)
        assert tuple(b.__name__ for b in cls.__bases__) == bases, name
        assert cls.__module__ == "timrest.exceptions"


def test_builtin_parents() -> None:
    assert issubclass(exc.ConfigError, ValueError)
    assert issubclass(exc.InvalidArgumentError, ValueError)
    assert issubclass(exc.TransportError, ConnectionError)
    assert issubclass(exc.RequestTimeoutError, ConnectionError)
    assert issubclass(exc.RequestTimeoutError, TimeoutError)
    assert not issubclass(exc.ApiError, (ValueError, ConnectionError))


def test_client_defaults_match_the_core() -> None:
    core = _native.defaults()
    params = inspect.signature(timrest.Client).parameters
    for name in ("identifier", "timeout", "connect_timeout", "deadline", "max_retries", "rate_limit", "usersig_ttl"):
        assert params[name].default == core[name], name
    assert params["region"].default == core["region"]
    assert [p.kind for p in params.values()][1:] == [inspect.Parameter.KEYWORD_ONLY] * (len(params) - 1)
