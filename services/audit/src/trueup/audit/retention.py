"""The retention purge: deletes entries past each tenant's retention, in batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trueup.audit import service
from trueup.audit.repository import EntryRepository, TenantDirectory
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
