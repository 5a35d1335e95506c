"""The card view: approving a card, dismissing one, and taking it back with Undo."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.support import (
    Stack,
    card_locator,
    card_state,
    cards_or_xfail,
    find_card,
    requires,
    screenshot,
    serious_accessibility_violations,
)

pytestmark = pytest.mark.e2e

#: The card view sends an approval once its undo window (5 s) has passed.
UNDO_WINDOW_SECONDS = 5


def _wait_for_state(stack: Stack, card_id: str, states: set[str], seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    state = card_state(stack, card_id)
    while state not in states and time.monotonic() < deadline:
        time.sleep(0.5)
        state = card_state(stack, card_id)
    return str(state)


class TestApproveFromTheCardView:
    @requires("GET /api/v1/cards", "POST /api/v1/cards/{card_id}/approve")
    def test_an_approved_card_leaves_and_is_sent_after_the_undo_window(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        card = cards_or_xfail(stack)[0]
        page.locator("article").first.wait_for()
        screenshot(page, "card-view")
        element = find_card(page, card)

        element.get_by_role("button", name="Approve").click()

        element.wait_for(state="detached")
        toast = page.get_by_role("status").filter(has_text="Approved")
        toast.wait_for()
        assert toast.get_by_role("button", name="Undo").is_visible()
        page.wait_for_timeout(UNDO_WINDOW_SECONDS * 1000 + 500)
        state = _wait_for_state(stack, card["card_id"], {"approved", "applied"})
        assert state in {"approved", "applied"}

    @requires("GET /api/v1/cards", "POST /api/v1/cards/{card_id}/approve")
    def test_undo_keeps_an_approval_from_being_sent(self, signed_in: Any, stack: Stack) -> None:
        page = signed_in
        card = cards_or_xfail(stack)[0]
        element = find_card(page, card)
        element.get_by_role("button", name="Approve").click()
        element.wait_for(state="detached")
        page.get_by_role("button", name="Undo").click()
        card_locator(page, card).wait_for()
        page.wait_for_timeout(UNDO_WINDOW_SECONDS * 1000 + 500)
        assert card_state(stack, card["card_id"]) == "pending"

    @requires(
        "GET /api/v1/cards",
        "POST /api/v1/cards/{card_id}/dismiss",
        "POST /api/v1/cards/{card_id}/restore",
    )
    def test_a_dismissed_card_comes_back_with_undo(self, signed_in: Any, stack: Stack) -> None:
        page = signed_in
        card = cards_or_xfail(stack)[0]
        element = find_card(page, card)
        element.get_by_role("button", name="Dismiss").click()
        element.wait_for(state="detached")
        assert _wait_for_state(stack, card["card_id"], {"dismissed"}) == "dismissed"
        page.get_by_role("button", name="Undo").click()
        card_locator(page, card).wait_for()
        assert _wait_for_state(stack, card["card_id"], {"pending"}) == "pending"


class TestCardViewAccessibility:
    def test_the_card_view_has_no_serious_axe_violation(self, signed_in: Any, stack: Stack) -> None:
        signed_in.get_by_role("heading", name="Service reconciliation").wait_for()
        signed_in.wait_for_load_state("networkidle")
        assert serious_accessibility_violations(signed_in) == []

    def test_the_card_view_works_at_tablet_width(self, signed_in: Any, stack: Stack) -> None:
        signed_in.set_viewport_size({"width": 820, "height": 1100})
        signed_in.get_by_role("heading", name="Service reconciliation").wait_for()
        signed_in.wait_for_load_state("networkidle")
        screenshot(signed_in, "card-view-tablet")
        width = signed_in.evaluate("document.documentElement.scrollWidth")
        assert width <= 820, "nothing should scroll sideways at tablet width"


class TestLiveUpdates:
    @requires(
        "GET /api/v1/events",
        "POST /api/v1/cards/{card_id}/dismiss",
        "POST /api/v1/cards/{card_id}/restore",
    )
    def test_a_card_actioned_elsewhere_leaves_without_a_reload(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        card = cards_or_xfail(stack)[0]
        element = find_card(page, card)
        with stack.api() as client:
            client.post(f"/api/v1/cards/{card['card_id']}/dismiss", json={}).raise_for_status()
            try:
                element.wait_for(state="detached", timeout=20_000)
            finally:
                client.post(f"/api/v1/cards/{card['card_id']}/restore").raise_for_status()
        find_card(page, card)
