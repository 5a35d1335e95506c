"""One durable consumer per domain event the activity log records, each taking batches."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from trueup.audit import service
from trueup.contracts import Envelope, Payload
from trueup.contracts.envelope import utcnow
from trueup.contracts.messages import spec_for
from trueup.platform.broker import BatchedConsumer
from trueup.platform.messaging import by_tenant, first_deliveries
from trueup.platform.service import ServiceRuntime

BATCH_SIZE = 200


def consumer_name(model: type[Payload]) -> str:
    """`recon.action.recorded.v1` → `recon-action-recorded-v1` (a durable name token)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", model.message_type)


def _consumer_for(runtime: ServiceRuntime, model: type[Payload]) -> BatchedConsumer:
    name = consumer_name(model)
    inbox_consumer = f"{runtime.name}-{name}"

    async def on_events(envelopes: Sequence[Envelope[Any]]) -> None:
        now = utcnow()
        database = runtime.database
        # One commit for the batch (a commit per tenant was most of the cost, and a batch
        # spans many tenants); row-level security is scoped to each tenant in turn.
        async with database.transaction() as session:
            for tenant_id, envelopes_of_tenant in by_tenant(envelopes).items():
                await database.act_for_tenant(session, tenant_id)
                fresh = await first_deliveries(session, inbox_consumer, envelopes_of_tenant)
                await service.record_events(session, tenant_id, fresh, now=now)

    return BatchedConsumer(
        runtime.broker,
        service=runtime.name,
        name=name,
        subject=spec_for(model).subject,
        model=model,
        handler=on_events,
        max_deliver=runtime.settings.max_deliver,
        batch_size=BATCH_SIZE,
    )


def register(runtime: ServiceRuntime) -> None:
    consumers = [_consumer_for(runtime, model) for model in service.RECORDED_EVENTS]

    async def start() -> None:
        for consumer in consumers:
            await consumer.start()

    async def stop() -> None:
        # Together: each finishes its fetch in hand, so one by one would add those waits.
        await asyncio.gather(*(consumer.stop() for consumer in consumers))

    runtime.on_start(start)
    runtime.on_stop(stop)
