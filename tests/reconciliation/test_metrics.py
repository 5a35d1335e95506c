"""The dashboard figures: the billing tier of the active accounts, pending work, and the
unmapped queue."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.reconciliation.conftest import Tenant
from trueup.contracts import recon as r
from trueup.contracts import wrap
from trueup.reconciliation import metrics

D = Decimal


class TestBillingTier:
    @pytest.mark.parametrize(
        ("active", "tier"),
        [
            (0, "Starter (up to 25)"),
            (25, "Starter (up to 25)"),
            (26, "Growth (up to 100)"),
            (100, "Growth (up to 100)"),
            (500, "Scale (up to 500)"),
            (501, "Enterprise (500+)"),
        ],
    )
    def test_the_tier_of_an_active_accounts_count(self, active: int, tier: str) -> None:
        assert metrics.billing_tier(active) == tier


class TestTenantMetrics:
    async def test_the_figures_of_one_account_with_one_change(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10, "P2": 10}, {"P1": 14, "P2": 10})
        query = wrap(r.GetMetrics(), tenant_id=tenant.tenant_id)

        figures = await tenant.run(lambda s: metrics.tenant_metrics(s, query))

        assert (figures.active_accounts, figures.billing_tier) == (1, "Starter (up to 25)")
        assert (figures.cards_pending, figures.unmapped) == (1, 0)
        assert [(t.currency, t.mrr_change) for t in figures.by_currency] == [("USD", D("50.00"))]
