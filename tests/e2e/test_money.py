"""Money on screen: one figure per currency, monthly where it says monthly, and no quantity
total over things counted differently.

The demo MSP's pending cards change in one currency and whatever service lines its
simulators happen to differ on, so these tests answer the card and metrics requests
with three cards of their own: a quarterly and an annual USD contract and a monthly CAD
one, on two service lines. What the browser shows is then known to the cent.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.support import card_locator, screenshot

pytestmark = pytest.mark.e2e


def _card(card_id: str, account: str, line: tuple[str, str], **money: Any) -> dict[str, Any]:
    line_id, line_name = line
    return {
        "card_id": card_id,
        "kind": "reconcile",
        "state": "pending",
        "hidden": False,
        "is_new": False,
        "account_id": account.lower(),
        "account_name": account,
        "service_line_id": line_id,
        "service_line": line_name,
        "contract_id": f"c-{card_id}",
        "contract_name": f"{money['billing_cycle'].title()} agreement",
        "line_item_id": f"l-{card_id}",
        "vendors": ["pax8"],
        "unit_cost": "0",
        "sales_unit": "each",
        "stale": False,
        "usage_as_of": None,
        "auto_approval": None,
        "error": None,
        "updated_at": "2026-12-01T00:00:00Z",
        **money,
    }


M365 = ("m365", "Microsoft 365 Business Premium")
EDR = ("edr", "SentinelOne Complete")
CARDS = [
    _card(
        "quarterly",
        "Acme Dental",
        M365,
        psa_quantity="10",
        vendor_quantity="20",
        target_quantity="20",
        delta="10",
        unit_price="295.68",
        currency="USD",
        billing_cycle="quarterly",
        period_months=3,
        period_change="2956.80",
        period_cost_change="2000.00",
        period_profit_change="956.80",
        mrr_change="985.60",
        mrr_cost_change="666.67",
        mrr_profit_change="318.93",
    ),
    _card(
        "annual",
        "Acme Dental",
        EDR,
        psa_quantity="5",
        vendor_quantity="8",
        target_quantity="8",
        delta="3",
        unit_price="1200.00",
        currency="USD",
        billing_cycle="annual",
        period_months=12,
        period_change="3600.00",
        period_cost_change="3000.00",
        period_profit_change="600.00",
        mrr_change="300.00",
        mrr_cost_change="250.00",
        mrr_profit_change="50.00",
    ),
    _card(
        "monthly-cad",
        "Maple Clinic",
        M365,
        psa_quantity="10",
        vendor_quantity="55",
        target_quantity="55",
        delta="45",
        unit_price="21.00",
        currency="CAD",
        billing_cycle="monthly",
        period_months=1,
        period_change="945.00",
        period_cost_change="675.00",
        period_profit_change="270.00",
        mrr_change="945.00",
        mrr_cost_change="675.00",
        mrr_profit_change="270.00",
    ),
]
BY_CURRENCY = [
    {
        "currency": "CAD",
        "cards": 1,
        "mrr_change": "945.00",
        "mrr_cost_change": "675.00",
        "mrr_profit_change": "270.00",
    },
    {
        "currency": "USD",
        "cards": 2,
        "mrr_change": "1285.60",
        "mrr_cost_change": "916.67",
        "mrr_profit_change": "368.93",
    },
]

TOTALS = {"cards": 3, "by_currency": BY_CURRENCY}


@pytest.fixture
def three_cards(signed_in: Any) -> Any:
    """The signed-in page, seeing only the three cards above and their metrics."""
    page = signed_in

    def fulfil(body: dict[str, Any]) -> Any:
        return lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(body)
        )

    page.route(
        lambda url: urlparse(url).path == "/api/v1/cards",
        fulfil({"items": CARDS, "next_cursor": None, "totals": TOTALS}),
    )
    page.route(
        "**/api/v1/metrics",
        fulfil(
            {
                "active_accounts": 2,
                "billing_tier": "Starter (up to 25)",
                "cards_pending": 3,
                "unmapped": 0,
                "by_currency": BY_CURRENCY,
            }
        ),
    )
    page.reload()
    page.get_by_role("navigation", name="Main").wait_for()
    return page


def _open_list(page: Any, group_by: str) -> None:
    page.get_by_role("link", name="List").click()
    page.get_by_role("heading", name="List view").wait_for()
    page.get_by_label("Group by").select_option(group_by)


def _shows(locator: Any, expected: str) -> str:
    """The locator's text once it contains `expected` (its text either way, to compare)."""
    # A timeout is not the failure: the caller's assertion shows what was there instead.
    with contextlib.suppress(PlaywrightTimeoutError):
        locator.filter(has_text=expected).first.wait_for(timeout=5000)
    return _flat(locator.first.inner_text())


