"""The Python side of ``scripts/bench.sh``: one run of one Python client, in a process of its own.

``bench/run.py`` starts this file once per measurement, so that the clients never share an
interpreter (imports, threads and memory of one do not weigh on another). Each run prints one
JSON object on stdout.

    python bench/py_clients.py per-call timrest|requests|timsdk URL GROUP SENDER N WARMUP
    python bench/py_clients.py bulk delete_many|sequential|pool URL GROUPS PER_GROUP LIMIT CONCURRENCY RATE
    python bench/py_clients.py import timrest|requests|timsdk

The hand-written client (``requests``) is what a Python user writes without a library: one
``requests.Session``, the official ``TLSSigAPIv2`` signer called on every request, a fresh
``random``, the JSON body, and a check of ``ErrorCode``.

``timsdk`` (PyPI) hard-codes ``https://console.tim.qq.com`` in ``timsdk.http_client.HttpClient.get_url``;
:func:`point_timsdk_at` wraps that method so that the URL it builds goes to the emulator instead,
leaving the rest of timsdk's request path as it is.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

SDKAPPID = 1400000000
SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
IDENTIFIER = "administrator"
COMMAND = "group_open_http_svc/delete_group_msg_by_sender"


def status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class HandWritten:
    """requests.Session + the official signer on every call: the code a Python user writes by hand."""

    def __init__(self, url: str) -> None:
        import requests
        from TLSSigAPIv2 import TLSSigAPIv2

        self.session = requests.Session()
        self.signer = TLSSigAPIv2(SDKAPPID, SECRET_KEY)
        self.endpoint = f"{url}/v4/{COMMAND}"

    def answer(self, group: str, sender: str) -> dict[str, Any]:
        params = {
            "sdkappid": SDKAPPID,
            "identifier": IDENTIFIER,
            "usersig": self.signer.gen_sig(IDENTIFIER),
            "random": random.randint(0, 4294967295),
            "contenttype": "json",
        }
        r = self.session.post(self.endpoint, params=params, json={"GroupId": group, "Sender_Account": sender}, timeout=10)
        r.raise_for_status()
        answer: dict[str, Any] = r.json()
        return answer

    def delete(self, group: str, sender: str) -> None:
        answer = self.answer(group, sender)
        if answer.get("ErrorCode") != 0:
            raise RuntimeError(f"TIM error {answer.get('ErrorCode')}: {answer.get('ErrorInfo')}")


def point_timsdk_at(url: str) -> None:
    """Makes timsdk send to ``url`` (the emulator) instead of its hard-coded https://console.tim.qq.com."""
    from timsdk import http_client

    original = http_client.HttpClient.get_url

    def get_url(self: Any, path: str, *args: Any, **kwargs: Any) -> str:
        built: str = original(self, path, *args, **kwargs)
        return built.replace("https://console.tim.qq.com", url, 1)

    setattr(http_client.HttpClient, "get_url", get_url)


def telemetry_hook(which: str) -> Any:
    """The on_event hook of a section-1c variant: none, a no-op function, OTel or Prometheus."""
    if which == "timrest":
        return None
    if which == "timrest-hook":
        return lambda event: None
    if which == "timrest-otel":
        import timrest.otel
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider

        # The SDK records every span and aggregates every metric; no exporter (its cost is not ours).
        return timrest.otel.hook(tracer_provider=TracerProvider(),
                                 meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))
    if which == "timrest-prometheus":
        import timrest.prometheus

        return timrest.prometheus.hook()
    raise SystemExit(f"unknown client {which!r}")


def make_caller(which: str, url: str, group: str, sender: str) -> Callable[[], None]:
    if which == "timrest" or which.startswith("timrest-"):
        import timrest

        client = timrest.Client(SDKAPPID, secret_key=SECRET_KEY, identifier=IDENTIFIER, base_url=url, rate_limit=None,
                                on_event=telemetry_hook(which))
        delete = client.delete_group_msg_by_sender
        return lambda: delete(group, sender)
    if which == "requests":
        hand = HandWritten(url)
        return lambda: hand.delete(group, sender)
    if which == "timsdk":
        point_timsdk_at(url)
        from timsdk.tim_client import TimClient

        svc = TimClient(SDKAPPID, SECRET_KEY, IDENTIFIER).group_open_http_svc

        def call() -> None:
            answer = svc.delete_group_msg_by_sender(group, sender)
            if answer.get("ErrorCode") != 0:
                raise RuntimeError(f"TIM error {answer.get('ErrorCode')}: {answer.get('ErrorInfo')}")

        return call
    raise SystemExit(f"unknown client {which!r}")


