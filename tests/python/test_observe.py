"""What a client tells about itself: ``stats()`` and ``on_event`` hooks, in the sync and async
faces, checked against the emulator's own request log over real loopback HTTP; and a fleet on a
real ``redis-server`` that is stopped midway, where each process sees its fallback start and end.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import pathlib
import sys
import threading
import time
from typing import Any

import pytest

import timrest
from timrest.testing import DEMO_SECRET_KEY, Emulator

sys.path.insert(0, str(pathlib.Path(__file__).with_name("fleet")))
import deployments  # noqa: E402

DELETE = "delete_group_msg_by_sender"
STATS_KEYS = {
    "calls", "ok", "failed", "failed_by_kind", "attempts", "retries", "rate_limited", "limiter_wait_seconds",
    "limiter_waits", "limiter_backend_errors", "fallback_active", "connections_opened", "effective_rate_limit",
}


def deletions_at_least(emu: Emulator, n: int) -> list[dict[str, Any]]:
    """The log's deletions once it holds ``n`` (a delayed answer is logged when it is written)."""
    give_up = time.monotonic() + 30
    while True:
        sent = [r for r in emu.requests() if r["command"] == DELETE]
        if len(sent) >= n or time.monotonic() > give_up:
            return sent
        time.sleep(0.02)


def queue_the_three_calls(emu: Emulator) -> None:
    """Call 1: two 60007, then success. Call 2: four answers slower than the 0.4 s timeout. Call 3: four 502s."""
    emu.inject(DELETE, times=2, error_code=60007)
    emu.inject(DELETE, error_code=0)
    emu.inject(DELETE, times=4, delay=2.0)
    emu.inject(DELETE, times=4, http_status=502)


def check_against_the_log(emu: Emulator, events: list[timrest.Event], stats: dict[str, Any]) -> None:
    assert set(stats) == STATS_KEYS
    log = deletions_at_least(emu, 12)[:11]
    attempts = [e for e in events if e.kind == "attempt"]
    assert [e.random for e in attempts] == [r["random"] for r in log], "one event per request, in order"
    assert [e.attempt for e in attempts] == [1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 4]
    assert [e.error_kind for e in attempts] == ["rate_limited"] * 2 + [None] + ["timeout"] * 4 + ["transport"] * 4
    assert [e.code for e in attempts[:3]] == [r["error_code"] or 0 for r in log[:3]] == [60007, 60007, 0]
    assert {e.http_status for e in attempts[7:]} == {502} == {r["http_status"] for r in log[7:]}
    assert all(e.http_status is None and e.code is None for e in attempts[3:7])
    assert all(e.command == DELETE and e.service == "group_open_http_svc" for e in events)
    assert all(e.server_address == "127.0.0.1" for e in events)
    calls = [e for e in events if e.kind == "call"]
    assert [(c.error_kind, c.attempt) for c in calls] == [(None, 3), ("timeout", 4), ("transport", 4)]
    assert calls[0].random == log[2]["random"]
    assert (stats["calls"], stats["ok"], stats["failed"]) == (3, 1, 2)
    assert stats["failed_by_kind"] == {"timeout": 1, "transport": 1}
    assert (stats["attempts"], stats["retries"], stats["rate_limited"]) == (11, 8, 2)
    assert stats["limiter_waits"] == 11 == len([e for e in events if e.kind == "limiter_wait"])
    assert stats["connections_opened"] == len([e for e in events if e.kind == "connection_opened"]) >= 1
    assert [e.kind for e in events].count("rate_adapted") == 1, "one cut per window"
    assert stats["fallback_active"] == 0 and stats["limiter_backend_errors"] == 0
    assert 0 < stats["effective_rate_limit"] < 50.0


