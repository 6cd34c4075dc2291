"""One worker process of a fleet: its own ``timrest.Client`` (created here, after the fork/spawn, as
the README says), ``delete_many`` over its share of the items, and a JSON summary on stdout.

    python worker.py '{"base_url": ..., "rate_limit": 95, "rate_limit_url": "redis://..." | null,
                       "rate_limit_fallback": "local", "deadline": 30, "items": [[group, sender], ...],
                       "sdkappid": 1400000001, "pem": {"rate_limit_ca_pem": "/path/ca.pem", ...}}'

``sdkappid`` (with the demo key) and ``pem`` (settings read from the files named) are optional.
It prints ``ready`` once its client is built, starts when it reads ``go`` on stdin, and ends with
its summary as the last line (``deployments.start_fleet`` and ``finish_fleet`` drive this).
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from typing import Any

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY


def main() -> None:
    job = json.loads(sys.argv[1])
    settings = {k: job[k] for k in ("rate_limit_url", "rate_limit_fallback") if job.get(k) is not None}
    for name, path in job.get("pem", {}).items():
        with open(path, "rb") as f:
            settings[name] = f.read()
    # "observe": count the events by kind, and watch stats()["fallback_active"] while the run goes on.
    events: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def count(e: timrest.Event) -> None:
        with lock:
            events[e.kind] += 1

    if job.get("observe"):
        settings["on_event"] = count
    client = timrest.Client(
        job.get("sdkappid", DEMO_SDKAPPID),
        secret_key=DEMO_SECRET_KEY,
        base_url=job["base_url"],
        rate_limit=job["rate_limit"],
        deadline=job.get("deadline", 30.0),
        **settings,
    )
    # Start together: say "ready", then wait for the parent's "go", sent once every worker is ready.
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit("worker.py: the parent did not say go")
    fallback_seen = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal fallback_seen
        while not done.wait(0.02):
            fallback_seen = max(fallback_seen, client.stats()["fallback_active"])

    watcher = threading.Thread(target=watch, daemon=True)
    if job.get("observe"):
        watcher.start()
    started = time.monotonic()
    report = client.delete_many([tuple(i) for i in job["items"]], concurrency=job.get("concurrency", 16))
    errors: dict[str, int] = {}
    for r in report.results:
        if r.error is not None:
            errors[type(r.error).__name__] = errors.get(type(r.error).__name__, 0) + 1
    done.set()
    if watcher.is_alive():
        watcher.join()
    extra: dict[str, Any] = {}
    if job.get("observe"):
        extra = {"events": dict(events), "fallback_seen": fallback_seen, "stats": client.stats()}
    print(json.dumps({
        **extra,
        "items": len(report.results),
        "ok": report.ok,
        "failed": report.failed,
        "errors": errors,
        "elapsed": time.monotonic() - started,
        "effective_rate_limit": client.effective_rate_limit,
    }))


if __name__ == "__main__":
    main()
