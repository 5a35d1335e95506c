"""Reconciliation use cases. Handlers call these inside one transaction; they never commit."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, caused_by
from trueup.contracts.messages import (
    CardPage,
    CardsChanged,
    CardView,
    ListCards,
    UsageReported,
    subject_for,
)
from trueup.platform.messaging import enqueue
from trueup.reconciliation.models import Card, Usage
from trueup.reconciliation.repository import CardRepository, UsageRepository


async def apply_usage(session: AsyncSession, envelope: Envelope[UsageReported]) -> list[str]:
    """Store a usage batch and recompute the cards it touches; returns their ids."""
    tenant_id = envelope.tenant_id
    batch = envelope.payload
    usage = UsageRepository(session, tenant_id)
    await usage.replace_accounts(batch.vendor, batch.replaces_accounts)
    for record in batch.records:
        await usage.upsert(
            Usage(
                tenant_id=tenant_id,
                vendor=batch.vendor,
                vendor_account_id=record.vendor_account_id,
                sku=record.sku,
                vendor_account_name=record.vendor_account_name,
                sku_name=record.sku_name,
                quantity=record.quantity,
                as_of=record.as_of,
                source=batch.source.value,
                batch_id=batch.batch_id,
            )
        )
    cards = CardRepository(session, tenant_id)
    now = datetime.now(UTC)
    changed: list[str] = []
    for record in batch.records:
        card_id = f"usage:{batch.vendor}:{record.vendor_account_id}:{record.sku}"
        await cards.upsert(
            Card(
                tenant_id=tenant_id,
                card_id=card_id,
                kind="new_revenue",
                state="pending",
                account_name=record.vendor_account_name or record.vendor_account_id,
                service_line=record.sku_name or record.sku,
                contract_name="",
                vendor=batch.vendor,
                psa_quantity=None,
                vendor_quantity=record.quantity,
                delta=record.quantity,
                stale=False,
                updated_at=now,
            )
        )
        changed.append(card_id)
    if changed:
        announcement = caused_by(envelope, CardsChanged(card_ids=changed, reason="usage"))
        await enqueue(session, subject_for(CardsChanged, tenant_id), announcement)
    return changed


async def list_cards(session: AsyncSession, query: Envelope[ListCards]) -> CardPage:
    """One page of the tenant's cards."""
    filters = query.payload
    rows = await CardRepository(session, query.tenant_id).page(
        kind=filters.kind,
        state=filters.state,
        vendor=filters.vendor,
        limit=filters.limit + 1,
        after=filters.cursor,
    )
    items = [
        CardView(
            card_id=row.card_id,
            kind=row.kind,
            state=row.state,
            account_name=row.account_name,
            service_line=row.service_line,
            contract_name=row.contract_name,
            vendor=row.vendor,
            psa_quantity=row.psa_quantity,
            vendor_quantity=row.vendor_quantity,
            delta=row.delta,
            stale=row.stale,
            updated_at=row.updated_at,
        )
        for row in rows[: filters.limit]
    ]
    next_cursor = items[-1].card_id if len(rows) > filters.limit else None
    return CardPage(items=items, next_cursor=next_cursor)
