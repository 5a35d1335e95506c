"""Money you can trust, in the browser: every step shown and logged, undo in Details, and a
confirmation before a large change. Approvals from Details wait out the undo window like
the card's own Approve (test_undo_everywhere.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.support import (
    Stack,
    card_state,
    cards_or_xfail,
    find_card,
    leave_page,
    screenshot,
)
from tests.e2e.test_details import _card_whose_contract_prorates

pytestmark = pytest.mark.e2e

CONNECTWISE_URL = os.environ.get("TRUEUP_DEMO_CONNECTWISE_URL", "http://127.0.0.1:8101")
T = TypeVar("T")


def _n(value: str | None) -> int:
    return int(float(value or "0"))


class TestEveryStepIsShownWrittenAndLogged:
    def test_main_and_prorated_steps_appear_in_the_summary_the_toast_and_the_log(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        card = _card_whose_contract_prorates(stack)
        psa = _n(card["psa_quantity"])
        find_card(page, card).get_by_role("button", name="Details").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_test_id("preview-revenue").wait_for()
        dialog.get_by_label("New quantity").fill(str(psa + 1))
        dialog.get_by_role("button", name="Add prorated change").click()
        dialog.get_by_label("Prorated change 1 quantity").fill(str(psa + 2))
        dialog.get_by_role("button", name="Add prorated change").click()
        dialog.get_by_label("Prorated change 2 quantity").fill(str(psa + 3))

        chain = " → ".join(str(q) for q in (psa, psa + 1, psa + 2, psa + 3))
        steps = dialog.get_by_test_id("preview-steps")
        page.wait_for_function(
            "([el, n]) => (el.innerText.match(/→/g) || []).length === n",
            arg=[steps.element_handle(), 3],
        )
        assert [f"→ {q}" in steps.inner_text() for q in (psa + 1, psa + 2, psa + 3)] == [
            True,
            True,
            True,
        ]
        screenshot(page, "details-steps")
        dialog.get_by_role("button", name="Approve change").click()
        dialog.wait_for(state="detached")
        page.get_by_role("status").filter(has_text=chain).wait_for()
        # The approval waits out its undo window; leaving the page sends it at once.
        with page.expect_response(lambda r: urlsplit(r.url).path.endswith("/approve")) as sent:
            leave_page(page)
        assert sent.value.status == 202, sent.value.text()

        with stack.api() as client:
            entries = client.get("/api/v1/activity", params={"card_id": card["card_id"]})
            entries.raise_for_status()
            approval = next(e for e in entries.json()["items"] if e["action_type"] == "approve")
        assert chain in approval["summary"]
        assert len(approval["prorated_lines"]) == 3


class TestDetailsOfferWhatTheStateAllows:
    def test_a_dismissed_card_offers_restore_and_the_undo_is_logged(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        card = cards_or_xfail(stack)[0]
        with stack.api() as client:
            client.post(f"/api/v1/cards/{card['card_id']}/dismiss").raise_for_status()
        page.get_by_role("link", name="List").click()
        page.get_by_role("heading", name="List view").wait_for()
        page.get_by_label("Show actioned").check()
        page.get_by_label("Group by").select_option("none")
        page.get_by_label("Filter Account").fill(card["account_name"])
        page.get_by_role(
            "button", name=f"Details of {card['account_name']}, {card['service_line']}"
        ).first.click()
        dialog = page.get_by_role("dialog")
        actions = dialog.get_by_test_id("state-actions")
        actions.wait_for()
        assert dialog.get_by_role("button", name="Approve change").count() == 0
        screenshot(page, "details-dismissed")
        actions.get_by_role("button", name="Restore card").click()
        page.get_by_role("status").filter(has_text="Restored").wait_for()

        with stack.api() as client:
            entries = client.get("/api/v1/activity", params={"card_id": card["card_id"]})
            kinds = [e["action_type"] for e in entries.json()["items"]]
        assert kinds[:2] == ["restore", "dismiss"]


class TestLargeChangesAskFirst:
    def test_one_click_approve_of_a_large_change_asks_and_details_need_the_box(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        with stack.api() as client:
            saved = client.get("/api/v1/settings/billing").json()
            strict = {**saved, "large_change": {"units": "0", "percent": None, "money": None}}
            client.put("/api/v1/settings/billing", json=strict).raise_for_status()
        try:
            # With a limit of 0 units every change is large: any pending card will do.
            card = next(c for c in cards_or_xfail(stack) if c.get("large_change"))
            page.reload()
            element = find_card(page, card)
            element.get_by_test_id("large-note").wait_for()
            asked: list[str] = []

            def decline(dialog: Any) -> None:
                asked.append(dialog.message)
                dialog.dismiss()

            page.once("dialog", decline)
            element.get_by_role("button", name="Approve").first.click()
            page.wait_for_timeout(300)
            assert asked
            assert "Large change" in asked[0]
            assert element.is_visible()  # declined: nothing was sent

            element.get_by_role("button", name="Details").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_test_id("large-change").wait_for()
            approve = dialog.get_by_role("button", name="Approve change")
            assert approve.is_disabled()
            screenshot(page, "details-large-change")
            dialog.get_by_label("I have checked this change").check()
            assert approve.is_enabled()
            approve.click()
            dialog.wait_for(state="detached")
            page.get_by_role("status").filter(has_text="Approved").wait_for()
        finally:
            with stack.api() as client:
                client.put("/api/v1/settings/billing", json=saved).raise_for_status()


class TestAnApprovedCardStaysHidden:
    def test_a_live_update_during_the_undo_window_does_not_bring_it_back(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        first, other = cards_or_xfail(stack, count=2)[:2]
        element = find_card(page, first)
        element.get_by_role("button", name="Approve").first.click()
        element.wait_for(state="detached")
        # Another card changes on the server: the live update refetches every card list
        # while the approval still waits out its undo window.
        with (
            page.expect_response(
                lambda r: "/api/v1/cards?" in r.url and r.request.method == "GET", timeout=10_000
            ) as refetched,
            stack.api() as client,
        ):
            client.post(f"/api/v1/cards/{other['card_id']}/dismiss").raise_for_status()
        assert refetched.value.ok
        page.wait_for_timeout(500)
        assert page.locator(f'article[data-card-id="{first["card_id"]}"]').count() == 0
        with stack.api() as client:
            client.post(f"/api/v1/cards/{other['card_id']}/restore").raise_for_status()


class TestAConflictIsDecidedAgain:
    def test_the_psa_changed_behind_our_back_then_approve_again_writes_it(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        card = next(c for c in cards_or_xfail(stack) if c.get("line_item_id"))
        changed = _n(card["psa_quantity"]) + 3
        # Someone edits the line in the PSA after the last sync: the card does not know.
        httpx.post(
            f"{CONNECTWISE_URL}/_simulator/edit",
            json={"line_item_id": card["line_item_id"], "field": "quantity", "value": changed},
            timeout=10,
        ).raise_for_status()
        with stack.api() as client:
            client.post(
                f"/api/v1/cards/{card['card_id']}/approve", json={"confirm": True}
            ).raise_for_status()

            def conflict_with_the_psa_quantity() -> dict[str, Any] | None:
                now = client.get(f"/api/v1/cards/{card['card_id']}").json()["card"]
                # The conflict makes psa_sync read the PSA again: the card shows its value.
                if now["state"] == "conflict" and _n(now["psa_quantity"]) == changed:
                    return dict(now)
                return None

            now = _eventually(conflict_with_the_psa_quantity, 90, "the conflict and resync")
        assert set(now["actions"]) >= {"approve", "dismiss"}
        assert "retry" not in now["actions"]

        page.reload()
        element = find_card(page, card)
        assert element.get_by_text("Conflict").count() == 1
        assert element.get_by_role("button", name="Retry").count() == 0
        element.get_by_role("button", name="Details").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_test_id("conflict-note").wait_for()
        dialog.get_by_test_id("preview-revenue").wait_for()
        screenshot(page, "details-conflict")
        if dialog.get_by_test_id("large-change").count():
            dialog.get_by_label("I have checked this change").check()
        dialog.get_by_role("button", name="Approve change").click()
        dialog.wait_for(state="detached")
        with page.expect_response(lambda r: urlsplit(r.url).path.endswith("/approve")) as sent:
            leave_page(page)
        assert sent.value.status == 202, sent.value.text()

        def applied() -> bool | None:
            return card_state(stack, card["card_id"]) == "applied" or None

        _eventually(applied, 90, "the second approval applied")
        writes = httpx.get(f"{CONNECTWISE_URL}/_simulator/writes", timeout=10).json()
        line = f"/additions/{card['line_item_id']}"
        assert any(w["path"].endswith(line) and w["method"] != "GET" for w in writes), writes[-5:]


def _eventually(probe: Callable[[], T | None], seconds: float, what: str) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
