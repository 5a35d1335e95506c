"""Every query of audit. Each tenant-owned query takes the tenant explicitly; row-level
security on PostgreSQL is the backstop, not the filter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from trueup.audit.models import Entry, KnownTenant, TenantSettingsRow
from trueup.platform.database import upsert_insert


async def _insert_new(session: AsyncSession, model: type[Any], values: dict[str, Any]) -> bool:
    """INSERT unless the primary key exists; True if a row was added.

    ON CONFLICT DO NOTHING rather than check-then-insert: two deliveries of one event
    racing on two replicas must not both pass a check.
    """
    result = await session.execute(_insert_unless_present(session, model).values(**values))
    return bool(getattr(result, "rowcount", 0))


async def _insert_new_rows(
    session: AsyncSession, model: type[Any], rows: Sequence[dict[str, Any]]
) -> int:
    """`_insert_new` of several rows in one statement; how many were added."""
    keys = [column for column in sa.inspect(model).primary_key]
    # Rows as executemany parameters, not in `.values()`: the statement is compiled once
    # and cached, where a 200-row VALUES list took longer to compile than to run.
    # SQLAlchemy still sends the rows as multi-row INSERTs ("insertmanyvalues").
    result = await session.execute(
        _insert_unless_present(session, model).returning(*keys), list(rows)
    )
    return len(result.all())


def _insert_unless_present(
    session: AsyncSession, model: type[Any]
) -> postgresql.Insert | sqlite.Insert:
    insert = upsert_insert(session.get_bind().dialect.name)
    keys = [column.name for column in sa.inspect(model).primary_key]
    return insert(model).on_conflict_do_nothing(index_elements=keys)


@dataclass(frozen=True, slots=True)
class EntryFilters:
    """Filters of the activity log; `since <= occurred_at < until`."""

    since: datetime | None = None
    until: datetime | None = None
    actor_id: str | None = None
    account: str | None = None
    service_line: str | None = None
    contract_psa_id: str | None = None
    card_id: str | None = None
    action_type: str | None = None
    outcome: str | None = None


def _account_matches(account: str) -> sa.ColumnElement[bool]:
    """The account's exact id, or any part of its name in any case ("acme" finds
    "Acme, Inc.").

    Both sides go through the database's own lower(), so SQLite (which folds ASCII only)
    still matches a non-ASCII name typed in its own case; "%" and "_" typed by a person
    are escaped to mean themselves.
    """
    escaped = account.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = sa.literal("%") + sa.func.lower(sa.literal(escaped, sa.String)) + sa.literal("%")
    return sa.or_(
        Entry.account_id == account,
        sa.func.lower(Entry.account_name).like(pattern, escape="\\"),
    )


class EntryRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def add(self, values: dict[str, Any]) -> bool:
        """Append one entry; False if an entry with its id already exists."""
        assert values["tenant_id"] == self.tenant_id
        return await _insert_new(self.session, Entry, values)

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Append entries in one statement, skipping ids that exist; how many were added.

        Every row must name the same columns."""
        assert all(row["tenant_id"] == self.tenant_id for row in rows)
        return await _insert_new_rows(self.session, Entry, rows) if rows else 0

    async def latest_for_actions(self, action_ids: Iterable[str]) -> dict[str, Entry]:
        """`latest_for_action` of several actions in one query, by action id."""
        result = await self.session.scalars(
            sa.select(Entry)
            .where(
                Entry.tenant_id == self.tenant_id,
                Entry.action_id.in_(list(action_ids)),
                Entry.event_type == "recon.action.recorded.v1",
            )
            .order_by(Entry.occurred_at.desc())
        )
        latest: dict[str, Entry] = {}
        for entry in result:
            if entry.action_id is not None:
                latest.setdefault(entry.action_id, entry)
        return latest

    async def latest_for_action(self, action_id: str) -> Entry | None:
        """The entry that recorded a card action (approve, add), if it arrived already."""
        result = await self.session.scalars(
            sa.select(Entry)
            .where(
                Entry.tenant_id == self.tenant_id,
                Entry.action_id == action_id,
                Entry.event_type == "recon.action.recorded.v1",
            )
            .order_by(Entry.occurred_at.desc())
            .limit(1)
        )
        return result.first()

    async def page(
        self,
        filters: EntryFilters,
        *,
        not_before: datetime,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Sequence[Entry]:
        """Newest first; `after` is the (occurred_at, entry_id) of the previous page's last
        entry. Entries older than `not_before` are past retention and never returned."""
        query = sa.select(Entry).where(
            Entry.tenant_id == self.tenant_id, Entry.occurred_at >= not_before
        )
        if filters.since is not None:
            query = query.where(Entry.occurred_at >= filters.since)
        if filters.until is not None:
            query = query.where(Entry.occurred_at < filters.until)
        if filters.account:
            query = query.where(_account_matches(filters.account))
        exact: list[tuple[InstrumentedAttribute[Any], str | None]] = [
            (Entry.actor_id, filters.actor_id),
            (Entry.service_line, filters.service_line),
            (Entry.contract_psa_id, filters.contract_psa_id),
            (Entry.card_id, filters.card_id),
            (Entry.action_type, filters.action_type),
            (Entry.outcome, filters.outcome),
        ]
        for column, value in exact:
            if value is not None:
                query = query.where(column == value)
        if after is not None:
            at, entry_id = after
            query = query.where(
                sa.or_(
                    Entry.occurred_at < at,
                    sa.and_(Entry.occurred_at == at, Entry.entry_id < entry_id),
                )
            )
        query = query.order_by(Entry.occurred_at.desc(), Entry.entry_id.desc()).limit(limit)
        return (await self.session.scalars(query)).all()

    async def expired_ids(self, cutoff: datetime, limit: int) -> Sequence[str]:
        """Ids of up to `limit` entries that occurred strictly before `cutoff`."""
        result = await self.session.scalars(
            sa.select(Entry.entry_id)
            .where(Entry.tenant_id == self.tenant_id, Entry.occurred_at < cutoff)
            .order_by(Entry.occurred_at)
            .limit(limit)
        )
        return result.all()

    async def delete(self, entry_ids: Sequence[str]) -> int:
        """Delete these entries (the retention purge is the only caller)."""
        if not entry_ids:
            return 0
        result = await self.session.execute(
            sa.delete(Entry).where(Entry.tenant_id == self.tenant_id, Entry.entry_id.in_(entry_ids))
        )
        return int(getattr(result, "rowcount", 0) or 0)


class TenantSettingsRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def retention_days(self) -> int | None:
        """The tenant's chosen retention, or None for the default."""
        result: int | None = await self.session.scalar(
            sa.select(TenantSettingsRow.retention_days).where(
                TenantSettingsRow.tenant_id == self.tenant_id
            )
        )
        return result

    async def set_retention_days(self, days: int, *, actor_id: str, now: datetime) -> None:
        row = await self.session.scalar(
            sa.select(TenantSettingsRow).where(TenantSettingsRow.tenant_id == self.tenant_id)
        )
        if row is None:
            self.session.add(
                TenantSettingsRow(
                    tenant_id=self.tenant_id,
                    retention_days=days,
                    updated_at=now,
                    updated_by=actor_id,
                )
            )
        else:
            row.retention_days = days
            row.updated_at = now
            row.updated_by = actor_id
        await self.session.flush()


class TenantDirectory:
    """The tenants with activity; read across tenants only by the purge job."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def register(self, tenant_id: str, now: datetime) -> None:
        await _insert_new(self.session, KnownTenant, {"tenant_id": tenant_id, "first_seen_at": now})

    async def register_many(self, tenant_ids: Iterable[str], now: datetime) -> None:
        rows = [{"tenant_id": tenant_id, "first_seen_at": now} for tenant_id in set(tenant_ids)]
        if rows:
            await _insert_new_rows(self.session, KnownTenant, rows)

    async def all(self) -> Sequence[str]:
        result = await self.session.scalars(
            sa.select(KnownTenant.tenant_id).order_by(KnownTenant.tenant_id)
        )
        return result.all()
