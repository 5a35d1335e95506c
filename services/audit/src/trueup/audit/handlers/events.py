"""One durable consumer per domain event the activity log records, each taking batches."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import Any

from trueup.audit import service
from trueup.contracts import Envelope, Payload
from trueup.contracts.envelope import utcnow
from trueup.contracts.messages import spec_for
from trueup.platform.broker import BatchedConsumer
from trueup.platform.database import Database
from trueup.platform.messaging import by_tenant, first_deliveries
from trueup.platform.service import ServiceRuntime

BATCH_SIZE = 200


def consumer_name(model: type[Payload]) -> str:
    """`recon.action.recorded.v1` → `recon-action-recorded-v1` (a durable name token)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", model.message_type)


def inbox_consumer(service_name: str, model: type[Payload]) -> str:
    """The name the inbox records this event type's deliveries under."""
    return f"{service_name}-{consumer_name(model)}"


async def record_batch(
    database: Database, inbox_consumer: str, envelopes: Sequence[Envelope[Any]]
) -> None:
    """Record a batch's events in one transaction; what the inbox has seen is skipped, so
    a redelivered batch changes nothing."""
    now = utcnow()
    async with database.transaction() as session:
        # The inbox is not tenant-owned: one statement for the whole batch.
        fresh = await first_deliveries(session, inbox_consumer, envelopes)
        # One commit for the batch (a commit per tenant was most of the cost, and a batch
        # spans many tenants); row-level security is scoped to each tenant in turn.
        groups = by_tenant(fresh)
        for tenant_id, envelopes_of_tenant in groups.items():
            await database.act_for_tenant(session, tenant_id)
            await service.record_events(session, tenant_id, envelopes_of_tenant, now=now)
        await service.register_tenants(session, groups, now=now)


def _consumer_for(runtime: ServiceRuntime, model: type[Payload]) -> BatchedConsumer:
    name = consumer_name(model)
    return BatchedConsumer(
        runtime.broker,
        service=runtime.name,
        name=name,
        subject=spec_for(model).subject,
        model=model,
        handler=partial(record_batch, runtime.database, inbox_consumer(runtime.name, model)),
        max_deliver=runtime.settings.max_deliver,
        batch_size=BATCH_SIZE,
    )


def register(runtime: ServiceRuntime) -> None:
    for model in service.RECORDED_EVENTS:
        runtime.add_batched_consumer(_consumer_for(runtime, model))
