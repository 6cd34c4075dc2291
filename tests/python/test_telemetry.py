"""``timrest.otel`` and ``timrest.prometheus``: the hooks that turn a client's events into spans and
metrics, checked against the emulator's request log over real loopback HTTP. OpenTelemetry's SDK
(in-memory exporter and reader) stands in for a collector; ``prometheus_client`` is scraped as a
Prometheus server would, in one process and in multiprocess mode.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

import timrest
import timrest.otel
import timrest.prometheus
from timrest.testing import DEMO_SECRET_KEY, Emulator

DELETE = "delete_group_msg_by_sender"
METHOD = "group_open_http_svc/delete_group_msg_by_sender"


class Otel:
    """An SDK set-up of our own (never the global one): spans and metrics kept in memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.hook = timrest.otel.hook(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)
        self.tracer = self.tracer_provider.get_tracer("the-app")

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        """Each instrument's data points, by name."""
        data = self.reader.get_metrics_data()
        points: dict[str, list[Any]] = {}
        assert data is not None
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                assert sm.scope.name == "timrest"
                for metric in sm.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
        return points


def sent(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["command"] == DELETE]


def test_otel_one_call_span_per_call_and_one_attempt_span_per_request(emu: Emulator) -> None:
    otel = Otel()
    gid = emu.create_group("Public")
    client = emu.client(on_event=otel.hook)
    emu.inject(DELETE, times=2, error_code=60007)
    with otel.tracer.start_as_current_span("handle-report") as app_span:
        client.delete_group_msg_by_sender(gid, "spammer")                  # two 60007, then success
        with pytest.raises(timrest.GroupNotFoundError):
            client.delete_group_msg_by_sender("@TGS#missing", "spammer")   # 10010, not retried
    log = sent(emu)
    assert len(log) == 4

    spans = [s for s in otel.finished() if s.name != "handle-report"]
    calls = [s for s in spans if s.name == METHOD]
    attempts = [s for s in spans if s.name == "POST"]
    assert len(calls) == 2 and len(attempts) == 4 and len(spans) == 6
    for call in calls:
        assert call.kind is SpanKind.CLIENT
        assert call.parent is not None and call.parent.span_id == app_span.get_span_context().span_id, \
            "the call span is a child of the span current where the call was made"
        assert call.attributes is not None
        assert call.attributes["rpc.system.name"] == "tencent_im"
        assert call.attributes["rpc.method"] == METHOD
        assert call.attributes["server.address"] == "127.0.0.1"
    ok, missing = calls
    assert ok.attributes is not None and missing.attributes is not None
    assert ok.status.status_code is StatusCode.UNSET, "a retried error that ends in success is no error of the call"
    assert "error.type" not in ok.attributes and ok.attributes["rpc.status_code"] == "0"
    assert ok.attributes["timrest.attempts"] == 3 and ok.attributes["timrest.random"] == log[2]["random"]
    assert missing.status.status_code is StatusCode.ERROR
    assert missing.attributes["error.type"] == "group_not_found"
    assert missing.attributes["rpc.status_code"] == "10010"

    # Each request the server logged is one attempt span, in order, under its call.
    assert [a.attributes["timrest.random"] for a in attempts if a.attributes] == [r["random"] for r in log]
    assert [a.parent.span_id for a in attempts if a.parent] == [ok.context.span_id] * 3 + [missing.context.span_id]
    first, second, third, fourth = (a.attributes or {} for a in attempts)
    assert first["error.type"] == "rate_limited" and first["rpc.status_code"] == "60007"
    assert first["http.response.status_code"] == 200 and first["http.request.method"] == "POST"
    assert "http.request.resend_count" not in first and second["http.request.resend_count"] == 1
    assert third["http.request.resend_count"] == 2 and "error.type" not in third
    assert fourth["error.type"] == "group_not_found"
    assert all(a.start_time is not None and ok.start_time is not None and a.start_time >= ok.start_time
               for a in attempts[:3])

    points = otel.metrics()
    call_points = points["timrest.client.call.duration"]
    assert sum(p.count for p in call_points) == 2
    assert {p.attributes.get("error.type") for p in call_points} == {None, "group_not_found"}
    assert all(p.attributes["rpc.method"] == METHOD for p in call_points)
    http_points = points["http.client.request.duration"]
    assert sum(p.count for p in http_points) == 4
    assert all(p.attributes["rpc.method"] == METHOD and p.attributes["http.request.method"] == "POST"
               for p in http_points)
    assert list(http_points[0].explicit_bounds) == list(timrest.otel.HTTP_DURATION_BUCKETS)
    by_error = {p.attributes.get("error.type"): p.value for p in points["timrest.client.attempts"]}
    assert by_error == {"rate_limited": 2, None: 1, "group_not_found": 1}
    assert sum(p.count for p in points["timrest.client.retry.delay"]) == 1, "one call was retried"
    stats = client.stats()
    assert sum(p.value for p in points["timrest.client.connections.opened"]) == stats["connections_opened"]
    waits = points["timrest.client.limiter.wait.duration"]
    assert sum(p.count for p in waits) == stats["limiter_waits"] == 4
    assert {p.attributes["timrest.limiter.backend"] for p in waits} == {"local"}
    assert [p.value for p in points["timrest.client.active_calls"]] == [0]


