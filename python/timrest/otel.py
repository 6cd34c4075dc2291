"""OpenTelemetry for timrest: spans and metrics made from the client's events.

Python's auto-instrumentation cannot see the HTTP that timrest sends from Rust, so this hook is how
its calls reach your traces::

    pip install "timrest[otel]"        # opentelemetry-api only; you bring the SDK and exporter

    import timrest, timrest.otel
    client = timrest.Client.from_env(on_event=timrest.otel.hook())

Each call becomes a span named ``{service}/{command}`` (kind CLIENT) with one child span ``POST`` per
attempt, and the instruments of the observability spec are fed (``timrest.client.call.duration``,
``http.client.request.duration``, ``timrest.client.attempts``, the limiter's …). The tracer and meter
come from the global providers, or from those given to :func:`hook`.

Where the spans hang: a call's span is a child of the span current where the call was made. For
``AsyncClient`` calls that is the awaiting task's context. For the calls of ``delete_many``,
``purge_sender`` and ``purge_senders`` it is the context where that bulk method was called.

What never goes in: the UserSig, the secret key, a Redis URL or password, a request URL or body.
Account and group ids are not in events at all. The request's ``random`` goes on spans only
(``timrest.random``), never on a metric.

``error.type`` takes timrest's kind names, the same in every face: ``config``,
``invalid_argument``, ``transport``, ``timeout``, ``protocol``, ``limiter``, ``api``, ``server``,
``rate_limited``, ``auth``, ``usersig_expired``, ``permission_denied``, ``invalid_command``,
``invalid_parameter``, ``group_not_found``, ``invalid_group_id`` (``ERROR_TYPES`` of this module, read
from the error table); ``_OTHER`` for anything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import __version__
from ._telemetry import ERROR_TYPES, HTTP_DURATION_BUCKETS, INSTRUMENTS, Recorder, Steps, error_type

if TYPE_CHECKING:
    from . import Event

__all__ = ["hook", "ERROR_TYPES", "HTTP_DURATION_BUCKETS"]


class _OtelHook(Recorder):
    """The ``on_event`` callable that :func:`hook` returns."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        super().__init__()
        self._tracer = trace.get_tracer("timrest", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("timrest", __version__, meter_provider=meter_provider)
        self._instruments: dict[str, Callable[..., None]] = {}
        for i in INSTRUMENTS:
            kw: dict[str, Any] = {"unit": i.unit, "description": i.description}
            if i.kind == "histogram":
                if i.name == "http.client.request.duration":
                    kw["explicit_bucket_boundaries_advisory"] = list(HTTP_DURATION_BUCKETS)
                self._instruments[i.name] = meter.create_histogram(i.name, **kw).record
            elif i.kind == "counter":
                self._instruments[i.name] = meter.create_counter(i.name, **kw).add
            elif i.kind == "updown":
                self._instruments[i.name] = meter.create_up_down_counter(i.name, **kw).add
            else:
                self._instruments[i.name] = meter.create_gauge(i.name, **kw).set

    def record(self, name: str, value: float, attributes: dict[str, Any]) -> None:
        self._instruments[name](value, attributes)

    def finished(self, event: Event, method: str, now: int, attributes: dict[str, Any], steps: Steps) -> None:
        # The spans are made once the call is over, with the times it really had. The call's parent
        # is the context current here: the caller's, or the one timrest carried to its worker thread.
        call_attrs = dict(attributes)
        call_attrs.update({"rpc.system.name": "tencent_im", "server.port": event.server_port,
                           "timrest.attempts": event.attempt or 0, "timrest.limiter.wait": steps.waited})
        if event.random is not None:
            call_attrs["timrest.random"] = event.random
        call = self._tracer.start_span(method, kind=SpanKind.CLIENT, attributes=call_attrs,
                                       start_time=now - int((event.duration or 0.0) * 1e9))
        if event.error_kind is not None:
            call.set_status(Status(StatusCode.ERROR, error_type(event.error_kind)))
        parent = trace.set_span_in_context(call)
        for attempt, ended in steps.attempts:
            attrs: dict[str, Any] = {"http.request.method": "POST", "server.address": attempt.server_address,
                                     "server.port": attempt.server_port, "rpc.method": method}
            if attempt.http_status:
                attrs["http.response.status_code"] = attempt.http_status
            if attempt.code is not None:
                attrs["rpc.status_code"] = str(attempt.code)
            if attempt.attempt and attempt.attempt > 1:
                attrs["http.request.resend_count"] = attempt.attempt - 1
            if attempt.random is not None:
                attrs["timrest.random"] = attempt.random
            if attempt.error_kind is not None:
                attrs["error.type"] = error_type(attempt.error_kind)
            span = self._tracer.start_span("POST", context=parent, kind=SpanKind.CLIENT, attributes=attrs,
                                           start_time=ended - int((attempt.duration or 0.0) * 1e9))
            if attempt.error_kind is not None:
                span.set_status(Status(StatusCode.ERROR, error_type(attempt.error_kind)))
            span.end(end_time=ended)
        call.end(end_time=now)


def hook(*, tracer_provider: Any = None, meter_provider: Any = None) -> Callable[[Event], None]:
    """An ``on_event`` hook that makes OpenTelemetry spans and metrics of a client's calls.

    ``tracer_provider`` and ``meter_provider`` default to the global ones (set by your SDK set-up,
    or by ``opentelemetry-instrument``). One hook may serve many clients.
    """
    return _OtelHook(tracer_provider, meter_provider)
