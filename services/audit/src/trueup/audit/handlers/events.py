"""One durable consumer per domain event the activity log records."""

from __future__ import annotations

import re
from typing import Any

from trueup.audit import service
from trueup.contracts import Envelope, Payload
from trueup.contracts.envelope import utcnow
from trueup.contracts.messages import spec_for
from trueup.platform.broker import durable_consumer
from trueup.platform.messaging import first_delivery
from trueup.platform.service import ServiceRuntime


def consumer_name(model: type[Payload]) -> str:
    """`recon.action.recorded.v1` → `recon-action-recorded-v1` (a durable name token)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", model.message_type)


def _register_one(runtime: ServiceRuntime, model: type[Payload]) -> None:
    name = consumer_name(model)
    inbox_consumer = f"{runtime.name}-{name}"

    async def on_event(envelope: Envelope[Any]) -> None:
        async with runtime.database.transaction(envelope.tenant_id) as session:
            if not await first_delivery(session, inbox_consumer, envelope):
                return
            await service.record_event(session, envelope, now=utcnow())

    durable_consumer(
        runtime.broker,
        service=runtime.name,
        name=name,
        subject=spec_for(model).subject,
        model=model,
        handler=on_event,
        max_deliver=runtime.settings.max_deliver,
    )


def register(runtime: ServiceRuntime) -> None:
    for model in service.RECORDED_EVENTS:
        _register_one(runtime, model)
