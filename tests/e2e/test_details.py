"""Details: the four quadrants, a live summary of change, and a prorated approval."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.support import (
    Stack,
    cards_or_xfail,
    find_card,
    reconcile_card_where,
    requires,
    screenshot,
    serious_accessibility_violations,
)

pytestmark = pytest.mark.e2e


def _card_whose_contract_prorates(stack: Stack) -> dict[str, Any]:
    with stack.api() as client:

        def prorates(card: dict[str, Any]) -> bool:
            details = client.get(f"/api/v1/cards/{card['card_id']}")
            details.raise_for_status()
            return bool(details.json()["change"]["proration_allowed"])

        return reconcile_card_where(
            stack,
            prorates,
            "no pending card of the demo MSP is on a contract that allows proration",
        )


class TestDetailsWithAProratedChange:
    @requires(
        "GET /api/v1/cards",
        "GET /api/v1/cards/{card_id}",
        "POST /api/v1/cards/{card_id}/preview",
        "POST /api/v1/cards/{card_id}/approve",
    )
    def test_a_prorated_change_is_previewed_then_approved(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        card = _card_whose_contract_prorates(stack)
        find_card(page, card).get_by_role("button", name="Details").click()
        dialog = page.get_by_role("dialog")
        for quadrant in ("Contract", "Past actions", "Names and mapping", "Change"):
            dialog.get_by_role("heading", name=quadrant, exact=True).wait_for()

        revenue = dialog.get_by_test_id("preview-revenue")
        revenue.wait_for()
        before = revenue.inner_text()
        quantity = dialog.get_by_label("New quantity")
        quantity.fill(str(int(float(card["vendor_quantity"] or "0")) + 3))
        page.wait_for_function(
            "([el, text]) => el.innerText !== text", arg=[revenue.element_handle(), before]
        )

        dialog.get_by_role("button", name="Add prorated change").click()
        dialog.get_by_label("Prorated change 1 quantity").fill(
            str(int(float(card["vendor_quantity"] or "0")) + 1)
        )
        dialog.get_by_role("table").filter(has_text="Period").wait_for()
        screenshot(page, "details")
        assert serious_accessibility_violations(page) == []

        dialog.get_by_role("button", name="Approve change").click()

        dialog.wait_for(state="detached")
        page.get_by_role("status").filter(has_text="Approved").wait_for()

    @requires(
        "GET /api/v1/cards",
        "GET /api/v1/cards/{card_id}",
        "POST /api/v1/cards/{card_id}/preview",
        "POST /api/v1/cards/{card_id}/approve",
    )
    def test_the_summary_follows_the_quantity_and_the_change_is_approved(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        card = cards_or_xfail(stack)[-1]
        find_card(page, card).get_by_role("button", name="Details").click()
        dialog = page.get_by_role("dialog")
        revenue = dialog.get_by_test_id("preview-revenue")
        revenue.wait_for()
        before = revenue.inner_text()
        dialog.get_by_label("New quantity").fill(str(int(float(card["psa_quantity"] or "0")) + 5))
        page.wait_for_function(
            "([el, text]) => el.innerText !== text", arg=[revenue.element_handle(), before]
        )
        assert revenue.inner_text().startswith("+")
        dialog.get_by_role("button", name="Approve change").click()
        dialog.wait_for(state="detached")
        page.get_by_role("status").filter(has_text="Approved").wait_for()
