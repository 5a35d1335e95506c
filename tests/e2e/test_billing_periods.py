"""The billing period selector: a closed cycle opens read-only in the card and list views,
with a banner counting what was decided and each card saying what was done with it.

The closed cycle is made the way the service makes one: cards approved and dismissed
through the API, then the tenant's cycle start day moved to today, which closes the cycle
open since the 1st exactly as the turn of the month does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.support import Stack, cards_or_xfail, requires, screenshot

pytestmark = pytest.mark.e2e


def _month_label(iso: str) -> str:
    day = datetime.fromisoformat(iso)
    return f"{day:%b} {day.day}"


@pytest.fixture
def closed_cycle(stack: Stack) -> Iterator[dict[str, Any]]:
    """A closed cycle holding one approved and one dismissed card: (cycle, the two cards)."""
    today = datetime.now(UTC).date()
    if today.day == 1:
        pytest.skip("on the 1st no start day closes the cycle that opened today")
    approved, dismissed = cards_or_xfail(stack, count=2)[:2]
    with stack.api() as client:
        settings = client.get("/api/v1/settings/billing").json()
        opened = client.get("/api/v1/cycles").json()["current"]
        answer = client.post(f"/api/v1/cards/{approved['card_id']}/approve", json={"confirm": True})
        assert answer.status_code == 202, answer.text
        answer = client.post(
            f"/api/v1/cards/{dismissed['card_id']}/dismiss", json={"reason": "client asked to wait"}
        )
        assert answer.status_code == 202, answer.text
        moved = {**settings, "cycle_start_day": min(today.day, 28)}
        assert client.put("/api/v1/settings/billing", json=moved).status_code == 200
        try:
            cycles = client.get("/api/v1/cycles").json()["closed"]
            closed = next(c for c in cycles if c["start"] == opened["start"])
            yield {"cycle": closed, "approved": approved, "dismissed": dismissed}
        finally:
            # Back to the tenant's own start day for the tests after this one.
            assert client.put("/api/v1/settings/billing", json=settings).status_code == 200


class TestBillingPeriods:
    @requires("GET /api/v1/cycles", "GET /api/v1/cycles/{start}/cards")
    def test_a_closed_cycle_opens_read_only_with_what_was_decided(
        self, signed_in: Any, stack: Stack, closed_cycle: dict[str, Any]
    ) -> None:
        page = signed_in
        cycle, approved = closed_cycle["cycle"], closed_cycle["approved"]
        page.reload()
        picker = page.get_by_label("Billing period").first
        picker.wait_for()
        label = picker.locator("option", has_text="(closed)").first.inner_text()
        assert label.startswith(_month_label(cycle["start"]))

        picker.select_option(cycle["start"])

        banner = page.get_by_test_id("closed-cycle-banner")
        banner.wait_for()
        counts = f"{cycle['approved']} approved, {cycle['dismissed']} dismissed"
        assert "Closed cycle — read only" in banner.inner_text()
        assert counts in banner.inner_text()
        assert cycle["approved"] >= 1
        assert cycle["dismissed"] >= 1
        page.get_by_label("Search cards").fill(approved["account_name"])
        card = page.locator(f'article[data-card-id="{approved["card_id"]}"]')
        card.wait_for()
        assert "Approved by" in card.get_by_test_id("cycle-decision").inner_text()
        # Read-only: no action on a closed cycle's cards, only their details.
        buttons = page.locator("article .card-actions button").all_inner_texts()
        assert buttons
        assert set(buttons) == {"Details"}
        screenshot(page, "billing-period-closed-cards")

        card.get_by_role("button", name="Details").click()
        dialog = page.get_by_role("dialog")
        done = dialog.locator("section", has_text="What was done")
        assert "Approved by" in done.inner_text()
        assert " from " in done.inner_text()  # the quantity from its effective date
        screenshot(page, "billing-period-closed-details")
        dialog.get_by_role("button", name="Close").first.click()

        page.get_by_role("button", name="Dismissed", exact=True).click()
        dismissed = closed_cycle["dismissed"]
        page.get_by_label("Search cards").fill(dismissed["account_name"])
        kept = page.locator(f'article[data-card-id="{dismissed["card_id"]}"]')
        kept.wait_for()
        assert "client asked to wait" in kept.inner_text()

        page.goto(f"/list?cycle={cycle['start']}")
        row = page.locator(f'tr[data-card-id="{approved["card_id"]}"]')
        row.wait_for()
        assert "Approved by" in row.inner_text()
        assert page.get_by_role("button", name="Approve selected").count() == 0
        screenshot(page, "billing-period-closed-list")

        page.get_by_role("button", name="Back to the current cycle").click()
        page.get_by_role("button", name="Approve selected").wait_for()
        assert page.get_by_test_id("closed-cycle-banner").count() == 0
