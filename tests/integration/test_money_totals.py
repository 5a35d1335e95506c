"""Money through reconciliation: per-period and monthly figures, totals per currency.

A quarterly and an annual USD contract and a monthly CAD one become cards; the list's
totals and the tenant metrics are asked over real NATS from the service running on its
own migrated database (SQLite, and PostgreSQL where configured).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tests.conftest import Databases
from tests.support import running_service, settings_for
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.contracts import wrap
from trueup.platform.broker import ask
from trueup.reconciliation import inputs
from trueup.reconciliation.main import build
from trueup.reconciliation.settings import Settings

TENANT = "t-money"
D = Decimal


def _snapshot() -> m.PsaSnapshot:
    def contract(psa_id: str, account: str, cycle: Any, currency: str) -> m.PsaContract:
        return m.PsaContract(
            psa_id=psa_id,
            account_psa_id=account,
            name=f"{cycle.title()} {currency}",
            status="active",
            start_date=date(2025, 1, 1),
            billing_cycle=cycle,
            currency=currency,
        )

    def line(psa_id: str, contract_id: str, product: str, name: str, *figures: str) -> Any:
        quantity, price, cost = figures
        return m.PsaLineItem(
            psa_id=psa_id,
            contract_psa_id=contract_id,
            product_id=product,
            product_name=name,
            quantity=D(quantity),
            unit_price=D(price),
            unit_cost=D(cost),
        )

    return m.PsaSnapshot(
        connection_id="cw",
        psa="connectwise",
        sync_id="s1",
        batch_no=0,
        full=False,
        accounts=[
            m.PsaAccount(psa_id="A-US", name="Acme Dental"),
            m.PsaAccount(psa_id="A-CA", name="Maple Clinic"),
        ],
        contracts=[
            contract("C-Q", "A-US", "quarterly", "USD"),
            contract("C-Y", "A-US", "annual", "USD"),
            contract("C-M", "A-CA", "monthly", "CAD"),
        ],
        line_items=[
            # Prices are per billing period of their contract.
            line("L-Q", "C-Q", "P-M365", "Microsoft 365 Business Premium", "10", "295.68", "200"),
            line("L-Y", "C-Y", "P-EDR", "SentinelOne Complete", "5", "1200.00", "1000"),
            line("L-M", "C-M", "P-M365", "Microsoft 365 Business Premium", "10", "21.00", "15"),
        ],
    )


def _usage() -> m.UsageReported:
    def record(account: str, name: str, sku: str, sku_name: str, quantity: int) -> Any:
        return m.UsageRecord(
            vendor_account_id=account,
            vendor_account_name=name,
            sku=sku,
            sku_name=sku_name,
            quantity=D(quantity),
            as_of=datetime.now(UTC),
        )

    return m.UsageReported(
        vendor="pax8",
        source=m.UsageSource.CONNECTOR,
        batch_id="b1",
        records=[
            record("acme", "Acme Dental", "M365BP", "Microsoft 365 Business Premium", 20),
            record("acme", "Acme Dental", "S1", "SentinelOne Complete", 8),
            record("maple", "Maple Clinic", "M365BP", "Microsoft 365 Business Premium", 55),
        ],
    )


def _by_currency(rows: list[r.CurrencyTotals]) -> dict[str, tuple[int, D, D, D]]:
    return {
        row.currency: (row.cards, row.mrr_change, row.mrr_cost_change, row.mrr_profit_change)
        for row in rows
    }


class TestMoneyThroughReconciliation:
    async def test_cards_name_their_period_and_totals_never_add_currencies(
        self, databases: Databases, nats_url: str
    ) -> None:
        settings = await settings_for(Settings, databases, nats_url)
        async with running_service(build, settings) as (runtime, _app):
            async with runtime.database.transaction(TENANT) as session:
                await inputs.apply_snapshot(session, wrap(_snapshot(), tenant_id=TENANT))
            async with runtime.database.transaction(TENANT) as session:
                await inputs.apply_usage(session, wrap(_usage(), tenant_id=TENANT))

            async def query(payload: Any, reply: type[Any]) -> Any:
                answer = await ask(
                    runtime.broker,
                    m.subject_for(type(payload), TENANT),
                    wrap(payload, tenant_id=TENANT),
                    reply,
                    timeout=10,
                )
                assert answer.error is None, answer.error
                return answer.result

            page: r.CardList = await query(r.ListCardsQuery(limit=100), r.CardList)
            cards = {item.line_item_id: item for item in page.items}

            quarterly = cards["L-Q"]
            # The example: +$2,956.80 a quarter is +$985.60 a month, and says so.
            assert (quarterly.billing_cycle, quarterly.period_months) == ("quarterly", 3)
            assert quarterly.period_change == D("2956.80")
            assert quarterly.mrr_change == D("985.60")
            assert quarterly.period_profit_change == D("956.80")
            assert quarterly.mrr_cost_change == D("666.67")
            assert quarterly.mrr_profit_change == D("318.93")
            assert quarterly.sales_unit == "each"

            annual = cards["L-Y"]
            assert (annual.billing_cycle, annual.period_months) == ("annual", 12)
            assert (annual.period_change, annual.mrr_change) == (D("3600.00"), D("300.00"))
            assert annual.mrr_profit_change == D("50.00")

            monthly = cards["L-M"]
            assert (monthly.currency, monthly.period_months) == ("CAD", 1)
            assert monthly.period_change == monthly.mrr_change == D("945.00")

            expected = {
                "CAD": (1, D("945.00"), D("675.00"), D("270.00")),
                "USD": (2, D("1285.60"), D("916.67"), D("368.93")),
            }
            assert page.totals.cards == 3
            assert [row.currency for row in page.totals.by_currency] == ["CAD", "USD"]
            assert _by_currency(page.totals.by_currency) == expected

            # A filter narrows the totals to its cards, still per currency.
            usd_only: r.CardList = await query(
                r.ListCardsQuery(filter=r.CardFilter(account_id="A-US")), r.CardList
            )
            assert _by_currency(usd_only.totals.by_currency) == {"USD": expected["USD"]}

            metrics: r.TenantMetrics = await query(r.GetMetrics(), r.TenantMetrics)
            assert metrics.cards_pending == 3
            assert _by_currency(metrics.by_currency) == expected
