"""Saving billing settings: the domain validates them, they are stored and announced, and
every card is recomputed under them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.reconciliation.conftest import USER, Tenant
from trueup.contracts import recon as r
from trueup.contracts import wrap
from trueup.platform.broker import QueryFailedError
from trueup.reconciliation import tenant_settings
from trueup.reconciliation.repository import Repository

D = Decimal


async def save(tenant: Tenant, settings: r.BillingSettings) -> r.BillingSettings:
    envelope = wrap(r.SaveSettings(settings=settings, actor=USER), tenant_id=tenant.tenant_id)
    return await tenant.run(lambda s: tenant_settings.save_settings(s, tenant.tenant_id, envelope))


async def stored(tenant: Tenant) -> r.BillingSettings:
    return await tenant.run(lambda s: Repository(s, tenant.tenant_id).billing_settings())


class TestSaveSettings:
    async def test_a_tenant_without_settings_has_the_defaults(self, tenant: Tenant) -> None:
        settings = await stored(tenant)
        assert (settings.cycle_start_day, settings.proration_convention, settings.rules) == (
            1,
            "actual_days",
            [],
        )

    async def test_saved_settings_are_stored_and_announced(self, tenant: Tenant) -> None:
        wanted = r.BillingSettings(cycle_start_day=5, proration_convention="thirty_day")

        assert await save(tenant, wanted) == wanted

        assert await stored(tenant) == wanted
        changed = [p for s, p in await tenant.staged() if s == "tenant.*.settings.changed.v1"]
        assert [p["summary"] for p in changed] == [
            "cycle starts day 5, thirty-day proration, 0 rule(s)"
        ]

    async def test_a_rule_without_a_size_limit_is_refused(self, tenant: Tenant) -> None:
        with pytest.raises(QueryFailedError) as raised:
            await save(tenant, r.BillingSettings(rules=[r.AutoRuleView(name="anything")]))

        assert (raised.value.status, raised.value.title) == (422, "Invalid settings")
        assert await stored(tenant) == r.BillingSettings()
        assert await tenant.staged() == []

    async def test_a_new_rule_approves_the_cards_it_covers(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10, "P2": 10}, {"P1": 14, "P2": 40})
        rule = r.AutoRuleView(name="small", max_units=D(5))

        await save(tenant, r.BillingSettings(rules=[rule]))

        cards = await tenant.cards()
        # +4 is within 5 units; +30 is not.
        assert cards["Managed Endpoint"].state == "approved"
        assert cards["Cloud Backup 1TB"].state == "pending"
        recorded = [p for s, p in await tenant.staged() if s == "recon.*.action.recorded.v1"]
        assert [(p["actor"]["kind"], p["actor"]["id"]) for p in recorded] == [("rule", "small")]
