"""Consumers of the facts reconciliation depends on: usage, PSA snapshots, writeback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.platform.broker import BatchedConsumer
from trueup.platform.logging import bound_context
from trueup.platform.messaging import by_tenant, first_deliveries, staged_together
from trueup.platform.service import ServiceRuntime
from trueup.reconciliation import actions, inputs

ApplyPart = Callable[[AsyncSession, str, list[Envelope[Any]]], Awaitable[object]]
"""Applies one tenant's part of a fetched batch: (session, tenant id, its envelopes)."""


USAGE_BATCH_SIZE = 200
"""Live usage reports (a webhook's few records each) applied per fetch."""
BULK_USAGE_BATCH_SIZE = 5
"""Bulk usage events (up to a thousand records each) applied per fetch: a few thousand
records keep each transaction short, so the live lane beside it waits little for the
event loop."""


async def apply_usage(
    runtime: ServiceRuntime, envelopes: Sequence[Envelope[m.UsageReported]]
) -> None:
    """Apply a fetched batch of usage reports in one transaction, each tenant's part in
    turn; reports the inbox has seen are skipped, so a redelivered batch changes nothing.

    One commit for the batch, not one per tenant: with many tenants a fetch rarely holds
    two reports of one, and the commit was most of a report's cost. Tenants are taken in
    the order of their ids, so two batches that share tenants (another replica, the other
    usage lane) lock their settings rows in the same order and never deadlock. If one
    tenant's part fails, the whole batch rolls back and `BatchedConsumer` applies each
    report on its own; an index kept in memory is then caught by its inputs token. What
    the tenants' parts announce goes to the outbox in one statement at the end."""
    await _apply_by_tenant(runtime, "reconciliation-usage", envelopes, inputs.apply_usage_batches)


WRITEBACK_BATCH_SIZE = 100
"""Writeback outcomes applied per fetch."""


async def apply_writeback_outcomes(
    runtime: ServiceRuntime, envelopes: Sequence[Envelope[Any]]
) -> None:
    """Apply a fetched batch of writeback outcomes in one transaction, each tenant's in
    stream order under one take of its lock; outcomes the inbox has seen are skipped.

    One at a time, each outcome locked its tenant for its own five statements and commit,
    taking turns with the approvals that caused it: an integration approving a tenant's
    cards one by one spent nearly half its turns on the outcomes."""
    await _apply_by_tenant(
        runtime, "reconciliation-writeback", envelopes, actions.apply_writeback_outcomes
    )


async def _apply_by_tenant(
    runtime: ServiceRuntime,
    inbox: str,
    envelopes: Sequence[Envelope[Any]],
    apply: ApplyPart,
) -> None:
    """A fetched batch in one transaction: the envelopes `inbox` has not seen, each
    tenant's handed to `apply` in their order, tenants in the order of their ids (so two
    batches sharing tenants lock their settings rows in one order and never deadlock);
    what they announce goes to the outbox in one statement at the end."""
    async with runtime.database.transaction() as session, staged_together(session):
        fresh = await first_deliveries(session, inbox, envelopes)
        groups = by_tenant(fresh)
        for tenant_id in sorted(groups):
            part = groups[tenant_id]
            last = part[-1]
            with bound_context(
                tenant_id=tenant_id, correlation_id=last.correlation_id, event_id=last.event_id
            ):
                await runtime.database.act_for_tenant(session, tenant_id)
                await apply(session, tenant_id, part)
    runtime.relay.notify()


def register(runtime: ServiceRuntime, usage_lanes: Sequence[str] = ("live", "bulk")) -> None:
    # Usage comes in bursts (a webhook storm, an import of a thousand batches): it is taken
    # a fetch at a time, each tenant's part applied and recomputed in one transaction.
    # Live and bulk usage have a consumer each, so a webhook never waits behind an import
    # (an older observation arriving late through the other lane is ignored by its time).
    lanes = {
        "live": ("usage", m.UsageReported, USAGE_BATCH_SIZE),
        "bulk": ("usage-bulk", m.UsageImported, BULK_USAGE_BATCH_SIZE),
    }
    for lane in usage_lanes:
        name, model, batch_size = lanes[lane]
        runtime.add_batched_consumer(
            BatchedConsumer(
                runtime.broker,
                service=runtime.name,
                name=name,
                subject=m.spec_for(model).subject,
                model=model,
                handler=partial(apply_usage, runtime),
                max_deliver=runtime.settings.max_deliver,
                batch_size=batch_size,
            )
        )
    # One consumer per stream: a full sync's snapshots must land before its completion.
    runtime.consume_once(
        "psa",
        {m.PsaSnapshot: inputs.apply_snapshot, m.PsaSyncCompleted: inputs.apply_sync_completed},
        subject="psa.*.>",
    )
    # Outcomes come as fast as approvals are written: taken a fetch at a time, each
    # tenant's applied under one lock. The durable consumer and the inbox keep the names
    # they had when outcomes were applied one by one.
    runtime.add_batched_consumer(
        BatchedConsumer(
            runtime.broker,
            service=runtime.name,
            name="writeback",
            subject="writeback.*.>",
            model=(m.WritebackApplied, m.WritebackConflict, m.WritebackFailed),
            handler=partial(apply_writeback_outcomes, runtime),
            max_deliver=runtime.settings.max_deliver,
            batch_size=WRITEBACK_BATCH_SIZE,
        )
    )
