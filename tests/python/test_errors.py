"""Every exception class of design §3, raised over real HTTP to the emulator where it should be.

Real state and real bad requests wherever they can produce the error; scripted faults only for
what state cannot produce (server trouble, gateway statuses, timeouts, malformed bodies).
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator

ATTRS = ("code", "info", "random", "attempts", "retryable", "http_status", "kind", "elapsed")
DELETE = "delete_group_msg_by_sender"


def roundtrip(error: timrest.TimError) -> None:
    """The error pickles and unpickles as the same class with every attribute."""
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    for name in ATTRS:
        assert getattr(again, name) == getattr(error, name), name


def last(emu: Emulator, command: str = DELETE) -> dict[str, Any]:
    records = [r for r in emu.requests() if r["command"] == command]
    assert records, f"no {command} request reached the emulator"
    return records[-1]


def check_api_error(error: timrest.TimError, emu: Emulator, code: int, command: str = DELETE) -> None:
    """Attributes of a server-answered error agree with the emulator's request log."""
    record = last(emu, command)
    assert error.code == code
    assert record["error_code"] == code
    assert error.random == record["random"]
    assert error.attempts >= 1
    assert error.info and error.info in str(error)
    assert str(code) in str(error)
    roundtrip(error)


# --- errors before anything is sent ---------------------------------------------------------------


def test_config_error_is_a_value_error(emu: Emulator) -> None:
    bad_settings: list[dict[str, Any]] = [
        {"secret_key": None},  # neither key nor UserSig
        {"base_url": "http://example.com"},  # plain http off loopback
        {"timeout": 0.0},
        {"deadline": -1.0},
        {"rate_limit": 0.0},
        {"region": "mars", "base_url": None},
        {"identifier": ""},
        {"usersig": "not-a-usersig", "secret_key": None},
    ]
    for overrides in bad_settings:
        with pytest.raises(timrest.ConfigError) as info:
            emu.client(**overrides)
        assert isinstance(info.value, ValueError)
        assert (info.value.code, info.value.attempts, info.value.random) == (None, 0, None)
        assert info.value.kind == "config" and not info.value.retryable
        roundtrip(info.value)
    with pytest.raises(timrest.ConfigError):
        timrest.Client(0, secret_key="k")
    assert emu.requests() == []


