"""Every query of reconciliation; each takes the tenant explicitly."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.reconciliation.models import Card, Usage


class UsageRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def replace_accounts(self, vendor: str, vendor_account_ids: Sequence[str]) -> None:
        """Forget this vendor's usage for these accounts (a newer file replaces it)."""
        if vendor_account_ids:
            await self.session.execute(
                sa.delete(Usage).where(
                    Usage.tenant_id == self.tenant_id,
                    Usage.vendor == vendor,
                    Usage.vendor_account_id.in_(vendor_account_ids),
                )
            )

    async def upsert(self, usage: Usage) -> None:
        assert usage.tenant_id == self.tenant_id
        await self.session.merge(usage)

    async def all(self) -> Sequence[Usage]:
        result = await self.session.scalars(
            sa.select(Usage).where(Usage.tenant_id == self.tenant_id)
        )
        return result.all()


class CardRepository:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def upsert(self, card: Card) -> None:
        assert card.tenant_id == self.tenant_id
        await self.session.merge(card)

    async def page(
        self,
        *,
        kind: str | None,
        state: str | None,
        vendor: str | None,
        limit: int,
        after: str | None,
    ) -> Sequence[Card]:
        query = sa.select(Card).where(Card.tenant_id == self.tenant_id)
        if kind:
            query = query.where(Card.kind == kind)
        if state:
            query = query.where(Card.state == state)
        if vendor:
            query = query.where(Card.vendor == vendor)
        if after:
            query = query.where(Card.card_id > after)
        result = await self.session.scalars(query.order_by(Card.card_id).limit(limit))
        return result.all()
