"""Mapping a vendor account to a PSA account, then adding its New Revenue card."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    Stack,
    find_card,
    new_revenue_pairing,
    pending_cards,
    requires,
    screenshot,
    serious_accessibility_violations,
)

pytestmark = pytest.mark.e2e


def _unmapped_count(page: Any) -> int:
    badge = page.get_by_test_id("unmapped-count")
    return int(badge.inner_text()) if badge.count() else 0


CONNECTWISE_URL = "http://127.0.0.1:8101"  # the demo PSA simulator of `./task up`


class TestMapThenAddNewRevenue:
    @requires(
        "GET /api/v1/mappings/accounts",
        "POST /api/v1/mappings/accounts",
        "GET /api/v1/unmapped",
        "GET /api/v1/cards",
        "GET /api/v1/cards/{card_id}",
        "GET /api/v1/accounts/{account_id}/contracts",
        "POST /api/v1/cards/{card_id}/add",
    )
    def test_an_account_is_mapped_and_its_new_revenue_added(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        page.get_by_role("link", name="Mapping").click()
        page.get_by_role("heading", name="Mapping").wait_for()
        table = page.get_by_test_id("account-mappings")
        table.wait_for()
        screenshot(page, "mapping-accounts")
        assert serious_accessibility_violations(page) == []
        before = _unmapped_count(page)

        pairing = new_revenue_pairing(stack)
        if pairing is None:
            pytest.xfail("no unmapped vendor account with usage is left in the demo MSP")
        label = f"{pairing['vendor_account_name']} ({pairing['vendor']})"
        page.get_by_label("Search vendor accounts").fill(pairing["vendor_account_name"])
        page.get_by_label(f"PSA account for {label}", exact=True).select_option(
            pairing["account_id"]
        )
        page.get_by_role("button", name=f"Map {label}", exact=True).click()
        page.get_by_role("status").filter(has_text="Mapped 1 vendor account").wait_for()

        if before:
            page.wait_for_function(
                "n => Number(document.querySelector('[data-testid=unmapped-count]')"
                "?.textContent ?? 0) < n",
                arg=before,
            )

        new_cards: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while not new_cards and time.monotonic() < deadline:
            new_cards = [
                c
                for c in pending_cards(stack, kind="new_revenue")
                if c.get("account_id") == pairing["account_id"]
            ]
            time.sleep(0.5)
        assert new_cards, "mapping should leave a New Revenue card on the chosen account"
        card = new_cards[0]
        page.get_by_role("link", name="Cards").click()
        element = find_card(page, card)
        element.get_by_text("New", exact=True).wait_for()
        element.get_by_role("button", name="Add").click()

        dialog = page.get_by_role("dialog")
        dialog.get_by_role("combobox", name="Contract").wait_for()
        page.wait_for_function(
            "() => document.querySelector('#add-contract')?.value !== ''", timeout=15_000
        )
        screenshot(page, "new-revenue-add")
        contract_id = page.eval_on_selector("#add-contract", "el => el.value")
        dialog.get_by_role("button", name="Add to contract").click()
        dialog.wait_for(state="detached")
        page.get_by_role("status").filter(has_text="Added").wait_for()

        # Writeback created the line item in the ConnectWise simulator (its write log).
        path = f"/finance/agreements/{contract_id}/additions"
        deadline = time.monotonic() + 60
        while True:
            writes = httpx.get(f"{CONNECTWISE_URL}/_simulator/writes", timeout=10).json()
            if any(w["method"] == "POST" and w["path"].endswith(path) for w in writes):
                break
            assert time.monotonic() < deadline, f"no POST {path} in the PSA: {writes[-5:]}"
            time.sleep(0.5)


class TestOtherPagesAccessibility:
    @pytest.mark.parametrize(
        ("link", "heading"),
        [
            ("Activity log", "Activity log"),
            ("Settings", "Settings"),
            ("Import", "Import vendor usage"),
        ],
    )
    def test_no_serious_axe_violation(
        self, signed_in: Any, stack: Stack, link: str, heading: str
    ) -> None:
        signed_in.get_by_role("link", name=link).click()
        signed_in.get_by_role("heading", name=heading, exact=True).wait_for()
        signed_in.wait_for_load_state("networkidle")
        screenshot(signed_in, heading.lower().replace(" ", "-"))
        assert serious_accessibility_violations(signed_in) == []
