"""Shared fixtures: a fresh emulator per test (real HTTP on a loopback port) and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import timrest
from timrest.testing import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limit=None) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> timrest.Client:
    # Short backoffs are the client's business; a generous deadline keeps loaded machines green.
    return emu.client(rate_limit=None, deadline=60.0)


# -- secrets: no test of the suite may log one (tests/python/test_secrets.py makes them travel) --

import logging  # noqa: E402
import re  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402

from timrest.testing import DEMO_SECRET_KEY  # noqa: E402

#: The secret key of the canary tests (an emulator started with it accepts calls signed with it).
CANARY_KEY = "py-canary-key-3c9b1e77-never-print"
#: Anything shaped like a UserSig: base64 of a zlib stream ("eJ"), in the URL-safe alphabet.
USERSIG_SHAPE = re.compile(r"eJ[A-Za-z0-9*_-]{40,}")


def assert_no_secret(text: str, extra: Iterable[str] = ()) -> None:
    """Fails when ``text`` holds a secret key, one of ``extra``, or a UserSig-shaped word."""
    for secret in (CANARY_KEY, DEMO_SECRET_KEY, *extra):
        assert secret not in text, f"a secret leaked: {text!r}"
    found = USERSIG_SHAPE.search(text)
    assert found is None, f"a UserSig leaked: {text!r}"


@pytest.fixture
def no_secret() -> Callable[..., None]:
    """:func:`assert_no_secret`, for tests (conftest is not importable under --import-mode=importlib)."""
    return assert_no_secret


@pytest.fixture
def canary_key() -> str:
    return CANARY_KEY


@pytest.fixture(autouse=True)
def _no_secret_in_any_log_record(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test of the suite runs with the log captured at DEBUG (timrest's logger included),
    and fails if a record holds a secret key or a UserSig."""
    caplog.set_level(logging.DEBUG)
    yield
    for when in ("setup", "call"):
        for record in caplog.get_records(when):
            assert_no_secret(record.getMessage())
    for record in caplog.records:
        assert_no_secret(record.getMessage())
