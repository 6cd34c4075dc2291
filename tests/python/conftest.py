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
