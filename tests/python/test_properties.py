"""Property tests (hypothesis) of the Python face: the UserSig codec (round trip, tampering),
argument validation (refused exactly when a rule is broken, and then before sending), and the
response parser (any body the server may send gives success only for a real OK envelope).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import timrest
from timrest.testing import Emulator

DELETE = "delete_group_msg_by_sender"
NOW = 1_700_000_000
URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_"

identifiers = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=32)
keys = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=8, max_size=64)
sdkappids = st.integers(min_value=1, max_value=2**63)


@settings(max_examples=150, deadline=None, database=None)
@given(sdkappid=sdkappids, key=keys, identifier=identifiers, expire=st.integers(0, 10**9))
def test_usersig_round_trips(sdkappid: int, key: str, identifier: str, expire: int) -> None:
    sig = timrest.gen_usersig(sdkappid, key, identifier, expire, now=NOW)
    assert set(sig) <= set(URL_ALPHABET)
    timrest.verify_usersig(sig, sdkappid, key, identifier, now=NOW + expire)
    info = timrest.inspect_usersig(sig)
    assert (info["identifier"], info["sdkappid"], info["time"], info["expire"]) == (identifier, sdkappid, NOW, expire)
    with pytest.raises(timrest.UserSigExpiredError):
        timrest.verify_usersig(sig, sdkappid, key, identifier, now=NOW + expire + 1)


@settings(max_examples=300, deadline=None, database=None)
@given(key=keys, identifier=identifiers, position=st.integers(0, 10**6), replacement=st.sampled_from(URL_ALPHABET))
def test_tampering_is_detected(key: str, identifier: str, position: int, replacement: str) -> None:
    sig = timrest.gen_usersig(1400000000, key, identifier, 86400, now=NOW)
    at = position % len(sig)
    assume(sig[at] != replacement)
    tampered = sig[:at] + replacement + sig[at + 1 :]
    try:
        timrest.verify_usersig(tampered, 1400000000, key, identifier, now=NOW)
    except timrest.AuthError as e:
        assert key not in str(e) and tampered not in str(e) and sig not in str(e)
    else:
        # A change in bits that carry nothing (the padding bits after deflate's last block, a
        # base64 padding character turned into a byte after the zlib stream) decodes to the very
        # same signed text: accepted, and nothing was forged. Anything else must fail.
        assert timrest.inspect_usersig(tampered) == timrest.inspect_usersig(sig), f"position {at}"


@settings(max_examples=100, deadline=None, database=None)
@given(key=keys, other=keys, identifier=identifiers)
def test_another_key_never_verifies(key: str, other: str, identifier: str) -> None:
    assume(key != other)
    sig = timrest.gen_usersig(1400000000, key, identifier, 86400, now=NOW)
    with pytest.raises(timrest.AuthError) as info:
        timrest.verify_usersig(sig, 1400000000, other, identifier, now=NOW)
    assert key not in str(info.value) and other not in str(info.value)


# -- validation: a client aimed at a port where nothing listens, so a valid call fails fast --------


@pytest.fixture(scope="module")
def refusing_client() -> timrest.Client:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return timrest.Client(
        1400000000,
        secret_key="k",
        base_url=f"http://127.0.0.1:{port}",
        rate_limit=None,
        max_retries=0,
        connect_timeout=2.0,
    )


ids = st.one_of(st.text(max_size=60), st.text(alphabet=st.characters(max_codepoint=0xA0), max_size=60))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(group=ids, sender=ids)
def test_validation_refuses_exactly_what_breaks_a_rule(refusing_client: timrest.Client, group: str, sender: str) -> None:
    def control(c: str) -> bool:
        return ord(c) < 32 or 127 <= ord(c) < 160

    assume(not any(0xD800 <= ord(c) < 0xE000 for c in group + sender))
    bad = (
        group == ""
        or len(group.encode()) > 48
        or any(control(c) for c in group)
        or sender == ""
        or len(sender.encode()) > 32
        or any(control(c) for c in sender)
    )
    with pytest.raises(timrest.TimError) as info:
        refusing_client.delete_group_msg_by_sender(group, sender)
    if bad:
        assert type(info.value) is timrest.InvalidArgumentError, info.value
        assert info.value.attempts == 0
    else:
        # Valid: it was sent (and refused by the network, not by the checks).
        assert type(info.value) is timrest.TransportError, info.value
        assert info.value.attempts == 1


# -- the response parser, through the emulator's `body` fault --------------------------------------


@pytest.fixture(scope="module")
def body_emulator() -> Iterator[tuple[Emulator, timrest.Client]]:
    with Emulator(rate_limit=None) as emu:
        yield emu, emu.client(rate_limit=None, max_retries=0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "ActionStatus": st.sampled_from(["OK", "FAIL", "", 1]),
        "ErrorInfo": st.one_of(st.text(max_size=20), st.none(), st.integers()),
        "ErrorCode": st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 10002, 10010, 60007]), json_values),
        "Extra": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=200),
    envelopes.map(lambda d: json.dumps(d).encode()),
    envelopes.map(lambda d: json.dumps(d).encode()).flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_any_body_gives_success_only_for_a_real_ok_envelope(
    body_emulator: tuple[Emulator, timrest.Client], body: bytes
) -> None:
    emu, client = body_emulator
    emu.inject(DELETE, body=body)
    def strict(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")  # Python accepts NaN and Infinity; JSON does not

    try:
        parsed: Any = json.loads(body, parse_constant=strict)
    except ValueError:
        parsed = None
    code = parsed.get("ErrorCode") if isinstance(parsed, dict) else None
    is_int_code = isinstance(code, int) and not isinstance(code, bool) and -(2**63) <= code < 2**63
    try:
        client.delete_group_msg_by_sender("@TGS#g", "s")
    except timrest.ApiError as e:
        assert is_int_code and code != 0 and e.code == code, (body, e)
    except timrest.ProtocolError as e:
        assert e.code is None and e.attempts == 1
        # A nonzero code is a protocol error only when the envelope contradicts itself.
        assert not (is_int_code and code != 0 and parsed.get("ActionStatus") != "OK"), (body, e)
    else:
        assert isinstance(parsed, dict) and is_int_code and code == 0, body
        assert parsed.get("ActionStatus", "OK") == "OK", body
