"""A spam incident in one job: the moderation commands, ``purge_senders`` (sync and async) and
``timrest ban``, over real HTTP to the emulator (issue "A spam incident in one job")."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import pytest

import timrest
from timrest.testing import DEMO_SECRET_KEY, Emulator

TIMREST = str(Path(sys.executable).with_name("timrest"))
READS = {"get_joined_group_list", "get_topic", "group_msg_get_simple"}


# -- the commands ---------------------------------------------------------------------------------


def test_mute_kick_and_group_mutes_through_http(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Public", members=("spam", "alice"))
    client.set_no_speaking("spam")
    muted = client.get_no_speaking("spam")
    assert (muted.c2c_seconds, muted.group_seconds) == (timrest.PERMANENT, timrest.PERMANENT)
    with pytest.raises(timrest.PermissionDeniedError) as e:
        emu.send_group_msg(gid, "spam", "buy now")
    assert e.value.code == 10017
    client.set_no_speaking("spam", c2c_seconds=None, group_seconds=0)
    assert client.get_no_speaking("spam").group_seconds == 0
    emu.send_group_msg(gid, "spam", "allowed again")

    client.kick("spam")
    assert emu.kick_count("spam") == 1
    client.forbid_send_msg(gid, ["spam"], 600)
    with pytest.raises(timrest.PermissionDeniedError):
        emu.send_group_msg(gid, "spam", "muted here")
    client.delete_group_member(gid, ["spam"], silence=True, reason="spam")
    assert emu.members(gid) == ["alice"]
    live = emu.create_group("AVChatRoom", members=("spam",))
    with pytest.raises(timrest.InvalidParameterError) as e:
        client.delete_group_member(live, ["spam"])
    assert e.value.code == 10004


def test_history_and_recall_are_typed(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Public", members=("spam", "alice"))
    seqs = [emu.send_group_msg(gid, "spam" if i % 2 else "alice", f"m{i}") for i in range(30)]
    page = client.group_msg_get_simple(gid)
    assert len(page) == 20 and not page.is_finished and page.messages[0].msg_seq == seqs[-1]
    older = client.group_msg_get_simple(gid, req_msg_seq=page.messages[-1].msg_seq - 1)
    assert older.is_finished and [m.msg_seq for m in older.messages] == list(range(10, 0, -1))
    assert older.messages[0].msg_body[0]["MsgContent"]["Text"] == "m9"
    spam = [m.msg_seq for m in page.messages if m.from_account == "spam"][:3]
    results = client.group_msg_recall(gid, [*spam, 999_999])
    assert [(r.msg_seq, r.ok) for r in results] == [*((s, True) for s in spam), (999_999, False)]
    assert results[-1].ret_code != 0
    marked = client.group_msg_get_simple(gid, req_msg_number=1, req_msg_seq=spam[0], with_recalled=True)
    assert marked.messages[0].is_place_msg != 0


def test_limits_are_typed_errors_before_any_request(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Public")
    before = len(emu.requests())
    for call in (
        lambda: client.set_no_speaking("spam", c2c_seconds=timrest.PERMANENT + 1),
        lambda: client.set_no_speaking("spam", c2c_seconds=None, group_seconds=None),
        lambda: client.forbid_send_msg(gid, [f"u{i}" for i in range(501)], 60),
        lambda: client.delete_group_member(gid, [f"u{i}" for i in range(101)]),
        lambda: client.delete_group_member(gid, []),
        lambda: client.group_msg_get_simple(gid, req_msg_number=21),
        lambda: client.group_msg_recall(gid, list(range(1, 12))),
        lambda: client.purge_senders([]),
        lambda: client.purge_senders(["ok", ""]),
        lambda: client.purge_senders(["spam"], resume=True),
    ):
        with pytest.raises(timrest.InvalidArgumentError):
            call()
    with pytest.raises(TypeError, match="not one string"):
        client.delete_group_member(gid, "spam")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not one string"):
        client.purge_senders("spam")
    assert len(emu.requests()) == before, "nothing was sent"


# -- the job --------------------------------------------------------------------------------------

TYPES = ("Public", "Work", "Meeting", "Community", "AVChatRoom", "Private", "ChatRoom", "BChatRoom")


def seed(emu: Emulator, accounts: int = 30, groups: int = 60) -> dict[str, Any]:
    """``accounts`` spam accounts in ``groups`` groups of every type (each account in about half),
    alice and bob everywhere; every fourth group holds 2500 messages with spam older than the
    latest 1000; Communities have a topic with spam too."""
    spam = [f"spam{i:02d}" for i in range(accounts)]
    streams: list[tuple[str, Optional[str]]] = []
    avchatrooms = []
    targets = skips = 0  # the plan's lines; the skipped steps (AVChatRoom)
    for g in range(groups):
        kind = TYPES[g % len(TYPES)]
        members = ["alice", "bob", *spam[g % 2::2]]
        gid = emu.create_group(kind, members=members, support_topic=kind == "Community")
        targets += (len(members) - 2) * (2 if kind == "Community" else 1)
        if kind in ("AVChatRoom", "BChatRoom"):  # no history (and only admins post in a BChatRoom)
            avchatrooms.append(gid)
            skips += len(members) - 2
            continue
        topics: list[Optional[str]] = [None]
        if kind == "Community":
            topics.append(emu.create_topic(gid, "news"))
        for topic in topics:
            big = g % 4 == 0 and topic is None
            for s in members[2:]:
                emu.send_group_msg(gid, s, "old spam", topic)
            for i in range(2500 - 2 * len(members) if big else 4):
                emu.send_group_msg(gid, "alice" if i % 2 else "bob", f"hello {i}", topic)
            for s in members[2:]:
                emu.send_group_msg(gid, s, "new spam", topic)
            streams.append((gid, topic))
    return {"spam": spam, "streams": streams, "avchatrooms": avchatrooms, "targets": targets, "skips": skips}


def visible(emu: Emulator, streams: list[tuple[str, Optional[str]]]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for gid, topic in streams:
        for m in emu.messages(gid, topic):
            seen[m["From_Account"]] += 1
    return seen


def writes(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["command"] not in READS]


def test_purge_senders_cleans_everything_and_the_dry_run_counts_it(emu: Emulator, client: timrest.Client) -> None:
    world = seed(emu, accounts=8, groups=14)
    others = {k: v for k, v in visible(emu, world["streams"]).items() if not k.startswith("spam")}
    emu.clear_requests()
    steps: list[timrest.StepResult] = []
    dry = client.purge_senders(world["spam"], mute=True, remove=True, deep=True, dry_run=True, on_result=steps.append)
    assert not writes(emu), "a dry run sends reads only"
    assert dry.dry_run and dry.failed == 0 and {s.outcome for s in steps} == {"planned", "skipped"}
    assert dry.recalled > 0 and dry.calls["group_open_http_svc/group_msg_recall"] > 0

    real = client.purge_senders(world["spam"], mute=True, remove=True, deep=True)
    assert real.failed == 0 and not real.stopped_early
    left = visible(emu, world["streams"])
    assert not [k for k in left if k.startswith("spam")], left
    assert {k: v for k, v in left.items() if not k.startswith("spam")} == others, "nobody else's messages touched"
    assert dry.calls == real.calls and dry.recalled == real.recalled
    key = lambda s: (s.account, s.group_id or "", s.topic_id or "", s.step, s.recalled)  # noqa: E731
    assert sorted(map(key, dry.steps)) == sorted(map(key, real.steps))
    skipped = {s.group_id for s in real.steps if s.outcome == "skipped"}
    assert skipped == set(world["avchatrooms"])
    assert all("keep no history" in s.detail for s in real.steps if s.outcome == "skipped")
    records = real.to_records()
    assert set(records[0]) == {"account", "group_id", "topic_id", "step", "outcome", "code", "detail", "recalled"}


def test_async_client_runs_the_commands_and_the_job(emu: Emulator) -> None:
    world = seed(emu, accounts=4, groups=7)

    async def main() -> tuple[timrest.JobReport, list[timrest.StepResult], list[int]]:
        async with emu.async_client(rate_limit=None) as aclient:
            await aclient.set_no_speaking("spam00")
            assert (await aclient.get_no_speaking("spam00")).group_seconds == timrest.PERMANENT
            await aclient.kick("spam00")
            gid = world["streams"][0][0]
            page = await aclient.group_msg_get_simple(gid, req_msg_number=5)
            assert len(page) == 5
            seen: list[timrest.StepResult] = []
            threads: list[int] = []
            import threading

            def on_result(step: timrest.StepResult) -> None:
                seen.append(step)
                threads.append(threading.get_ident())

            report = await aclient.purge_senders(world["spam"], mute=True, deep=True, on_result=on_result)
            with pytest.raises(timrest.InvalidArgumentError):
                await aclient.group_msg_recall(gid, [])
            return report, seen, threads

    report, seen, threads = asyncio.run(main())
    assert report.failed == 0 and len(seen) == len(report.steps) > 0
    assert set(threads) == {__import__("threading").get_ident()}, "on_result runs on the loop's thread"
    assert not [k for k in visible(emu, world["streams"]) if k.startswith("spam")]
    assert emu.kick_count("spam00") == 1


def test_cancelling_the_async_job_stops_it_and_resume_finishes(emu: Emulator, tmp_path: Path) -> None:
    world = seed(emu, accounts=6, groups=12)
    report_path = tmp_path / "job.jsonl"

    async def main() -> None:
        async with emu.async_client(rate_limit=20.0) as aclient:
            task = asyncio.ensure_future(aclient.purge_senders(world["spam"], mute=True, deep=True, report=report_path))
            await asyncio.sleep(0.6)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    time.sleep(1.5)  # the calls in flight end and are written
    lines = report_path.read_text().splitlines()
    done_first = sum(1 for line in lines if '"outcome":"ok"' in line)
    sent = len(writes(emu))
    time.sleep(0.5)
    assert len(writes(emu)) == sent, "the cancelled job sends nothing more"
    assert 0 < done_first
    again = emu.client(rate_limit=None).purge_senders(world["spam"], mute=True, deep=True, report=report_path, resume=True)
    assert again.resumed == done_first and again.failed == 0
    assert not [k for k in visible(emu, world["streams"]) if k.startswith("spam")]


def test_hostile_inputs_lose_nothing(emu: Emulator, client: timrest.Client, tmp_path: Path) -> None:
    keep = emu.create_group("Public", members=("spam", "alice"))
    gone = emu.create_group("Public", members=("spam",))
    emu.send_group_msg(keep, "spam", "x")
    emu.send_group_msg(gone, "spam", "x")
    dissolved = []

    def dissolve_once(step: timrest.StepResult) -> None:
        if step.step == "delete" and not dissolved:
            emu.destroy_group(gone if step.group_id == keep else keep)
            dissolved.append(gone if step.group_id == keep else keep)

    # Each delete waits 0.3 s at the server before it is carried out: the first one's step
    # dissolves the other group while the second is on its way.
    emu.inject("delete_group_msg_by_sender", times=2, delay=0.3)
    report = client.purge_senders(["spam", "lonely", "spam"], concurrency=1, on_result=dissolve_once)
    outcomes = {s.group_id: s.outcome for s in report.steps}
    assert sorted(outcomes.values()) == ["ok", "skipped"] and report.failed == 0
    assert any("dissolved" in s.detail for s in report.steps)
    assert not any(s.account == "lonely" for s in report.steps), "an account in no group has nothing to clean"

    # A callback that raises stops the job; the exception carries the partial report.
    with pytest.raises(ZeroDivisionError) as e:
        client.purge_senders(["spam"], on_result=lambda step: 1 / 0)
    assert isinstance(e.value.report, timrest.JobReport)  # type: ignore[attr-defined]

    # A corrupt report, or another job's, is refused and left as it was.
    path = tmp_path / "r.jsonl"
    client.purge_senders(["spam"], report=path)
    with pytest.raises(timrest.InvalidArgumentError, match="already exists"):
        client.purge_senders(["spam"], report=path)
    with pytest.raises(timrest.InvalidArgumentError, match="another job"):
        client.purge_senders(["spam", "other"], report=path, resume=True)
    text = path.read_text()
    path.write_text(text.replace('"step"', '"stpe"', 1))
    with pytest.raises(timrest.InvalidArgumentError, match="cannot be resumed"):
        client.purge_senders(["spam"], report=path, resume=True)
    assert path.read_text() == text.replace('"step"', '"stpe"', 1)
    with pytest.raises(timrest.InvalidArgumentError, match="nothing to resume"):
        client.purge_senders(["spam"], report=tmp_path / "missing.jsonl", resume=True)


# -- the command line -----------------------------------------------------------------------------


def cli_env(emu: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIM_")}
    env.update(TIM_SDKAPPID="1400000000", TIM_SECRET_KEY=DEMO_SECRET_KEY, TIM_BASE_URL=emu.base_url)
    return env


def wait_for_lines(path: Path, count: int, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        assert child.poll() is None, "the job ended before it could be killed"
        time.sleep(0.01)
    raise AssertionError(f"{path} never reached {count} lines")


def test_ban_with_deep_killed_and_resumed_leaves_no_spam(tmp_path: Path) -> None:
    with Emulator(rate_limit=1000.0) as emu:
        world = seed(emu)
        others = {k: v for k, v in visible(emu, world["streams"]).items() if not k.startswith("spam")}
        senders = tmp_path / "spam.txt"
        senders.write_text("# the wave of 2026-12-03\n\n" + "\n".join(world["spam"] + world["spam"][:5]) + "\n  \n")
        env = cli_env(emu)
        base = [TIMREST, "ban", "--senders-file", str(senders), "--deep", "--rate-limit", "500"]

        emu.clear_requests()
        dry = subprocess.run([*base, "--dry-run"], capture_output=True, text=True, env=env, timeout=300)
        assert dry.returncode == 0, dry.stderr
        assert not writes(emu), "--dry-run sends no write"
        assert "30 accounts in 60 groups" in dry.stderr and "visible to every client" in dry.stderr
        assert {line.split("\t")[4] for line in dry.stdout.splitlines()} == {"planned", "skipped"}
        dry_calls = {line.split()[0]: int(line.split()[1]) for line in dry.stderr.splitlines() if line.startswith("  ")}

        report = tmp_path / "r.jsonl"
        emu.clear_requests()
        child = subprocess.Popen([*base, "--report", str(report)], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, env=env)
        # Killed once 200 steps of the cleaning are written (after the header, 30 mutes, the plan
        # and its end, and the skipped AVChatRoom steps).
        wait_for_lines(report, 1 + 30 + world["targets"] + 1 + world["skips"] + 200, child)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        first_log = emu.requests()
        rows = [json.loads(line) for line in report.read_text().splitlines() if line.endswith("}")]
        ok_first = {(r["account"], r["group_id"], r["topic_id"], r["step"]) for r in rows
                    if "step" in r and r["outcome"] == "ok"}
        assert any(k[3] == "delete" for k in ok_first)
        # Every account was muted before its first delete.
        for account in world["spam"]:
            muted = next(i for i, r in enumerate(first_log)
                         if r["command"] == "setnospeaking" and r["body"]["Set_Account"] == account)
            deletes = [i for i, r in enumerate(first_log)
                       if r["command"] == "delete_group_msg_by_sender" and r["body"]["Sender_Account"] == account]
            assert all(muted < i for i in deletes), account

        emu.clear_requests()
        second = subprocess.run([*base, "--report", str(report), "--resume"], capture_output=True, text=True,
                                env=env, timeout=600)
        assert second.returncode == 0, second.stderr
        assert "done by earlier runs" in second.stderr
        for r in emu.requests():
            body = r["body"]
            if r["command"] == "delete_group_msg_by_sender":
                assert (body["Sender_Account"], body["GroupId"], body.get("TopicId"), "delete") not in ok_first
            if r["command"] == "setnospeaking":
                assert (body["Set_Account"], None, None, "mute") not in ok_first
        assert not [r for r in emu.requests() if r["command"] == "get_joined_group_list"], "the plan from the report"

        left = visible(emu, world["streams"])
        assert not [k for k in left if k.startswith("spam")], "no visible message of any of the 30 accounts"
        assert {k: v for k, v in left.items() if not k.startswith("spam")} == others
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        steps = [r for r in rows if "step" in r]
        assert {r["group_id"] for r in steps if r["outcome"] == "skipped"} == set(world["avchatrooms"])
        assert all(r["outcome"] in ("ok", "skipped") for r in steps[-50:])
        # The dry run's counts are what the two real runs sent, listings and reads aside.
        sent = Counter(f'{r["service"]}/{r["command"]}' for r in first_log + emu.requests() if r["command"] not in READS)
        for command, n in dry_calls.items():
            if command.split("/")[1] not in READS:
                assert sent[command] >= n, (command, sent[command], n)
        recalled = sum(r["recalled"] for r in steps if r["step"] == "recall" and r["outcome"] == "ok")
        dry_recalls = sum(int(line.split("\t")[-1].split()[0]) for line in dry.stdout.splitlines()
                          if "\trecall\tplanned\t" in line)
        assert recalled == dry_recalls > 0


def test_senders_files_and_since_are_read_as_users_write_them(emu: Emulator, tmp_path: Path) -> None:
    big = tmp_path / "wave.txt"
    names = [f"acct{i}" for i in range(10_000)]
    big.write_text("\ufeff" + "\n".join(names + ["", "# dup", *names[:100], "   "]) + "\n")
    emu.set_rate_limit(None)
    done = subprocess.run([TIMREST, "purge", "--senders-file", str(big), "--dry-run", "--rate-limit", "off"],
                          capture_output=True, text=True, env=cli_env(emu), timeout=600)
    assert done.returncode == 0, done.stderr
    assert "10000 accounts in 0 groups" in done.stderr
    assert sum(1 for r in emu.requests() if r["command"] == "get_joined_group_list") == 10_000
    bad = tmp_path / "bad.txt"
    bad.write_text("spam1\nspam2 spam3\n")
    done = subprocess.run([TIMREST, "ban", "--senders-file", str(bad)], capture_output=True, text=True,
                          env=cli_env(emu), timeout=60)
    assert done.returncode == 2 and "line 2 is not one account ID" in done.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# nobody\n")
    done = subprocess.run([TIMREST, "ban", "--senders-file", str(empty)], capture_output=True, text=True,
                          env=cli_env(emu), timeout=60)
    assert done.returncode == 2 and "no senders" in done.stderr
    for since in ("7d", "2026-11-01", "2026-11-01T08:00:00+08:00", "1700000000"):
        done = subprocess.run([TIMREST, "ban", "x", "--deep", "--since", since, "--dry-run"], capture_output=True,
                              text=True, env=cli_env(emu), timeout=60)
        assert done.returncode == 0, (since, done.stderr)
    done = subprocess.run([TIMREST, "ban", "x", "--since", "yesterday", "--deep"], capture_output=True, text=True,
                          env=cli_env(emu), timeout=60)
    assert done.returncode == 2 and "not a time" in done.stderr
