"""No secret leaks from the Python face: with a canary secret key (the emulator's own, so that
calls succeed) and a canary UserSig signed with it, through successes and every kind of fault,
neither shows in an exception's text, ``repr``, ``args``, attributes or pickle, in ``repr`` of
the client or the emulator, in the ``timrest`` log at DEBUG, or in the emulator's request log.

The autouse fixture of conftest.py checks every test of the suite's DEBUG log for the canaries
(and for the demo key and anything shaped like a UserSig); this file makes sure the canaries
really travel.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from typing import Callable

import pytest

import timrest
from timrest.testing import Emulator

DELETE = "delete_group_msg_by_sender"


def faults() -> list[dict[str, object]]:
    return [
        {"error_code": 10002},
        {"error_code": 70001},
        {"http_status": 502},
        {"drop": True},
        {"reset": True},
        {"truncate": True},
        {"body": "not json; usersig=eJyrVgrxCdYrSy1SslIyUtJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFG"},
        {"slow_body": 0.4},
        {"delay": 1.5},
    ]


def test_canaries_appear_nowhere(
    caplog: pytest.LogCaptureFixture, canary_key: str, no_secret: Callable[..., None]
) -> None:
    key = canary_key
    caplog.set_level(logging.DEBUG, logger="timrest")
    canary_sig = timrest.gen_usersig(1400000000, key, "administrator", 86400)
    texts: list[str] = []
    with Emulator(secret_key=key, rate_limit=None) as emu:
        gid = emu.create_group("Public")
        common = {"rate_limit": None, "timeout": 1.0, "deadline": 10.0}
        with_key = emu.client(max_retries=1, **common)
        with_sig = emu.client(usersig=canary_sig, max_retries=0, **common)
        ok = failed = 0
        for client in (with_key, with_sig):
            emu.send_group_msg(gid, "spammer", "x")
            client.delete_group_msg_by_sender(gid, "spammer")  # the canaries work
            ok += 1
            for fault in faults():
                emu.inject(DELETE, **fault)  # type: ignore[arg-type]
                try:
                    client.delete_group_msg_by_sender(gid, "spammer")
                    ok += 1
                except timrest.TimError as e:
                    failed += 1
                    texts += [str(e), repr(e), repr(e.args), repr(vars(e)), repr(pickle.dumps(e))]
                    again = pickle.loads(pickle.dumps(e))
                    texts += [str(again), repr(again)]
            texts += [repr(client), str(client)]
        # Credentials that are refused, and settings that are.
        for bad in (
            lambda: emu.client(identifier="someone_else", rate_limit=None).delete_group_msg_by_sender(gid, "s"),
            lambda: emu.client(secret_key=key + "x", rate_limit=None).delete_group_msg_by_sender(gid, "s"),
            lambda: timrest.Client(1400000001, usersig=canary_sig, base_url=emu.base_url),
            lambda: timrest.Client(1400000000, usersig=canary_sig, identifier="other", base_url=emu.base_url),
            lambda: timrest.Client(1400000000, secret_key=key, proxy="http://user:never-print-me@[bad"),
            lambda: timrest.verify_usersig(canary_sig, 1400000000, "wrong key", "administrator"),
            lambda: timrest.verify_usersig(canary_sig[:-8] + "AAAAAAAA", 1400000000, key, "administrator"),
            lambda: timrest.inspect_usersig(canary_sig[:40]),
        ):
            with pytest.raises((timrest.TimError, ValueError)) as info:
                bad()
            texts += [str(info.value), repr(info.value)]
        assert ok >= 2 and failed >= 6, (ok, failed)
        texts += [repr(emu), json.dumps(emu.requests())]
        assert any('"identifier": "administrator"' in t for t in texts), "the request log was empty"
    records = [r for r in caplog.records if r.name == "timrest"]
    assert records, "the client logged nothing at DEBUG"
    texts += [r.getMessage() for r in records]
    for text in texts:
        no_secret(text, extra=(canary_sig,))
    assert "never-print-me" not in " ".join(texts)


def test_the_autouse_guard_would_catch_a_leak(caplog: pytest.LogCaptureFixture, no_secret: Callable[..., None]) -> None:
    # The conftest guard is real: a record holding a canary fails it (checked here by hand).
    logging.getLogger("timrest").debug("usersig=%s", "eJ" + "x" * 60)
    leaked = [r.getMessage() for r in caplog.records if r.name == "timrest"]
    assert leaked
    with pytest.raises(AssertionError):
        no_secret(leaked[-1])
    caplog.clear()


def test_usersig_shaped_words_are_what_the_guard_looks_for(canary_key: str) -> None:
    sig = timrest.gen_usersig(1400000000, canary_key, "administrator", 86400)
    assert re.fullmatch(r"eJ[A-Za-z0-9*_-]{40,}", sig)
