"""UserSig: our signer against the official `tls-sig-api-v2` package, and the emulator accepting both."""

from __future__ import annotations

import base64
import json
import pickle
import time
import zlib

import pytest
import TLSSigAPIv2

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator

FIXED_NOW = 1_600_000_000


def inflate(usersig: str) -> bytes:
    """The JSON text inside a UserSig."""
    return zlib.decompress(base64.b64decode(usersig.replace("*", "+").replace("-", "/").replace("_", "=")))


def decode(usersig: str) -> dict[str, object]:
    return json.loads(inflate(usersig))  # type: ignore[no-any-return]


def official(monkeypatch: pytest.MonkeyPatch, identifier: str, expire: int, now: int = FIXED_NOW) -> str:
    """A UserSig made by the official package with its clock fixed at `now`."""
    monkeypatch.setattr(TLSSigAPIv2.time, "time", lambda: float(now))
    try:
        return str(TLSSigAPIv2.TLSSigAPIv2(DEMO_SDKAPPID, DEMO_SECRET_KEY).gen_sig(identifier, expire))
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize(("identifier", "expire"), [("xiaojun", 15552000), ("admin", 86400), ("administrator", 3600)])
def test_gen_usersig_matches_the_official_signer_at_the_same_instant(
    monkeypatch: pytest.MonkeyPatch, identifier: str, expire: int
) -> None:
    theirs = official(monkeypatch, identifier, expire)
    ours = timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, identifier, expire, now=FIXED_NOW)
    assert decode(ours)["TLS.sig"] == decode(theirs)["TLS.sig"]
    # The same JSON text (key order, spacing) as the Python library. The zlib streams differ in
    # their bytes (another deflate implementation), which no verifier looks at.
    assert inflate(ours) == inflate(theirs)


def test_spec_vectors() -> None:
    sig = timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "xiaojun", 15552000, now=FIXED_NOW)
    assert decode(sig)["TLS.sig"] == "1Z5PngDjGaufeSiPoBuxdHY7EK3JTdAjMP93S4KvV3M="
    admin = (
        "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-NgUsUp2YkFBZkpQAlDEwMogMqlVhRkFqUCZSzMTOCCJZm5ICFDMzTFxZnpIMOdDFwz3V1LyiyycspL3IpMTVKd802Lgwx9g4IMPIKccoIsK7NDfCOLs30tbJVqAffJMcU_"
    )
    ours = timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin", 86400, now=FIXED_NOW)
    assert inflate(ours) == inflate(admin)
    assert decode(ours)["TLS.sig"] == "B0EiGEtv8jlwtFr54eCo5sR1MRR0HRBlR9ykTMYskM8="
    # The spec's UserSigs (Python's and Node's) are accepted as they are.
    timrest.verify_usersig(admin, DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin", now=FIXED_NOW)
    node = (
        "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMogMiUZOamKlkZmqGKplYUZBaBxE1NTY3gosWZ6UpWSoZRpgF56S5Z7omlaanBmQH5TqUVKR6R5q7exl4hKY5ZvgGWxsEm3mVhxr62SrUAnj0xuw__"
    )
    timrest.verify_usersig(node, DEMO_SDKAPPID, DEMO_SECRET_KEY, "xiaojun", now=FIXED_NOW)


def test_official_usersig_is_accepted_by_verify_usersig(monkeypatch: pytest.MonkeyPatch) -> None:
    sig = official(monkeypatch, "administrator", 86400, now=int(time.time()))
    assert timrest.verify_usersig(sig, DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator") is None
    fixed = official(monkeypatch, "admin", 86400)
    timrest.verify_usersig(fixed, DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin", now=FIXED_NOW + 86400)


def test_official_usersig_is_accepted_by_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    sig = official(monkeypatch, "administrator", 86400, now=int(time.time()))
    with Emulator(rate_limit=None) as emu:
        gid = emu.create_group("Public", members=("spammer",))
        emu.send_group_msg(gid, "spammer", "buy now")
        client = emu.client(usersig=sig)
        assert client.auth == "usersig"
        client.delete_group_msg_by_sender(gid, "spammer")
        assert emu.messages(gid) == []


def test_inspect_usersig() -> None:
    sig = timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin", 86400, now=FIXED_NOW)
    assert timrest.inspect_usersig(sig) == {
        "identifier": "admin",
        "sdkappid": DEMO_SDKAPPID,
        "time": FIXED_NOW,
        "expire": 86400,
        "expires_at": FIXED_NOW + 86400,
    }
    with pytest.raises(timrest.InvalidArgumentError) as info:
        timrest.inspect_usersig("not a usersig")
    assert isinstance(info.value, ValueError)


def test_verify_usersig_failures_are_typed() -> None:
    sig = timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin", 86400, now=FIXED_NOW)
    # Expired only when now > time + expire.
    timrest.verify_usersig(sig, DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin", now=FIXED_NOW + 86400)
    with pytest.raises(timrest.UserSigExpiredError) as expired:
        timrest.verify_usersig(sig, DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin", now=FIXED_NOW + 86401)
    assert expired.value.code == 70001
    cases = [
        ((sig, DEMO_SDKAPPID, "another key", "admin"), 70009),
        ((sig, DEMO_SDKAPPID, DEMO_SECRET_KEY, "someone"), 70013),
        ((sig, DEMO_SDKAPPID + 1, DEMO_SECRET_KEY, "admin"), 70014),
        (("garbage", DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin"), 70003),
        (("", DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin"), 70002),
    ]
    for args, code in cases:
        with pytest.raises(timrest.AuthError) as info:
            timrest.verify_usersig(*args, now=FIXED_NOW)
        assert type(info.value) is timrest.AuthError
        assert info.value.code == code
        assert DEMO_SECRET_KEY not in str(info.value)
        again = pickle.loads(pickle.dumps(info.value))
        assert (type(again), again.code, str(again)) == (timrest.AuthError, code, str(info.value))


def test_gen_usersig_rejects_what_cannot_be_signed() -> None:
    with pytest.raises(timrest.InvalidArgumentError):
        timrest.gen_usersig(DEMO_SDKAPPID, "", "admin")
    with pytest.raises(timrest.InvalidArgumentError):
        timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "")
    sig = timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "admin")
    assert abs(timrest.inspect_usersig(sig)["time"] - time.time()) < 3600
