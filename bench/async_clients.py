"""The asyncio face against what an async back-end would otherwise write (scripts/bench.sh, section
"async"; writes target/bench/async.md). Prints figures; asserts nothing.

1. Per call, sequential awaits, emulator with no latency and no limit: ``timrest.AsyncClient``,
   ``asyncio.to_thread(client.delete_group_msg_by_sender)``, and ``httpx.AsyncClient`` with the
   official signer (a UserSig signed per call, as hand-written code does), beside the sync client.
2. 1000 concurrent calls, emulator 50 ms away with no limit, timrest's limiter at 500/s: calls/s,
   and the event loop's worst lag (a task that sleeps 1 ms and measures how late it wakes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from typing import Any, Awaitable, Callable

import httpx
import TLSSigAPIv2

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator


def httpx_delete(http: httpx.AsyncClient, base_url: str) -> Callable[[str, str], Awaitable[None]]:
    signer = TLSSigAPIv2.TLSSigAPIv2(DEMO_SDKAPPID, DEMO_SECRET_KEY)

    async def delete(group_id: str, sender: str) -> None:
        sig = signer.gen_sig("administrator", 86400)
        url = (f"{base_url}/v4/group_open_http_svc/delete_group_msg_by_sender?sdkappid={DEMO_SDKAPPID}"
               f"&identifier=administrator&usersig={sig}&random={random.getrandbits(32)}&contenttype=json")
        answer = await http.post(url, json={"GroupId": group_id, "Sender_Account": sender})
        body = answer.json()
        if body.get("ErrorCode") != 0:
            raise RuntimeError(body)

    return delete


async def per_call(calls: int) -> dict[str, float]:
    out = {}
    with Emulator(rate_limit=None) as emu:
        gid = emu.create_group("Public")
        sync = emu.client(rate_limit=None)

        async def to_thread(g: str, s: str) -> None:
            await asyncio.to_thread(sync.delete_group_msg_by_sender, g, s)

        async with emu.async_client(rate_limit=None) as client, httpx.AsyncClient() as http:
            candidates: dict[str, Callable[[str, str], Awaitable[Any]]] = {
                "timrest AsyncClient": client.delete_group_msg_by_sender,
                "asyncio.to_thread(Client.delete_group_msg_by_sender)": to_thread,
                "httpx.AsyncClient + official signer per call": httpx_delete(http, emu.base_url),
            }
            for name, delete in candidates.items():
                for _ in range(200):
                    await delete(gid, "s")
                times = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    await delete(gid, "s")
                    times.append((time.perf_counter() - t0) * 1e6)
                out[name] = statistics.median(times)
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            sync.delete_group_msg_by_sender(gid, "s")
            times.append((time.perf_counter() - t0) * 1e6)
        out["timrest Client (sync, for reference)"] = statistics.median(times)
    return out


async def idle_lag(seconds: float) -> float:
    """The worst lag of the same ticker on an idle loop: what the machine itself adds."""
    lag = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        lag = max(lag, time.perf_counter() - t0 - 0.001)
    return lag


async def concurrent(n: int, rate: float) -> dict[str, dict[str, float]]:
    out = {"idle loop, no calls (the machine's own lag)": {"calls_per_s": 0.0,
                                                           "worst_loop_lag_ms": await idle_lag(2.0) * 1000}}
    with Emulator(rate_limit=None, latency=0.05) as emu:
        gid = emu.create_group("Public")
        sync = emu.client(rate_limit=rate)

        async def to_thread(g: str, s: str) -> None:
            await asyncio.to_thread(sync.delete_group_msg_by_sender, g, s)

        async with emu.async_client(rate_limit=rate, max_workers=64) as client, \
                httpx.AsyncClient(limits=httpx.Limits(max_connections=100), timeout=httpx.Timeout(60.0)) as http:
            candidates: dict[str, Callable[[str, str], Awaitable[Any]]] = {
                f"timrest AsyncClient (limiter {rate:g}/s, 64 workers)": client.delete_group_msg_by_sender,
                f"asyncio.to_thread (limiter {rate:g}/s, default executor)": to_thread,
                "httpx.AsyncClient + signer (no limiter, 100 connections)": httpx_delete(http, emu.base_url),
            }
            for name, delete in candidates.items():
                lag = 0.0
                done = asyncio.Event()

                async def ticker() -> None:
                    nonlocal lag
                    while not done.is_set():
                        t0 = time.perf_counter()
                        await asyncio.sleep(0.001)
                        lag = max(lag, time.perf_counter() - t0 - 0.001)

                tick = asyncio.create_task(ticker())
                t0 = time.perf_counter()
                await asyncio.gather(*(delete(gid, f"s{i}") for i in range(n)))
                elapsed = time.perf_counter() - t0
                done.set()
                await tick
                out[name] = {"calls_per_s": n / elapsed, "worst_loop_lag_ms": lag * 1000}
                await asyncio.sleep(1.1)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="target/bench")
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--concurrent", type=int, default=1000)
    a = p.parse_args()
    seq = asyncio.run(per_call(a.calls))
    for name, us in seq.items():
        print(f"async per call: {name:55} {us:8.1f} µs", flush=True)
    conc = asyncio.run(concurrent(a.concurrent, 500.0))
    for name, r in conc.items():
        print(f"async {a.concurrent} at once: {name:55} {r['calls_per_s']:7.1f} calls/s, "
              f"worst loop lag {r['worst_loop_lag_ms']:.2f} ms", flush=True)
    sync_us = seq["timrest Client (sync, for reference)"]
    async_us = seq["timrest AsyncClient"]
    ours = next(v for k, v in conc.items() if k.startswith("timrest"))
    idle = next(v for k, v in conc.items() if k.startswith("idle"))
    lines = [
        "| per call, sequential awaits, no latency | median µs | vs sync client |",
        "|---|---:|---:|",
        *(f"| {k} | {v:.1f} | {v / sync_us:.2f}× |" for k, v in seq.items()),
        "",
        f"| {a.concurrent} concurrent calls, server 50 ms away | calls/s | worst loop lag ms |",
        "|---|---:|---:|",
        *(f"| {k} | {v['calls_per_s']:.1f} | {v['worst_loop_lag_ms']:.2f} |" for k, v in conc.items()),
        "",
        f"Targets: {a.concurrent} concurrent calls at the limiter's rate (500/s) with no loop lag above 5 ms — "
        f"{ours['calls_per_s']:.0f}/s, worst lag {ours['worst_loop_lag_ms']:.2f} ms "
        f"(idle loop on this machine: {idle['worst_loop_lag_ms']:.2f} ms) "
        f"({'met' if ours['calls_per_s'] >= 450 and ours['worst_loop_lag_ms'] <= 5 else 'MISSED'}); per-call overhead "
        f"within 1.5× of the sync client — {async_us / sync_us:.2f}× ({'met' if async_us <= 1.5 * sync_us else 'MISSED'}).",
    ]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "async.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(a.out, "async.json"), "w") as f:
        json.dump({"per_call_us": seq, "concurrent": conc}, f, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
