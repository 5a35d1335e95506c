"""The retention purge: deletes entries past each tenant's retention, in batches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from trueup.audit import service
from trueup.audit.repository import EntryRepository, TenantDirectory
from trueup.contracts.envelope import utcnow
from trueup.platform.database import Database
from trueup.platform.logging import bound_context, get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    tenant_id: str
    purged: int
    cutoff: datetime
    """Entries that occurred strictly before this instant were deleted."""


async def purge_tenant(
    database: Database, tenant_id: str, *, now: datetime, default_days: int, batch_size: int
) -> PurgeResult:
    """Delete one tenant's expired entries, one short transaction per batch."""
    async with database.transaction(tenant_id) as session:
        days = await service.retention_days(session, tenant_id, default_days)
    cutoff = service.retention_cutoff(now, days)
    purged = 0
    while True:
        async with database.transaction(tenant_id) as session:
            entries = EntryRepository(session, tenant_id)
            expired = await entries.expired_ids(cutoff, batch_size)
            purged += await entries.delete(expired)
        if len(expired) < batch_size:
            break
    if purged:
        with bound_context(tenant_id=tenant_id):
            log.info(
                "purged activity entries",
                purged=purged,
                older_than=cutoff.isoformat(),
                retention_days=days,
            )
    return PurgeResult(tenant_id, purged, cutoff)


async def purge_expired(
    database: Database, *, now: datetime, default_days: int, batch_size: int
) -> list[PurgeResult]:
    """Purge every known tenant; one tenant's failure does not stop the others."""
    async with database.transaction() as session:
        tenants = await TenantDirectory(session).all()
    results: list[PurgeResult] = []
    for tenant_id in tenants:
        try:
            results.append(
                await purge_tenant(
                    database,
                    tenant_id,
                    now=now,
                    default_days=default_days,
                    batch_size=batch_size,
                )
            )
        except Exception:
            log.exception("purging activity entries failed", tenant_id=tenant_id)
    return results


class RetentionPurger:
    """Runs `purge_expired` now and then every `interval_seconds` until stopped."""

    def __init__(
        self,
        database: Database,
        *,
        default_days: int,
        batch_size: int,
        interval_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.default_days = default_days
        self.batch_size = batch_size
        self.interval_seconds = interval_seconds
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> list[PurgeResult]:
        return await purge_expired(
            self.database,
            now=self.clock(),
            default_days=self.default_days,
            batch_size=self.batch_size,
        )

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("activity purge failed; will retry at the next interval")
            await asyncio.sleep(self.interval_seconds)

    async def start(self) -> None:
        """Start the periodic purge (an `on_start` hook of the runtime)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-retention-purge")

    async def stop(self) -> None:
        """Cancel the purge; a batch cut short is rolled back and redone next time."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