def test_invalid_argument_error_is_a_value_error_and_nothing_is_sent(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Public")
    bad = [
        ("", "leckie", None),
        (gid, "", None),
        (gid, "x" * 33, None),
        ("g" * 49, "leckie", None),
        (gid, "leck\x00ie", None),
        (gid, "leckie", "@TGS#_other@TOPIC#_news"),
    ]
    for group_id, sender, topic_id in bad:
        with pytest.raises(timrest.InvalidArgumentError) as info:
            client.delete_group_msg_by_sender(group_id, sender, topic_id=topic_id)
        assert isinstance(info.value, ValueError)
        assert info.value.attempts == 0 and info.value.random is None
        roundtrip(info.value)
    assert emu.requests() == []


# --- errors the server's real state produces ------------------------------------------------------


def test_unknown_group_is_group_not_found(emu: Emulator, client: timrest.Client) -> None:
    with pytest.raises(timrest.GroupNotFoundError) as info:
        client.delete_group_msg_by_sender("@TGS#NOSUCHGROUP", "leckie")
    assert isinstance(info.value, timrest.ApiError)
    check_api_error(info.value, emu, 10010)
    assert info.value.attempts == 1 and not info.value.retryable


def test_dissolved_group_is_group_not_found(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Private", members=("leckie",))
    emu.destroy_group(gid)
    with pytest.raises(timrest.GroupNotFoundError) as info:
        client.delete_group_msg_by_sender(gid, "leckie")
    check_api_error(info.value, emu, 10010)


def test_non_admin_identifier_is_permission_denied(emu: Emulator) -> None:
    gid = emu.create_group("Public", members=("leckie",))
    client = emu.client(identifier="leckie", rate_limit=None)  # a valid UserSig, but not an App admin
    with pytest.raises(timrest.PermissionDeniedError) as info:
        client.delete_group_msg_by_sender(gid, "leckie")
    check_api_error(info.value, emu, 10007)
    assert last(emu)["identifier"] == "leckie"


def test_wrong_key_is_auth_error(emu: Emulator) -> None:
    client = emu.client(secret_key="not-the-key", rate_limit=None)
    with pytest.raises(timrest.AuthError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    assert type(info.value) is timrest.AuthError
    check_api_error(info.value, emu, 70009)
    assert info.value.attempts == 1  # credentials are not retried


def test_wrong_sdkappid_is_auth_error(emu: Emulator) -> None:
    client = emu.client(sdkappid=DEMO_SDKAPPID + 1, rate_limit=None)
    with pytest.raises(timrest.AuthError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    check_api_error(info.value, emu, 70020)


def test_expired_ready_usersig_is_usersig_expired(emu: Emulator) -> None:
    old = timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator", 3600, now=1_600_000_000)
    client = emu.client(usersig=old, rate_limit=None)
    with pytest.raises(timrest.UserSigExpiredError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    assert isinstance(info.value, timrest.AuthError)
    check_api_error(info.value, emu, 70001)
    # A ready UserSig cannot be renewed: one attempt only.
    assert info.value.attempts == 1
    assert len(emu.requests()) == 1


def test_real_rate_limit_is_rate_limited(emu: Emulator) -> None:
    emu.set_rate_limit(2.0)
    client = emu.client(rate_limit=None, max_retries=0)
    gid = emu.create_group("Public")
    with pytest.raises(timrest.RateLimitedError) as info:
        for _ in range(10):
            client.delete_group_msg_by_sender(gid, "leckie")
    check_api_error(info.value, emu, 60007)
    assert info.value.retryable


def test_malformed_group_id_via_raw_call_is_invalid_group_id(emu: Emulator, client: timrest.Client) -> None:
    # The client refuses such an ID before sending; a raw call lets the server judge it.
    with pytest.raises(timrest.InvalidGroupIdError) as info:
        client.call("group_open_http_svc", DELETE, {"GroupId": "g" * 49, "Sender_Account": "leckie"})
    check_api_error(info.value, emu, 10015)


def test_unknown_command_is_invalid_command(emu: Emulator, client: timrest.Client) -> None:
    with pytest.raises(timrest.InvalidCommandError) as info:
        client.call("group_open_http_svc", "no_such_command", {})
    assert isinstance(info.value, timrest.InvalidRequestError)
    check_api_error(info.value, emu, 10003, command="no_such_command")
    with pytest.raises(timrest.InvalidCommandError) as info:
        client.call("no_such_svc", "anything", {})
    assert info.value.code == 60009


def test_missing_field_is_invalid_parameter(emu: Emulator, client: timrest.Client) -> None:
    with pytest.raises(timrest.InvalidParameterError) as info:
        client.call("group_open_http_svc", DELETE, {"GroupId": "@TGS#ANY"})
    assert isinstance(info.value, timrest.InvalidRequestError)
    check_api_error(info.value, emu, 10004)
    assert "Sender_Account" in info.value.info
    with pytest.raises(timrest.InvalidParameterError) as info:
        client.call("group_open_http_svc", DELETE, {"GroupId": "@TGS#ANY", "Sender_Account": 7})
    assert info.value.code == 60015


# --- what only faults can produce -----------------------------------------------------------------


def test_server_error_is_retried_then_raised(emu: Emulator) -> None:
    client = emu.client(rate_limit=None, max_retries=2, deadline=60.0)
    emu.inject(DELETE, times=3, error_code=10002, error_info="internal error")
    with pytest.raises(timrest.ServerError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    check_api_error(info.value, emu, 10002)
    assert info.value.attempts == 3 and info.value.retryable
    randoms = [r["random"] for r in emu.requests()]
    assert len(randoms) == 3 and len(set(randoms)) == 3  # a fresh random per attempt
    assert info.value.random == randoms[-1]


def test_injected_rate_limit_code_is_rate_limited(emu: Emulator) -> None:
    client = emu.client(rate_limit=None, max_retries=0)
    emu.inject(DELETE, error_code=60007, error_info="over limit")
    with pytest.raises(timrest.RateLimitedError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    check_api_error(info.value, emu, 60007)
    assert info.value.info == "over limit"


def test_unclassified_code_is_plain_api_error(emu: Emulator, client: timrest.Client) -> None:
    emu.inject(DELETE, error_code=12345, error_info="something new")
    with pytest.raises(timrest.ApiError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    assert type(info.value) is timrest.ApiError
    check_api_error(info.value, emu, 12345)
    assert info.value.kind == "api" and info.value.attempts == 1


def test_gateway_502_is_transport_error(emu: Emulator) -> None:
    client = emu.client(rate_limit=None, max_retries=1, deadline=60.0)
    emu.inject(DELETE, times=2, http_status=502)
    with pytest.raises(timrest.TransportError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    error = info.value
    assert isinstance(error, ConnectionError) and not isinstance(error, TimeoutError)
    assert error.http_status == 502 and error.code is None
    assert error.attempts == 2 and error.retryable
    assert error.random == last(emu)["random"]
    assert "502" in str(error)
    roundtrip(error)


def test_dropped_connection_is_transport_error(emu: Emulator) -> None:
    client = emu.client(rate_limit=None, max_retries=0)
    emu.inject(DELETE, drop=True)
    with pytest.raises(timrest.TransportError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    assert info.value.http_status is None and info.value.attempts == 1
    assert info.value.random == last(emu)["random"]
    roundtrip(info.value)


def test_closed_emulator_is_transport_error() -> None:
    with Emulator(rate_limit=None) as emu:
        client = emu.client(rate_limit=None, max_retries=0, connect_timeout=5.0)
    with pytest.raises(timrest.TransportError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    assert isinstance(info.value, ConnectionError)


def test_slow_answer_is_request_timeout_error(emu: Emulator) -> None:
    client = emu.client(rate_limit=None, max_retries=0, timeout=0.5)
    emu.inject(DELETE, delay=5.0)
    with pytest.raises(timrest.RequestTimeoutError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    error = info.value
    assert isinstance(error, timrest.TransportError)
    assert isinstance(error, TimeoutError) and isinstance(error, ConnectionError)
    assert error.kind == "timeout" and error.retryable and error.attempts == 1
    assert error.random is not None
    roundtrip(error)


def test_malformed_body_is_protocol_error(emu: Emulator, client: timrest.Client) -> None:
    for body in (b"<html>not json</html>", '{"ActionStatus": "OK"}', b"[1, 2, 3]"):
        emu.inject(DELETE, body=body)
        with pytest.raises(timrest.ProtocolError) as info:
            client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
        assert type(info.value) is timrest.ProtocolError
        assert info.value.code is None and not info.value.retryable
        assert info.value.random == last(emu)["random"]
        roundtrip(info.value)
