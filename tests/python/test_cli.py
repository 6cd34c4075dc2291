"""The `timrest` command, run as the installed console script (and `python -m timrest`) in subprocesses,
against `timrest emulator` started as a subprocess too; seeding and inspection go through REST calls."""

from __future__ import annotations

import csv
import io
import json
import re
import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import pytest

import timrest
import timrest.testing

TIMREST = str(Path(sys.executable).with_name("timrest"))  # the console script the wheel installed
SDKAPPID = 1400000123
KEY = "cli-test-key-0f3a9c2b7d1e"  # not the demo key: the emulator subprocess is told it
SVC = "group_open_http_svc"


def run(*args: str, env: Optional[dict[str, str]] = None, stdin: Optional[str] = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs `timrest ARGS` with a clean TIM_* environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TIM_")}
    base.update(env or {})
    return subprocess.run([TIMREST, *args], input=stdin, capture_output=True, text=True, env=base,
                          timeout=timeout, check=False)


class EmulatorProcess:
    """`timrest emulator` in a subprocess; its base URL is the first line it prints."""

    def __init__(self, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [TIMREST, "emulator", "--port", "0", "--sdkappid", str(SDKAPPID), "--secret-key", KEY,
             "--admin", "administrator", "--admin", "ops", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        prefix = timrest._native.EMULATOR_READY_PREFIX
        assert first.startswith(prefix + "http://127.0.0.1:"), self.proc.stderr and self.proc.stderr.read()
        self.base_url = first[len(prefix):]
        self.client = timrest.Client(SDKAPPID, secret_key=KEY, base_url=self.base_url, rate_limit=None)

    def env(self, **extra: str) -> dict[str, str]:
        """The TIM_* environment of a client of this emulator."""
        return {"TIM_SDKAPPID": str(SDKAPPID), "TIM_SECRET_KEY": KEY, "TIM_BASE_URL": self.base_url, **extra}

    def create_group(self, group_type: str = "Public", **fields: Any) -> str:
        answer = self.client.call(SVC, "create_group", {"Type": group_type, "Name": "g", **fields})
        return str(answer["GroupId"])

    def post(self, gid: str, sender: str, text: str, topic_id: Optional[str] = None) -> None:
        body: dict[str, Any] = {
            "GroupId": gid, "From_Account": sender, "Random": len(text),
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
        }
        if topic_id:
            body["TopicId"] = topic_id
        self.client.call(SVC, "send_group_msg", body)

    def senders(self, gid: str, topic_id: Optional[str] = None) -> list[str]:
        body: dict[str, Any] = {"GroupId": gid, "ReqMsgNumber": 20}
        if topic_id:
            body["TopicId"] = topic_id
        answer = self.client.call(SVC, "group_msg_get_simple", body)
        return sorted(m["From_Account"] for m in answer["RspMsgList"])

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err


@pytest.fixture
def server() -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess("--rate-limit", "off")
    try:
        yield emulator
    finally:
        status, err = emulator.stop()
    assert status == 0 and "stopped" in err, err


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("timrest: error: "), stderr
    return lines[0]


# -- delete-batch --------------------------------------------------------------------------------


def test_delete_batch_on_a_csv(server: EmulatorProcess, tmp_path: Path) -> None:
    groups = [server.create_group() for _ in range(4)]
    for gid in groups:
        server.post(gid, "spammer", "buy now")
        server.post(gid, "alice", "hello")
    community = server.create_group("Community", SupportTopic=1)
    topic = str(server.client.call(SVC, "create_topic", {"GroupId": community, "TopicName": "news"})["TopicId"])
    server.post(community, "spammer", "in the topic", topic_id=topic)
    server.post(community, "spammer", "outside the topic")
    rows = ["group_id,sender,topic_id", *(f"{g},spammer," for g in groups[:2]), "", "# a comment",
            f"{community},spammer,{topic}", "@TGS#NOSUCHGROUP,spammer", f"{groups[2]},spammer", "only-one-field",
            f'"{groups[3]}", "spammer"']
    batch = tmp_path / "spam.csv"
    batch.write_text("\n".join(rows) + "\n")
    report = tmp_path / "report.jsonl"

    done = run("delete-batch", str(batch), "--report", str(report), "--concurrency", "3", "--progress",
               env=server.env())

    assert done.returncode == 1, done.stderr  # some items failed
    assert done.stdout == ""
    assert "7/7" in done.stderr  # the file was counted first: the bar knows its total
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("timrest: 5 ok, 2 failed of 7 items") and "GroupNotFoundError: 1" in summary
    # Written as items finish: in the order they finished, which the index puts back in input order.
    records = sorted((json.loads(line) for line in report.read_text().splitlines()), key=lambda r: r["index"])
    assert [r["line"] for r in records] == [2, 3, 6, 7, 8, 9, 10]
    assert [r["ok"] for r in records] == [True, True, True, False, True, False, True]
    assert records[2]["topic_id"] == topic and records[0]["topic_id"] is None
    assert (records[3]["error"], records[3]["code"], records[3]["attempts"]) == ("GroupNotFoundError", 10010, 1)
    assert records[5]["error"] == "InvalidArgumentError" and records[5]["message"].startswith("line 9:")
    assert all(isinstance(r["random"], int) for r in records if r["ok"])
    assert all(server.senders(g) == ["alice"] for g in groups)
    assert server.senders(community, topic) == [] and server.senders(community) == ["spammer"]
    assert KEY not in done.stderr + report.read_text()


def test_stats_prints_the_clients_counters_as_the_server_saw_them(server: EmulatorProcess, tmp_path: Path) -> None:
    groups = [server.create_group() for _ in range(3)]
    batch = tmp_path / "spam.csv"
    batch.write_text("".join(f"{g},spammer\n" for g in groups) + "@TGS#NOSUCHGROUP,spammer\n")
    done = run("delete-batch", str(batch), "--stats", env=server.env())
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("timrest: stats ")]
    assert len(lines) == 1, done.stderr
    stats = json.loads(lines[0].removeprefix("timrest: stats "))
    assert (stats["calls"], stats["ok"], stats["failed"]) == (4, 3, 1)
    assert stats["failed_by_kind"] == {"group_not_found": 1}
    assert stats["attempts"] == 4 and stats["retries"] == 0 and stats["limiter_waits"] == 4
    # Without the flag, no such line.
    quiet = run("delete-batch", str(batch), env=server.env())
    assert "timrest: stats" not in quiet.stderr


def test_delete_batch_json_lines_from_stdin_all_ok(server: EmulatorProcess) -> None:
    groups = [server.create_group() for _ in range(3)]
    for gid in groups:
        server.post(gid, "spammer", "buy now")
    lines = [json.dumps({"group_id": groups[0], "sender": "spammer"}), json.dumps([groups[1], "spammer"]),
             json.dumps({"group": groups[2], "sender": "spammer", "topic_id": None})]

    done = run("delete-batch", "-", "--progress", env=server.env(), stdin="\n".join(lines) + "\n")

    assert done.returncode == 0, done.stderr
    records = sorted((json.loads(line) for line in done.stdout.splitlines()), key=lambda r: r["index"])  # stdout
    assert [(r["index"], r["line"], r["group_id"], r["ok"]) for r in records] == [
        (i, i + 1, g, True) for i, g in enumerate(groups)
    ]
    assert "delete_many" in done.stderr and "3item" in done.stderr.replace(" ", "")  # tqdm's bar on stderr
    assert all(server.senders(g) == [] for g in groups)


def test_delete_batch_stop_on_error(server: EmulatorProcess) -> None:
    gid = server.create_group()
    server.post(gid, "spammer", "buy now")
    done = run("delete-batch", "-", "--stop-on-error", "--concurrency", "1", env=server.env(),
               stdin=f"@TGS#NOSUCHGROUP,spammer\n{gid},spammer\n")
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 1 and "--stop-on-error" in done.stderr
    assert server.senders(gid) == ["spammer"]  # never scheduled


CTRL_C_CLI = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "  # as in an interactive shell
    "from timrest.cli import main; sys.exit(main())"
)


def test_ctrl_c_writes_the_partial_report(tmp_path: Path) -> None:
    server = EmulatorProcess("--rate-limit", "off", "--latency", "1.0")
    try:
        with ThreadPoolExecutor(8) as pool:  # every call takes a second: seed in parallel
            groups = list(pool.map(lambda _: server.create_group(), range(16)))
            list(pool.map(lambda g: server.post(g, "spammer", "buy now"), groups))
        batch = tmp_path / "batch.csv"
        batch.write_text("".join(f"{g},spammer\n" for g in groups))
        base = {k: v for k, v in os.environ.items() if not k.startswith("TIM_")}
        child = subprocess.Popen(
            [sys.executable, "-c", CTRL_C_CLI, "delete-batch", str(batch), "--concurrency", "2", "--progress"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**base, **server.env()},
        )
        assert child.stderr is not None
        # The bar appears once the first items are in flight: that is when to press Ctrl-C.
        seen = b""
        deadline = time.monotonic() + 120
        while b"delete_many" not in seen:
            ready, _, _ = select.select([child.stderr], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, "no progress shown in time"
            chunk = os.read(child.stderr.fileno(), 4096)
            assert chunk, "the batch ended before it showed progress"
            seen += chunk
        child.send_signal(signal.SIGINT)
        out, rest = child.communicate(timeout=120)
        err = seen.decode() + rest
        assert child.returncode == 130, err
        assert "interrupted" in err
        records = sorted((json.loads(line) for line in out.splitlines()), key=lambda r: r["index"])
        assert 2 <= len(records) < len(groups) and all(r["ok"] for r in records)  # in-flight items finished
        assert [r["group_id"] for r in records] == groups[: len(records)]
        with ThreadPoolExecutor(8) as pool:
            spam_left = list(pool.map(server.senders, groups))
        assert spam_left == [[]] * len(records) + [["spammer"]] * (len(groups) - len(records))  # nothing more sent
    finally:
        status, _ = server.stop()
    assert status == 0


# -- delete ----------------------------------------------------------------------------------------


def test_delete_one(server: EmulatorProcess) -> None:
    gid = server.create_group()
    server.post(gid, "spammer", "buy now")
    server.post(gid, "alice", "hi")
    done = run("delete", "--group", gid, "--sender", "spammer", env=server.env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ok: deleted what 'spammer' posted in {gid} (random ")
    assert server.senders(gid) == ["alice"]

    missing = run("delete", "--group", "@TGS#NOSUCHGROUP", "--sender", "spammer", env=server.env())
    assert missing.returncode == 1 and missing.stdout == ""
    line = one_line_error(missing.stderr)
    assert "GroupNotFoundError" in line and "10010" in line and "random=" in line and KEY not in line


def test_flags_override_the_environment(server: EmulatorProcess) -> None:
    gid = server.create_group()
    wrong = server.env(TIM_SECRET_KEY="not-the-key", TIM_IDENTIFIER="nobody")
    refused = run("delete", "--group", gid, "--sender", "x", env=wrong)
    assert refused.returncode == 1 and "AuthError" in one_line_error(refused.stderr)
    assert "not-the-key" not in refused.stderr

    fixed = run("delete", "--group", gid, "--sender", "x", "--secret-key", KEY, "--identifier", "ops", env=wrong)
    assert fixed.returncode == 0, fixed.stderr
    # A UserSig flag replaces the key from the environment (both at once would be a config error).
    usersig = timrest.gen_usersig(SDKAPPID, KEY, "administrator", 3600)
    by_sig = run("delete", "--group", gid, "--sender", "x", "--usersig", usersig, env=server.env())
    assert by_sig.returncode == 0, by_sig.stderr
    everything_by_flags = run("delete", "--group", gid, "--sender", "x", "--sdkappid", str(SDKAPPID),
                              "--secret-key", KEY, "--base-url", server.base_url, "--rate-limit", "off",
                              "--timeout", "5", "--deadline", "20", "--max-retries", "1")
    assert everything_by_flags.returncode == 0, everything_by_flags.stderr


# -- usersig ---------------------------------------------------------------------------------------


def test_usersig_gen_inspect_verify_round_trip() -> None:
    keys = ["--sdkappid", str(SDKAPPID), "--secret-key", KEY, "--identifier", "ops"]
    gen = run("usersig", "gen", *keys, "--expire", "3600", "--now", "1700000000")
    assert gen.returncode == 0, gen.stderr
    usersig = gen.stdout.strip()
    assert usersig == timrest.gen_usersig(SDKAPPID, KEY, "ops", 3600, now=1700000000)

    inspect = run("usersig", "inspect", "--json", usersig)
    assert inspect.returncode == 0
    assert json.loads(inspect.stdout) == {"identifier": "ops", "sdkappid": SDKAPPID, "time": 1700000000,
                                          "expire": 3600, "expires_at": 1700003600}
    human = run("usersig", "inspect", env={"TIM_USERSIG": usersig})  # from the environment
    assert "identifier  ops" in human.stdout and "2023-11-14 23:13:20 UTC" in human.stdout
    assert "expired" in human.stdout

    valid = run("usersig", "verify", usersig, *keys, "--now", "1700000100")
    assert valid.returncode == 0 and valid.stdout.startswith("valid: a UserSig for 'ops'")
    from_stdin = run("usersig", "verify", "-", *keys, "--now", "1700000100", stdin=usersig + "\n")
    assert from_stdin.returncode == 0
    expired = run("usersig", "verify", usersig, *keys, "--now", "1700003601")
    assert expired.returncode == 1 and "UserSigExpiredError" in one_line_error(expired.stderr)
    wrong_key = run("usersig", "verify", usersig, "--sdkappid", str(SDKAPPID), "--secret-key", "other-key",
                    "--identifier", "ops", "--now", "1700000100")
    assert wrong_key.returncode == 1 and "AuthError" in one_line_error(wrong_key.stderr)
    assert "other-key" not in wrong_key.stderr and KEY not in wrong_key.stderr
    garbage = run("usersig", "inspect", "not*a*usersig")
    assert garbage.returncode == 1 and "not a UserSig" in one_line_error(garbage.stderr)


def test_usersig_gen_takes_the_identifier_as_an_argument() -> None:
    """``timrest usersig gen ops`` is what a newcomer types: it signs for ops (it used to print the
    top-level usage)."""
    keys = ["--sdkappid", str(SDKAPPID), "--secret-key", KEY, "--now", "1700000000"]
    gen = run("usersig", "gen", "ops", *keys)
    assert gen.returncode == 0, gen.stderr
    assert gen.stdout.strip() == timrest.gen_usersig(SDKAPPID, KEY, "ops", 86400, now=1700000000)
    both = run("usersig", "gen", "ops", "--identifier", "other", *keys)
    assert both.returncode == 2 and "differ" in both.stderr, both.stderr


# -- usage, help, demo ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["bogus"],
        ["delete", "--group", "g"],  # no --sender
        ["delete", "--group", "g", "--sender", "s"],  # no sdkappid or key anywhere
        ["delete", "--group", "g", "--sender", "s", "--sdkappid", "1", "--secret-key", "k", "--rate-limit", "fast"],
        ["delete", "--group", "", "--sender", "s", "--sdkappid", "1", "--secret-key", "k"],  # caught before sending
        ["delete", "--group", "g", "--sender", "s", "--sdkappid", "1", "--secret-key", "k", "--region", "mars"],
        ["delete", "--group", "g", "--sender", "s", "--sdkappid", "1", "--secret-key", "k",
         "--base-url", "http://example.com"],  # plain http off loopback
        ["delete-batch", "/no/such/file.csv", "--sdkappid", "1", "--secret-key", "k"],
        ["delete-batch", "-", "--concurrency", "0"],
        ["usersig", "gen"],  # no sdkappid, no key
        ["usersig", "verify", "--sdkappid", "1", "--secret-key", "k"],  # no UserSig
        ["emulator", "--port", "70000"],
        ["delete", "--group", "g", "--sender", "s", "--sdkappid", "1", "--secret-key", "k", "--rate-limit", "0"],
        ["emulator", "--rate-limit", "0"],
        ["delete", "--group", "g", "--sender", "s", "--sdkappid", "1", "--secret-key", "k", "--max-retries", "-1"],
        ["usersig", "gen", "--sdkappid", "99999999999999999999", "--secret-key", "k"],
        ["usersig", "gen", "--sdkappid", "1", "--secret-key", "k", "--now", "-5"],
    ],
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    done = run(*args, stdin="")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == "" and "error" in done.stderr and "Traceback" not in done.stderr


def test_bad_input_that_stops_a_batch_before_it_starts(tmp_path: Path) -> None:
    settings = ["--sdkappid", "1", "--secret-key", "k", "--base-url", "http://127.0.0.1:9"]  # nothing is sent
    header = run("delete-batch", "-", *settings, stdin="group_id,sender,colour\ng,s,red\n")
    assert header.returncode == 2 and "colour" in one_line_error(header.stderr)
    too_many = run("delete-batch", "-", "--concurrency", "5000", *settings, stdin="")
    assert too_many.returncode == 2 and "1024" in too_many.stderr


def test_a_bad_environment_is_a_config_error() -> None:
    done = run("delete", "--group", "g", "--sender", "s", env={"TIM_SDKAPPID": "abc", "TIM_SECRET_KEY": "k"})
    assert done.returncode == 2 and "TIM_SDKAPPID" in one_line_error(done.stderr)


@pytest.mark.parametrize(
    "command",
    [[], ["delete"], ["delete-batch"], ["usersig"], ["usersig", "gen"], ["usersig", "inspect"],
     ["usersig", "verify"], ["emulator"], ["demo"]],
)
def test_help_everywhere(command: list[str]) -> None:
    done = run(*command, "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: timrest")


def test_python_dash_m_and_version() -> None:
    done = subprocess.run([sys.executable, "-m", "timrest", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"timrest {timrest.__version__}"


def test_demo() -> None:
    done = run("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    before, after = out.split("\nBefore: ")[1].split("\nAfter: ")
    assert before.startswith("13 messages in 3 groups, 5 from 'spammer42'") and before.count("<- spam") == 5
    assert after.startswith("8 messages in 3 groups, 0 from 'spammer42'") and "<- spam" not in after
    assert "GroupNotFoundError (10010)" in out and "3 ok, 1 failed" in out
    assert "Done: 5 messages from 'spammer42' deleted, 0 left; the 8 from everyone else untouched." in out


# -- the command: streamed report, --resume after SIGKILL --------------------------------------------


def wait_for_lines(path: Path, n: int, child: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or path.read_text().count("\n") < n:
        assert child.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the report did not grow in time"
        time.sleep(0.01)


def kill_partway(args: list[str], env: dict[str, str], report: Path, lines: int) -> None:
    """Runs the command ARGS and SIGKILLs it once REPORT holds LINES lines: a crash mid-run."""
    child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, text=True, env=env)
    wait_for_lines(report, lines, child)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)


def client_env(server: EmulatorProcess) -> dict[str, str]:
    """This process's environment without TIM_*, plus the emulator's client settings."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TIM_")}, **server.env()}


def log_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_delete_batch_killed_then_resumed_sends_each_item_once(tmp_path: Path) -> None:
    log = tmp_path / "emulator.jsonl"
    server = EmulatorProcess("--rate-limit", "1000", "--latency", "0.02", "--log", str(log))
    try:
        seeder = timrest.Client(server.client.sdkappid, secret_key="cli-test-key-0f3a9c2b7d1e",
                                base_url=server.base_url, rate_limit=900)
        with ThreadPoolExecutor(16) as pool:
            groups = list(pool.map(lambda i: str(seeder.call(SVC, "create_group", {"Type": "Public", "Name": "g"})["GroupId"]),
                                   range(2000)))
            list(pool.map(lambda g: seeder.call(SVC, "send_group_msg", {
                "GroupId": g, "From_Account": "spammer", "Random": 1,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "spam"}}]}), groups))
        batch = tmp_path / "batch.csv"
        batch.write_text("group_id,sender\n" + "".join(f"{g},spammer\n" for g in groups))
        report = tmp_path / "report.jsonl"
        env = client_env(server)
        args = [TIMREST, "delete-batch", str(batch), "--report", str(report), "--rate-limit", "900"]
        kill_partway(args, env, report, 600)
        time.sleep(1.0)  # the requests in flight are answered and logged (the log is flushed every 0.2 s)
        done_before = {json.loads(line)["group_id"] for line in report.read_text().splitlines()
                       if line.endswith("}") and json.loads(line)["ok"]}
        logged_before = len(log_records(log))
        assert 600 <= len(done_before) < 2000

        second = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, timeout=300)
        assert second.returncode == 0, second.stderr
        summary = second.stderr.strip().splitlines()[-1]
        assert summary.startswith("timrest: 2000 ok, 0 failed of 2000 items"), summary
        assert f"{len(done_before)} done by earlier runs" in summary
    finally:
        status, _ = server.stop()
    assert status == 0

    rows = [json.loads(line) for line in report.read_text().splitlines()]
    ok = Counter(r["group_id"] for r in rows if r["ok"])
    assert set(ok) == set(groups) and set(ok.values()) == {1}, "exactly one successful outcome per item"
    after = [r for r in log_records(log)[logged_before:] if r["command"] == "delete_group_msg_by_sender"]
    sent_again = {r["body"]["GroupId"] for r in after} & done_before
    assert not sent_again, f"the resumed run re-sent {len(sent_again)} finished items"
    assert {r["body"]["GroupId"] for r in after} == set(groups) - done_before
    assert all(r["error_code"] == 0 for r in log_records(log) if r["command"] == "delete_group_msg_by_sender")
    cleaned = [r for r in log_records(log) if r["command"] == "delete_group_msg_by_sender" and r["error_code"] == 0]
    assert {r["body"]["GroupId"] for r in cleaned} == set(groups)


def test_history_after_resume_is_clean_over_rest(tmp_path: Path) -> None:
    """The same kill-and-resume, smaller, then every group's history read back over REST."""
    server = EmulatorProcess("--rate-limit", "1000", "--latency", "0.05")
    try:
        groups = [server.create_group() for _ in range(120)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda g: (server.post(g, "spammer", "spam"), server.post(g, "alice", "hi")), groups))
        batch = tmp_path / "batch.jsonl"
        batch.write_text("".join(json.dumps({"group_id": g, "sender": "spammer"}) + "\n" for g in groups))
        report = tmp_path / "report.jsonl"
        env = client_env(server)
        args = [TIMREST, "delete-batch", str(batch), "--report", str(report), "--concurrency", "2"]
        kill_partway(args, env, report, 20)
        with report.open("a") as torn:
            torn.write('{"group_id": "cut sho')  # as if the kill came in the middle of a line
        second = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, timeout=300)
        assert second.returncode == 0, second.stderr
        assert "dropped an unfinished last line" in second.stderr
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        assert Counter(r["group_id"] for r in rows if r["ok"]) == Counter(groups)
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(server.senders, groups)) == [["alice"]] * len(groups)
    finally:
        server.stop()


def test_resume_needs_a_report_file(tmp_path: Path) -> None:
    done = run("delete-batch", "-", "--resume", stdin="g,s\n",
               env={"TIM_SDKAPPID": "1400000000", "TIM_SECRET_KEY": "k", "TIM_BASE_URL": "http://127.0.0.1:9"})
    assert done.returncode == 2 and "--resume needs --report" in done.stderr
    bad = tmp_path / "not-a-report.jsonl"
    bad.write_text("hello\n")
    done = run("delete-batch", "-", "--resume", "--report", str(bad), stdin="g,s\n",
               env={"TIM_SDKAPPID": "1400000000", "TIM_SECRET_KEY": "k", "TIM_BASE_URL": "http://127.0.0.1:9"})
    assert done.returncode == 2 and "not a line of a timrest report" in done.stderr


# -- the command: purge ------------------------------------------------------------------------------


def test_purge_command_dry_run_report_and_resume(tmp_path: Path) -> None:
    log = tmp_path / "emulator.jsonl"
    server = EmulatorProcess("--rate-limit", "1000", "--latency", "0.03", "--log", str(log))
    try:
        expected: set[tuple[str, Optional[str]]] = set()
        skipped: set[str] = set()
        for i in range(120):
            kind = ("Public", "Work", "Community", "AVChatRoom")[i % 4]
            fields: dict[str, Any] = {"MemberList": [{"Member_Account": "spammer"}]}
            if kind == "Community":
                fields["SupportTopic"] = 1
            gid = server.create_group(kind, **fields)
            if kind == "AVChatRoom":
                skipped.add(gid)
                continue
            streams: list[Optional[str]] = [None]
            if kind == "Community":
                streams.append(str(server.client.call("million_group_open_http_svc", "create_topic",
                                                      {"GroupId": gid, "TopicName": "news"})["TopicId"]))
            for topic in streams:
                server.post(gid, "spammer", "spam", topic_id=topic)
                server.post(gid, "alice", "hello", topic_id=topic)
                expected.add((gid, topic))

        dry = run("purge", "spammer", "--dry-run", "--page-size", "50", env=server.env())
        assert dry.returncode == 0, dry.stderr
        listed = set()
        skipped_seen = set()
        for line in dry.stdout.splitlines():
            account, group, topic_or_dash, step, outcome, *detail = line.split("\t")
            assert account == "spammer"
            topic = None if topic_or_dash == "-" else topic_or_dash
            if outcome == "skipped":
                assert group in skipped and step == "delete" and "AVChatRoom" in detail[0]
                skipped_seen.add(group)
            else:
                assert (step, outcome) == ("delete", "planned")
                listed.add((group, topic))
        assert listed == expected and skipped_seen == skipped
        assert "dry run: 1 account in 120 groups and 30 topics; 120 planned, 0 failed, 30 skipped" in dry.stderr
        assert "group_open_http_svc/delete_group_msg_by_sender" in dry.stderr and "at least" in dry.stderr
        # The planned deletions as delete-batch input (its column names), in CSV and JSON lines.
        as_csv = run("purge", "spammer", "--dry-run", "--format", "csv", "--page-size", "50", env=server.env())
        assert as_csv.returncode == 0, as_csv.stderr
        rows = list(csv.reader(io.StringIO(as_csv.stdout)))
        assert rows[0] == ["group_id", "sender", "topic_id"]
        assert {(g, t or None) for g, _, t in rows[1:]} == expected and {s for _, s, _ in rows[1:]} == {"spammer"}
        assert len(rows) == 1 + len(expected)
        as_jsonl = run("purge", "spammer", "--dry-run", "--format", "jsonl", "--page-size", "50", env=server.env())
        records = [json.loads(line) for line in as_jsonl.stdout.splitlines()]
        assert {(r["group_id"], r["topic_id"]) for r in records} == expected
        wrong = run("purge", "spammer", "--format", "csv", env=server.env())
        assert wrong.returncode == 2 and "--format csv is for --dry-run" in wrong.stderr
        time.sleep(0.5)
        assert not [r for r in log_records(log) if r["command"] == "delete_group_msg_by_sender"], "a dry run deletes nothing"

        report = tmp_path / "purge.jsonl"
        env = client_env(server)
        args = [TIMREST, "purge", "spammer", "--report", str(report), "--concurrency", "2", "--page-size", "50"]
        # The header, 150 plan lines and the plan's end, the 30 skipped groups, then 20 deletions.
        kill_partway(args, env, report, 1 + 150 + 1 + 30 + 20)
        ok_first = {(r["group_id"], r["topic_id"]) for r in map(json.loads, report.read_text().splitlines()[:-1])
                    if r.get("step") == "delete" and r["outcome"] == "ok"}
        second = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, timeout=300)
        assert second.returncode == 0, second.stderr
        assert "done by earlier runs" in second.stderr and "0 failed" in second.stderr

        rows = [json.loads(line) for line in report.read_text().splitlines() if line.endswith("}")]
        steps = [r for r in rows if "step" in r]
        ok = Counter((r["group_id"], r["topic_id"]) for r in steps if r["outcome"] == "ok")
        assert set(ok) == expected and set(ok.values()) == {1}, "each deletion ok once, none sent again"
        sent = Counter((r["body"]["GroupId"], r["body"].get("TopicId")) for r in log_records(log)
                       if r["command"] == "delete_group_msg_by_sender" and r["error_code"] == 0)
        # Sent twice only when the kill came between the answer and its line: never one the report had as ok.
        assert not {key for key, n in sent.items() if n > 1} & ok_first, "an ok deletion was sent again"
        assert {r["group_id"] for r in steps if r["outcome"] == "skipped"} == skipped
        with ThreadPoolExecutor(8) as pool:
            left = list(pool.map(lambda k: server.senders(*k), sorted(expected, key=str)))
        assert left == [["alice"]] * len(expected)
    finally:
        server.stop()


def test_the_emulators_help_prints_the_demo_app_and_key() -> None:
    done = run("emulator", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps lines
    assert timrest.testing.DEMO_SECRET_KEY in text.replace(" ", "") and str(timrest.testing.DEMO_SDKAPPID) in text
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    glossary = readme[readme.index("## Words you will meet"):readme.index("## Quick start: Python")]
    key = timrest.testing.DEMO_SECRET_KEY
    assert f"`{key[:8]}…{key[-8:]}`" in glossary and "timrest emulator --help" in glossary


# -- what a hurried or hostile user does to delete-batch (issue 28) ---------------------------------


def test_a_report_that_is_the_input_is_refused_before_anything_is_read(server: EmulatorProcess, tmp_path: Path) -> None:
    gid = server.create_group()
    server.post(gid, "spammer", "x")
    batch = tmp_path / "items.csv"
    batch.write_text(f"group_id,sender\n{gid},spammer\n")
    link = tmp_path / "link.csv"
    link.symlink_to(batch)
    for report in (batch, link):
        done = run("delete-batch", str(batch), "--report", str(report), env=server.env())
        assert done.returncode == 2 and "is the input" in done.stderr, done.stderr
        assert batch.read_text() == f"group_id,sender\n{gid},spammer\n", "the input is untouched"
    assert server.senders(gid) == ["spammer"], "nothing was sent"


def test_a_csv_header_in_any_order_is_read_as_a_header(server: EmulatorProcess, tmp_path: Path) -> None:
    gid = server.create_group()
    server.post(gid, "spammer", "x")
    server.post(gid, "alice", "y")
    batch = tmp_path / "items.csv"
    batch.write_text(f"sender,group_id\nspammer,{gid}\n")
    report = tmp_path / "r.jsonl"
    done = run("delete-batch", str(batch), "--report", str(report), env=server.env())
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(r["group_id"], r["sender"], r["ok"]) for r in rows] == [(gid, "spammer", True)], "not swapped"
    assert server.senders(gid) == ["alice"]


def test_a_byte_order_mark_on_stdin_is_not_part_of_the_first_item(server: EmulatorProcess) -> None:
    gid = server.create_group()
    server.post(gid, "spammer", "x")
    for text in (f"\ufeffgroup_id,sender\n{gid},spammer\n", f'\ufeff{{"group_id": "{gid}", "sender": "spammer"}}\n'):
        done = run("delete-batch", "-", stdin=text, env=server.env())
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(r["group_id"], r["ok"]) for r in rows] == [(gid, True)], rows
    assert server.senders(gid) == []


