"""``timrest.AsyncClient`` over real HTTP against the emulator, on asyncio's default loop and on
uvloop: concurrency, a loop that keeps running, cancellation, every error at the await, closing,
bulk deletion from async iterables, and an ASGI app under a real uvicorn driven over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import timrest
from timrest.testing import DEMO_SECRET_KEY, Emulator

ROOT = pathlib.Path(__file__).resolve().parents[2]
Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    if request.param == "uvloop":
        import uvloop

        return lambda coro: uvloop.run(coro)
    return asyncio.run


def most_at_once(records: list[dict[str, Any]]) -> int:
    """The most requests the emulator held at the same moment (from arrival and finish times)."""
    events = sorted([(r["arrived"], 1) for r in records] + [(r["finished"], -1) for r in records])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def deletions(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["command"] == "delete_group_msg_by_sender"]


def test_two_hundred_concurrent_awaits_overlap(run: Runner) -> None:
    with Emulator(rate_limit=None, latency=0.05) as emu:
        gid = emu.create_group("Public")

        async def main() -> list[timrest.CallInfo]:
            async with emu.async_client(rate_limit=None) as client:
                return await asyncio.gather(*(client.delete_by_sender(gid, f"s{i}") for i in range(200)))

        infos = run(main())
        assert len(infos) == 200 and all(i.attempts == 1 for i in infos)
        sent = deletions(emu)
        assert len(sent) == 200 and all(r["error_code"] == 0 for r in sent)
        assert most_at_once(sent) >= 32, "the calls overlapped (64 workers by default)"
        assert len({r["random"] for r in sent}) == 200


def test_the_loop_keeps_running_while_calls_wait(run: Runner) -> None:
    with Emulator(rate_limit=None, latency=0.05) as emu:
        gid = emu.create_group("Public")

        async def main() -> tuple[int, int]:
            ticks = 0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0.001)

            async with emu.async_client(rate_limit=None, max_workers=8) as client:
                task = asyncio.create_task(ticker())
                await asyncio.sleep(0)
                before = ticks
                await asyncio.gather(*(client.delete_group_msg_by_sender(gid, "s") for _ in range(64)))
                during = ticks - before
                stop.set()
                await task
            return during, len(deletions(emu))

        during, sent = run(main())
        # 64 calls, 8 at a time, 50 ms each: the ticker ran on through 8 rounds of waiting.
        assert sent == 64
        assert during >= 50, f"the ticker ticked only {during} times while the calls waited"


def test_cancelling_half_of_the_tasks(run: Runner) -> None:
    with Emulator(rate_limit=None, latency=0.2) as emu:
        gid = emu.create_group("Public")
        loop_errors: list[dict[str, Any]] = []

        async def main() -> list[Any]:
            asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(ctx))
            async with emu.async_client(rate_limit=None, max_workers=128) as client:
                tasks = [asyncio.create_task(client.delete_by_sender(gid, f"s{i}")) for i in range(100)]
                await asyncio.sleep(0.05)
                for t in tasks[::2]:
                    t.cancel()
                outcomes = await asyncio.gather(*tasks, return_exceptions=True)
                # The cancelled calls were on the wire: their answers arrive later and are dropped.
                await asyncio.sleep(0.3)
                await client.delete_group_msg_by_sender(gid, "after")
                return outcomes

        outcomes = run(main())
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes[::2])
        assert all(isinstance(o, timrest.CallInfo) for o in outcomes[1::2])
        assert loop_errors == [], loop_errors
        assert len(deletions(emu)) == 101


def test_every_error_class_is_raised_at_the_await(run: Runner, emu: Emulator) -> None:
    gid = emu.create_group("Public")
    codes = {kind["python_class"]: kind["codes"][0] for kind in timrest._native.error_kinds() if kind["codes"]}
    codes["ApiError"] = 12345
    faults: dict[str, dict[str, Any]] = {
        "TransportError": {"http_status": 502},
        "RequestTimeoutError": {"delay": 2.0},
        "ProtocolError": {"body": "<html>"},
        **{cls: {"error_code": code} for cls, code in codes.items()},
    }

    async def main() -> dict[str, str]:
        seen: dict[str, str] = {}
        async with emu.async_client(rate_limit=None, max_retries=0, timeout=0.5, deadline=5.0) as client:
            for cls, fault in faults.items():
                emu.inject("delete_group_msg_by_sender", times=2, **fault)
                try:
                    await client.delete_group_msg_by_sender(gid, "s")
                except timrest.TimError as e:
                    seen[cls] = type(e).__name__
                emu.clear_faults()
            try:
                await client.delete_group_msg_by_sender("", "s")
            except timrest.InvalidArgumentError as e:
                seen["InvalidArgumentError"] = type(e).__name__
        # Settings are checked before any await, as the sync client checks them.
        try:
            emu.async_client(rate_limit=-1)
        except timrest.ConfigError as e:
            seen["ConfigError"] = type(e).__name__
        limiter = emu.async_client(rate_limit=50, rate_limit_url="redis://127.0.0.1:9/0", rate_limit_fallback="fail")
        try:
            await limiter.delete_group_msg_by_sender(gid, "s")
        except timrest.LimiterError as e:
            seen["LimiterError"] = type(e).__name__
        await limiter.aclose()
        return seen

    seen = run(main())
    for cls, got in seen.items():
        assert got == cls
    expected = {k["python_class"] for k in timrest._native.error_kinds()}
    assert set(seen) == expected


def test_aclose_waits_for_calls_in_flight_and_then_refuses_new_ones(run: Runner) -> None:
    with Emulator(rate_limit=None, latency=0.3) as emu:
        gid = emu.create_group("Public")

        async def main() -> tuple[bool, list[Any]]:
            client = emu.async_client(rate_limit=None)
            tasks = [asyncio.create_task(client.delete_by_sender(gid, "s")) for _ in range(10)]
            await asyncio.sleep(0.05)
            finished = await client.aclose()
            assert client.closed
            # A TimError (nothing was sent, so a ConfigError) that says what to do instead.
            with pytest.raises(timrest.ConfigError, match="AsyncClient is closed.*make a new AsyncClient") as e:
                await client.delete_group_msg_by_sender(gid, "s")
            assert (e.value.kind, e.value.attempts) == ("config", 0)
            return finished, [t.result() for t in tasks]

        finished, results = run(main())
        assert finished
        assert all(isinstance(r, timrest.CallInfo) for r in results)


def counts() -> tuple[int, int]:
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))


def test_a_thousand_clients_made_and_closed_leak_no_thread_or_fd(emu: Emulator) -> None:
    gid = emu.create_group("Public")

    async def main() -> None:
        for _ in range(1000):
            async with emu.async_client(rate_limit=None) as client:
                await client.delete_group_msg_by_sender(gid, "s")

    asyncio.run(main())  # warm up: the emulator's own threads and pools
    threads, fds = counts()
    asyncio.run(main())
    after_threads, after_fds = counts()
    assert after_threads <= threads + 2, (threads, after_threads)
    assert after_fds <= fds + 8, (fds, after_fds)


def test_delete_many_takes_async_iterables_and_reports_like_the_sync_client(run: Runner) -> None:
    with Emulator(rate_limit=None, latency=0.02) as emu:
        gids = [emu.create_group("Public") for _ in range(30)]
        for g in gids:
            emu.send_group_msg(g, "spammer", "spam")

        async def items() -> AsyncIterator[Any]:
            for i, g in enumerate(gids):
                await asyncio.sleep(0)
                yield {"group_id": g, "sender": "spammer"} if i % 2 else (g, "spammer")
            yield ("@TGS#GONE", "spammer")
            yield ("only-one-field",)

        async def main() -> tuple[Any, Any, list[tuple[int, Any]]]:
            seen: list[tuple[int, Any]] = []
            async with emu.async_client(rate_limit=None) as client:
                report = await client.delete_many(items(), concurrency=8, progress=lambda d, t: seen.append((d, t)))
                stopped = await client.delete_many([("@TGS#GONE", "s")] + [(g, "s") for g in gids], concurrency=1,
                                                   stop_on_error=True)
            return report, stopped, seen

        report, stopped, seen = run(main())
        assert isinstance(report, timrest.BatchReport)
        assert (len(report), report.ok, report.failed) == (32, 30, 2)
        assert [r.index for r in report.results] == list(range(32))
        assert type(report.results[30].error) is timrest.GroupNotFoundError
        assert type(report.results[31].error) is timrest.InvalidArgumentError
        assert all(not emu.messages(g) for g in gids)
        assert seen[-1] == (32, None)
        assert stopped.stopped_early and len(stopped) < 1 + len(gids)
        assert report.to_records()[0]["ok"] is True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_an_asgi_app_under_uvicorn_serves_deletions_concurrently(tmp_path: pathlib.Path) -> None:
    """The asyncio quick start as its docstring says to run it: the file alone in a folder, the
    TIM_* variables, `uvicorn asgi_app:app --port N` from there (the README quotes the file)."""
    shutil.copy(ROOT / "examples/python/asgi_app.py", tmp_path)
    with Emulator(rate_limit=None, latency=0.3) as emu:
        gids = [emu.create_group("Public") for _ in range(20)]
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIM_")}
        env.update(TIM_SDKAPPID=str(emu.sdkappid), TIM_SECRET_KEY=DEMO_SECRET_KEY, TIM_BASE_URL=emu.base_url)
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "asgi_app:app", "--port", str(port), "--log-level", "warning"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    assert server.poll() is None, server.communicate()[1]
                    time.sleep(0.05)
            url = f"http://127.0.0.1:{port}/spam/delete"
            with ThreadPoolExecutor(20) as pool:
                answers = list(pool.map(lambda g: post(url, {"group_id": g, "sender": "spammer"}), gids))
            assert all(status == 200 and a["deleted"] for status, a in answers), answers
            assert post(url, {"group_id": "@TGS#GONE", "sender": "spammer"})[0] == 404
            assert post(url, {"group_id": "", "sender": "spammer"})[0] == 400
            # One uvicorn worker, one event loop: the deletions were in flight together.
            assert most_at_once(deletions(emu)[:20]) >= 10
        finally:
            # Ctrl-C: uvicorn shuts down gracefully, running the lifespan's exit (aclose).
            server.send_signal(signal.SIGINT)
            out, err = server.communicate(timeout=30)
        assert server.returncode == 0, err


# -- the pool starts a call at once, and a call cancelled before it started is never sent (issue 28)


def test_a_call_starts_at_once_while_workers_are_free(emu: Emulator, run: Runner) -> None:
    emu.set_latency(1.0)
    gid = emu.create_group("Public")

    async def main() -> list[float]:
        async with emu.async_client(rate_limit=None, max_workers=8) as aclient:
            started = time.monotonic()
            finished: list[float] = []

            async def one(delay: float) -> None:
                await asyncio.sleep(delay)
                await aclient.delete_group_msg_by_sender(gid, "spammer")
                finished.append(time.monotonic() - started)

            await asyncio.gather(*(one(0.05 * i) for i in range(5)))
            return sorted(finished)

    finished = run(main())
    # Each starts when it is called: 1.0, 1.05, … s, never behind a busy worker (2.0 s before).
    assert finished[-1] < 1.7, finished


def test_a_call_cancelled_before_it_started_never_reaches_the_server(emu: Emulator, run: Runner) -> None:
    emu.set_latency(0.5)
    gid = emu.create_group("Public")

    async def main() -> None:
        async with emu.async_client(rate_limit=None, max_workers=4) as aclient:
            tasks = [asyncio.ensure_future(aclient.delete_group_msg_by_sender(gid, "spammer")) for _ in range(200)]
            await asyncio.sleep(0.1)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            batch = asyncio.ensure_future(aclient.delete_many([(gid, "spammer")] * 200, concurrency=50))
            await asyncio.sleep(0.1)
            batch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await batch

    run(main())
    time.sleep(1.5)  # what had started finishes
    sent = sum(1 for r in emu.requests() if r["command"] == "delete_group_msg_by_sender")
    # Only what 4 workers had taken: at most 4 of the first 200 and 4 of the batch's, not 400.
    assert sent <= 8, sent


NEVER_CLOSED = """
import asyncio
import timrest
from timrest.testing import DEMO_SECRET_KEY, Emulator

kept = []

async def main(emu, gid):
    for name in "ab":
        client = timrest.AsyncClient(emu.sdkappid, secret_key=DEMO_SECRET_KEY, base_url=emu.base_url,
                                     on_event=lambda e: None)
        await asyncio.gather(*(client.delete_group_msg_by_sender(gid, f"{name}{i}") for i in range(50)))
    kept.append(client)                              # "a" is dropped unclosed here, "b" lives to the exit

with Emulator(rate_limit=None) as emu:
    asyncio.run(main(emu, emu.create_group("Public")))
print("done", flush=True)
"""


def test_a_program_that_never_closes_its_clients_exits_cleanly(tmp_path: pathlib.Path) -> None:
    """At exit, Python 3.11-3.13 end a thread that asks for the GIL with pthread_exit, whose
    forced unwinding through Rust aborts the process ("FATAL: exception not rethrown", exit 134).
    The workers of AsyncClients that were never closed (one dropped, one alive at exit) must not
    ask for it then."""
    script = tmp_path / "never_closed.py"
    script.write_text(NEVER_CLOSED)
    for _ in range(5):
        run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
        assert (run.returncode, run.stdout) == (0, "done\n"), run.stderr[-2000:]
        assert "FATAL" not in run.stderr
