"""The list view: grouping, filters, the totals row and bulk actions."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.support import (
    Stack,
    card_state,
    cards_or_xfail,
    requires,
    screenshot,
    serious_accessibility_violations,
)

pytestmark = pytest.mark.e2e


def _open_list(page: Any) -> None:
    page.get_by_role("link", name="List").click()
    page.get_by_role("heading", name="List view").wait_for()


def _select_card(page: Any, card: dict[str, Any]) -> None:
    page.get_by_label(f"Select {card['account_name']}, {card['service_line']}").first.check()


class TestBulkActions:
    @requires("GET /api/v1/cards", "POST /api/v1/cards/bulk")
    def test_two_selected_cards_are_dismissed_together(self, signed_in: Any, stack: Stack) -> None:
        page = signed_in
        cards = cards_or_xfail(stack, count=2)
        _open_list(page)
        page.get_by_label("Group by").select_option("none")
        first, second = cards[-1], cards[-2]
        page.get_by_label("Filter Account").fill(first["account_name"])
        _select_card(page, first)
        page.get_by_label("Filter Account").fill(second["account_name"])
        _select_card(page, second)
        page.get_by_label("Filter Account").fill("")
        page.get_by_text("2 selected").wait_for()
        screenshot(page, "list-view-selected")

        page.get_by_role("button", name="Dismiss selected").click()

        page.get_by_role("status").filter(has_text="Dismissed 2 cards").wait_for()
        # The toast may show before the server has answered: wait for the stored states.
        deadline = time.monotonic() + 15
        states: list[str] = []
        while time.monotonic() < deadline:
            states = [card_state(stack, card["card_id"]) for card in (first, second)]
            if states == ["dismissed", "dismissed"]:
                break
            page.wait_for_timeout(300)
        assert states == ["dismissed", "dismissed"]

    @requires("GET /api/v1/cards", "POST /api/v1/cards/bulk")
    def test_an_effective_date_is_set_on_the_selection(self, signed_in: Any, stack: Stack) -> None:
        page = signed_in
        card = cards_or_xfail(stack)[0]
        _open_list(page)
        page.get_by_label("Filter Account").fill(card["account_name"])
        _select_card(page, card)
        page.get_by_role("region", name="Bulk actions").get_by_label("Effective date").fill(
            "2026-12-01"
        )
        page.get_by_role("button", name="Set effective date").click()
        page.get_by_role("status").filter(has_text="Effective date set on 1 card").wait_for()


class TestListView:
    @requires("GET /api/v1/cards")
    def test_groups_filters_and_totals(self, signed_in: Any, stack: Stack) -> None:
        page = signed_in
        _open_list(page)
        page.get_by_label("Show unchanged lines").check()
        page.get_by_label("Group by").select_option("service_line")
        totals = page.get_by_role("table").locator("tfoot")
        totals.get_by_text("Total").wait_for()
        screenshot(page, "list-view")
        everything = int(totals.inner_text().split("Total · ")[1].split(" ")[0])
        assert everything > 0

        first_account = page.locator("tbody .link-button").first.inner_text()
        page.get_by_label("Filter Account").fill(first_account)
        page.wait_for_function(
            "n => !document.querySelector('tfoot').innerText.includes(`Total · ${n} `)",
            arg=everything,
        )
        filtered = int(totals.inner_text().split("Total · ")[1].split(" ")[0])
        assert 0 < filtered < everything
        assert serious_accessibility_violations(page) == []
