"""The emulator command is one program under three names (issue 27): `timrest emulator` and the
`timrest-emulator` console script from the installed wheel, and the `timrest-emulator` binary that
cargo builds (what scripts/install.sh installs). Each is started as a process, as a user would;
each must take the same flags, print the same first line, seed the same state, and let
`timrest purge spammer42 --dry-run` find the seeded groups."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import timrest
import timrest.testing

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TIMREST = str(BIN / "timrest")
PREFIX = timrest._native.EMULATOR_READY_PREFIX
DEMO_GROUPS = {"release-team": "Public", "ops-oncall": "Work", "friday-meetup": "ChatRoom"}


@pytest.fixture(scope="module")
def cargo_binary() -> str:
    """The Rust binary, built as `cargo test --features emulator` builds it (usually already there)."""
    build = subprocess.run(
        ["cargo", "build", "--quiet", "--features", "emulator", "--bin", "timrest-emulator", "--message-format=json"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    assert build.returncode == 0, build.stderr
    for line in build.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "timrest-emulator":
            path = message.get("executable")
            if path:
                return str(path)
    raise AssertionError(f"cargo did not name the timrest-emulator executable: {build.stdout[-2000:]}")


def forms(cargo_binary: str) -> dict[str, list[str]]:
    return {
        "timrest emulator": [TIMREST, "emulator"],
        "timrest-emulator": [str(BIN / "timrest-emulator")],
        "cargo's timrest-emulator": [cargo_binary],
    }


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIM_")}
    env.update(extra)
    return env


def demo_env(base_url: str) -> dict[str, str]:
    return clean_env(TIM_BASE_URL=base_url, TIM_SDKAPPID=str(timrest.testing.DEMO_SDKAPPID),
                     TIM_SECRET_KEY=timrest.testing.DEMO_SECRET_KEY)


def history(base_url: str, group_id: str) -> list[tuple[int, str, str]]:
    """(MsgSeq, sender, text) of each stored message, over REST."""
    client = timrest.Client(timrest.testing.DEMO_SDKAPPID, secret_key=timrest.testing.DEMO_SECRET_KEY,
                            base_url=base_url, rate_limit=None)
    answer = client.call("group_open_http_svc", "group_msg_get_simple", {"GroupId": group_id, "ReqMsgNumber": 20})
    return sorted((m["MsgSeq"], m["From_Account"], m["MsgBody"][0]["MsgContent"]["Text"])
                  for m in answer["RspMsgList"])


def served_state(command: list[str]) -> dict[str, Any]:
    """Starts the command with --seed-demo, reads what it serves, then closes its stdin."""
    proc = subprocess.Popen([*command, "--seed-demo", "--stop-on-stdin-eof", "--latency-ms", "0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env())
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = proc.stdout.readline().rstrip("\n")
        assert first.startswith(PREFIX + "http://127.0.0.1:"), first
        base_url = first[len(PREFIX):]
        plan = subprocess.run([TIMREST, "purge", "spammer42", "--dry-run", "--format", "jsonl"],
                              env=demo_env(base_url), capture_output=True, text=True, timeout=60, check=False)
        assert plan.returncode == 0, plan.stderr
        planned = sorted((r["group_id"], r["sender"]) for r in map(json.loads, plan.stdout.splitlines()))
        groups = {gid: history(base_url, gid) for gid in DEMO_GROUPS}
        rest, err = proc.communicate(timeout=30)  # closes its stdin: with --stop-on-stdin-eof it exits
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and rest == "", (proc.returncode, rest, err)
    return {"planned": planned, "groups": groups, "first_line": first[: len(PREFIX)], "stderr": err}


def test_every_form_seeds_the_same_groups_and_purge_finds_them(cargo_binary: str) -> None:
    states = {name: served_state(command) for name, command in forms(cargo_binary).items()}
    expected_plan = sorted((gid, "spammer42") for gid in DEMO_GROUPS)
    for name, state in states.items():
        assert state["planned"] == expected_plan, name
        for gid, kind in DEMO_GROUPS.items():
            assert f"seeded {kind} group {gid}" in state["stderr"], (name, state["stderr"])
        assert state["stderr"].rstrip().endswith("stopped"), (name, state["stderr"])
    reference = states["timrest emulator"]["groups"]
    assert all(len(h) >= 3 and any(s == "spammer42" for _, s, _ in h) for h in reference.values())
    for name, state in states.items():
        assert state["groups"] == reference, name


def test_the_python_seed_is_the_commands_seed() -> None:
    """`Emulator.seed_demo()` in a test makes what `--seed-demo` serves (here with server-made IDs)."""
    with timrest.testing.Emulator() as emu:
        seeded = emu.seed_demo()
        assert [(g.name, g.group_type) for g in seeded] == list(DEMO_GROUPS.items())
        for g in seeded:
            assert g.group_id.startswith("@TGS#")
            senders = [m["From_Account"] for m in emu.messages(g.group_id)]
            assert len(senders) == g.messages and senders.count(timrest.testing.DEMO_SPAMMER) == g.spam > 0
            assert timrest.testing.DEMO_SPAMMER in emu.members(g.group_id)
        plan = emu.client().purge_senders([timrest.testing.DEMO_SPAMMER], dry_run=True)
        planned = sorted(str(s.group_id) for s in plan.steps if s.step == "delete")
        assert planned == sorted(g.group_id for g in seeded)


def test_every_form_takes_the_same_flags(cargo_binary: str) -> None:
    helps = {}
    for name, command in forms(cargo_binary).items():
        done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0 and done.stderr == "", (name, done.stderr)
        prog = "timrest emulator" if name == "timrest emulator" else "timrest-emulator"
        assert done.stdout.startswith(f"usage: {prog} [options]"), name
        helps[name] = done.stdout.replace(f"usage: {prog}", "usage: PROG", 1)
        assert timrest.testing.DEMO_SECRET_KEY in done.stdout
    assert len(set(helps.values())) == 1, helps
    for name, command in forms(cargo_binary).items():
        # A bad value is named, exits 2, prints nothing on stdout, and never echoes the secret key.
        for bad, named in [(["--latency", "-1"], "--latency"), (["--port", "70000"], "65535"),
                           (["--rate-limit", "0"], "off"), (["--frobnicate"], "--frobnicate")]:
            done = subprocess.run([*command, *bad, "--secret-key", "hunter2-secret"], capture_output=True, text=True,
                                  timeout=30, check=False)
            assert done.returncode == 2 and done.stdout == "", (name, bad, done.stderr)
            assert named in done.stderr and "error" in done.stderr and "hunter2" not in done.stderr, (name, done.stderr)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_python_forms_with_the_whole_log(tmp_path: Path, stop: signal.Signals) -> None:
    """Ctrl-C and SIGTERM end `timrest emulator` with exit 0 and every request in its --log."""
    log = tmp_path / "emulator.jsonl"
    proc = subprocess.Popen([TIMREST, "emulator", "--rate-limit", "off", "--log", str(log)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()[len(PREFIX):]
        client = timrest.Client(timrest.testing.DEMO_SDKAPPID, secret_key=timrest.testing.DEMO_SECRET_KEY,
                                base_url=base_url, rate_limit=None)
        randoms: list[int] = []
        for _ in range(25):
            with pytest.raises(timrest.GroupNotFoundError) as e:
                client.delete_group_msg_by_sender("@TGS#NONE", "spammer")
            randoms.append(e.value.random)
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and err.rstrip().endswith("timrest emulator: stopped"), err
    logged = [json.loads(line)["random"] for line in log.read_text().splitlines()]
    assert logged == randoms
    assert timrest.testing.DEMO_SECRET_KEY not in log.read_text()
