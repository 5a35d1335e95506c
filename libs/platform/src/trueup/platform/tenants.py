"""Tenant deletion and suspension, once for every service.

The gateway announces `tenant.<id>.deleted.v1`; each service registers
`consume_tenant_deletions` with its table metadata and removes every row it holds for
that tenant, in one transaction, from every table (and its outbox and inbox). Every table
a service owns carries `tenant_id`, so the list of tables is the metadata itself: a new
table is covered without anyone remembering to add it, and a table without `tenant_id`
stops the service from starting rather than keep a deleted tenant's data.

A service that must stop work for a suspended tenant (ingestion refuses its webhooks and
skips its connectors; psa_sync skips its scheduled syncs) keeps its own copy of who is
suspended: it adds `SUSPENDED_TENANTS` to its metadata with `keep_suspensions`, creates
the table in a migration with `create_suspended_tenants`, and registers
`consume_tenant_status`.

NATS forgets a deleted tenant too: its messages and uploads, through `tenant_purge`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts.envelope import Envelope, Payload, utcnow
from trueup.contracts.messages import (
    TenantCreated,
    TenantDeleted,
    TenantInviteIssued,
    TenantStatusChanged,
    spec_for,
)
from trueup.platform.broker import durable_consumer
from trueup.platform.database import upsert_insert
from trueup.platform.logging import get_logger
from trueup.platform.messaging import platform_metadata
from trueup.platform.service import ServiceRuntime
from trueup.platform.types import UtcDateTime

log = get_logger(__name__)

OPERATOR_SCOPE = "_operator"
"""The scope of records about tenants rather than of one (a deletion's audit entry). No
tenant can have this id: tenant ids begin with a letter or a digit."""

OPERATOR_EVENTS: tuple[type[Payload], ...] = (
    TenantCreated,
    TenantInviteIssued,
    TenantStatusChanged,
    TenantDeleted,
)
"""The operator's decisions about a tenant, which audit keeps in the operator scope. They
outlive the tenant: its purge from NATS leaves them (`tenant_purge`)."""

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


SUSPENDED_TENANTS = sa.Table(
    "suspended_tenants",
    sa.MetaData(),
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("suspended_at", UtcDateTime(), nullable=False),
)
"""A service's copy of the tenants the operator suspended (the gateway owns tenants)."""


def keep_suspensions(metadata: sa.MetaData) -> sa.Table:
    """Add `SUSPENDED_TENANTS` to a service's metadata: its rows go with a deleted tenant's,
    and the service's model matches its migrations."""
    return SUSPENDED_TENANTS.to_metadata(metadata)


def create_suspended_tenants() -> None:
    """Create `SUSPENDED_TENANTS` in a service's migration, under row-level security (it
    is read inside the tenant's own transaction)."""
    from alembic import op

    from trueup.platform.migrations import enable_tenant_isolation

    SUSPENDED_TENANTS.create(bind=op.get_bind())
    enable_tenant_isolation(SUSPENDED_TENANTS.name)


class SuspensionRepository:
    """Whether one tenant is suspended, in this service's copy."""

    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def is_suspended(self) -> bool:
        found = await self.session.scalar(
            sa.select(sa.literal(1)).where(SUSPENDED_TENANTS.c.tenant_id == self.tenant_id)
        )
        return found is not None

    async def set(self, suspended: bool, now: datetime) -> None:
        table = SUSPENDED_TENANTS
        if not suspended:
            await self.session.execute(table.delete().where(table.c.tenant_id == self.tenant_id))
            return
        insert = upsert_insert(self.session.get_bind().dialect.name)
        await self.session.execute(
            insert(table)
            .values(tenant_id=self.tenant_id, suspended_at=now)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )


def consume_tenant_status(
    runtime: ServiceRuntime, *, after: Callable[[str], None] | None = None
) -> None:
    """Keep this service's copy of suspensions from `tenant.<id>.status.changed.v1`.

    One consumer in stream order, so a suspension and the resumption after it are never
    swapped. `after` gets the tenant's id once the change has committed (drop what the
    replica cached about the tenant).
    """

    async def apply(session: AsyncSession, envelope: Envelope[TenantStatusChanged]) -> str:
        suspended = envelope.payload.status == "suspended"
        await SuspensionRepository(session, envelope.tenant_id).set(suspended, utcnow())
        log.info("tenant status copied", status=envelope.payload.status)
        return envelope.tenant_id

    def changed(tenant_id: str) -> None:
        if after is not None:
            after(tenant_id)

    runtime.consume_once("tenant-status", {TenantStatusChanged: apply}, after=changed)