def test_resume_refuses_a_missing_report_and_leaves_a_foreign_file_whole(server: EmulatorProcess, tmp_path: Path) -> None:
    gid = server.create_group()
    server.post(gid, "spammer", "x")
    missing = tmp_path / "typo.jsonl"
    done = run("delete-batch", "-", "--resume", "--report", str(missing), stdin=f"{gid},spammer\n", env=server.env())
    assert done.returncode == 2 and "nothing to resume" in done.stderr and not missing.exists()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nnot a report\nlast line without newline")
    before = notes.read_bytes()
    done = run("delete-batch", "-", "--resume", "--report", str(notes), stdin=f"{gid},spammer\n", env=server.env())
    assert done.returncode == 2 and "not a line of a timrest report" in done.stderr
    assert notes.read_bytes() == before, "never written before it was read whole"
    assert server.senders(gid) == ["spammer"], "nothing was sent"


def test_sigterm_stops_like_ctrl_c_and_two_runs_cannot_share_a_report(tmp_path: Path) -> None:
    server = EmulatorProcess("--rate-limit", "off", "--latency", "0.3")
    try:
        groups = [server.create_group() for _ in range(40)]
        batch = tmp_path / "items.csv"
        batch.write_text("".join(f"{g},spammer\n" for g in groups))
        report = tmp_path / "r.jsonl"
        env = client_env(server)
        child = subprocess.Popen([TIMREST, "delete-batch", str(batch), "--report", str(report), "--concurrency", "2"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True, env=env)
        wait_for_lines(report, 2, child)
        # A second run on the same report while the first writes it is refused.
        second = subprocess.run([TIMREST, "delete-batch", str(batch), "--report", str(report), "--resume"],
                                capture_output=True, text=True, env=env, timeout=60)
        assert second.returncode == 2 and "in use by another run" in second.stderr, second.stderr
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
        assert child.returncode == 130, err
        assert "interrupted" in err
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        assert 2 <= len(rows) < len(groups)
        assert all(line.endswith("}") for line in report.read_text().splitlines()), "whole lines only"
        resumed = subprocess.run([TIMREST, "delete-batch", str(batch), "--report", str(report), "--resume"],
                                 capture_output=True, text=True, env=env, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        assert Counter(r["group_id"] for r in rows if r["ok"]) == Counter(groups), "each item ok exactly once"
    finally:
        server.stop()


def test_a_rate_of_zero_is_refused_and_names_the_flag_for_no_limit() -> None:
    done = run("delete", "--group", "g", "--sender", "s", "--sdkappid", "1", "--secret-key", "k", "--rate-limit", "0")
    assert done.returncode == 2 and "write 'off'" in done.stderr, done.stderr


def test_a_full_disk_for_the_report_stops_the_batch_and_counts_what_was_lost(tmp_path: Path) -> None:
    log = tmp_path / "emulator.jsonl"
    server = EmulatorProcess("--rate-limit", "off", "--latency", "0.05", "--log", str(log))
    try:
        groups = [server.create_group() for _ in range(30)]
        batch = tmp_path / "items.csv"
        batch.write_text("".join(f"{g},spammer\n" for g in groups))
        done = run("delete-batch", str(batch), "--report", "/dev/full", "--concurrency", "4", env=server.env())
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        line = one_line_error(done.stderr)
        m = re.search(r"(\d+) outcomes? could not be written to /dev/full .*; the batch stopped, and (\d+) ok, (\d+) "
                      r"failed were sent in all", line)
        assert m, line
        lost, ok, failed = map(int, m.groups())
        time.sleep(0.5)  # the emulator's log is flushed every 0.2 s
        answered = [r for r in log_records(log) if r["command"] == "delete_group_msg_by_sender"]
        assert lost == ok + failed == len(answered) < len(groups), (lost, ok, failed, len(answered))
    finally:
        server.stop()


def test_a_stray_quote_or_a_bad_byte_fails_its_own_line_only(server: EmulatorProcess, tmp_path: Path) -> None:
    groups = [server.create_group() for _ in range(50)]
    lines = [f"{g},spammer" for g in groups]
    lines[11] = f'"{groups[11]},spammer'  # a stray quote on line 12
    data = "\n".join(lines).encode() + b"\n"
    bad = lines[40].encode().replace(b"spammer", b"spam\xffmer")  # a byte that is not UTF-8 on line 41
    data = data.replace(lines[40].encode(), bad)
    batch = tmp_path / "items.csv"
    batch.write_bytes(data)
    report = tmp_path / "r.jsonl"
    done = run("delete-batch", str(batch), "--report", str(report), env=server.env())
    assert done.returncode == 1, done.stderr
    assert "48 ok, 2 failed of 50 items" in done.stderr, done.stderr
    rows = {r["line"]: r for r in map(json.loads, report.read_text().splitlines())}
    assert len(rows) == 50 and not rows[12]["ok"] and not rows[41]["ok"]
    assert "not valid CSV" in rows[12]["message"] and "not UTF-8" in rows[41]["message"]
    assert all(rows[n]["ok"] for n in rows if n not in (12, 41)), "the lines after them were sent"


# -- the command: Ctrl-C, then --resume ----------------------------------------------------------------


def interrupt_partway(args: list[str], env: dict[str, str], report: Path, lines: int) -> str:
    """Runs the command ARGS (with Python's own SIGINT handler, as in a terminal), sends SIGINT once
    REPORT holds LINES lines, and returns what it printed on stderr; it must end with status 130."""
    child = subprocess.Popen([sys.executable, "-c", CTRL_C_CLI, *args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    wait_for_lines(report, lines, child)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    return err


def resumed_after_the_interrupt(args: list[str], env: dict[str, str], log: Path, done: list[str]) -> int:
    """Checks that the emulator's log holds a deletion for exactly the groups DONE (what the
    interrupted run reported), runs ARGS with --resume, and returns how many log lines came before it."""
    time.sleep(0.5)  # the emulator flushes its log every 0.2 s
    logged_before = len(log_records(log))
    sent = [r["body"]["GroupId"] for r in log_records(log) if r["command"] == "delete_group_msg_by_sender"]
    assert sorted(sent) == sorted(done), "the report holds every deletion sent, and only those"
    second = subprocess.run([TIMREST, *args, "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"{len(done)} done by earlier runs" in second.stderr
    return logged_before


def test_delete_batch_interrupted_then_resumed_reports_every_finished_item_once(tmp_path: Path) -> None:
    log = tmp_path / "emulator.jsonl"
    server = EmulatorProcess("--rate-limit", "off", "--latency", "0.05", "--log", str(log))
    try:
        with ThreadPoolExecutor(8) as pool:
            groups = list(pool.map(lambda _: server.create_group(), range(300)))
            list(pool.map(lambda g: server.post(g, "spammer", "spam"), groups))
        batch = tmp_path / "batch.csv"
        batch.write_text("".join(f"{g},spammer\n" for g in groups))
        report = tmp_path / "report.jsonl"
        env = client_env(server)
        args = ["delete-batch", str(batch), "--report", str(report), "--concurrency", "8"]
        err = interrupt_partway(args, env, report, 40)
        summary = re.search(r"timrest: (\d+) ok, (\d+) failed of (\d+) items", err)
        assert summary, err
        ok, failed, items = map(int, summary.groups())
        rows = log_records(report)
        # What the interrupt said is what the report holds: every finished item, once.
        assert (ok, failed, items) == (len(rows), 0, len(rows)), err
        assert "interrupted" in err and "--resume" in err
        assert len({r["group_id"] for r in rows}) == len(rows) and 40 <= len(rows) < len(groups)
        logged_before = resumed_after_the_interrupt(args, env, log, [r["group_id"] for r in rows])
    finally:
        server.stop()
    after = [r["body"]["GroupId"] for r in log_records(log)[logged_before:]
             if r["command"] == "delete_group_msg_by_sender"]
    assert not set(after) & {r["group_id"] for r in rows}, "a finished item was sent again"
    assert Counter(after) == Counter(set(groups) - {r["group_id"] for r in rows})
    everything = log_records(report)
    assert Counter(r["group_id"] for r in everything if r["ok"]) == Counter(groups)
    # The rows stay numbered uniquely across runs: the resumed run goes on from the last index.
    assert sorted(r["index"] for r in everything) == list(range(len(groups)))


def test_purge_interrupted_then_resumed_reports_every_finished_step_once(tmp_path: Path) -> None:
    log = tmp_path / "emulator.jsonl"
    server = EmulatorProcess("--rate-limit", "off", "--latency", "0.2", "--log", str(log))
    try:
        members = {"MemberList": [{"Member_Account": "spammer"}]}
        with ThreadPoolExecutor(8) as pool:
            groups = list(pool.map(lambda _: server.create_group("Public", **members), range(200)))
            list(pool.map(lambda g: server.post(g, "spammer", "spam"), groups))
        report = tmp_path / "purge.jsonl"
        env = client_env(server)
        args = ["purge", "spammer", "--report", str(report), "--concurrency", "8", "--page-size", "50"]
        # The header, 200 plan lines and the plan's end, then 30 deletions.
        err = interrupt_partway(args, env, report, 1 + 200 + 1 + 30)
        summary = re.search(r"timrest: job: .*; (\d+) ok, (\d+) failed, (\d+) skipped", err)
        assert summary, err
        ok, failed, skipped = map(int, summary.groups())
        steps = [r for r in log_records(report) if r.get("step") == "delete"]
        assert (ok, failed, skipped) == (len(steps), 0, 0), err
        assert all(r["outcome"] == "ok" for r in steps) and len({r["group_id"] for r in steps}) == len(steps)
        assert 30 <= len(steps) < len(groups)
        logged_before = resumed_after_the_interrupt(args, env, log, [r["group_id"] for r in steps])
    finally:
        server.stop()
    done_first = {r["group_id"] for r in steps}
    after = [r["body"]["GroupId"] for r in log_records(log)[logged_before:]
             if r["command"] == "delete_group_msg_by_sender"]
    assert not set(after) & done_first, "a finished deletion was sent again"
    assert Counter(after) == Counter(set(groups) - done_first)


def test_purge_interrupted_twice_abandons_the_calls_in_flight_and_says_how_many(tmp_path: Path) -> None:
    """The first Ctrl-C stops the job and waits for its calls in flight; a second one ends it at
    once, and the message counts the calls it did not wait for (they are not in the report)."""
    from timrest.testing import DEMO_SECRET_KEY, Emulator

    with Emulator(rate_limit=None) as emu:
        groups = [emu.create_group("Public", members=("spammer", "alice")) for _ in range(12)]
        for g in groups:
            emu.send_group_msg(g, "spammer", "spam")
        report = tmp_path / "purge.jsonl"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("TIM_")},
               "TIM_SDKAPPID": str(emu.sdkappid), "TIM_SECRET_KEY": DEMO_SECRET_KEY, "TIM_BASE_URL": emu.base_url}
        emu.set_latency(5.0)  # every answer takes 5 s: the listing, then each deletion
        child = subprocess.Popen(
            [sys.executable, "-c", CTRL_C_CLI, "purge", "spammer", "--report", str(report), "--concurrency", "4",
             "--timeout", "30"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        wait_for_lines(report, 1 + 12 + 1, child, timeout=60)  # the header, the plan and its end: deletions start
        time.sleep(0.5)
        started = time.monotonic()
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
        waited = time.monotonic() - started
        assert child.returncode == 130, err
        assert "stopped by a second Ctrl-C: abandoned 4 calls in flight" in err, err
        assert "may or may not have reached the server" in err and "--resume" in err
        assert waited < 5.0, "it did not wait for the answers"
        assert not [r for r in log_records(report) if r.get("step") == "delete"], "nothing finished, nothing written"
