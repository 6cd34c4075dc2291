"""Client.delete_many: many deletions on a worker pool, with a report, progress, early stop and Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import timrest
from timrest.testing import Emulator

DELETE = "delete_group_msg_by_sender"


def seeded(emu: Emulator, groups: int, spammer: str = "spammer") -> list[str]:
    ids = []
    for _ in range(groups):
        gid = emu.create_group("Public", members=(spammer, "alice"))
        emu.send_group_msg(gid, spammer, "spam")
        emu.send_group_msg(gid, "alice", "hello")
        ids.append(gid)
    return ids


def test_delete_many_reports_every_item_in_input_order(emu: Emulator, client: timrest.Client) -> None:
    groups = seeded(emu, 6)
    items: list[Any] = [(g, "spammer") for g in groups] + [("@TGS#MISSING", "spammer")]
    report = client.delete_many(items, concurrency=3)
    assert (report.ok, report.failed, len(report)) == (6, 1, 7)
    assert not report.stopped_early and not report.interrupted
    assert [r.index for r in report.results] == list(range(7))
    assert all(emu.messages(g)[0]["From_Account"] == "alice" and len(emu.messages(g)) == 1 for g in groups)
    by_random = {r["random"]: r for r in emu.requests()}
    for result in report.results:
        assert by_random[result.random]["body"]["GroupId"] == result.group_id
        assert result.attempts == 1 and result.elapsed > 0
    missing = report.results[-1]
    assert not missing.ok and isinstance(missing.error, timrest.GroupNotFoundError)
    assert missing.error.random == missing.random
    assert "GroupNotFoundError" in repr(missing) and "ok=6" in repr(report)


def test_topics_and_bad_items(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Community", members=("spammer",), support_topic=True)
    topic = emu.create_topic(gid, "news")
    emu.send_group_msg(gid, "spammer", "spam", topic_id=topic)
    emu.send_group_msg(gid, "spammer", "kept")
    items: list[Any] = [(gid, "spammer", topic), "not a tuple", (gid,), (gid, "", None), [gid, "spammer", None]]
    report = client.delete_many(items, concurrency=2)
    assert [r.ok for r in report.results] == [True, False, False, False, True]
    assert emu.messages(gid, topic_id=topic) == [] and emu.messages(gid) == []
    for bad in report.results[1:4]:
        assert isinstance(bad.error, timrest.InvalidArgumentError) and bad.attempts == 0 and bad.random is None
    assert report.results[0].topic_id == topic
    assert len(emu.requests()) == 2  # nothing was sent for the bad items


def test_to_records_are_flat_rows(emu: Emulator, client: timrest.Client) -> None:
    (gid,) = seeded(emu, 1)
    rows = client.delete_many([(gid, "spammer"), ("@TGS#MISSING", "x")]).to_records()
    assert rows[0]["ok"] is True and rows[0]["error"] is None and rows[0]["group_id"] == gid
    assert rows[1]["error"] == "GroupNotFoundError" and rows[1]["code"] == 10010 and rows[1]["kind"] == "group_not_found"
    assert set(rows[0]) == set(rows[1]) >= {"group_id", "sender", "topic_id", "error", "attempts", "elapsed", "random"}
    for row in rows:
        assert all(v is None or isinstance(v, (str, int, float, bool)) for v in row.values())


def test_input_is_read_lazily_and_stop_on_error_stops_scheduling(emu: Emulator, client: timrest.Client) -> None:
    pulled: list[int] = []

    def items() -> Iterator[tuple[str, str]]:
        for i in range(100):
            pulled.append(i)
            yield ("@TGS#MISSING", f"user{i}")

    report = client.delete_many(items(), concurrency=1, stop_on_error=True)
    assert report.stopped_early and report.failed >= 1
    assert len(report) == len(pulled) < 100


def test_progress_callable_sees_every_item(emu: Emulator, client: timrest.Client) -> None:
    groups = seeded(emu, 5)
    seen: list[timrest.Progress] = []
    report = client.delete_many([(g, "spammer") for g in groups], concurrency=2, progress=seen.append)
    assert report.ok == 5
    assert [p.done for p in seen] == sorted({p.done for p in seen})  # once per change, increasing
    assert seen[-1] == timrest.Progress(done=5, ok=5, failed=0, total=5)
    # A generator has no length: total is unknown.
    seen.clear()
    client.delete_many(((g, "spammer") for g in groups), progress=seen.append)
    assert seen[-1].total is None and seen[-1].done == 5


def test_progress_true_without_tqdm_prints_a_counter(
    emu: Emulator, client: timrest.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ImportError):  # tqdm is not a dependency: the venv does not install it
        import tqdm  # noqa: F401
    groups = seeded(emu, 3)
    client.delete_many([(g, "spammer") for g in groups], progress=True)
    err = capsys.readouterr().err
    assert "timrest: 3/3 done (3 ok, 0 failed)" in err and err.endswith("\n")


def test_a_failing_progress_callable_stops_the_batch_and_raises(emu: Emulator, client: timrest.Client) -> None:
    groups = seeded(emu, 4)

    def boom(p: timrest.Progress) -> None:
        raise RuntimeError(f"callback failed at {p.done}")

    with pytest.raises(RuntimeError, match="callback failed"):
        client.delete_many([(g, "spammer") for g in groups], concurrency=1, progress=boom)
    with pytest.raises(TypeError):
        client.delete_many([], progress=42)


def test_ctrl_c_stops_scheduling_and_returns_the_partial_report(emu: Emulator, client: timrest.Client) -> None:
    assert threading.current_thread() is threading.main_thread()
    groups = seeded(emu, 30)
    emu.set_latency(0.05)

    def interrupt_after_three(p: timrest.Progress) -> None:
        if p.done >= 3:
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C does

    report = client.delete_many([(g, "spammer") for g in groups], concurrency=2, progress=interrupt_after_three)
    assert report.interrupted and report.stopped_early
    assert 3 <= len(report) < 30
    assert report.ok == len(report)  # in-flight items finished
    assert len([r for r in emu.requests() if r["command"] == DELETE]) == len(report)


def test_bad_concurrency_is_invalid_argument(client: timrest.Client) -> None:
    with pytest.raises(timrest.InvalidArgumentError):
        client.delete_many([("g", "s")], concurrency=0)
