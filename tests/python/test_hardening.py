"""What a hostile server, forked workers and odd settings used to break (the hardening issue), each
through the installed package over real HTTP: the hostile servers are rows of the fault matrix
(test_faults.py, which also checks messages for control characters and secrets); here the rest."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import timrest
from timrest.testing import Emulator

FORK = pathlib.Path(__file__).with_name("fleet") / "fork.py"


def deletions(emu: Emulator) -> list[dict]:
    return [r for r in emu.requests() if r["command"] == "delete_group_msg_by_sender"]


def run_timrest(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIM_")}
    return subprocess.run([sys.executable, "-m", "timrest", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("rate", [1e-20, 1e300, float("inf"), 0.0, -1.0])
def test_a_rate_out_of_range_is_a_config_error_naming_it(emu: Emulator, rate: float) -> None:
    with pytest.raises(timrest.ConfigError, match="rate_limit"):
        timrest.Client(1400000000, secret_key="k", base_url="http://127.0.0.1:9", rate_limit=rate)
    with pytest.raises(timrest.ConfigError, match="rate_limit"):
        Emulator(rate_limit=rate if rate != 0.0 else -1.0)
    with pytest.raises(timrest.ConfigError, match="rate_limit"):
        emu.set_rate_limit(1e-20)


@pytest.mark.parametrize("name, value", [("timeout", 1e18), ("deadline", 1e30), ("connect_timeout", 86401.0),
                                         ("rate_limit_timeout", 1e9), ("usersig_ttl", 10**12)])
def test_huge_durations_are_config_errors_naming_them(name: str, value: float) -> None:
    with pytest.raises(timrest.ConfigError, match=name):
        timrest.Client(1400000000, secret_key="k", base_url="http://127.0.0.1:9", **{name: value})


def test_huge_emulator_delays_are_config_errors(emu: Emulator) -> None:
    with pytest.raises(timrest.ConfigError, match="latency"):
        Emulator(latency=1e18)
    with pytest.raises(timrest.ConfigError, match="latency"):
        emu.set_latency(1e12)
    with pytest.raises(timrest.ConfigError, match="delay"):
        emu.inject("delete_group_msg_by_sender", delay=1e15)


def test_the_command_exits_2_for_a_tiny_rate(emu: Emulator) -> None:
    env = {"TIM_SDKAPPID": "1400000000", "TIM_SECRET_KEY": timrest.testing.DEMO_SECRET_KEY,
           "TIM_BASE_URL": emu.base_url}
    done = run_timrest("delete", "--group", "g", "--sender", "s", "--rate-limit", "1e-20", env=env)
    assert done.returncode == 2, done.stderr
    assert "rate" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert deletions(emu) == []


def test_an_empty_tim_variable_is_an_error_naming_it(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIM_SDKAPPID", "1400000000")
    monkeypatch.setenv("TIM_SECRET_KEY", timrest.testing.DEMO_SECRET_KEY)
    monkeypatch.setenv("TIM_BASE_URL", "")
    with pytest.raises(timrest.ConfigError, match="TIM_BASE_URL"):
        timrest.Client.from_env()
    env = {"TIM_SDKAPPID": "1400000000", "TIM_SECRET_KEY": timrest.testing.DEMO_SECRET_KEY, "TIM_BASE_URL": ""}
    done = run_timrest("delete", "--group", "g", "--sender", "s", env=env)
    assert done.returncode == 2 and "TIM_BASE_URL" in done.stderr, done.stderr
    assert deletions(emu) == []


def test_call_refuses_path_segments_outside_tencents_alphabet(client: timrest.Client, emu: Emulator) -> None:
    for service, command in [("..", ".."), (".", "x"), ("group_open_http_svc", "../../x"), ("a b", "c"),
                             ("svc", "cmd?usersig=x")]:
        with pytest.raises(timrest.InvalidArgumentError):
            client.call(service, command, {})
    assert emu.requests() == [], "nothing was sent"


def test_forked_children_send_randoms_of_their_own(emu: Emulator) -> None:
    gid = emu.create_group("Public")
    done = subprocess.run([sys.executable, str(FORK), emu.base_url, gid, "children"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    randoms = [r["random"] for r in deletions(emu)]
    assert len(randoms) == 1 + 3 * 20
    assert len(set(randoms)) == len(randoms), "a random was sent twice"


def test_a_client_used_on_both_sides_of_a_fork_keeps_working(emu: Emulator) -> None:
    gid = emu.create_group("Public")
    done = subprocess.run([sys.executable, str(FORK), emu.base_url, gid, "both_sides"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    sent = deletions(emu)
    assert len(sent) == 1 + 2 * 300, "every call arrived once, none merged with another"
    assert all(r["error_code"] == 0 for r in sent)
    assert len({r["random"] for r in sent}) == len(sent)


def test_server_text_is_escaped_in_the_message_and_whole_on_info(client: timrest.Client, emu: Emulator) -> None:
    hostile = "no group\r\n2026-12-01 INFO forged\x1b[31m\x00" + "x" * 900_000
    emu.inject("delete_group_msg_by_sender", error_code=10010, error_info=hostile)
    with pytest.raises(timrest.GroupNotFoundError) as info:
        client.delete_group_msg_by_sender(emu.create_group("Public"), "s")
    e = info.value
    assert e.info == hostile
    assert len(str(e)) < 1300 and "more bytes)" in str(e)
    assert not any(ord(c) < 0x20 for c in str(e) + repr(e)), repr(str(e))
