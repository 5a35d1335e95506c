"""`cmd.writeback.<tenant>.apply` and `.retry`: record, then let the worker drive."""

from __future__ import annotations

from collections.abc import Callable

from trueup.contracts import Envelope
from trueup.contracts.messages import ApplyWriteback, RetryWriteback, spec_for
from trueup.platform.broker import durable_consumer
from trueup.platform.messaging import first_delivery
from trueup.platform.service import ServiceRuntime
from trueup.writeback import service

APPLY_CONSUMER = "writeback-apply"
RETRY_CONSUMER = "writeback-retry"


def register(runtime: ServiceRuntime, wake: Callable[[], None]) -> None:
    async def on_apply(envelope: Envelope[ApplyWriteback]) -> None:
        # Record first: the job (or the finding that its key is known) and the inbox
        # entry commit together, before anything is sent to a PSA.
        async with runtime.database.transaction(envelope.tenant_id) as session:
            if not await first_delivery(session, APPLY_CONSUMER, envelope):
                return
            recorded = await service.record_job(session, envelope)
        if recorded is not None:
            wake()

    async def on_retry(envelope: Envelope[RetryWriteback]) -> None:
        async with runtime.database.transaction(envelope.tenant_id) as session:
            if not await first_delivery(session, RETRY_CONSUMER, envelope):
                return
            requeued = await service.retry_job(session, envelope)
        if requeued:
            wake()

    durable_consumer(
        runtime.broker,
        service=runtime.name,
        name="apply",
        subject=spec_for(ApplyWriteback).subject,
        model=ApplyWriteback,
        handler=on_apply,
        max_deliver=runtime.settings.max_deliver,
        # Jobs are independent and keyed, so a batch may be recorded in any order.
        batch_size=32,
    )
    durable_consumer(
        runtime.broker,
        service=runtime.name,
        name="retry",
        subject=spec_for(RetryWriteback).subject,
        model=RetryWriteback,
        handler=on_retry,
        max_deliver=runtime.settings.max_deliver,
    )
