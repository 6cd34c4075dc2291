"""Client.delete_many: many deletions on a worker pool, with a report, progress, early stop and Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, Optional

import pytest

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator

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
    emu: Emulator, client: timrest.Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if tqdm were not installed: importing it fails
    with pytest.raises(ImportError):
        import tqdm.auto  # noqa: F401
    groups = seeded(emu, 3)
    client.delete_many([(g, "spammer") for g in groups], progress=True)
    err = capsys.readouterr().err
    assert "timrest: 3/3 done (3 ok, 0 failed)" in err and err.endswith("\n")


def test_progress_true_with_tqdm_shows_a_bar(
    emu: Emulator, client: timrest.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    import tqdm

    groups = seeded(emu, 4)
    report = client.delete_many([(g, "spammer") for g in groups] + [("@TGS#MISSING", "x")], progress=True)
    assert (report.ok, report.failed) == (4, 1)
    err = capsys.readouterr().err
    assert tqdm.__version__ and "delete_many: 100%" in err and "5/5" in err  # the bar's own rendering
    assert "failed=1" in err and "ok=4" in err  # the postfix


def test_progress_callable_with_done_and_total(emu: Emulator, client: timrest.Client) -> None:
    groups = seeded(emu, 3)
    calls: list[tuple[int, Optional[int]]] = []
    client.delete_many([(g, "spammer") for g in groups], progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3, 3) and [d for d, _ in calls] == sorted({d for d, _ in calls})
    calls.clear()
    client.delete_many(((g, "nobody") for g in groups), progress=lambda done, total=None: calls.append((done, total)))
    assert calls[-1] == (3, None)  # a generator has no len()


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


def test_a_ctrl_c_while_waiting_hands_every_finished_item_to_on_result(emu: Emulator, client: timrest.Client) -> None:
    """SIGINT from outside (a terminal's Ctrl-C, `kill -INT`) comes while the GIL is released; it
    used to be raised by the next `on_result` call, before its first line, so that one finished
    item was in the report and on the server but never handed over (issue 26)."""
    assert threading.current_thread() is threading.main_thread()
    emu.set_latency(0.05)
    for delay in (0.12, 0.2, 0.31, 0.45):
        groups = seeded(emu, 40)
        emu.clear_requests()
        handed: list[timrest.ItemResult] = []

        def on_result(item: timrest.ItemResult) -> None:  # Python code, as a report writer is
            handed.append(item)

        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            report = client.delete_many([(g, "spammer") for g in groups], concurrency=2, on_result=on_result)
        finally:
            timer.join()
        assert report.interrupted and 0 < len(report) < 40, (delay, len(report))
        assert sorted(r.index for r in handed) == [r.index for r in report.results], delay
        assert len(handed) == report.ok == len([r for r in emu.requests() if r["command"] == DELETE]), delay


def test_a_second_ctrl_c_abandons_the_items_in_flight_and_says_how_many(emu: Emulator) -> None:
    """The first Ctrl-C stops scheduling and waits for the items in flight; a second one returns at
    once, counting them in `abandoned` (they may still reach the server: here they do, later)."""
    groups = seeded(emu, 12)
    emu.clear_requests()
    emu.set_latency(4.0)  # every answer takes 4 s: both signals come while 4 items are in flight
    client = emu.client(rate_limit=None, timeout=30.0)
    handed: list[timrest.ItemResult] = []
    timers = [threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)) for delay in (0.5, 1.0)]
    for timer in timers:
        timer.start()
    try:
        report = client.delete_many([(g, "spammer") for g in groups], concurrency=4, on_result=handed.append)
    finally:
        for timer in timers:
            timer.join()
    assert report.interrupted and report.stopped_early
    assert (report.abandoned, report.ok, report.failed, handed) == (4, 0, 0, []), report
    assert report.elapsed < 4.0, "returned without waiting for the answers"
    assert "abandoned=4" in repr(report) and "4 abandoned" in report._repr_html_()
    # The abandoned calls go on in their threads and end with their answers; nothing else starts.
    deadline = time.monotonic() + 20
    while len([r for r in emu.requests() if r["command"] == DELETE]) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(4.5)
    assert sorted(r["body"]["GroupId"] for r in emu.requests() if r["command"] == DELETE) == sorted(groups[:4])


def test_bad_concurrency_is_invalid_argument(client: timrest.Client) -> None:
    for bad in (0, 1025):
        with pytest.raises(timrest.InvalidArgumentError, match="concurrency"):
            client.delete_many([("g", "s")], concurrency=bad)


def max_overlap(log: list[dict[str, Any]]) -> int:
    """The most requests the emulator was serving at one instant, from the log's arrival and finish times."""
    events = sorted([(r["arrived"], 1) for r in log] + [(r["finished"], -1) for r in log])
    now = peak = 0
    for _, step in events:  # at equal times a finish (-1) sorts before an arrival (+1)
        now += step
        peak = max(peak, now)
    return peak


def test_bulk_deletion_reaches_the_quota_without_a_single_rejection() -> None:
    # A far server (150 ms a request) that allows 100 requests/s; the client keeps a margin at 95/s.
    with Emulator(rate_limit=None) as emu:
        groups = seeded(emu, 100)
        emu.set_rate_limit(100.0)
        emu.set_latency(0.15)
        emu.clear_requests()
        client = emu.client(rate_limit=95.0, deadline=120.0)
        items = ((groups[i % 100], "spammer" if i < 100 else f"user{i}") for i in range(500))
        report = client.delete_many(items, concurrency=32)

        assert (report.ok, report.failed, len(report)) == (500, 0, 500), next(
            (r for r in report.results if not r.ok), None
        )
        assert not report.stopped_early and [r.index for r in report.results] == list(range(500))
        deletes = [r for r in emu.requests() if r["command"] == DELETE]
        assert len(deletes) == 500  # one request per item: nothing needed a retry
        assert [r["error_code"] for r in deletes].count(60007) == 0
        assert all(r["error_code"] == 0 for r in deletes)
        assert max_overlap(deletes) >= 4  # many requests were in flight at once
        assert all([m["From_Account"] for m in emu.messages(g)] == ["alice"] for g in groups)


def test_missing_groups_fail_alone_and_the_rest_is_deleted(emu: Emulator, client: timrest.Client) -> None:
    groups = seeded(emu, 6)
    emu.create_group("Public", group_id="dissolved-one", members=("spammer",))
    emu.destroy_group("dissolved-one")
    items: list[Any] = [(g, "spammer") for g in groups]
    items.insert(2, ("@TGS#2NOSUCHGRP", "spammer"))
    items.append(("dissolved-one", "spammer"))
    report = client.delete_many(items, concurrency=4)
    assert (report.ok, report.failed) == (6, 2)
    failed = [r for r in report.results if not r.ok]
    assert [r.index for r in failed] == [2, 7]
    for r in failed:
        assert isinstance(r.error, timrest.GroupNotFoundError) and r.error.code == 10010 and r.attempts == 1
    assert all([m["From_Account"] for m in emu.messages(g)] == ["alice"] for g in groups)


def test_stop_on_error_stops_after_the_first_failure(emu: Emulator, client: timrest.Client) -> None:
    groups = seeded(emu, 5)
    items = [("@TGS#2NOSUCHGRP", "spammer")] + [(g, "spammer") for g in groups]
    report = client.delete_many(items, concurrency=1, stop_on_error=True)
    assert report.stopped_early and not report.interrupted and len(report) == 1
    assert isinstance(report.results[0].error, timrest.GroupNotFoundError)
    assert all(len(emu.messages(g)) == 2 for g in groups)  # untouched
    # Without stop_on_error the same batch goes on past the failure.
    assert client.delete_many(items, concurrency=1).ok == 5


def test_a_generator_is_pulled_only_as_workers_free_up(emu: Emulator, client: timrest.Client) -> None:
    groups = seeded(emu, 40)
    concurrency = 3
    done = [0]
    done_when_pulled: list[int] = []

    def items() -> Iterator[tuple[str, str]]:
        for gid in groups:
            done_when_pulled.append(done[0])
            yield (gid, "spammer")

    def progress(p: timrest.Progress) -> None:
        done[0] = p.done

    report = client.delete_many(items(), concurrency=concurrency, progress=progress)
    assert report.ok == 40
    # Item k leaves the generator only once fewer than `concurrency` items are in flight,
    # i.e. after at least k - concurrency + 1 have finished (and were reported to progress).
    for k, finished in enumerate(done_when_pulled):
        assert finished >= k - concurrency + 1, (k, finished)


def test_dict_items(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Community", members=("spammer",), support_topic=True)
    topic = emu.create_topic(gid, "news")
    emu.send_group_msg(gid, "spammer", "spam in the topic", topic_id=topic)
    emu.send_group_msg(gid, "spammer", "spam outside")
    (plain,) = seeded(emu, 1)
    items: list[Any] = [
        {"group_id": gid, "sender": "spammer", "topic_id": topic},
        {"group_id": plain, "sender": "spammer", "topic_id": None},
        {"group_id": gid, "sender": "spammer", "topic": topic},  # misspelt key: refused, not widened
        {"group_id": gid},
        {"sender": "spammer"},
        {"group_id": gid, "sender": 7},
    ]
    report = client.delete_many(items)
    assert [r.ok for r in report.results] == [True, True, False, False, False, False]
    assert report.results[0].topic_id == topic and report.results[1].topic_id is None
    assert emu.messages(gid, topic_id=topic) == []
    assert [m["MsgBody"][0]["MsgContent"]["Text"] for m in emu.messages(gid)] == ["spam outside"]
    assert [m["From_Account"] for m in emu.messages(plain)] == ["alice"]
    messages = [str(r.error) for r in report.results[2:]]
    assert "unknown key" in messages[0] and "topic" in messages[0]
    assert "sender" in messages[1] and "group_id" in messages[2] and "string" in messages[3]
    for r in report.results[2:]:
        assert isinstance(r.error, timrest.InvalidArgumentError) and r.attempts == 0
    assert len([r for r in emu.requests() if r["command"] == DELETE]) == 2


def test_records_make_a_dataframe_and_the_report_renders_as_html(emu: Emulator, client: timrest.Client) -> None:
    import pandas

    groups = seeded(emu, 3)
    items = [(g, "spammer") for g in groups] + [("<b>nope</b>", "spammer"), ("@TGS#MISSING", "x")]
    report = client.delete_many(items)
    frame = pandas.DataFrame(report.to_records())
    assert list(frame["group_id"]) == [i[0] for i in items]
    assert list(frame["ok"]) == [True, True, True, False, False]
    assert frame["attempts"].sum() == 5 and (frame["elapsed"] > 0).all()
    assert list(frame.loc[~frame["ok"], "error"]) == ["GroupNotFoundError"] * 2
    html = report._repr_html_()
    assert "<b>3</b> ok, <b>2</b> failed" in html and "5 items" in html
    assert "<td>GroupNotFoundError</td><td>2</td>" in html
    assert "&lt;b&gt;nope&lt;/b&gt;" in html and "<b>nope</b>" not in html  # escaped


CTRL_C_CHILD = """
import json, signal, sys
import timrest

# As in an interactive shell (a shell's background jobs start with SIGINT ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)
groups = json.loads(sys.stdin.readline())
client = timrest.Client.from_env()
report = client.delete_many([(g, "spammer") for g in groups], concurrency=int(sys.argv[1]))
print(report)
print(json.dumps({"interrupted": report.interrupted, "stopped_early": report.stopped_early,
                  "ok": report.ok, "failed": report.failed, "randoms": [r.random for r in report.results]}))
"""


def test_ctrl_c_in_a_real_process_lets_in_flight_requests_finish(emu: Emulator, client: timrest.Client) -> None:
    groups = seeded(emu, 60)
    emu.set_latency(1.0)  # long enough that "in flight" is unambiguous on a loaded machine
    emu.clear_requests()
    concurrency = 3
    env = dict(
        os.environ, TIM_SDKAPPID=str(DEMO_SDKAPPID), TIM_SECRET_KEY=DEMO_SECRET_KEY, TIM_BASE_URL=emu.base_url
    )
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD, str(concurrency)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert child.stdin is not None
        child.stdin.write(json.dumps(groups) + "\n")
        child.stdin.flush()
        deadline = time.monotonic() + 120
        while len([r for r in emu.requests() if r["command"] == DELETE]) < 2 * concurrency:
            assert child.poll() is None and time.monotonic() < deadline, "the batch did not get going"
            time.sleep(0.05)
        # A request of our own marks "now" in the emulator's clock: the interrupt follows its answer.
        client.call("group_open_http_svc", "group_msg_get_simple", {"GroupId": groups[0], "ReqMsgNumber": 1})
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("BatchReport(") and "interrupted=True" in lines[0]
    result = json.loads(lines[-1])
    assert result["interrupted"] and result["stopped_early"]
    assert 2 * concurrency <= len(result["randoms"]) < len(groups)
    assert result["ok"] == len(result["randoms"]) and result["failed"] == 0  # in-flight requests finished well
    log = emu.requests()
    (marker,) = [r for r in log if r["command"] == "group_msg_get_simple"]
    deletes = [r for r in log if r["command"] == DELETE]
    assert sorted(r["random"] for r in deletes) == sorted(result["randoms"])  # every request sent is reported
    after = [r for r in deletes if r["arrived"] > marker["finished"]]
    assert len(after) <= concurrency, "only requests already handed to a worker may arrive after the interrupt"


# -- an exception from the input or the progress callback keeps the partial report (issue 28, item 12)


def _deleted(emu: Emulator) -> int:
    return sum(1 for r in emu.requests() if r["command"] == "delete_group_msg_by_sender")


def _failing_items(groups: list[str], after: int) -> Iterator[tuple[str, str]]:
    for i, gid in enumerate(groups):
        if i == after:
            raise LookupError("the input broke")
        yield (gid, "spammer")


def test_sync_input_or_progress_errors_carry_the_partial_report(emu: Emulator) -> None:
    emu.set_latency(0.02)
    client = emu.client(rate_limit=None)
    groups = [emu.create_group("Public") for _ in range(40)]
    with pytest.raises(LookupError) as e:
        client.delete_many(_failing_items(groups, 10), concurrency=4)
    report = e.value.report  # type: ignore[attr-defined]
    assert len(report.results) == 10 == _deleted(emu), "every call sent is in the report"

    emu.clear_requests()

    def progress(p: timrest.Progress) -> None:
        if p.done >= 5:
            raise ValueError("the progress bar broke")

    with pytest.raises(ValueError) as e2:
        client.delete_many([(g, "spammer") for g in groups], concurrency=4, progress=progress)
    report = e2.value.report  # type: ignore[attr-defined]
    assert len(report.results) == _deleted(emu) >= 5 and report.stopped_early


def test_async_input_or_progress_errors_carry_the_partial_report(emu: Emulator) -> None:
    emu.set_latency(0.02)
    groups = [emu.create_group("Public") for _ in range(40)]

    async def main() -> tuple[Any, Any]:
        async with emu.async_client(rate_limit=None) as aclient:
            with pytest.raises(LookupError) as e:
                await aclient.delete_many(_failing_items(groups, 10), concurrency=4)
            first = e.value.report  # type: ignore[attr-defined]
            calls_first = _deleted(emu)
            emu.clear_requests()

            def progress(p: timrest.Progress) -> None:
                if p.done >= 5:
                    raise ValueError("the progress bar broke")

            with pytest.raises(ValueError) as e2:
                await aclient.delete_many([(g, "spammer") for g in groups], concurrency=4, progress=progress)
            return (first, calls_first), e2.value.report  # type: ignore[attr-defined]

    (first, calls_first), second = asyncio.run(main())
    assert len(first.results) == 10 == calls_first
    assert len(second.results) == _deleted(emu) >= 5 and second.stopped_early


_CTRL_C_CHILD = r"""
import signal
import timrest
from timrest.testing import Emulator

with Emulator(rate_limit=None) as emu:
    client = emu.client(rate_limit=None, max_retries=0)
    items = [(f"@TGS#missing{i}", "spammer") for i in range(400000)]  # each fails at once: 10010
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    print("ready", flush=True)
    report = client.delete_many(items, concurrency=8)
    swallowed = sum(1 for r in report.results if isinstance(r.error, KeyboardInterrupt))
    print(f"interrupted={report.interrupted} swallowed={swallowed} done={len(report.results)}", flush=True)
"""


def test_ctrl_c_while_items_are_failing_always_interrupts() -> None:
    """Each failed item builds its exception in Python code, and reading an item may check its type in
    Python code: a pending Ctrl-C raised there must stop the batch (interrupted), never become an
    item's error nor be dropped (issue 28, item 7)."""
    for attempt in range(5):
        child = subprocess.Popen([sys.executable, "-c", _CTRL_C_CHILD], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5 + 0.2 * attempt)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        fields = dict(kv.split("=") for kv in out.split())
        assert fields["interrupted"] == "True" and fields["swallowed"] == "0", out
        assert 0 < int(fields["done"]) < 400000, out


def test_keep_results_false_keeps_the_counts_and_no_item(emu: Emulator) -> None:
    client = emu.client(rate_limit=None)
    groups = [emu.create_group("Public") for _ in range(30)]
    items = [(g, "spammer") for g in groups] + [("@TGS#missing", "spammer")] * 5
    seen: list[timrest.ItemResult] = []
    report = client.delete_many(items, keep_results=False, on_result=seen.append)
    assert (report.ok, report.failed, len(report.results), len(seen)) == (30, 5, 0, 35)

    async def main() -> timrest.BatchReport:
        async with emu.async_client(rate_limit=None) as aclient:
            return await aclient.delete_many(items, keep_results=False)

    report = asyncio.run(main())
    assert (report.ok, report.failed, len(report.results)) == (30, 5, 0)


_ASYNC_CTRL_C_CHILD = r"""
import asyncio
import signal
from timrest.testing import Emulator

async def main(emu):
    async with emu.async_client(rate_limit=None, max_retries=0) as aclient:
        print("ready", flush=True)
        await aclient.delete_many(((f"@TGS#missing{i}", "spammer") for i in range(400000)), concurrency=8)

with Emulator(rate_limit=None) as emu:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        asyncio.run(main(emu))
        print("ran to the end", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


def test_ctrl_c_interrupts_an_async_batch_of_failing_items() -> None:
    """The async face builds each failure's exception on the loop's thread: Ctrl-C there stops the
    loop as asyncio's Ctrl-C does, and is never dropped (issue 28, item 7)."""
    for attempt in range(3):
        child = subprocess.Popen([sys.executable, "-c", _ASYNC_CTRL_C_CHILD], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5 + 0.3 * attempt)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
        assert out.strip() == "interrupted", (out, err[-500:])
