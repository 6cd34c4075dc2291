"""Monitoring with Prometheus: timrest's counters and histograms in prometheus_client's registry.

    pip install ".[prometheus]"      # in a clone of timrest
    python prometheus_metrics.py

In a web app, serve the default registry as usual (``prometheus_client.make_wsgi_app()``, or
``start_http_server``); under gunicorn or Celery set ``PROMETHEUS_MULTIPROC_DIR`` and scrape a
``MultiProcessCollector``, as prometheus_client's docs say. Here the batch's metrics are printed.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

import timrest.prometheus
from timrest.testing import Emulator

with Emulator() as emu:
    groups = [emu.create_group("Public", name=f"g{i}") for i in range(5)]
    emu.inject("delete_group_msg_by_sender", times=2, http_status=502)   # a flaky proxy, twice
    client = emu.client(on_event=timrest.prometheus.hook())
    report = client.delete_many([(g, "spammer") for g in groups])
    print(f"ok={report.ok} failed={report.failed} attempts={client.stats()['attempts']}")

for line in generate_latest(REGISTRY).decode().splitlines():
    if line.startswith(("timrest_client_attempts_total", "timrest_client_call_duration_seconds_count")):
        print(line)
