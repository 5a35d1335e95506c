"""The mapping queries: scored suggestions for vendor accounts and SKUs, and which of them
the UI may pre-select (only the best, only at or above the tenant's threshold).

Run against reconciliation's own migrated database (SQLite, and PostgreSQL where
configured) by calling its use cases inside the transactions its handlers open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tests.conftest import Databases
from tests.support import running_service, settings_for
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.contracts import wrap
from trueup.reconciliation import inputs, mapping, tenant_settings
from trueup.reconciliation.main import build
from trueup.reconciliation.settings import Settings

TENANT = "t-mapping"
ACTOR = m.Actor(kind="user", id="u1", name="Tester")
ACCOUNTS = {"A1": "Ironwood Dental Co.", "A2": "Acme, Inc."}
PRODUCTS = {
    "P1": "Microsoft 365 Business Premium",
    "P2": "Microsoft 365 Business Standard",
    "P3": "Managed Workstation",
}


def _snapshot() -> m.PsaSnapshot:
    return m.PsaSnapshot(
        connection_id="cw",
        psa="connectwise",
        sync_id="s1",
        batch_no=0,
        full=False,
        accounts=[m.PsaAccount(psa_id=k, name=v) for k, v in ACCOUNTS.items()],
        contracts=[
            m.PsaContract(
                psa_id=f"C-{k}",
                account_psa_id=k,
                name="MSA",
                status="active",
                start_date=date(2025, 1, 1),
            )
            for k in ACCOUNTS
        ],
        line_items=[
            m.PsaLineItem(
                psa_id=f"L-{account}-{product}",
                contract_psa_id=f"C-{account}",
                product_id=product,
                product_name=name,
                quantity=Decimal(5),
                unit_price=Decimal(20),
                unit_cost=Decimal(15),
            )
            for account in ACCOUNTS
            for product, name in PRODUCTS.items()
        ],
    )


def _usage() -> m.UsageReported:
    now = datetime.now(UTC)

    def record(account: str, name: str, sku: str, sku_name: str = "") -> m.UsageRecord:
        return m.UsageRecord(
            vendor_account_id=account,
            vendor_account_name=name,
            sku=sku,
            sku_name=sku_name,
            quantity=Decimal(3),
            as_of=now,
        )

    return m.UsageReported(
        vendor="pax8",
        source=m.UsageSource.CSV,
        batch_id="b1",
        records=[
            # Another business with the same first word as a client.
            record("v-legal", "Ironwood Legal", "MST-365-BP"),
            # The client under the vendor's spelling: same name once normalised.
            record("v-acme", "ACME Incorporated", "WINDOWS_WORKSTATION", "Windows workstation"),
            # Named exactly like a service line: maps itself, as it always has.
            record(
                "v-acme", "ACME Incorporated", "MST-365-BS-M", "Microsoft 365 Business Standard"
            ),
        ],
    )


@asynccontextmanager
async def _tenant(databases: Databases, nats_url: str) -> AsyncIterator[Any]:
    settings = await settings_for(Settings, databases, nats_url)
    async with running_service(build, settings) as (runtime, _app):
        database = runtime.database
        async with database.transaction(TENANT) as session:
            await inputs.apply_snapshot(session, wrap(_snapshot(), tenant_id=TENANT))
        async with database.transaction(TENANT) as session:
            await inputs.apply_usage(session, wrap(_usage(), tenant_id=TENANT))
        yield database


async def _accounts(database: Any) -> r.AccountMappingList:
    async with database.transaction(TENANT, readonly=True) as session:
        return await mapping.list_account_mappings(
            session, TENANT, r.ListAccountMappings(status="unmapped")
        )


async def _services(database: Any) -> r.ServiceMappingList:
    async with database.transaction(TENANT, readonly=True) as session:
        return await mapping.list_service_mappings(session, TENANT)


class TestAccountSuggestionsArePreselectedOnlyAboveTheThreshold:
    async def test_a_look_alike_is_suggested_but_not_preselectable(
        self, databases: Databases, nats_url: str
    ) -> None:
        async with _tenant(databases, nats_url) as database:
            answer = await _accounts(database)
            assert answer.threshold == Decimal(95)
            by_key = {i.vendor_account_id: i for i in answer.items}
            legal = by_key["v-legal"].suggestions
            assert legal[0].account_id == "A1"
            assert legal[0].score < Decimal(80)
            assert [s.preselect for s in legal] == [False] * len(legal)
            acme = by_key["v-acme"].suggestions
            assert (acme[0].account_id, acme[0].preselect) == ("A2", True)
            assert acme[0].score >= Decimal(95)

    async def test_the_tenant_threshold_decides(self, databases: Databases, nats_url: str) -> None:
        async with _tenant(databases, nats_url) as database:
            async with database.transaction(TENANT) as session:
                await tenant_settings.save_settings(
                    session,
                    TENANT,
                    wrap(
                        r.SaveSettings(
                            settings=r.BillingSettings(suggestion_threshold=Decimal(100)),
                            actor=ACTOR,
                        ),
                        tenant_id=TENANT,
                    ),
                )
            answer = await _accounts(database)
            assert answer.threshold == Decimal(100)
            acme = next(i for i in answer.items if i.vendor_account_id == "v-acme")
            assert acme.suggestions[0].account_id == "A2"
            assert not acme.suggestions[0].preselect


class TestSkuSuggestions:
    async def test_unmapped_skus_carry_scored_service_lines(
        self, databases: Databases, nats_url: str
    ) -> None:
        async with _tenant(databases, nats_url) as database:
            answer = await _services(database)
            assert answer.threshold == Decimal(95)
            by_sku = {i.sku: i for i in answer.items}
            premium = by_sku["MST-365-BP"]
            assert premium.service_line_id is None
            best = premium.suggestions[0]
            assert (best.service_line_id, best.service_line) == ("P1", PRODUCTS["P1"])
            assert best.score >= Decimal(95)
            assert best.preselect
            assert "MST-365-BP" in best.reason
            assert not any(s.preselect for s in premium.suggestions[1:])
            # Another vendor's device class: shown, never pre-selected.
            workstation = by_sku["WINDOWS_WORKSTATION"].suggestions
            assert workstation[0].service_line_id == "P3"
            assert not workstation[0].preselect

    async def test_a_sku_named_like_a_service_line_still_maps_itself(
        self, databases: Databases, nats_url: str
    ) -> None:
        async with _tenant(databases, nats_url) as database:
            answer = await _services(database)
            standard = next(i for i in answer.items if i.sku == "MST-365-BS-M")
            assert standard.service_line_id == "P2"
            assert standard.suggestions == []