def test_otel_async_and_bulk_calls_hang_under_the_span_of_their_caller(emu: Emulator) -> None:
    otel = Otel()
    gids = [emu.create_group("Public") for _ in range(3)]

    async def main() -> tuple[int, int]:
        async with timrest.AsyncClient(emu.sdkappid, secret_key=DEMO_SECRET_KEY, base_url=emu.base_url,
                                       on_event=otel.hook) as aclient:

            async def one(gid: str) -> int:
                with otel.tracer.start_as_current_span(f"task-{gid}") as span:
                    await aclient.delete_group_msg_by_sender(gid, "spammer")
                    return span.get_span_context().span_id

            ids = await asyncio.gather(*(one(g) for g in gids))
            with otel.tracer.start_as_current_span("bulk") as bulk:
                await aclient.delete_many([(g, "other") for g in gids])
            return len(set(ids)), bulk.get_span_context().span_id

    distinct, bulk_id = asyncio.run(main())
    assert distinct == 3
    spans = otel.finished()
    parents = {s.context.span_id: s for s in spans}
    calls = [s for s in spans if s.name == METHOD]
    assert len(calls) == 6
    for call in calls:
        assert call.parent is not None, "every call span has its caller's span as parent"
        parent = parents[call.parent.span_id]
        assert parent.name.startswith("task-") or parent.context.span_id == bulk_id, parent.name
    assert sorted(parents[c.parent.span_id].name for c in calls if c.parent) == \
        sorted([f"task-{g}" for g in gids] + ["bulk"] * 3)

    # The sync client's delete_many: its worker threads' calls hang under the span current at the call.
    sync = emu.client(on_event=otel.hook)
    otel.spans.clear()
    with otel.tracer.start_as_current_span("sync-bulk") as span:
        report = sync.delete_many([(g, "third") for g in gids], concurrency=3)
    assert report.ok == 3
    calls = [s for s in otel.finished() if s.name == METHOD]
    assert len(calls) == 3
    assert {c.parent.span_id for c in calls if c.parent} == {span.get_span_context().span_id}
    attempts = [s for s in otel.finished() if s.name == "POST"]
    assert sorted(a.parent.span_id for a in attempts if a.parent) == sorted(c.context.span_id for c in calls), \
        "each worker thread's attempt hangs under its own call"


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The registry's samples as Prometheus would read them: (name, labels) -> value."""
    text = generate_latest(registry).decode()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


def check_prometheus_against_stats(samples: dict[Any, float], stats: dict[str, Any]) -> None:
    assert total(samples, "timrest_client_call_duration_seconds_count") == stats["calls"]
    assert total(samples, "timrest_client_call_duration_seconds_count", error_type="") == stats["ok"]
    for kind, n in stats["failed_by_kind"].items():
        assert total(samples, "timrest_client_call_duration_seconds_count", error_type=kind) == n
    assert total(samples, "timrest_client_attempts_total") == stats["attempts"]
    assert total(samples, "http_client_request_duration_seconds_count") == stats["attempts"]
    assert total(samples, "timrest_client_attempts_total", error_type="rate_limited") == stats["rate_limited"]
    assert total(samples, "timrest_client_limiter_acquisitions_total", timrest_limiter_result="acquired") == \
        stats["limiter_waits"]
    assert total(samples, "timrest_client_limiter_wait_duration_seconds_count") == stats["limiter_waits"]
    assert total(samples, "timrest_client_limiter_wait_duration_seconds_sum") == \
        pytest.approx(stats["limiter_wait_seconds"], abs=1e-3)
    assert total(samples, "timrest_client_connections_opened_total") == stats["connections_opened"]
    assert total(samples, "timrest_client_limiter_fallback_active") == stats["fallback_active"]
    assert total(samples, "timrest_client_active_calls") == 0


