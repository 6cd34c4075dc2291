"""The observations that timrest's telemetry hooks make of a client's events, sink-neutral.

``timrest.otel`` and ``timrest.prometheus`` both subclass :class:`Recorder`: it turns each event into
observations of the instruments in :data:`INSTRUMENTS` (the table of the observability spec, with its
OTel names and attributes), and hands each finished call, with its attempts, to
:meth:`Recorder.finished` (where the OTel hook makes spans). The sinks only say how to record.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from ._native import error_kinds

if TYPE_CHECKING:
    from . import Event

#: The values ``error.type`` takes (timrest's kind names, from the error table), as OTel asks a
#: library to document; ``_OTHER`` stands for any other.
ERROR_TYPES: tuple[str, ...] = tuple(row["name"] for row in error_kinds())

#: OTel's bucket advice for HTTP client durations, seconds.
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


class Instrument(NamedTuple):
    name: str
    #: ``histogram``, ``counter``, ``updown`` (an up-down counter) or ``gauge``.
    kind: str
    unit: str
    description: str
    #: Every attribute it may carry (a Prometheus label each); an observation may leave some out.
    attributes: tuple[str, ...] = ()


INSTRUMENTS = (
    Instrument("timrest.client.call.duration", "histogram", "s",
               "Duration of a logical call: limiter waits, every attempt and the backoff between them",
               ("rpc.method", "server.address", "rpc.status_code", "error.type")),
    Instrument("http.client.request.duration", "histogram", "s", "Duration of HTTP client requests",
               ("http.request.method", "server.address", "server.port", "http.response.status_code",
                "error.type", "rpc.method")),
    Instrument("timrest.client.attempts", "counter", "{attempt}", "Requests sent, each attempt of a call",
               ("rpc.method", "error.type")),
    Instrument("timrest.client.retry.delay", "histogram", "s", "Total backoff of a call that was retried",
               ("rpc.method",)),
    Instrument("timrest.client.limiter.wait.duration", "histogram", "s",
               "Time a call waited for the rate limiter", ("rpc.method", "timrest.limiter.backend")),
    Instrument("timrest.client.limiter.acquisitions", "counter", "{request}", "Rate limiter acquisitions by result",
               ("timrest.limiter.result",)),
    Instrument("timrest.client.limiter.rate", "gauge", "{request}/s", "The effective rate of a limiter lane",
               ("rpc.method",)),
    Instrument("timrest.client.limiter.adjustments", "counter", "", "Adaptive changes of a lane's rate",
               ("direction",)),
    Instrument("timrest.client.limiter.backend.errors", "counter", "", "Failed exchanges with the shared limiter"),
    Instrument("timrest.client.limiter.fallback.active", "updown", "", "1 while the shared limiter is out"),
    Instrument("timrest.client.connections.opened", "counter", "{connection}", "New TCP/TLS connections",
               ("server.address",)),
    Instrument("timrest.client.active_calls", "updown", "{call}", "Calls in progress", ("rpc.method",)),
)


def error_type(kind: Optional[str]) -> str:
    return kind if kind in ERROR_TYPES else "_OTHER"


class Steps:
    """What one thread has seen of the call it is making, until that call's ``call`` event."""

    __slots__ = ("attempts", "waited")

    def __init__(self) -> None:
        self.attempts: list[tuple[Event, int]] = []   # each attempt's event, and when it ended (ns)
        self.waited = 0.0                             # seconds spent waiting for the limiter


class Recorder:
    """An ``on_event`` hook: observations per event for :meth:`record`, finished calls for
    :meth:`finished`. A call's events all come on the thread that makes it, in order, so what a
    call has seen so far is kept per thread: by the OS thread's id, not in a ``threading.local``,
    which lives in a Python thread state, and timrest's worker threads get a new one for each
    event."""

    def __init__(self) -> None:
        self._calls: dict[int, Steps] = {}

    def record(self, name: str, value: float, attributes: dict[str, Any]) -> None:
        """One observation of the instrument ``name`` (a histogram's value, a counter's increment,
        an up-down counter's change, a gauge's new value)."""
        raise NotImplementedError

    def finished(self, event: Event, method: str, now: int, attributes: dict[str, Any], steps: Steps) -> None:
        """A call ended (``event`` is its ``call`` event, ``now`` the time in ns); by default nothing."""

    def _begin(self, method: str) -> Steps:
        thread = threading.get_ident()
        steps = self._calls.get(thread)
        if steps is None:
            steps = self._calls[thread] = Steps()
            self.record("timrest.client.active_calls", 1, {"rpc.method": method})
        return steps

    def __call__(self, event: Event) -> None:
        now = time.time_ns()
        kind = event.kind
        method = f"{event.service}/{event.command}"
        if kind == "attempt":
            self._begin(method).attempts.append((event, now))
            attrs: dict[str, Any] = {"http.request.method": "POST", "server.address": event.server_address,
                                     "server.port": event.server_port, "rpc.method": method}
            counted = {"rpc.method": method}
            if event.http_status:
                attrs["http.response.status_code"] = event.http_status
            if event.error_kind is not None:
                attrs["error.type"] = counted["error.type"] = error_type(event.error_kind)
            self.record("http.client.request.duration", event.duration or 0.0, attrs)
            self.record("timrest.client.attempts", 1, counted)
        elif kind == "call":
            self._call(event, method, now)
        elif kind == "limiter_wait":
            self._begin(method).waited += event.duration or 0.0
            self.record("timrest.client.limiter.wait.duration", event.duration or 0.0,
                        {"rpc.method": method, "timrest.limiter.backend": event.limiter_backend or "local"})
            self.record("timrest.client.limiter.acquisitions", 1, {"timrest.limiter.result": "acquired"})
        elif kind == "limiter_refused":
            self._begin(method).waited += event.duration or 0.0
            result = "deadline" if event.error_kind == "timeout" else "unavailable"
            self.record("timrest.client.limiter.acquisitions", 1, {"timrest.limiter.result": result})
        elif kind == "connection_opened":
            self.record("timrest.client.connections.opened", 1, {"server.address": event.server_address})
        elif kind == "rate_adapted":
            self.record("timrest.client.limiter.adjustments", 1, {"direction": "down"})
            if event.rate is not None:
                self.record("timrest.client.limiter.rate", event.rate, {"rpc.method": method})
        elif kind == "backend_error":
            self.record("timrest.client.limiter.backend.errors", 1, {})
        elif kind == "fallback_entered":
            self.record("timrest.client.limiter.fallback.active", 1, {})
        elif kind == "fallback_left":
            self.record("timrest.client.limiter.fallback.active", -1, {})

    def _call(self, event: Event, method: str, now: int) -> None:
        steps = self._calls.pop(threading.get_ident(), None)
        if steps is None:
            steps = Steps()   # a call with neither a limiter grant nor an attempt (refused at once)
        else:
            self.record("timrest.client.active_calls", -1, {"rpc.method": method})
        duration = event.duration or 0.0
        attrs: dict[str, Any] = {"rpc.method": method, "server.address": event.server_address}
        if event.code is not None:
            attrs["rpc.status_code"] = str(event.code)
        if event.error_kind is not None:
            attrs["error.type"] = error_type(event.error_kind)
        self.record("timrest.client.call.duration", duration, attrs)
        if len(steps.attempts) > 1:
            spent = steps.waited + sum(a.duration or 0.0 for a, _ in steps.attempts)
            self.record("timrest.client.retry.delay", max(0.0, duration - spent), {"rpc.method": method})
        self.finished(event, method, now, attrs, steps)
