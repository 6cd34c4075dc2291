"""Durable bulk work and purging one account (design §13): ``on_result``, ``purge_plan`` and
``purge_sender`` in both faces, against the emulator over real loopback HTTP. The command's side
(the streamed report, ``--resume`` after SIGKILL, ``timrest purge``) is in test_cli.py."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any, Optional

import pytest

import timrest
from timrest.testing import Emulator

SPAMMER = "spammer"


# -- on_result -------------------------------------------------------------------------------------


def seed_public(emu: Emulator, n: int) -> list[str]:
    groups = []
    for _ in range(n):
        gid = emu.create_group("Public", members=(SPAMMER, "alice"))
        emu.send_group_msg(gid, SPAMMER, "spam")
        emu.send_group_msg(gid, "alice", "hello")
        groups.append(gid)
    return groups


def deletions(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["command"] == "delete_group_msg_by_sender"]


def test_on_result_sees_each_item_once_on_the_calling_thread(emu: Emulator, client: timrest.Client) -> None:
    groups = seed_public(emu, 40)
    items = [(g, SPAMMER) for g in groups] + [("@TGS#NOSUCHGROUP", SPAMMER), ("", SPAMMER)]
    seen: list[timrest.ItemResult] = []
    threads: set[int] = set()

    def on_result(result: timrest.ItemResult) -> None:
        threads.add(threading.get_ident())
        assert result.index not in {r.index for r in seen}
        seen.append(result)

    report = client.delete_many(items, concurrency=8, on_result=on_result)

    assert threads == {threading.get_ident()}
    assert sorted(r.index for r in seen) == list(range(len(items)))
    assert [r.index for r in report.results] == list(range(len(items)))
    by_index = {r.index: r for r in seen}
    assert all(by_index[r.index] is r for r in report.results), "the report holds the very objects handed over"
    assert (report.ok, report.failed) == (40, 2)
    record = by_index[40].to_record()
    assert (record["error"], record["code"], record["ok"]) == ("GroupNotFoundError", 10010, False)
    assert record == report.to_records()[40]


def test_an_exception_in_on_result_stops_the_batch_cleanly_with_a_partial_report(
    emu: Emulator, client: timrest.Client
) -> None:
    groups = seed_public(emu, 200)
    emu.set_latency(0.02)
    handed: list[int] = []

    class Disk(Exception):
        pass

    def on_result(result: timrest.ItemResult) -> None:
        handed.append(result.index)
        if len(handed) == 5:
            raise Disk("the disk is full")

    with pytest.raises(Disk) as caught:
        client.delete_many([(g, SPAMMER) for g in groups], concurrency=4, on_result=on_result)

    report = caught.value.report  # type: ignore[attr-defined]
    assert isinstance(report, timrest.BatchReport)
    assert report.stopped_early and not report.interrupted
    assert 5 <= len(report) < 200 and report.ok == len(report)
    assert sorted(handed) == [r.index for r in report.results], "every finished item handed over exactly once"
    assert len(deletions(emu)) == len(report), "nothing sent that the report does not hold"
    assert all(emu.messages(g) and emu.messages(g)[0]["From_Account"] == "alice" for g in groups[: len(report)])


def test_async_on_result_and_purge(emu: Emulator) -> None:
    groups = seed_public(emu, 12)
    seen: list[int] = []

    async def main() -> timrest.BatchReport:
        async with emu.async_client(rate_limit=None) as client:
            plan = await client.purge_plan(SPAMMER)
            assert [g for g, _, _ in plan.items] == groups
            return await client.purge_sender(SPAMMER, concurrency=4, on_result=lambda r: seen.append(r.index))

    report = asyncio.run(main())
    assert sorted(seen) == list(range(12)) and report.ok == 12
    assert all([m["From_Account"] for m in emu.messages(g)] == ["alice"] for g in groups)


# -- purge_sender ------------------------------------------------------------------------------------

TYPES = ("Public", "Private", "ChatRoom", "Community", "AVChatRoom", "BChatRoom", "Work")
NO_HISTORY = ("AVChatRoom", "BChatRoom")


def seed_account(emu: Emulator, joined: int = 250, others: int = 20) -> dict[tuple[str, Optional[str]], bool]:
    """Groups of every type the spammer joined (topic-enabled Communities with 3 topics among them)
    and some it did not; a message from the spammer and one from alice in each stream that keeps
    history. Returns {(group, topic): joined} for those streams."""
    streams: dict[tuple[str, Optional[str]], bool] = {}
    for i in range(joined + others):
        kind = TYPES[i % len(TYPES)]
        is_member = i < joined
        members = (SPAMMER, "alice") if is_member else ("alice",)
        topics_on = kind == "Community" and i % 2 == 1
        gid = emu.create_group(kind, members=members, support_topic=topics_on)
        if kind in NO_HISTORY:
            continue
        topics: list[Optional[str]] = [None]
        if topics_on:
            topics += [emu.create_topic(gid, f"t{t}") for t in range(3)]
        for topic in topics:
            emu.send_group_msg(gid, SPAMMER, "spam", topic_id=topic)
            emu.send_group_msg(gid, "alice", "hello", topic_id=topic)
            streams[(gid, topic)] = is_member
    return streams


def test_purge_sender_cleans_every_group_of_the_account_and_nothing_else(emu: Emulator) -> None:
    streams = seed_account(emu)
    client = emu.client(rate_limit=None)
    plan = client.purge_plan(SPAMMER, page_size=60)
    doomed = plan.items[-1][0]  # the last group listed: still to be deleted when the first item ends
    handed: list[int] = []

    def on_result(result: timrest.ItemResult) -> None:
        if not handed:
            emu.destroy_group(doomed)  # dissolved between listing and deleting
        handed.append(result.index)

    report = client.purge_sender(SPAMMER, page_size=60, concurrency=4, on_result=on_result)

    failed = [r for r in report.results if not r.ok]
    assert [(r.group_id, type(r.error)) for r in failed] == [(doomed, timrest.GroupNotFoundError)]
    assert sorted(handed) == list(range(len(report)))
    no_history = Counter(TYPES[i % len(TYPES)] for i in range(250) if TYPES[i % len(TYPES)] in NO_HISTORY)
    assert Counter(kind for _, kind in report.skipped) == no_history == Counter({"AVChatRoom": 36, "BChatRoom": 35})
    for (gid, topic), member in streams.items():
        if gid == doomed:
            continue
        senders = [m["From_Account"] for m in emu.messages(gid, topic_id=topic)]
        assert senders == (["alice"] if member else [SPAMMER, "alice"]), (gid, topic)
    pages = [r for r in emu.requests() if r["command"] == "get_joined_group_list"]
    assert len(pages) == 2 * 5, "250 groups in pages of 60, listed twice (the plan, then the purge)"
    assert report.ok == sum(1 for k, m in streams.items() if m) - 1
    assert "71 groups skipped" in report._repr_html_() and "skipped=71" in repr(report)


def test_purge_arguments_are_checked_before_anything_is_sent(emu: Emulator) -> None:
    client = emu.client(rate_limit=None)
    for kwargs, message in [
        ({"group_types": ["Channel"]}, "unknown group type"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 5001}, "page_size"),
    ]:
        with pytest.raises(timrest.InvalidArgumentError, match=message):
            client.purge_sender(SPAMMER, **kwargs)
    with pytest.raises(timrest.InvalidArgumentError):
        client.purge_plan("")
    assert emu.requests() == []
