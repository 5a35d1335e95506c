"""Every query of vendor_ingestion; each tenant-owned one takes the tenant explicitly."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.platform.types import UtcDateTime
from trueup.vendor_ingestion.models import (
    ConnectorRow,
    ConnectorSchedule,
    ImportJob,
    ImportProfile,
    RawUsage,
    TenantDirectory,
    UsageBatchRow,
    WebhookEndpoint,
    WebhookSecret,
)

# Rows per multi-row statement: well under SQLite's 32,766 bound parameters.
_WRITE_CHUNK = 2000
_IN_CHUNK = 500


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _insert(session: AsyncSession, table: sa.Table) -> Any:
    """A dialect insert that supports ON CONFLICT (SQLite and PostgreSQL both do)."""
    if _dialect(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class UsageRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def batch_seen(self, idempotency_key: str) -> str | None:
        """The batch id recorded under this key, or None."""
        found: str | None = await self.session.scalar(
            sa.select(UsageBatchRow.batch_id).where(
                UsageBatchRow.tenant_id == self.tenant_id,
                UsageBatchRow.idempotency_key == idempotency_key,
            )
        )
        return found

    async def batches_seen(self, keys: Sequence[str]) -> dict[str, str]:
        """Batch id per idempotency key already recorded, for those of `keys` that are."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _IN_CHUNK):
            result = await self.session.execute(
                sa.select(UsageBatchRow.idempotency_key, UsageBatchRow.batch_id).where(
                    UsageBatchRow.tenant_id == self.tenant_id,
                    UsageBatchRow.idempotency_key.in_(unique[start : start + _IN_CHUNK]),
                )
            )
            found.update({key: batch_id for key, batch_id in result.all()})
        return found

    async def add_batches(self, batches: Sequence[dict[str, Any]]) -> None:
        assert all(batch["tenant_id"] == self.tenant_id for batch in batches)
        await self.session.execute(sa.insert(UsageBatchRow), list(batches))

    async def add_batch(self, batch: UsageBatchRow) -> None:
        assert batch.tenant_id == self.tenant_id
        self.session.add(batch)
        await self.session.flush()

    async def replace_accounts(self, vendor: str, vendor_account_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(vendor_account_ids))
        for start in range(0, len(ids), _IN_CHUNK):
            await self.session.execute(
                sa.delete(RawUsage).where(
                    RawUsage.tenant_id == self.tenant_id,
                    RawUsage.vendor == vendor,
                    RawUsage.vendor_account_id.in_(ids[start : start + _IN_CHUNK]),
                )
            )

    async def upsert_usage(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert or overwrite usage rows in multi-row statements; returns how many."""
        table = RawUsage.__table__
        assert isinstance(table, sa.Table)
        written = 0
        chunk: list[dict[str, Any]] = []
        for row in rows:
            assert row["tenant_id"] == self.tenant_id
            chunk.append(row)
            if len(chunk) >= _WRITE_CHUNK:
                written += await self._upsert_chunk(table, chunk)
                chunk = []
        if chunk:
            written += await self._upsert_chunk(table, chunk)
        return written

    async def _upsert_chunk(self, table: sa.Table, rows: list[dict[str, Any]]) -> int:
        statement = _insert(self.session, table)
        updated = {
            name: statement.excluded[name]
            for name in (
                "vendor_account_name",
                "sku_name",
                "quantity",
                "as_of",
                "source",
                "batch_id",
            )
        }
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "vendor", "vendor_account_id", "sku"], set_=updated
            ),
            rows,
        )
        return len(rows)

    async def current_usage(
        self,
        *,
        vendor: str | None = None,
        vendor_account_id: str | None = None,
        batch_id: str | None = None,
        after: tuple[str, str, str] | None = None,
        limit: int | None = None,
    ) -> Sequence[RawUsage]:
        query = sa.select(RawUsage).where(RawUsage.tenant_id == self.tenant_id)
        if vendor:
            query = query.where(RawUsage.vendor == vendor)
        if vendor_account_id:
            query = query.where(RawUsage.vendor_account_id == vendor_account_id)
        if batch_id:
            query = query.where(RawUsage.batch_id == batch_id)
        if after is not None:
            query = query.where(
                sa.tuple_(RawUsage.vendor, RawUsage.vendor_account_id, RawUsage.sku) > after
            )
        query = query.order_by(RawUsage.vendor, RawUsage.vendor_account_id, RawUsage.sku)
        if limit is not None:
            query = query.limit(limit)
        return (await self.session.scalars(query)).all()

    async def count_usage(self, *, batch_id: str) -> int:
        count = await self.session.scalar(
            sa.select(sa.func.count())
            .select_from(RawUsage)
            .where(RawUsage.tenant_id == self.tenant_id, RawUsage.batch_id == batch_id)
        )
        return int(count or 0)

    async def remove_usage(self, vendor: str, batch_id: str | None = None) -> int:
        """Delete the vendor's raw usage (only that of one batch, if given); how many rows."""
        query = sa.delete(RawUsage).where(
            RawUsage.tenant_id == self.tenant_id, RawUsage.vendor == vendor
        )
        if batch_id is not None:
            query = query.where(RawUsage.batch_id == batch_id)
        result = await self.session.execute(query)
        return int(getattr(result, "rowcount", 0) or 0)

    async def forget_batches(self, vendor: str, batch_id: str | None = None) -> None:
        """Forget the idempotency keys of the vendor's batches (or of one batch)."""
        query = sa.delete(UsageBatchRow).where(
            UsageBatchRow.tenant_id == self.tenant_id, UsageBatchRow.vendor == vendor
        )
        if batch_id is not None:
            query = query.where(UsageBatchRow.batch_id == batch_id)
        await self.session.execute(query)

    async def purge_batches_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(
            sa.delete(UsageBatchRow).where(
                UsageBatchRow.tenant_id == self.tenant_id, UsageBatchRow.received_at < cutoff
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


class ImportRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def add(self, job: ImportJob) -> None:
        assert job.tenant_id == self.tenant_id
        self.session.add(job)
        await self.session.flush()

    async def get(self, import_id: str, *, for_update: bool = False) -> ImportJob | None:
        query = sa.select(ImportJob).where(
            ImportJob.tenant_id == self.tenant_id, ImportJob.import_id == import_id
        )
        if for_update and _dialect(self.session) == "postgresql":
            query = query.with_for_update()
        job: ImportJob | None = await self.session.scalar(query)
        return job

    async def by_batch(self, batch_id: str) -> ImportJob | None:
        job: ImportJob | None = await self.session.scalar(
            sa.select(ImportJob).where(
                ImportJob.tenant_id == self.tenant_id, ImportJob.batch_id == batch_id
            )
        )
        return job

    async def with_usage(self, vendor: str | None, limit: int) -> list[tuple[ImportJob, int]]:
        """The latest imports that stored a usage batch, each with its current row count."""
        current = (
            sa.select(RawUsage.batch_id, sa.func.count().label("rows"))
            .where(RawUsage.tenant_id == self.tenant_id)
            .group_by(RawUsage.batch_id)
            .subquery()
        )
        query = (
            sa.select(ImportJob, sa.func.coalesce(current.c.rows, 0))
            .outerjoin(current, current.c.batch_id == ImportJob.batch_id)
            .where(ImportJob.tenant_id == self.tenant_id, ImportJob.batch_id.is_not(None))
        )
        if vendor:
            query = query.where(ImportJob.vendor == vendor)
        query = query.order_by(ImportJob.created_at.desc(), ImportJob.import_id).limit(limit)
        return [(job, int(rows)) for job, rows in (await self.session.execute(query)).all()]

    async def set_progress(self, import_id: str, percent: int, updated_at: datetime) -> None:
        await self.session.execute(
            sa.update(ImportJob)
            .where(
                ImportJob.tenant_id == self.tenant_id,
                ImportJob.import_id == import_id,
                ImportJob.status == "running",
            )
            .values(progress_percent=percent, updated_at=updated_at)
        )


class ProfileRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def matching(self, fingerprint: str, vendor: str | None) -> ImportProfile | None:
        """The profile for this header: the given vendor's first, most recent first."""
        query = sa.select(ImportProfile).where(
            ImportProfile.tenant_id == self.tenant_id,
            ImportProfile.header_fingerprint == fingerprint,
        )
        if vendor:
            query = query.where(ImportProfile.vendor == vendor)
        profile: ImportProfile | None = await self.session.scalar(
            query.order_by(ImportProfile.updated_at.desc()).limit(1)
        )
        return profile

    async def get(self, profile_id: str) -> ImportProfile | None:
        profile: ImportProfile | None = await self.session.scalar(
            sa.select(ImportProfile).where(
                ImportProfile.tenant_id == self.tenant_id,
                ImportProfile.profile_id == profile_id,
            )
        )
        return profile

    async def by_name(self, vendor: str, name: str) -> ImportProfile | None:
        profile: ImportProfile | None = await self.session.scalar(
            sa.select(ImportProfile).where(
                ImportProfile.tenant_id == self.tenant_id,
                ImportProfile.vendor == vendor,
                ImportProfile.name == name,
            )
        )
        return profile

    async def named(self, name: str) -> Sequence[ImportProfile]:
        """The tenant's profiles of this name, whatever their vendor."""
        return (
            await self.session.scalars(
                sa.select(ImportProfile).where(
                    ImportProfile.tenant_id == self.tenant_id, ImportProfile.name == name
                )
            )
        ).all()

    async def add(self, profile: ImportProfile) -> None:
        assert profile.tenant_id == self.tenant_id
        self.session.add(profile)
        await self.session.flush()

    async def delete(self, profile: ImportProfile) -> None:
        assert profile.tenant_id == self.tenant_id
        await self.session.delete(profile)
        await self.session.flush()

    async def use_counts(self) -> dict[str, tuple[int, datetime]]:
        """Per profile id: how many imports completed with it (or changed nothing), and
        when the last of them was made."""
        result = await self.session.execute(
            sa.select(
                ImportJob.profile_id,
                sa.func.count(),
                sa.func.max(ImportJob.created_at, type_=UtcDateTime()),
            )
            .where(
                ImportJob.tenant_id == self.tenant_id,
                ImportJob.profile_id.is_not(None),
                ImportJob.status.in_(("completed", "unchanged")),
            )
            .group_by(ImportJob.profile_id)
        )
        return {str(profile_id): (int(count), last) for profile_id, count, last in result.all()}

    async def all(self, vendor: str | None = None) -> Sequence[ImportProfile]:
        query = sa.select(ImportProfile).where(ImportProfile.tenant_id == self.tenant_id)
        if vendor:
            query = query.where(ImportProfile.vendor == vendor)
        return (
            await self.session.scalars(query.order_by(ImportProfile.vendor, ImportProfile.name))
        ).all()


class WebhookRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        found: WebhookEndpoint | None = await self.session.scalar(
            sa.select(WebhookEndpoint).where(
                WebhookEndpoint.tenant_id == self.tenant_id,
                WebhookEndpoint.endpoint_id == endpoint_id,
            )
        )
        return found

    async def endpoints(self) -> Sequence[WebhookEndpoint]:
        return (
            await self.session.scalars(
                sa.select(WebhookEndpoint)
                .where(WebhookEndpoint.tenant_id == self.tenant_id)
                .order_by(WebhookEndpoint.created_at)
            )
        ).all()

    async def secrets(
        self, endpoint_id: str, *, valid_at: datetime | None = None
    ) -> Sequence[WebhookSecret]:
        query = sa.select(WebhookSecret).where(
            WebhookSecret.tenant_id == self.tenant_id, WebhookSecret.endpoint_id == endpoint_id
        )
        if valid_at is not None:
            query = query.where(
                sa.or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > valid_at)
            )
        return (await self.session.scalars(query.order_by(WebhookSecret.created_at))).all()

    async def add(self, item: WebhookEndpoint | WebhookSecret) -> None:
        assert item.tenant_id == self.tenant_id
        self.session.add(item)
        await self.session.flush()

    async def expire_secrets(self, endpoint_id: str, at: datetime) -> None:
        """Current secrets stay valid until `at` (the rotation's grace period)."""
        await self.session.execute(
            sa.update(WebhookSecret)
            .where(
                WebhookSecret.tenant_id == self.tenant_id,
                WebhookSecret.endpoint_id == endpoint_id,
                sa.or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > at),
            )
            .values(expires_at=at)
        )

    async def delete_endpoint(self, endpoint_id: str) -> bool:
        """Forget an endpoint and every secret of it; False if there was none."""
        await self.session.execute(
            sa.delete(WebhookSecret).where(
                WebhookSecret.tenant_id == self.tenant_id,
                WebhookSecret.endpoint_id == endpoint_id,
            )
        )
        result = await self.session.execute(
            sa.delete(WebhookEndpoint).where(
                WebhookEndpoint.tenant_id == self.tenant_id,
                WebhookEndpoint.endpoint_id == endpoint_id,
            )
        )
        return bool(getattr(result, "rowcount", 0))


class ConnectorRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def get(self, connector_id: str) -> ConnectorRow | None:
        found: ConnectorRow | None = await self.session.scalar(
            sa.select(ConnectorRow).where(
                ConnectorRow.tenant_id == self.tenant_id, ConnectorRow.connector_id == connector_id
            )
        )
        return found

    async def all(self) -> Sequence[ConnectorRow]:
        return (
            await self.session.scalars(
                sa.select(ConnectorRow)
                .where(ConnectorRow.tenant_id == self.tenant_id)
                .order_by(ConnectorRow.connector_id)
            )
        ).all()

    async def save(self, connector: ConnectorRow) -> None:
        assert connector.tenant_id == self.tenant_id
        await self.session.merge(connector)
        await self.session.flush()

    async def delete(self, connector_id: str) -> bool:
        """Forget a connector and its due time; False if there was none."""
        await self.session.execute(
            sa.delete(ConnectorSchedule).where(
                ConnectorSchedule.tenant_id == self.tenant_id,
                ConnectorSchedule.connector_id == connector_id,
            )
        )
        result = await self.session.execute(
            sa.delete(ConnectorRow).where(
                ConnectorRow.tenant_id == self.tenant_id, ConnectorRow.connector_id == connector_id
            )
        )
        return bool(getattr(result, "rowcount", 0))


class ScheduleRepository:
    """Due times of every tenant's connectors: deliberately cross-tenant (ids and times only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def due(self, now: datetime, limit: int = 100) -> Sequence[ConnectorSchedule]:
        return (
            await self.session.scalars(
                sa.select(ConnectorSchedule)
                .where(ConnectorSchedule.next_run_at <= now)
                .order_by(ConnectorSchedule.next_run_at)
                .limit(limit)
            )
        ).all()

    async def claim(
        self, tenant_id: str, connector_id: str, seen: datetime, next_run_at: datetime
    ) -> bool:
        """Move the due time on, if no other replica did first; True if this one won."""
        result = await self.session.execute(
            sa.update(ConnectorSchedule)
            .where(
                ConnectorSchedule.tenant_id == tenant_id,
                ConnectorSchedule.connector_id == connector_id,
                ConnectorSchedule.next_run_at == seen,
            )
            .values(next_run_at=next_run_at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def clear(self, tenant_id: str, connector_id: str) -> None:
        """No due time: a paused connector must not sit among the due ones every tick."""
        await self.session.execute(
            sa.delete(ConnectorSchedule).where(
                ConnectorSchedule.tenant_id == tenant_id,
                ConnectorSchedule.connector_id == connector_id,
            )
        )

    async def next_runs(self, tenant_id: str) -> dict[str, datetime]:
        """When each of a tenant's connectors is next due."""
        rows = await self.session.execute(
            sa.select(ConnectorSchedule.connector_id, ConnectorSchedule.next_run_at).where(
                ConnectorSchedule.tenant_id == tenant_id
            )
        )
        return {str(connector_id): at for connector_id, at in rows}

    async def set(self, tenant_id: str, connector_id: str, next_run_at: datetime) -> None:
        statement = _insert(self.session, ConnectorSchedule.__table__)  # type: ignore[arg-type]
        await self.session.execute(
            statement.values(
                tenant_id=tenant_id, connector_id=connector_id, next_run_at=next_run_at
            ).on_conflict_do_update(
                index_elements=["tenant_id", "connector_id"],
                set_={"next_run_at": next_run_at},
            )
        )


class TenantDirectoryRepository:
    """Which tenants have ingestion data (cross-tenant on purpose: ids only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def remember(self, tenant_id: str, now: datetime) -> None:
        statement = _insert(self.session, TenantDirectory.__table__)  # type: ignore[arg-type]
        await self.session.execute(
            statement.values(tenant_id=tenant_id, first_seen_at=now).on_conflict_do_nothing(
                index_elements=["tenant_id"]
            )
        )

    async def all(self) -> list[str]:
        return list((await self.session.scalars(sa.select(TenantDirectory.tenant_id))).all())
