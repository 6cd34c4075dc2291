"""Fleets of processes against one quota (issue: one quota for the whole app), and what one Redis
acquire costs per call. Prints figures and writes target/bench/fleet.md; asserts nothing.

    python bench/fleet.py [--out DIR] [--items 600]      (scripts/bench.sh runs it)

Section 1: fleets of 1, 4 and 8 OS processes, each with its own ``timrest.Client`` at 95/s
configured, against the emulator at 100/s per command and 50 ms latency, 600 deletions in all:
deletions/s for the fleet and 60007 answers, for the local limiter (each process alone), the Redis
limiter (one quota), and a static split (each process at 95/N, local).

Section 2: sequential calls to an emulator with no latency and no limit, limiter at 1e6/s so that
it never waits: per-call latency p50/p99 with the local limiter and with the Redis one; the
difference is what a Redis acquire adds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator


def worker(job: dict[str, Any]) -> None:
    settings = {"rate_limit_url": job["rate_limit_url"]} if job.get("rate_limit_url") else {}
    client = timrest.Client(DEMO_SDKAPPID, secret_key=DEMO_SECRET_KEY, base_url=job["base_url"],
                            rate_limit=job["rate_limit"], **settings)
    time.sleep(max(0.0, job["start_at"] - time.time()))
    started = time.monotonic()
    report = client.delete_many([tuple(i) for i in job["items"]], concurrency=16)
    print(json.dumps({"ok": report.ok, "failed": report.failed, "elapsed": time.monotonic() - started}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--loglevel", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("redis-server did not start")


def fleet(emu: Emulator, items: list[tuple[str, str]], processes: int, rate: float,
          redis_url: str | None) -> dict[str, Any]:
    emu.clear_requests()
    time.sleep(1.1)  # the emulator's window forgets the previous run
    start_at = time.time() + 1.0
    procs = []
    for i in range(processes):
        job = {"base_url": emu.base_url, "rate_limit": rate, "rate_limit_url": redis_url,
               "items": items[i::processes], "start_at": start_at}
        procs.append(subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(job)],
                                      stdout=subprocess.PIPE, text=True))
    results = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    log = emu.requests()
    elapsed = max(r["elapsed"] for r in results)
    ok = sum(r["ok"] for r in results)
    return {"processes": processes, "ok": ok, "failed": sum(r["failed"] for r in results),
            "deletions_per_s": ok / elapsed, "answers": len(log),
            "rejected": sum(1 for r in log if r["error_code"] == 60007)}


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def acquire_cost(redis_url: str, calls: int) -> dict[str, dict[str, float]]:
    out = {}
    with Emulator(rate_limit=None) as emu:
        gid = emu.create_group("Public")
        for name, extra in (("local", {}), ("redis", {"rate_limit_url": redis_url})):
            client = emu.client(rate_limit=1e6, **extra)
            for _ in range(200):
                client.delete_group_msg_by_sender(gid, "s")
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                client.delete_group_msg_by_sender(gid, "s")
                times.append((time.perf_counter() - t0) * 1e6)
            out[name] = {"p50_us": statistics.median(times), "p99_us": percentile(times, 0.99)}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker")
    p.add_argument("--out", default="target/bench")
    p.add_argument("--items", type=int, default=600)
    p.add_argument("--calls", type=int, default=5000)
    a = p.parse_args()
    if a.worker:
        worker(json.loads(a.worker))
        return
    redis, url = start_redis()
    try:
        rows = []
        with Emulator(rate_limit=100.0, latency=0.05) as emu:
            gids = [emu.create_group("Public") for _ in range(a.items // 10)]
            items = [(g, f"spammer{s}") for g in gids for s in range(10)]
            for processes in (1, 4, 8):
                for mode, rate, shared in (("local", 95.0, None), ("redis", 95.0, url),
                                           ("static split", 95.0 / processes, None)):
                    r = fleet(emu, items, processes, rate, shared)
                    r["limiter"] = mode
                    rows.append(r)
                    print(f"fleet: {processes} process(es), {mode:12} {r['deletions_per_s']:6.1f} deletions/s, "
                          f"{r['rejected']:4} of {r['answers']} answers 60007, {r['failed']} items failed", flush=True)
        cost = acquire_cost(url, a.calls)
        delta = cost["redis"]["p50_us"] - cost["local"]["p50_us"]
        print(f"acquire: local p50 {cost['local']['p50_us']:.1f} µs p99 {cost['local']['p99_us']:.1f} µs; "
              f"redis p50 {cost['redis']['p50_us']:.1f} µs p99 {cost['redis']['p99_us']:.1f} µs; "
              f"a Redis acquire adds {delta:.1f} µs at p50")
    finally:
        redis.kill()
        redis.wait()

    eight = {r["limiter"]: r for r in rows if r["processes"] == 8}
    lines = [
        "| processes | limiter | deletions/s | 60007 answers | items failed |",
        "|---:|---|---:|---:|---:|",
        *(f"| {r['processes']} | {r['limiter']} | {r['deletions_per_s']:.1f} | {r['rejected']} of {r['answers']} "
          f"| {r['failed']} |" for r in rows),
        "",
        "| per call, sequential, no latency | p50 µs | p99 µs |",
        "|---|---:|---:|",
        f"| local limiter | {cost['local']['p50_us']:.1f} | {cost['local']['p99_us']:.1f} |",
        f"| Redis limiter | {cost['redis']['p50_us']:.1f} | {cost['redis']['p99_us']:.1f} |",
        "",
        f"Targets: 8-process fleet on Redis holds ≥ 90/s with zero 60007 — "
        f"{eight['redis']['deletions_per_s']:.1f}/s, {eight['redis']['rejected']} × 60007 "
        f"({'met' if eight['redis']['deletions_per_s'] >= 90 and eight['redis']['rejected'] == 0 else 'MISSED'}); "
        f"a Redis acquire adds ≤ 300 µs at p50 — {delta:.0f} µs ({'met' if delta <= 300 else 'MISSED'}).",
    ]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "fleet.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(a.out, "fleet.json"), "w") as f:
        json.dump({"fleets": rows, "acquire": cost}, f, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
