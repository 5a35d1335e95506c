"""The activity log as a person reads it: a mapping names the vendor account and the PSA
account it was tied to, and the account filter takes part of a name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.support import Stack, requires, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.e2e


def _unmapped_pax8_account(stack: Stack) -> dict[str, str]:
    """An unmapped Pax8 vendor account and the PSA account it is most like."""
    with stack.api() as client:
        answer = client.get("/api/v1/mappings/accounts", params={"status": "unmapped"})
        answer.raise_for_status()
        for item in answer.json()["items"]:
            if item["vendor"] == "pax8" and item["suggestions"]:
                best = item["suggestions"][0]
                return {
                    "vendor_account_id": item["vendor_account_id"],
                    "vendor_account_name": item["vendor_account_name"],
                    "account_id": best["account_id"],
                    "account_name": best["account_name"],
                }
    pytest.xfail("no unmapped Pax8 vendor account with a suggested PSA account in the demo MSP")


def _change_mapping(stack: Stack, pairing: dict[str, str], action: str) -> None:
    item = {"vendor": "pax8", "vendor_account_id": pairing["vendor_account_id"], "action": action}
    if action == "map":
        item["account_id"] = pairing["account_id"]
    with stack.api() as client:
        answer = client.post("/api/v1/mappings/accounts", json={"items": [item]})
        assert answer.status_code == 200, answer.text


@pytest.fixture
def mapped(stack: Stack) -> Iterator[dict[str, str]]:
    """A Pax8 vendor account mapped for the test; unmapped again after it, so the demo
    MSP's unmapped queue is as the other browser tests expect it."""
    pairing = _unmapped_pax8_account(stack)
    _change_mapping(stack, pairing, "map")
    yield pairing
    _change_mapping(stack, pairing, "unmap")


class TestActivityLogReadsAsNames:
    @requires("GET /api/v1/activity", "POST /api/v1/mappings/accounts")
    def test_a_mapping_names_both_accounts_and_part_of_a_name_finds_it(
        self, signed_in: Any, stack: Stack, mapped: dict[str, str]
    ) -> None:
        page = signed_in
        account = mapped["account_name"]
        page.get_by_role("link", name="Activity log").click()
        page.get_by_role("heading", name="Activity log").wait_for()
        table = page.get_by_test_id("activity")
        table.wait_for()
        screenshot(page, "activity-log-unfiltered")

        # Part of the name, in another case than the PSA writes it.
        part = account.swapcase()[1 : max(3, len(account) - 2)]
        page.get_by_label("Account", exact=True).fill(part)
        # Once the filter applies, every entry listed is that account's (or another's
        # whose name holds the part): the unfiltered log has entries of other accounts.
        others = table.locator("tbody tr").filter(
            has_not_text=re.compile(re.escape(part), re.IGNORECASE)
        )
        expect(others).to_have_count(0)
        expected = f"Mapped Pax8 {mapped['vendor_account_name']} → {account}"
        expect(table.get_by_role("row").filter(has_text=expected).first).to_be_visible()
        screenshot(page, "activity-mapping-by-partial-name")
        # No unknown quantity is shown as a placeholder, in any entry of the page.
        body = table.inner_text()
        assert not re.search(r"(\?|—) →|→ (\?|—)", body), body
        assert serious_accessibility_violations(page) == []

        page.get_by_label("Account", exact=True).fill(part + "-no-such-account")
        page.get_by_text("Nothing matches these filters").wait_for()
