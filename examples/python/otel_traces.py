"""Monitoring with OpenTelemetry: each call a span, each request a child span, and the spec's metrics.

    pip install ".[otel]" opentelemetry-sdk     # in a clone of timrest; the SDK is the app's choice
    python otel_traces.py

timrest's HTTP is sent from Rust, where Python's auto-instrumentation cannot see it: the hook
``timrest.otel.hook()`` is how its calls reach your traces. It uses the global tracer and meter
providers (set up here with the SDK, printing to the console; use your exporter instead).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import timrest.otel
from timrest.testing import Emulator



def one_line(span: ReadableSpan) -> str:
    attrs = span.attributes or {}
    parent = span.parent.span_id if span.parent else None
    return (f"{span.name} span_id={span.context.span_id} parent={parent} "
            f"attempts={attrs.get('timrest.attempts', '-')} error={attrs.get('error.type', '-')}\n")


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=one_line)))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("moderation-service")

with Emulator() as emu:
    gid = emu.create_group("Public", name="demo")
    emu.inject("delete_group_msg_by_sender", times=1, error_code=60007)   # one refusal for the rate
    client = emu.client(on_event=timrest.otel.hook())
    with tracer.start_as_current_span("handle-abuse-report"):
        client.delete_group_msg_by_sender(gid, "spammer")
