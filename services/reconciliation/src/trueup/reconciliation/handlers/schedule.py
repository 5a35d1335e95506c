"""Work reconciliation does on a schedule: closing the cycles of tenants nothing else
recomputes (a tenant without usage or a PSA sync that day still starts its new cycle)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from trueup.platform.logging import bound_context, get_logger
from trueup.platform.service import ServiceRuntime
from trueup.reconciliation.models import CycleScheduleRow
from trueup.reconciliation.recompute import start_due_cycle

log = get_logger(__name__)


async def close_due_cycles(runtime: ServiceRuntime, today: date | None = None) -> int:
    """Start the new cycle of every tenant whose open cycle is due to close; returns how
    many closed. Another replica doing the same waits on each tenant's settings row and
    then finds its cycle already closed."""
    today = today or datetime.now(UTC).date()
    async with runtime.database.transaction() as session:
        due = list(
            await session.scalars(
                sa.select(CycleScheduleRow.tenant_id)
                .where(CycleScheduleRow.closes_on <= today)
                .order_by(CycleScheduleRow.tenant_id)
            )
        )
    closed = 0
    for tenant_id in due:
        with bound_context(tenant_id=tenant_id):
            try:
                async with runtime.database.transaction(tenant_id) as session:
                    closed += await start_due_cycle(session, tenant_id, today=today)
            except Exception:
                # One tenant's failure must not keep the others in their old cycle.
                log.exception("closing the cycle failed; tried again at the next tick")
    if closed:
        runtime.relay.notify()
    return closed


def register(runtime: ServiceRuntime, interval_seconds: float) -> None:
    async def tick() -> None:
        await close_due_cycles(runtime)

    runtime.every("cycles", interval_seconds, tick, first_delay_seconds=5.0)
