"""Consumers of the facts reconciliation depends on: usage, PSA snapshots, writeback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, Payload
from trueup.contracts import messages as m
from trueup.platform.broker import ordered_consumer
from trueup.platform.messaging import first_delivery
from trueup.platform.service import ServiceRuntime
from trueup.reconciliation import service

Apply = Callable[[AsyncSession, Any], Awaitable[Any]]


def register(runtime: ServiceRuntime) -> None:
    def handled(name: str, apply: Apply) -> Callable[[Envelope[Any]], Awaitable[None]]:
        inbox = f"reconciliation-{name}"

        async def handle(envelope: Envelope[Any]) -> None:
            async with runtime.database.transaction(envelope.tenant_id) as session:
                if not await first_delivery(session, inbox, envelope):
                    return
                await apply(session, envelope)
            runtime.relay.notify()

        return handle

    def consume(name: str, subject: str, handlers: dict[type[Payload], Apply]) -> None:
        ordered_consumer(
            runtime.broker,
            service=runtime.name,
            name=name,
            subject=subject,
            handlers={model: handled(name, apply) for model, apply in handlers.items()},
            max_deliver=runtime.settings.max_deliver,
        )

    consume("usage", m.spec_for(m.UsageReported).subject, {m.UsageReported: service.apply_usage})
    # One consumer per stream: a full sync's snapshots must land before its completion.
    consume(
        "psa",
        "psa.*.>",
        {m.PsaSnapshot: service.apply_snapshot, m.PsaSyncCompleted: service.apply_sync_completed},
    )
    consume(
        "writeback",
        "writeback.*.>",
        {
            m.WritebackApplied: service.apply_writeback_outcome,
            m.WritebackConflict: service.apply_writeback_outcome,
            m.WritebackFailed: service.apply_writeback_outcome,
        },
    )
