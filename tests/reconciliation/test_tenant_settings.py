"""Saving billing settings: the domain validates them, they are stored and announced, and
every card is recomputed under them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tests.reconciliation.conftest import USER, Tenant
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.contracts import wrap
from trueup.platform.broker import QueryFailedError
from trueup.reconciliation import inputs, mapping, tenant_settings
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


async def look_alikes(tenant: Tenant) -> dict[str, r.AccountMappingView]:
    """PSA accounts, and vendor accounts named like them: one a typo of a client, one
    another business with a client's first word. The mappings by vendor account."""
    snapshot = m.PsaSnapshot(
        connection_id="conn",
        sync_id="s1",
        batch_no=0,
        full=False,
        accounts=[
            m.PsaAccount(psa_id="A1", name="Ironwood Dental Co."),
            m.PsaAccount(psa_id="A2", name="Bayside Dental Group"),
        ],
    )
    await tenant.run(lambda s: inputs.apply_snapshot(s, wrap(snapshot, tenant_id=tenant.tenant_id)))
    usage = m.UsageReported(
        vendor="pax8",
        source=m.UsageSource.WEBHOOK,
        batch_id="b1",
        records=[
            m.UsageRecord(
                vendor_account_id=key,
                vendor_account_name=name,
                sku="sku-1",
                quantity=D(3),
                as_of=datetime.now(UTC),
            )
            for key, name in (("v-legal", "Ironwood Legal"), ("v-bayside", "Bayside Dentl Grp"))
        ],
    )
    await tenant.run(lambda s: inputs.apply_usage(s, wrap(usage, tenant_id=tenant.tenant_id)))
    return await mappings(tenant)


async def mappings(tenant: Tenant) -> dict[str, r.AccountMappingView]:
    listed = await tenant.run(
        lambda s: mapping.list_account_mappings(s, tenant.tenant_id, r.ListAccountMappings())
    )
    return {item.vendor_account_id: item for item in listed.items}


class TestMappingThresholds:
    """What a person is offered and what maps itself are two settings: lowering the first
    never maps a look-alike with nobody looking."""

    async def test_lowering_the_preselect_threshold_maps_no_look_alike(
        self, tenant: Tenant
    ) -> None:
        before = await look_alikes(tenant)
        assert before["v-legal"].suggestions[0].score == D(79)
        assert not before["v-legal"].suggestions[0].preselect

        await save(tenant, r.BillingSettings(suggestion_threshold=D(79)))

        after = await mappings(tenant)
        # Mapped by nobody; offered to a person, pre-selected as the tenant asked.
        assert (after["v-legal"].status, after["v-bayside"].status) == ("unmapped", "unmapped")
        legal = after["v-legal"].suggestions[0]
        assert (legal.account_name, legal.preselect) == ("Ironwood Dental Co.", True)
        changed = [p for s, p in await tenant.staged() if s == "recon.*.mapping.changed.v1"]
        assert changed == []

    async def test_the_auto_apply_threshold_maps_strong_suggestions_only(
        self, tenant: Tenant
    ) -> None:
        await look_alikes(tenant)

        await save(tenant, r.BillingSettings(auto_apply_threshold=D(90)))

        after = await mappings(tenant)
        bayside = after["v-bayside"]
        assert (bayside.status, bayside.account_id, bayside.automatic) == ("mapped", "A2", True)
        assert after["v-legal"].status == "unmapped"

    @pytest.mark.parametrize(
        "settings",
        [
            {"auto_apply_threshold": "79"},
            {"auto_apply_threshold": "89.9"},
            {"suggestion_threshold": "49"},
            {"auto_map_threshold": "95"},  # the one setting before v2 (renamed: see 0006)
        ],
    )
    def test_thresholds_out_of_bounds_are_refused(self, settings: dict[str, str]) -> None:
        with pytest.raises(ValidationError):
            r.BillingSettings.model_validate(settings)