def test_stats_and_events_match_the_log_through_retries_a_timeout_and_a_502(emu: Emulator) -> None:
    gid = emu.create_group("Public")
    first: list[timrest.Event] = []
    second: list[timrest.Event] = []
    threads: set[int] = set()

    def hook(e: timrest.Event) -> None:
        threads.add(threading.get_ident())
        first.append(e)

    client = emu.client(rate_limit=50.0, timeout=0.4, on_event=[hook, second.append])
    assert set(client.stats()) == STATS_KEYS and client.stats()["calls"] == 0
    queue_the_three_calls(emu)
    client.delete_group_msg_by_sender(gid, "spammer")
    with pytest.raises(timrest.RequestTimeoutError):
        client.delete_group_msg_by_sender(gid, "spammer")
    with pytest.raises(timrest.TransportError):
        client.delete_group_msg_by_sender(gid, "spammer")
    check_against_the_log(emu, first, client.stats())
    assert [repr(e) for e in second] == [repr(e) for e in first], "every hook of the list gets every event"
    assert threads == {threading.get_ident()}, "hooks run on the calling thread"
    with pytest.raises(AttributeError):
        first[0].kind = "call"  # type: ignore[misc]
    assert repr(first[0]).startswith("timrest.Event(kind=")


def test_the_async_client_reports_the_same_from_its_worker_threads(emu: Emulator) -> None:
    gid = emu.create_group("Public")
    events: list[timrest.Event] = []
    threads: set[int] = set()

    def hook(e: timrest.Event) -> None:
        threads.add(threading.get_ident())
        events.append(e)

    async def main() -> dict[str, Any]:
        async with timrest.AsyncClient(emu.sdkappid, secret_key=DEMO_SECRET_KEY, base_url=emu.base_url,
                                       rate_limit=50.0, timeout=0.4, on_event=hook) as client:
            queue_the_three_calls(emu)
            await client.delete_group_msg_by_sender(gid, "spammer")
            with pytest.raises(timrest.RequestTimeoutError):
                await client.delete_group_msg_by_sender(gid, "spammer")
            with pytest.raises(timrest.TransportError):
                await client.delete_group_msg_by_sender(gid, "spammer")
            return client.stats()

    stats = asyncio.run(main())
    check_against_the_log(emu, events, stats)
    assert threading.get_ident() not in threads, "async calls report from the client's worker threads"


