"""Commands and events that ask for a sync: `cmd.psa.sync`, `writeback.*.applied`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from trueup.contracts import Envelope
from trueup.contracts.messages import SyncPsa, WritebackApplied, spec_for
from trueup.platform.broker import durable_consumer
from trueup.platform.messaging import first_delivery
from trueup.platform.service import ServiceRuntime
from trueup.psa_sync.repository import ConnectionRepository


def register(runtime: ServiceRuntime, wake_scheduler: Callable[[], None]) -> None:
    async def on_sync(envelope: Envelope[SyncPsa]) -> None:
        async with runtime.database.transaction(envelope.tenant_id) as session:
            if not await first_delivery(session, "psa_sync-sync", envelope):
                return
            repo = ConnectionRepository(session, envelope.tenant_id)
            ids = (
                [envelope.payload.connection_id]
                if envelope.payload.connection_id
                else [c.connection_id for c in await repo.all()]
            )
            for connection_id in ids:
                if await repo.get(connection_id) is not None:
                    await repo.schedule(
                        connection_id, datetime.now(UTC), full=envelope.payload.full
                    )
        wake_scheduler()

    async def on_applied(envelope: Envelope[WritebackApplied]) -> None:
        # The PSA changed through us: read it again soon so the projection shows it.
        async with runtime.database.transaction(envelope.tenant_id) as session:
            if not await first_delivery(session, "psa_sync-applied", envelope):
                return
            repo = ConnectionRepository(session, envelope.tenant_id)
            for connection in await repo.all():
                await repo.schedule(connection.connection_id, datetime.now(UTC), full=False)
        wake_scheduler()

    durable_consumer(
        runtime.broker,
        service=runtime.name,
        name="sync",
        subject=spec_for(SyncPsa).subject,
        model=SyncPsa,
        handler=on_sync,
        max_deliver=runtime.settings.max_deliver,
    )
    durable_consumer(
        runtime.broker,
        service=runtime.name,
        name="writeback-applied",
        subject=spec_for(WritebackApplied).subject,
        model=WritebackApplied,
        handler=on_applied,
        max_deliver=runtime.settings.max_deliver,
    )
