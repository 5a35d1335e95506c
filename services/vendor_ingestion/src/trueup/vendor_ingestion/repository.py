"""Every query of vendor_ingestion; each takes the tenant explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.vendor_ingestion.models import RawUsage, UsageBatch


class UsageRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def batch_seen(self, idempotency_key: str) -> bool:
        found = await self.session.scalar(
            sa.select(UsageBatch.batch_id).where(
                UsageBatch.tenant_id == self.tenant_id,
                UsageBatch.idempotency_key == idempotency_key,
            )
        )
        return found is not None

    async def add_batch(self, batch: UsageBatch) -> None:
        assert batch.tenant_id == self.tenant_id
        self.session.add(batch)
        await self.session.flush()

    async def replace_accounts(self, vendor: str, vendor_account_ids: Sequence[str]) -> None:
        if vendor_account_ids:
            await self.session.execute(
                sa.delete(RawUsage).where(
                    RawUsage.tenant_id == self.tenant_id,
                    RawUsage.vendor == vendor,
                    RawUsage.vendor_account_id.in_(vendor_account_ids),
                )
            )

    async def upsert_usage(self, usage: RawUsage) -> None:
        assert usage.tenant_id == self.tenant_id
        await self.session.merge(usage)

    async def current_usage(self, vendor: str | None = None) -> Sequence[RawUsage]:
        query = sa.select(RawUsage).where(RawUsage.tenant_id == self.tenant_id)
        if vendor:
            query = query.where(RawUsage.vendor == vendor)
        result = await self.session.scalars(
            query.order_by(RawUsage.vendor, RawUsage.vendor_account_id, RawUsage.sku)
        )
        return result.all()

    async def purge_batches_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(
            sa.delete(UsageBatch).where(
                UsageBatch.tenant_id == self.tenant_id, UsageBatch.received_at < cutoff
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
