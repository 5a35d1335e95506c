from __future__ import annotations

from trueup.contracts import Envelope
from trueup.contracts.messages import UsageReported, spec_for
from trueup.platform.broker import durable_consumer
from trueup.platform.messaging import first_delivery
from trueup.platform.service import ServiceRuntime
from trueup.reconciliation import service

CONSUMER = "reconciliation-usage"


def register(runtime: ServiceRuntime) -> None:
    async def on_usage_reported(envelope: Envelope[UsageReported]) -> None:
        async with runtime.database.transaction(envelope.tenant_id) as session:
            if not await first_delivery(session, CONSUMER, envelope):
                return
            await service.apply_usage(session, envelope)
        runtime.relay.notify()

    durable_consumer(
        runtime.broker,
        service=runtime.name,
        name="usage",
        subject=spec_for(UsageReported).subject,
        model=UsageReported,
        handler=on_usage_reported,
        max_deliver=runtime.settings.max_deliver,
    )