def test_prometheus_counters_equal_the_stats_after_a_batch(emu: Emulator) -> None:
    registry = CollectorRegistry()
    client = emu.client(on_event=timrest.prometheus.hook(registry=registry), rate_limit=400.0, deadline=60.0)
    gids = [emu.create_group("Public") for _ in range(40)]
    emu.inject(DELETE, times=3, error_code=60007)
    emu.inject(DELETE, times=2, http_status=502)
    report = client.delete_many([(g, "spammer") for g in gids] + [("@TGS#gone", "spammer")], concurrency=8)
    assert (report.ok, report.failed) == (40, 1)
    stats = client.stats()
    assert stats["retries"] == 5 and stats["rate_limited"] == 3
    samples = scrape(registry)
    check_prometheus_against_stats(samples, stats)
    assert total(samples, "timrest_client_attempts_total", error_type="transport") == 2
    assert total(samples, "timrest_client_retry_delay_seconds_count") >= 1
    assert total(samples, "timrest_client_call_duration_seconds_count", rpc_method=METHOD,
                 rpc_status_code="10010") == 1
    # The buckets of the HTTP histogram are OTel's advice.
    assert ("http_client_request_duration_seconds_bucket",) and any(
        dict(ls).get("le") == "0.075" for (n, ls) in samples if n == "http_client_request_duration_seconds_bucket")


WORKER = """
import json, sys
import timrest, timrest.prometheus
base_url, key, groups = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
client = timrest.Client(1400000000, secret_key=key, base_url=base_url, on_event=timrest.prometheus.hook())
report = client.delete_many([(g, "spammer") for g in groups] + [("@TGS#gone", "spammer")], concurrency=4)
print(json.dumps(client.stats()))
"""


def test_prometheus_in_multiprocess_mode_sums_the_processes(emu: Emulator, tmp_path: pathlib.Path) -> None:
    """What gunicorn and Celery do: PROMETHEUS_MULTIPROC_DIR set, one process per worker, one scrape."""
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    emu.inject(DELETE, times=2, error_code=60007)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, emu.base_url, DEMO_SECRET_KEY,
                               json.dumps([emu.create_group("Public") for _ in range(15)])],
                              env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    stats = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        stats.append(json.loads(out))
    assert len(list(metrics_dir.glob("*.db"))) >= 3, "each process wrote its own files"
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    samples = scrape(registry)
    summed: dict[str, Any] = {k: sum(s[k] for s in stats) for k in
                              ("calls", "ok", "attempts", "rate_limited", "limiter_waits", "limiter_wait_seconds",
                               "connections_opened", "fallback_active")}
    summed["failed_by_kind"] = {"group_not_found": 3}
    assert summed["calls"] == 48 and summed["rate_limited"] == 2
    check_prometheus_against_stats(samples, summed)


def test_no_secret_or_id_reaches_a_span_or_a_metric_from_a_server_that_echoes_them(emu: Emulator) -> None:
    otel = Otel()
    registry = CollectorRegistry()
    gid = emu.create_group("Public")
    client = emu.client(on_event=[otel.hook, timrest.prometheus.hook(registry=registry)])
    emu.inject(DELETE, echo_secrets=True)   # 10004 with the UserSig and the URL in ErrorInfo: final
    with pytest.raises(timrest.TimError):
        client.delete_group_msg_by_sender(gid, "spammer")
    texts = [generate_latest(registry).decode(), json.dumps(client.stats())]
    texts += [s.to_json() for s in otel.finished()]
    data = otel.reader.get_metrics_data()
    assert data is not None
    texts.append(data.to_json())
    assert [s.name for s in otel.finished()] == ["POST", METHOD]
    for text in texts:
        for forbidden in (DEMO_SECRET_KEY, "usersig", "eJ", gid, "spammer", "http://", "administrator"):
            assert forbidden not in text, (forbidden, text)
