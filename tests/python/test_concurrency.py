"""16 threads × 200 calls sharing one client, with faults injected at random from a fixed seed.

The emulator is limited to 1000 requests/s and the client to 950/s (the 5 % margin of design §2,
at a high rate to keep the test short). Every call must be accounted for (a success or a typed
error), the attempts of all calls must add up to the emulator's request log, every 10010 must have
ended exactly one call, and the emulator must never have answered 60007.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any, Optional

import timrest
from timrest.testing import Emulator

DELETE = "delete_group_msg_by_sender"
THREADS = 16
CALLS = 200


def inject_random_faults(emu: Emulator, seed: int, n: int) -> None:
    """A fault (or none) for each of the next ``n`` deletions, in order: 4 % 10002, 3 % HTTP 502,
    3 % a dropped connection (all retried), 3 % 10010 (not retried), the rest answered normally."""
    rng = random.Random(seed)
    for _ in range(n):
        roll = rng.random()
        if roll < 0.04:
            emu.inject(DELETE, error_code=10002)
        elif roll < 0.07:
            emu.inject(DELETE, http_status=502)
        elif roll < 0.10:
            emu.inject(DELETE, drop=True)
        elif roll < 0.13:
            emu.inject(DELETE, error_code=10010)
        else:
            emu.inject(DELETE)  # a fault that does nothing: answered normally


def test_sixteen_threads_share_one_client_under_random_faults() -> None:
    with Emulator(rate_limit=1000.0) as emu:
        gid = emu.create_group("Public")
        inject_random_faults(emu, seed=20261126, n=THREADS * CALLS * 2)
        client = emu.client(rate_limit=950.0, max_retries=3, timeout=20.0, deadline=120.0)
        outcomes: list[list[tuple[str, int, Optional[int]]]] = [[] for _ in range(THREADS)]
        crashed: list[BaseException] = []
        start = threading.Barrier(THREADS)

        def work(t: int) -> None:
            try:
                start.wait()
                for i in range(CALLS):
                    try:
                        info = client.delete_by_sender(gid, f"t{t}_s{i % 5}")
                        outcomes[t].append(("ok", info.attempts, info.random))
                    except timrest.TimError as e:
                        outcomes[t].append((e.kind, e.attempts, e.random))
            except BaseException as e:  # noqa: BLE001 - reported below
                crashed.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        took = time.monotonic() - began
        assert not any(thread.is_alive() for thread in threads), "a thread hangs"
        assert crashed == []

        results = [o for per_thread in outcomes for o in per_thread]
        kinds = Counter(kind for kind, _, _ in results)
        assert len(results) == THREADS * CALLS, "a call is missing"
        assert set(kinds) <= {"ok", "server", "transport", "group_not_found"}, kinds

        log = [r for r in emu.requests() if r["command"] == DELETE]
        faults = Counter(r["fault"] for r in log)
        # Every attempt of every call is one request in the log, and the other way round.
        assert sum(attempts for _, attempts, _ in results) == len(log)
        # Each call's random is its last request's.
        sent = {r["random"] for r in log}
        assert all(random_ in sent for _, _, random_ in results)
        assert kinds["group_not_found"] == faults["error_code:10010"], "each 10010 ends one call"
        assert all(r["fault"] is not None for r in log), "more requests than scripted entries"
        limited = [r for r in log if r["error_code"] == 60007]
        assert limited == [], f"{len(limited)} requests over the emulator's limit"
        retried = faults["error_code:10002"] + faults["http_status:502"] + faults["drop"]
        print(
            f"python concurrency: {THREADS} threads x {CALLS} calls in {took:.1f} s: {dict(kinds)}; "
            f"{len(log)} requests, {retried} retryable faults, 0 x 60007"
        )


def test_threads_calling_while_the_client_is_dropped_elsewhere_do_not_crash() -> None:
    # The client object is shared; dropping the last Python reference while calls run must be safe.
    with Emulator(rate_limit=None) as emu:
        gid = emu.create_group("Public")
        holder: dict[str, Any] = {"client": emu.client(rate_limit=None)}
        client = holder["client"]
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for i in range(50):
                    client.delete_group_msg_by_sender(gid, f"s{i}")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        del holder["client"]
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert len([r for r in emu.requests() if r["command"] == DELETE]) == 200
