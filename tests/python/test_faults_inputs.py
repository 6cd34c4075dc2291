"""Bad arguments and absurd settings in the Python face: refused with a clear message before
anything is sent (the emulator's request log stays empty).

Arguments that break the ID rules raise ``InvalidArgumentError`` (a ``ValueError``); values that
are not ``str`` raise ``TypeError`` naming the argument, as Python does for wrong types; bad
settings raise ``ConfigError`` (a ``ValueError``) naming the setting.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

import timrest
from timrest.testing import Emulator

LONG_TOPIC = "@TGS#_g@TOPIC#_" + "t" * 120

# (group_id, sender, topic_id, the word the message must hold)
BAD_ARGUMENTS: list[tuple[str, str, Any, str]] = [
    ("", "s", None, "group_id"),
    ("g", "", None, "sender"),
    ("g\0x", "s", None, "group_id"),
    ("g", "s\0", None, "sender"),
    ("g\n", "s", None, "group_id"),
    ("g", "s\r", None, "sender"),
    ("g\t", "s", None, "group_id"),
    ("g", "s\x1b[31m", None, "sender"),
    ("g", "s\x7f", None, "sender"),
    ("g", "s\x85", None, "sender"),
    ("g" * 49, "s", None, "group_id"),
    ("g", "s" * 33, None, "sender"),
    ("g", "é" * 17, None, "sender"),  # 17 characters, 34 bytes
    ("@TGS#_a", "s", "", "topic_id"),
    ("@TGS#_a", "s", "@TGS#_b@TOPIC#_x", "topic_id"),
    ("@TGS#_a", "s", "@TGS#_a", "topic_id"),
    ("@TGS#_g", "s", LONG_TOPIC, "topic_id"),
]

NOT_STR: list[tuple[Any, Any, Any, str]] = [
    (None, "s", None, "group_id"),
    (1, "s", None, "group_id"),
    (b"g", "s", None, "group_id"),
    ("g", ["s"], None, "sender"),
    ("g", 3.5, None, "sender"),
    ("g", "s", 5, "topic_id"),
    ("g", "s", b"t", "topic_id"),
]

# Client keywords, and the word the message must hold.
BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"timeout": -1.0}, "timeout"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": math.nan}, "timeout"),
    ({"timeout": math.inf}, "timeout"),
    ({"connect_timeout": -1.0}, "connect_timeout"),
    ({"connect_timeout": 0}, "connect_timeout"),
    ({"deadline": -5.0}, "deadline"),
    ({"deadline": 0}, "deadline"),
    ({"rate_limit": 0}, "rate_limit"),
    ({"rate_limit": -1.0}, "rate_limit"),
    ({"rate_limit": math.nan}, "rate_limit"),
    ({"rate_limit": math.inf}, "rate_limit"),
    ({"usersig_ttl": 5}, "usersig_ttl"),
    ({"identifier": ""}, "identifier"),
    ({"identifier": "adm\nin"}, "identifier"),
    ({"identifier": "x" * 33}, "identifier"),
    ({"secret_key": ""}, "secret_key"),
    ({"base_url": "http://example.com"}, "loopback"),
    ({"base_url": "ftp://127.0.0.1"}, "scheme"),
    ({"base_url": "https://user:pw@127.0.0.1"}, "credentials"),
    ({"proxy": "http://user:pw@[bad"}, "proxy"),
    ({"region": "mars"}, "region"),
]


@pytest.fixture
def quiet() -> Iterator[Emulator]:
    with Emulator(rate_limit=None) as emulator:
        yield emulator


def test_bad_arguments_are_refused_before_sending(quiet: Emulator) -> None:
    client = quiet.client(rate_limit=None)
    for group, sender, topic, word in BAD_ARGUMENTS:
        with pytest.raises(timrest.InvalidArgumentError) as info:
            client.delete_group_msg_by_sender(group, sender, topic_id=topic)
        e = info.value
        assert isinstance(e, ValueError)
        assert word in str(e), f"{group!r} {sender!r} {topic!r}: {e}"
        assert (e.attempts, e.random, e.code) == (0, None, None)
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in str(e)), repr(str(e))
    # And through delete_many: every item refused, nothing sent.
    report = client.delete_many([(g, s, t) for g, s, t, _ in BAD_ARGUMENTS])
    assert (report.ok, report.failed) == (0, len(BAD_ARGUMENTS))
    assert all(isinstance(r.error, timrest.InvalidArgumentError) for r in report.results)
    assert quiet.requests() == []


def test_values_that_are_not_str_are_type_errors_naming_the_argument(quiet: Emulator) -> None:
    client = quiet.client(rate_limit=None)
    for group, sender, topic, word in NOT_STR:
        with pytest.raises(TypeError) as info:
            client.delete_group_msg_by_sender(group, sender, topic_id=topic)
        assert word in str(info.value), f"{group!r} {sender!r} {topic!r}: {info.value}"
    # A str that cannot be UTF-8 (a lone surrogate) is a ValueError too.
    with pytest.raises(ValueError):
        client.delete_group_msg_by_sender("g\ud800", "s")
    assert quiet.requests() == []


def test_absurd_settings_are_config_errors(quiet: Emulator) -> None:
    for overrides, word in BAD_SETTINGS:
        with pytest.raises(timrest.ConfigError) as info:
            quiet.client(**overrides)
        assert isinstance(info.value, ValueError)
        assert word in str(info.value), f"{overrides}: {info.value}"
        assert "pw@" not in str(info.value)
    for sdkappid in (0,):
        with pytest.raises(timrest.ConfigError, match="sdkappid"):
            timrest.Client(sdkappid, secret_key="k")
    assert quiet.requests() == []


def test_negative_and_huge_integers_are_refused_with_the_setting_named(quiet: Emulator) -> None:
    # Integers that do not fit the setting's type: a ValueError-family error naming it, never a crash.
    for overrides in ({"max_retries": -1}, {"usersig_ttl": -1}, {"max_retries": 2**40}):
        with pytest.raises((timrest.ConfigError, OverflowError)) as info:
            quiet.client(**overrides)
        name = next(iter(overrides))
        assert name in str(info.value), f"{overrides}: {info.value!r}"
    for sdkappid in (-1, 2**64):
        with pytest.raises((timrest.ConfigError, OverflowError)) as info:
            timrest.Client(sdkappid, secret_key="k")
        assert "sdkappid" in str(info.value), repr(info.value)
    assert quiet.requests() == []
