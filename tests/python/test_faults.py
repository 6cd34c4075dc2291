"""The fault matrix of ``tests/faults.json`` in the Python face (the Rust and C faces run the same
rows: tests/faults.rs, tests/c/faults.rs; docs/faults.md shows them).

Each row scripts the emulator for every attempt (or leaves nothing listening), makes one call with
the table's settings, and checks the exception class (exactly), ``code``, ``http_status``,
``attempts`` (against the emulator's request log too), ``retryable``, ``random`` (the last
request's), and that the call returned within the deadline plus a generous slack.
"""

from __future__ import annotations

import json
import pathlib
import pickle
import socket
import time
from typing import Any

import pytest

import timrest
from timrest.testing import Emulator

DELETE = "delete_group_msg_by_sender"
TABLE: dict[str, Any] = json.loads((pathlib.Path(__file__).resolve().parents[1] / "faults.json").read_text())
SETTINGS: dict[str, int] = TABLE["settings"]
CASES: list[dict[str, Any]] = TABLE["cases"]


def huge_envelope(length: int) -> bytes:
    """A valid OK envelope of exactly ``length`` bytes: only the client's size limit refuses it."""
    head, tail = b'{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"', b'"}'
    return head + b"x" * (length - len(head) - len(tail)) + tail


def refused_base_url() -> str:
    """A loopback URL where nothing listens (a port bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def inject_case(emu: Emulator, setup: dict[str, Any]) -> None:
    """Scripts the row's fault for every attempt."""
    fault: dict[str, Any] = {"times": 1000}
    for name in ("error_code", "error_info", "http_status", "drop", "reset", "truncate", "echo_secrets",
                 "endless_headers"):
        if name in setup:
            fault[name] = setup[name]
    if "body" in setup:
        fault["body"] = setup["body"]
    if setup.get("huge_body"):
        fault["body"] = huge_envelope(SETTINGS["max_response_bytes"] + 1)
    if "delay_ms" in setup:
        fault["delay"] = setup["delay_ms"] / 1000
    if "slow_body_ms" in setup:
        fault["slow_body"] = setup["slow_body_ms"] / 1000
    emu.inject(DELETE, **fault)


def deletions_at_least(emu: Emulator, n: int) -> list[dict[str, Any]]:
    """The deletion requests in the log, once there are ``n`` (a delayed answer is logged late)."""
    give_up = time.monotonic() + 30
    while True:
        sent = [r for r in emu.requests() if r["command"] == DELETE]
        if len(sent) >= n or time.monotonic() > give_up:
            return sent
        time.sleep(0.02)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_fault_matrix(case: dict[str, Any]) -> None:
    expected = getattr(timrest, case["python"])
    deadline = SETTINGS["deadline_ms"] / 1000
    with Emulator(rate_limit=None) as emu:
        gid = emu.create_group("Public")
        emu.send_group_msg(gid, "spammer", "spam")
        refused = bool(case["setup"].get("refused"))
        if not refused:
            inject_case(emu, case["setup"])
        client = timrest.Client(
            emu.sdkappid,
            secret_key=timrest.testing.DEMO_SECRET_KEY,
            base_url=refused_base_url() if refused else emu.base_url,
            rate_limit=None,
            max_retries=SETTINGS["max_retries"],
            timeout=SETTINGS["timeout_ms"] / 1000,
            connect_timeout=SETTINGS["connect_timeout_ms"] / 1000,
            deadline=deadline,
        )
        started = time.monotonic()
        with pytest.raises(timrest.TimError) as info:
            client.delete_group_msg_by_sender(gid, "spammer")
        took = time.monotonic() - started
        e = info.value
        assert type(e) is expected, f"{type(e).__name__} (expected {case['python']}): {e}"
        assert e.kind == case["kind"]
        assert e.code == case["code"], str(e)
        assert e.http_status == case["http"], str(e)
        assert e.attempts == case["attempts"], str(e)
        assert e.retryable is case["retried"]
        assert str(e) and e.info
        # Hostile servers: no control character reaches the message, no secret reaches anything.
        assert not any(ord(c) < 0x20 or c == "\x7f" for c in str(e)), repr(str(e))
        for text in (str(e), repr(e), e.info, repr(pickle.loads(pickle.dumps(e)))):
            assert timrest.testing.DEMO_SECRET_KEY not in text and "eJ" not in text, text
        assert took <= deadline + SETTINGS["slack_ms"] / 1000, f"took {took:.1f} s"
        assert e.elapsed is not None and e.elapsed <= took + 0.01
        if refused:
            assert e.random is not None
        else:
            sent = deletions_at_least(emu, case["attempts"])
            assert len(sent) == case["attempts"], sent
            assert all(r["fault"] is not None for r in sent)
            assert e.random == sent[-1]["random"]
            assert len({r["random"] for r in sent}) == len(sent), "a random was sent twice"


def test_the_table_names_real_classes() -> None:
    for case in CASES:
        cls = getattr(timrest, case["python"])
        assert issubclass(cls, timrest.TimError)
        assert cls.default_kind == case["kind"], case["id"]
        assert cls.default_retryable is case["retried"], case["id"]
