"""One trace from the gateway request through reconciliation to the writeback job.

The W3C trace context travels in NATS headers (faststream's telemetry middleware) and,
across the outbox, with the staged row.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import Databases
from tests.integration.test_reconciliation_flow import _billed_lines, _cards_for, stack
from tests.support import eventually
from trueup.contracts import messages as m
from trueup.devstack.psa_simulators import connectwise as cw_sim
from trueup.devstack.psa_simulators.server import SimulatorServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class TestTracing:
    async def test_an_approval_is_one_trace_from_gateway_to_writeback(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        exporter = InMemorySpanExporter()
        with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as sim:
            _agreement, item, company = _billed_lines(sim.app.state.store)[0]
            quantity = Decimal(str(item["quantity"]))
            async with stack(clean_nats, databases, tenant, other, sim, with_writeback=True) as s:
                provider = trace.get_tracer_provider()
                if not isinstance(provider, TracerProvider):
                    # What OTEL_EXPORTER_OTLP_ENDPOINT would install, recording in memory.
                    trace.set_tracer_provider(TracerProvider())
                    provider = trace.get_tracer_provider()
                assert isinstance(provider, TracerProvider)
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                await eventually(lambda: _cards_for(s, str(item["id"])), timeout=60, what="cards")
                from datetime import UTC, datetime

                await s.publish(
                    m.UsageReported(
                        vendor="pax8",
                        source=m.UsageSource.CONNECTOR,
                        batch_id="t",
                        records=[
                            m.UsageRecord(
                                vendor_account_id="c",
                                vendor_account_name=company["name"],
                                sku=item["product"]["identifier"],
                                sku_name=item["description"],
                                quantity=quantity + 1,
                                as_of=datetime.now(UTC),
                            )
                        ],
                    )
                )

                async def reconcile_card() -> dict[str, Any] | None:
                    cards = [
                        c for c in await _cards_for(s, str(item["id"])) if c["kind"] == "reconcile"
                    ]
                    return cards[0] if cards else None

                card = await eventually(reconcile_card, timeout=30, what="the card")
                response = await s.client.post(
                    f"/api/v1/cards/{card['card_id']}/approve",
                    json={"effective_date": date.today().isoformat()},
                    headers={**s.headers(), "traceparent": TRACEPARENT},
                )
                assert response.status_code == 202, response.text

                def in_trace() -> list[Any]:
                    return [
                        span
                        for span in exporter.get_finished_spans()
                        if format(span.context.trace_id, "032x") == TRACE_ID
                    ]

                async def writeback_consumed() -> list[Any] | None:
                    spans = in_trace()
                    consumed = [
                        span
                        for span in spans
                        if span.kind is SpanKind.CONSUMER and "writeback" in span.name
                    ]
                    return spans if consumed else None

                spans = await eventually(writeback_consumed, timeout=30, what="the writeback span")
                kinds = {span.kind for span in spans}
                assert SpanKind.SERVER in kinds  # the gateway request
                assert SpanKind.PRODUCER in kinds  # the request to reconciliation, the command
                assert any("recon" in span.name for span in spans)
