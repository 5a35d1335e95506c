"""Commands and events that ask for a sync: `cmd.psa.sync`, `writeback.*.applied` and
`writeback.*.conflict`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope
from trueup.contracts.messages import SyncPsa, WritebackApplied, WritebackConflict
from trueup.platform.service import ServiceRuntime
from trueup.psa_sync.repository import ConnectionRepository


def register(
    runtime: ServiceRuntime, wake_scheduler: Callable[[], None], *, refresh_delay: timedelta
) -> None:
    async def on_sync(session: AsyncSession, envelope: Envelope[SyncPsa]) -> None:
        repo = ConnectionRepository(session, envelope.tenant_id)
        ids = (
            [envelope.payload.connection_id]
            if envelope.payload.connection_id
            else [c.connection_id for c in await repo.all()]
        )
        for connection_id in ids:
            if await repo.get(connection_id) is not None:
                await repo.schedule(connection_id, datetime.now(UTC), full=envelope.payload.full)

    async def resync(
        session: AsyncSession, envelope: Envelope[WritebackApplied] | Envelope[WritebackConflict]
    ) -> None:
        # The PSA changed, through us (applied) or behind our back (a conflict: it held
        # another quantity than the projection): read the contract again soon, so the
        # card shows what the PSA holds before anyone decides on it again. Not at once:
        # the scheduler's tick reads every contract asked for by then in one go. A
        # contract no connection holds (yet) is read by a sync of them all.
        repo = ConnectionRepository(session, envelope.tenant_id)
        now = datetime.now(UTC)
        if await repo.request_refresh(envelope.payload.contract_psa_id, now + refresh_delay):
            return
        for connection in await repo.all():
            await repo.schedule(connection.connection_id, now, full=False)

    def wake(_: object) -> None:
        wake_scheduler()

    runtime.consume_once("sync", {SyncPsa: on_sync}, after=wake)
    runtime.consume_once("writeback-applied", {WritebackApplied: resync})
    runtime.consume_once("writeback-conflict", {WritebackConflict: resync})