def per_call(which: str, url: str, group: str, sender: str, n: int, warmup: int) -> dict[str, Any]:
    call = make_caller(which, url, group, sender)
    for _ in range(warmup):
        call()
    ns = [0] * n
    clock = time.perf_counter_ns
    cpu0, wall0 = time.process_time_ns(), clock()
    for i in range(n):
        t = clock()
        call()
        ns[i] = clock() - t
    cpu, wall = time.process_time_ns() - cpu0, clock() - wall0
    ns.sort()
    return {
        "client": which,
        "n": n,
        "median_us": ns[round((n - 1) * 0.5)] / 1000,
        "p99_us": ns[round((n - 1) * 0.99)] / 1000,
        "mean_us": sum(ns) / n / 1000,
        "cpu_us": cpu / n / 1000,
        "wall_s": wall / 1e9,
        "rss_kib": status_kib("VmRSS"),
        "hwm_kib": status_kib("VmHWM"),
    }


def bulk(which: str, url: str, groups: list[str], per_group: int, limit: int, concurrency: int, rate: float) -> dict[str, Any]:
    items = [(g, f"user{i:04}") for g in groups for i in range(per_group)][:limit]
    rejected = 0  # 60007 answers seen by the client (timrest retries them: see attempts)
    ok = failed = attempts = 0
    if which == "delete_many":
        import timrest

        client = timrest.Client(SDKAPPID, secret_key=SECRET_KEY, base_url=url, rate_limit=rate)
        t0 = time.perf_counter()
        report = client.delete_many(items, concurrency=concurrency, progress=False)
        elapsed = time.perf_counter() - t0
        for r in report.results:
            attempts += r.attempts
            if r.error is None:
                ok += 1
            else:
                failed += 1
                rejected += getattr(r.error, "code", None) == 60007
    elif which == "sequential":
        import timrest

        client = timrest.Client(SDKAPPID, secret_key=SECRET_KEY, base_url=url, rate_limit=rate)
        t0 = time.perf_counter()
        for g, s in items:
            try:
                info = client.delete_by_sender(g, s)
                attempts += info.attempts
                ok += 1
            except timrest.TimError as e:
                attempts += e.attempts
                failed += 1
                rejected += e.code == 60007
        elapsed = time.perf_counter() - t0
    elif which == "pool":
        local = threading.local()
        lock = threading.Lock()
        codes: list[int] = []

        def one(item: tuple[str, str]) -> None:
            if not hasattr(local, "hand"):
                local.hand = HandWritten(url)  # a Session per thread: requests.Session is not thread-safe
            answer = local.hand.answer(*item)
            with lock:
                codes.append(int(answer.get("ErrorCode", -1)))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, items))
        elapsed = time.perf_counter() - t0
        attempts = len(codes)
        ok = codes.count(0)
        failed = len(codes) - ok
        rejected = codes.count(60007)
    else:
        raise SystemExit(f"unknown bulk runner {which!r}")
    return {
        "runner": which,
        "items": len(items),
        "ok": ok,
        "failed": failed,
        "attempts": attempts,
        "retried_attempts": attempts - len(items),
        "failed_60007": rejected,
        "elapsed_s": elapsed,
    }


def import_time(which: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    if which == "timrest":
        import timrest  # noqa: F401
    elif which == "requests":
        import requests  # noqa: F401
        import TLSSigAPIv2  # noqa: F401
    elif which == "timsdk":
        import timsdk.tim_client  # noqa: F401
    else:
        raise SystemExit(f"unknown module {which!r}")
    return {"module": which, "import_s": time.perf_counter() - t0, "rss_kib": status_kib("VmRSS")}


def main(argv: list[str]) -> None:
    match argv:
        case ["per-call", which, url, group, sender, n, warmup]:
            out = per_call(which, url, group, sender, int(n), int(warmup))
        case ["bulk", which, url, groups, per_group, limit, concurrency, rate]:
            out = bulk(which, url, groups.split(","), int(per_group), int(limit), int(concurrency), float(rate))
        case ["import", which]:
            out = import_time(which)
        case _:
            raise SystemExit(__doc__)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: nothing is left to flush


if __name__ == "__main__":
    main(sys.argv[1:])
