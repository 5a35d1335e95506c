"""Tenant deletion, once for every service.

The gateway announces `tenant.<id>.deleted.v1`; each service registers
`consume_tenant_deletions` with its table metadata and removes every row it holds for
that tenant, in one transaction, from every table (and its outbox and inbox). Every table
a service owns carries `tenant_id`, so the list of tables is the metadata itself: a new
table is covered without anyone remembering to add it, and a table without `tenant_id`
stops the service from starting rather than keep a deleted tenant's data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts.envelope import Envelope
from trueup.contracts.messages import TenantDeleted, spec_for
from trueup.platform.broker import durable_consumer
from trueup.platform.logging import get_logger
from trueup.platform.messaging import platform_metadata
from trueup.platform.service import ServiceRuntime

log = get_logger(__name__)

OPERATOR_SCOPE = "_operator"
"""The scope of records about tenants rather than of one (a deletion's audit entry). No
tenant can have this id: tenant ids begin with a letter or a digit."""

AfterDeletion = Callable[[AsyncSession, Envelope[TenantDeleted]], Awaitable[None]]


def tenant_tables(metadata: sa.MetaData) -> list[sa.Table]:
    """Every table of `metadata` and the platform's, children before their parents.

    Raises `ValueError` naming a table without a `tenant_id` column.
    """
    tables = [*metadata.sorted_tables, *platform_metadata.sorted_tables]
    missing = [table.name for table in tables if "tenant_id" not in table.c]
    if missing:
        raise ValueError(f"tables without tenant_id cannot be cleared for a tenant: {missing}")
    return list(reversed(metadata.sorted_tables)) + list(platform_metadata.sorted_tables)


async def delete_tenant_rows(
    session: AsyncSession, metadata: sa.MetaData, tenant_id: str
) -> dict[str, int]:
    """Delete every row of `tenant_id` from the service's tables; rows deleted per table.

    Run it in a transaction scoped to the tenant (row-level security lets it see only
    that tenant's rows, which is all it means to delete).
    """
    deleted: dict[str, int] = {}
    for table in tenant_tables(metadata):
        result = await session.execute(table.delete().where(table.c.tenant_id == tenant_id))
        deleted[table.name] = int(getattr(result, "rowcount", 0) or 0)
    return deleted


def consume_tenant_deletions(
    runtime: ServiceRuntime, metadata: sa.MetaData, *, after: AfterDeletion | None = None
) -> None:
    """Delete a tenant's rows from this service's tables when the gateway deletes it.

    `after` runs in the same transaction, once the rows are gone (audit records the
    deletion there). A redelivered deletion finds nothing left and deletes nothing, so
    the inbox is not needed (its rows for the tenant go with the rest).
    """
    tenant_tables(metadata)  # refuse to start if a table could not be cleared

    async def handle(envelope: Envelope[TenantDeleted]) -> None:
        tenant_id = envelope.tenant_id
        async with runtime.database.transaction(tenant_id) as session:
            deleted = await delete_tenant_rows(session, metadata, tenant_id)
            if after is not None:
                await after(session, envelope)
        runtime.relay.notify()
        log.info("tenant data deleted", rows=sum(deleted.values()), tables=deleted)

    durable_consumer(
        runtime.broker,
        service=runtime.name,
        name="tenant-deletions",
        subject=spec_for(TenantDeleted).subject,
        model=TenantDeleted,
        handler=handle,
        max_deliver=runtime.settings.max_deliver,
    )