def test_a_hook_that_raises_is_logged_and_the_call_goes_on(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    gid = emu.create_group("Public")
    seen: list[str] = []

    def broken(e: timrest.Event) -> None:
        raise ValueError("a broken hook")

    client = emu.client(on_event=[broken, lambda e: seen.append(e.kind)])
    with caplog.at_level(logging.ERROR, logger="timrest"):
        client.delete_group_msg_by_sender(gid, "spammer")
    assert client.stats()["ok"] == 1
    assert seen.count("call") == 1, "the next hook still ran"
    records = [r for r in caplog.records if r.name == "timrest" and "on_event hook" in r.getMessage()]
    assert records and records[0].exc_info is not None and "a broken hook" in str(records[0].exc_info[1])


def test_on_event_takes_callables_only_and_from_env_takes_it_too(emu: Emulator,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="on_event takes a callable"):
        emu.client(on_event="print")
    with pytest.raises(TypeError, match="on_event takes a callable"):
        emu.client(on_event=[print, 42])
    monkeypatch.setenv("TIM_SDKAPPID", str(emu.sdkappid))
    monkeypatch.setenv("TIM_SECRET_KEY", DEMO_SECRET_KEY)
    monkeypatch.setenv("TIM_BASE_URL", emu.base_url)
    kinds: list[str] = []
    client = timrest.Client.from_env(on_event=lambda e: kinds.append(e.kind))
    client.delete_group_msg_by_sender(emu.create_group("Public"), "spammer")
    assert kinds[-1] == "call" and "attempt" in kinds and "limiter_wait" in kinds


def test_no_secret_reaches_an_event_or_the_stats_from_a_server_that_echoes_them(emu: Emulator) -> None:
    gid = emu.create_group("Public")
    events: list[timrest.Event] = []
    client = emu.client(max_retries=0, on_event=events.append)
    emu.inject(DELETE, echo_secrets=True)
    with pytest.raises(timrest.TimError):
        client.delete_group_msg_by_sender(gid, "spammer")
    texts = [repr(e) for e in events] + [repr({k: getattr(e, k) for k in dir(e) if not k.startswith("_")})
                                         for e in events] + [repr(client.stats())]
    for text in texts:
        assert DEMO_SECRET_KEY not in text and "eJ" not in text, text
        assert gid not in text and "spammer" not in text, f"no group or account id: {text}"


@pytest.fixture
def folder() -> Any:
    path = deployments.temp_folder()
    yield path
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def test_a_fleet_sees_its_fallback_start_and_end_when_redis_stops_and_returns(folder: pathlib.Path) -> None:
    node = deployments.Node(folder)
    try:
        with Emulator(rate_limit=100.0, latency=0.05) as emu:
            gids = [emu.create_group("Public", name=f"g{i}") for i in range(50)]
            items = [(g, f"spammer{s}") for g in gids for s in range(8)]
            procs = deployments.start_fleet(emu.base_url, 4, items, rate_limit_url=f"redis://127.0.0.1:{node.port}/0",
                                            observe=True)
            time.sleep(1.0)
            node.kill()
            time.sleep(1.5)
            node.start()
            summaries = deployments.finish_fleet(procs)
        for s in summaries:
            assert s["ok"] == s["items"], s
            events = s["events"]
            assert events.get("fallback_entered", 0) >= 1 and events.get("fallback_left", 0) >= 1, s
            assert events["fallback_entered"] == events["fallback_left"], "each outage ended"
            assert events.get("backend_error", 0) >= 1, s
            assert s["fallback_seen"] == 1, "stats() showed the fallback while Redis was out"
            assert s["stats"]["fallback_active"] == 0, "and not any more once it answered"
            assert s["stats"]["limiter_backend_errors"] == events["backend_error"]
            assert s["stats"]["calls"] == s["items"]
    finally:
        node.kill()


REQUEST: "contextvars.ContextVar[str]" = contextvars.ContextVar("request", default="none")


def test_hooks_run_in_the_context_where_the_call_was_made(emu: Emulator) -> None:
    """A hook reads the caller's context variables: on the caller's thread for a plain call, and
    on the worker threads of a bulk call or an AsyncClient call (a copy carried there)."""
    gids = [emu.create_group("Public") for _ in range(4)]
    seen: list[tuple[str, str, str]] = []

    def hook(event: timrest.Event) -> None:
        seen.append((event.kind, REQUEST.get(), threading.current_thread().name))

    client = emu.client(on_event=hook)
    REQUEST.set("plain")
    client.delete_group_msg_by_sender(gids[0], "a")
    REQUEST.set("bulk")
    assert client.delete_many([(g, "b") for g in gids], concurrency=4).ok == 4
    REQUEST.set("after")
    first_call = [k for k, _, _ in seen].index("call") + 1
    plain, bulk = seen[:first_call], seen[first_call:]
    assert {r for _, r, _ in plain} == {"plain"} and {r for _, r, _ in bulk} == {"bulk"}, seen
    assert [k for k, _, _ in bulk].count("call") == 4

    async def main() -> None:
        async with timrest.AsyncClient(emu.sdkappid, secret_key=DEMO_SECRET_KEY, base_url=emu.base_url,
                                       on_event=hook) as aclient:
            async def one(i: int) -> None:
                REQUEST.set(f"task-{i}")
                await aclient.delete_group_msg_by_sender(gids[i], "c")

            await asyncio.gather(*(one(i) for i in range(4)))

    seen.clear()
    asyncio.run(main())
    calls = [(r, t) for k, r, t in seen if k == "call"]
    assert sorted(r for r, _ in calls) == [f"task-{i}" for i in range(4)], seen
    assert all(t != threading.main_thread().name for _, t in calls), "hooks ran on the worker threads"
