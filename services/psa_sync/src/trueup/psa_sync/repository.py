"""Every query of psa_sync; each tenant-owned query takes the tenant explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.platform.database import upsert_insert
from trueup.psa_sync.models import (
    Connection,
    ContractRefresh,
    PsaAccountRow,
    PsaContractRow,
    PsaLineItemRow,
    SyncSchedule,
)


class ConnectionRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def get(self, connection_id: str) -> Connection | None:
        return await self.session.scalar(
            sa.select(Connection).where(
                Connection.tenant_id == self.tenant_id,
                Connection.connection_id == connection_id,
            )
        )

    async def all(self) -> Sequence[Connection]:
        result = await self.session.scalars(
            sa.select(Connection)
            .where(Connection.tenant_id == self.tenant_id)
            .order_by(Connection.created_at)
        )
        return result.all()

    async def add(self, connection: Connection) -> None:
        assert connection.tenant_id == self.tenant_id
        self.session.add(connection)
        await self.session.flush()

    async def schedule(self, connection_id: str, at: datetime, *, full: bool) -> None:
        row = await self.session.get(SyncSchedule, (self.tenant_id, connection_id))
        if row is None:
            self.session.add(
                SyncSchedule(
                    tenant_id=self.tenant_id,
                    connection_id=connection_id,
                    next_run_at=at,
                    full_requested=full,
                )
            )
        else:
            row.next_run_at = min(row.next_run_at, at)
            row.full_requested = row.full_requested or full
        await self.session.flush()

    async def request_refresh(self, contract_psa_id: str, at: datetime) -> bool:
        """Ask for the contract to be read again from the PSA of the connection that holds
        it, at `at` at the latest; False when no connection holds it."""
        connection_id = await self.session.scalar(
            sa.select(PsaContractRow.connection_id).where(
                PsaContractRow.tenant_id == self.tenant_id,
                PsaContractRow.psa_id == contract_psa_id,
            )
        )
        if connection_id is None:
            return False
        schedule = await self.session.get(SyncSchedule, (self.tenant_id, connection_id))
        if schedule is None:
            return False
        # Asked for already, perhaps by another replica at the same moment: once is enough.
        dialect = self.session.get_bind().dialect.name
        await self.session.execute(
            upsert_insert(dialect)(ContractRefresh)
            .values(
                tenant_id=self.tenant_id,
                connection_id=connection_id,
                contract_psa_id=contract_psa_id,
            )
            .on_conflict_do_nothing()
        )
        schedule.refresh_at = at if schedule.refresh_at is None else min(schedule.refresh_at, at)
        await self.session.flush()
        return True

    async def take_refreshes(self, connection_id: str) -> list[str]:
        """The contracts asked to be read again, no longer asked once this commits."""
        where = [
            ContractRefresh.tenant_id == self.tenant_id,
            ContractRefresh.connection_id == connection_id,
        ]
        ids = list(
            await self.session.scalars(sa.select(ContractRefresh.contract_psa_id).where(*where))
        )
        if ids:
            await self.session.execute(
                sa.delete(ContractRefresh).where(*where, ContractRefresh.contract_psa_id.in_(ids))
            )
        return sorted(ids)


class ScheduleRepository:
    """The one cross-tenant read: which connections are due (ids and times only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def due(self, now: datetime, limit: int = 20) -> Sequence[SyncSchedule]:
        """Connections due a sync or a refresh of some contracts."""
        result = await self.session.scalars(
            sa.select(SyncSchedule)
            .where(sa.or_(SyncSchedule.next_run_at <= now, SyncSchedule.refresh_at <= now))
            .order_by(SyncSchedule.next_run_at)
            .limit(limit)
        )
        return result.all()

    async def claim_refresh(self, row: SyncSchedule) -> bool:
        """Clear the row's refresh time; False if another worker claimed it first. A
        refresh asked for after this commits sets it again."""
        result = await self.session.execute(
            sa.update(SyncSchedule)
            .where(
                SyncSchedule.tenant_id == row.tenant_id,
                SyncSchedule.connection_id == row.connection_id,
                SyncSchedule.refresh_at == row.refresh_at,
            )
            .values(refresh_at=None)
        )
        return bool(getattr(result, "rowcount", 0))

    async def claim(self, row: SyncSchedule, next_run_at: datetime) -> bool:
        """Push the row's next run forward; False if another worker claimed it first."""
        result = await self.session.execute(
            sa.update(SyncSchedule)
            .where(
                SyncSchedule.tenant_id == row.tenant_id,
                SyncSchedule.connection_id == row.connection_id,
                SyncSchedule.next_run_at == row.next_run_at,
            )
            .values(next_run_at=next_run_at, full_requested=False)
        )
        return bool(getattr(result, "rowcount", 0))


ProjectedRow = TypeVar("ProjectedRow", PsaAccountRow, PsaContractRow, PsaLineItemRow)


class ProjectionRepository:
    """The PSA as last read, per connection."""

    def __init__(self, session: AsyncSession, tenant_id: str, connection_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.connection_id = connection_id

    def _scope(
        self, model: type[PsaAccountRow | PsaContractRow | PsaLineItemRow]
    ) -> list[sa.ColumnElement[bool]]:
        return [model.tenant_id == self.tenant_id, model.connection_id == self.connection_id]

    async def put(self, rows: Sequence[ProjectedRow]) -> set[str]:
        """Store these rows (all of one kind) as the PSA now holds them; return the PSA ids
        of those new or different from what was stored, the sync that saw them aside.

        One query per 500 finds the stored rows, instead of a lookup per row (a full sync
        of a large MSP reads tens of thousands). What is stored is what was sent on: each
        batch's rows and its snapshot message commit together."""
        if not rows:
            return set()
        model = type(rows[0])
        assert all(type(row) is model and row.tenant_id == self.tenant_id for row in rows)
        columns = [
            c.key
            for c in model.__table__.columns
            if c.key not in ("tenant_id", "connection_id", "psa_id", "seen_sync_id")
        ]
        stored: dict[str, ProjectedRow] = {}
        ids = sorted({row.psa_id for row in rows})
        for start in range(0, len(ids), 500):
            query = sa.select(model).where(
                *self._scope(model), model.psa_id.in_(ids[start : start + 500])
            )
            stored.update((row.psa_id, row) for row in (await self.session.scalars(query)).all())
        changed: set[str] = set()
        for row in rows:
            old = stored.get(row.psa_id)
            if old is None:
                self.session.add(row)
                stored[row.psa_id] = row
                changed.add(row.psa_id)
                continue
            old.seen_sync_id = row.seen_sync_id
            for column in columns:
                value = getattr(row, column)
                if getattr(old, column) != value:
                    setattr(old, column, value)
                    changed.add(row.psa_id)
        return changed

    async def contracts(self, psa_ids: Sequence[str] | None = None) -> dict[str, PsaContractRow]:
        query = sa.select(PsaContractRow).where(*self._scope(PsaContractRow))
        if psa_ids is not None:
            query = query.where(PsaContractRow.psa_id.in_(psa_ids))
        return {row.psa_id: row for row in (await self.session.scalars(query)).all()}

    async def accounts(self, psa_ids: set[str]) -> Sequence[PsaAccountRow]:
        if not psa_ids:
            return []
        result = await self.session.scalars(
            sa.select(PsaAccountRow).where(
                *self._scope(PsaAccountRow), PsaAccountRow.psa_id.in_(sorted(psa_ids))
            )
        )
        return result.all()

    async def line_item_ids_of(self, contract_ids: Sequence[str]) -> set[str]:
        if not contract_ids:
            return set()
        result = await self.session.scalars(
            sa.select(PsaLineItemRow.psa_id).where(
                *self._scope(PsaLineItemRow), PsaLineItemRow.contract_psa_id.in_(contract_ids)
            )
        )
        return set(result.all())

    async def unseen_ids(
        self, model: type[PsaContractRow | PsaLineItemRow], sync_id: str
    ) -> list[str]:
        result = await self.session.scalars(
            sa.select(model.psa_id).where(*self._scope(model), model.seen_sync_id != sync_id)
        )
        return list(result.all())

    async def delete(
        self, model: type[PsaAccountRow | PsaContractRow | PsaLineItemRow], ids: Sequence[str]
    ) -> None:
        if ids:
            await self.session.execute(
                sa.delete(model).where(*self._scope(model), model.psa_id.in_(ids))
            )

    async def counts(self) -> tuple[int, int, int, int]:
        """(accounts, active contracts, line items, active accounts)."""

        async def count(query: sa.Select[int]) -> int:
            return int(await self.session.scalar(query) or 0)

        accounts = await count(
            sa.select(sa.func.count()).select_from(PsaAccountRow).where(*self._scope(PsaAccountRow))
        )
        contracts = await count(
            sa.select(sa.func.count())
            .select_from(PsaContractRow)
            .where(*self._scope(PsaContractRow), PsaContractRow.active.is_(True))
        )
        line_items = await count(
            sa.select(sa.func.count())
            .select_from(PsaLineItemRow)
            .where(*self._scope(PsaLineItemRow))
        )
        active_accounts = await count(
            sa.select(sa.func.count(sa.distinct(PsaContractRow.account_psa_id))).where(
                *self._scope(PsaContractRow), PsaContractRow.active.is_(True)
            )
        )
        return accounts, contracts, line_items, active_accounts
