"""Prometheus metrics for timrest, fed by the client's events::

    pip install "timrest[prometheus]"

    import timrest, timrest.prometheus
    client = timrest.Client.from_env(on_event=timrest.prometheus.hook())

The metrics are the instruments of the observability spec, named as OTel's Prometheus exporter
names them: ``timrest_client_call_duration_seconds``, ``http_client_request_duration_seconds``,
``timrest_client_attempts_total``, ``timrest_client_limiter_wait_duration_seconds``,
``timrest_client_limiter_fallback_active`` … Their labels are the OTel attributes with dots made
underscores (``rpc_method``, ``error_type``, ``server_address`` …); a label that does not apply to an
observation is empty. No label ever holds an account or group id, a URL or a secret.

They are module-level ``prometheus_client`` metrics, registered once in the default registry (or
once in each ``registry=`` given), so every client and hook of the process feeds the same series.
They work in multiprocess mode (gunicorn, Celery): with ``PROMETHEUS_MULTIPROC_DIR`` set before
the process starts, each process writes its own files and ``MultiProcessCollector`` sums them; the
0/1 fallback state and the calls in progress are summed over live processes (``livesum``), and the
limiter's rate is the most recent value (``livemostrecent``).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional

import prometheus_client
from prometheus_client import REGISTRY, CollectorRegistry

from ._telemetry import HTTP_DURATION_BUCKETS, INSTRUMENTS, Instrument, Recorder

if TYPE_CHECKING:
    from . import Event

__all__ = ["hook", "metric_name"]

_LOCK = threading.Lock()
#: The metrics of each registry they were made in, made on first use.
_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, tuple[Any, tuple[str, ...]]]] = \
    weakref.WeakKeyDictionary()


def metric_name(instrument: Instrument) -> str:
    """The Prometheus name of an instrument, as OTel's exporter makes it: dots become
    underscores, a unit in braces is dropped, ``s`` is ``_seconds``, ``/s`` is ``_per_second``
    (``prometheus_client`` adds ``_total`` to counters itself)."""
    name = instrument.name.replace(".", "_")
    unit = instrument.unit
    if unit.endswith("/s"):
        return name + "_per_second"
    if unit == "s":
        return name + "_seconds"
    return name


def _label(attribute: str) -> str:
    return attribute.replace(".", "_")


def _make(registry: CollectorRegistry) -> dict[str, tuple[Any, tuple[str, ...]]]:
    made: dict[str, tuple[Any, tuple[str, ...]]] = {}
    for i in INSTRUMENTS:
        name, doc, labels = metric_name(i), i.description, tuple(_label(a) for a in i.attributes)
        metric: Any
        if i.kind == "histogram":
            buckets = HTTP_DURATION_BUCKETS if i.name == "http.client.request.duration" else \
                prometheus_client.Histogram.DEFAULT_BUCKETS
            metric = prometheus_client.Histogram(name, doc, labels, registry=registry, buckets=buckets)
        elif i.kind == "counter":
            metric = prometheus_client.Counter(name, doc, labels, registry=registry)
        elif i.kind == "updown":
            metric = prometheus_client.Gauge(name, doc, labels, registry=registry, multiprocess_mode="livesum")
        else:
            metric = prometheus_client.Gauge(name, doc, labels, registry=registry,
                                             multiprocess_mode="livemostrecent")
        made[i.name] = (metric, i.attributes)
    return made


def _metrics(registry: CollectorRegistry) -> dict[str, tuple[Any, tuple[str, ...]]]:
    with _LOCK:
        made = _METRICS.get(registry)
        if made is None:
            made = _METRICS[registry] = _make(registry)
        return made


class _PrometheusHook(Recorder):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._metrics = _metrics(registry)
        self._kinds = {i.name: i.kind for i in INSTRUMENTS}
        #: Each labelled series met so far, by instrument and label values: ``labels()`` looks it
        #: up under a lock and checks its arguments on every call, which costs more than the
        #: observation. The label values are bounded (commands, hosts, codes, kind names).
        self._series: dict[tuple[str, tuple[str, ...]], Any] = {}

    def record(self, name: str, value: float, attributes: dict[str, Any]) -> None:
        metric, keys = self._metrics[name]
        if keys:
            values = tuple([str(attributes.get(k, "")) for k in keys])
            series = self._series.get((name, values))
            if series is None:
                series = self._series[(name, values)] = metric.labels(*values)
            metric = series
        kind = self._kinds[name]
        if kind == "histogram":
            metric.observe(value)
        elif kind == "gauge":
            metric.set(value)
        else:
            metric.inc(value)


def hook(*, registry: Optional[CollectorRegistry] = None) -> Callable[[Event], None]:
    """An ``on_event`` hook that feeds timrest's Prometheus metrics, in ``registry`` (default:
    ``prometheus_client``'s default registry). One hook may serve many clients."""
    return _PrometheusHook(REGISTRY if registry is None else registry)
