"""OpenTelemetry tracing: one provider per process, context carried in NATS headers.

faststream's telemetry middleware makes a span for every publish and every handled
message and carries the W3C `traceparent` in the message headers. The outbox breaks the
call chain (a relay publishes later, from a background task), so `enqueue` stores the
context of the change with the row and the relay publishes inside it: a trace runs from
the gateway request through reconciliation's action to the writeback job.

Spans are exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; without it
no SDK provider is installed, so spans cost nothing (a caller's `traceparent` still
travels through, carried by the non-recording spans of the API).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured = False


def configure_tracing(service: str) -> None:
    """Install the process's tracer provider once (the first service to ask names it)."""
    global _configured
    if _configured or isinstance(trace.get_tracer_provider(), TracerProvider):
        _configured = True
        return
    _configured = True
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", f"trueup-{service}")}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def current_carrier() -> dict[str, str]:
    """The current trace context as headers (`traceparent`), to travel with a message."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def within(carrier: Mapping[str, str]) -> Iterator[None]:
    """Run the block in the trace context a carrier holds (no-op for an empty one)."""
    if not carrier:
        yield
        return
    token = context.attach(propagate.extract(dict(carrier)))
    try:
        yield
    finally:
        context.detach(token)


def tracer() -> trace.Tracer:
    return trace.get_tracer("trueup")