def _flat(text: str) -> str:
    """Text with its line breaks as spaces: a grid cell stacks one currency per line."""
    return " ".join(text.split())


class TestMoneyPerCurrency:
    def test_the_sidebar_shows_mrr_once_per_currency(self, three_cards: Any) -> None:
        sidebar = three_cards.get_by_label("This cycle")
        assert "+$1,285.60 · +CA$945.00" in _shows(sidebar, "CA$")
        assert "+$368.93 · +CA$270.00" in sidebar.inner_text()

    def test_the_card_view_totals_mrr_per_currency(self, three_cards: Any) -> None:
        summary = three_cards.get_by_label("Effect of the visible cards")
        assert "+$1,285.60 · +CA$945.00" in _shows(summary, "CA$")

    def test_list_totals_and_groups_never_add_two_currencies(self, three_cards: Any) -> None:
        page = three_cards
        _open_list(page, "service_line")
        total = page.get_by_test_id("total-revenue")
        assert _shows(total, "CA$") == "+$1,285.60 · +CA$945.00"
        group = page.locator("tr.group-row").filter(has_text="Microsoft 365 Business Premium")
        # One card in each currency: in code order.
        assert "+CA$945.00 · +$985.60" in _flat(group.inner_text())
        page.wait_for_timeout(400)  # the rows' entry animation
        screenshot(page, "list-view-currencies")


class TestQuantityTotals:
    def test_quantities_are_totalled_only_within_one_service_line(self, three_cards: Any) -> None:
        page = three_cards
        _open_list(page, "account_name")
        footer = page.locator("tfoot tr")
        _shows(footer, "Total · 3 cards")
        # Ten seats, three agents and forty-five seats are not 58 of anything.
        assert "+58" not in footer.inner_text()
        acme = page.locator("tr.group-row").filter(has_text="Acme Dental")
        assert "+13" not in acme.inner_text()

        _open_list(page, "service_line")
        m365 = page.locator("tr.group-row").filter(has_text="Microsoft 365 Business Premium")
        assert "+55" in m365.inner_text()
        page.get_by_label("Filter Service line").fill("Microsoft 365")
        assert "+55" in _shows(footer, "Total · 2 cards")


class TestPeriodAndMonth:
    def test_a_quarterly_card_shows_mrr_and_names_its_period(self, three_cards: Any) -> None:
        page = three_cards
        quarterly = card_locator(page, CARDS[0])
        quarterly.wait_for()
        text = quarterly.inner_text()
        assert "MRR\n+$985.60" in text
        assert "+$2,956.80 per quarter on this contract" in text
        annual = card_locator(page, CARDS[1]).inner_text()
        assert "+$300.00" in annual
        assert "+$3,600.00 per year on this contract" in annual
        monthly = card_locator(page, CARDS[2]).inner_text()
        assert "+CA$945.00" in monthly
        assert "on this contract" not in monthly
        header = page.locator("section.card-group").filter(has_text="Microsoft 365")
        assert "+CA$945.00 · +$985.60 / month" in header.locator("header.group-header").inner_text()
        page.wait_for_timeout(400)  # the cards' entry animation
        screenshot(page, "card-view-periods")
