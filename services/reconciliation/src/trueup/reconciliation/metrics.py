"""The tenant's figures for the dashboard: active accounts and the billing tier they put
the tenant in, pending cards and their money, and the unmapped queue."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope
from trueup.contracts import recon as r
from trueup.reconciliation import mapping
from trueup.reconciliation.cards import pending_totals
from trueup.reconciliation.repository import Repository


async def tenant_metrics(session: AsyncSession, query: Envelope[r.GetMetrics]) -> r.TenantMetrics:
    repo = Repository(session, query.tenant_id)
    row = await repo.settings_row()
    active = row.active_accounts if row else 0
    totals = await pending_totals(session, query.tenant_id)
    unmapped = await mapping.unmapped_queue(session, query.tenant_id)
    return r.TenantMetrics(
        active_accounts=active,
        billing_tier=billing_tier(active),
        cards_pending=totals.cards,
        unmapped=unmapped.count,
        by_currency=totals.by_currency,
    )


def billing_tier(active_accounts: int) -> str:
    """The billing tier the active-accounts figure puts the tenant in."""
    for limit, name in (
        (25, "Starter (up to 25)"),
        (100, "Growth (up to 100)"),
        (500, "Scale (up to 500)"),
    ):
        if active_accounts <= limit:
            return name
    return "Enterprise (500+)"
