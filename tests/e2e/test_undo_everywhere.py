"""One undo window for every approval (issue #20): Approve in Details and Approve selected in
the list behave as the card's own Approve. The cards leave at once, the toast offers Undo,
and nothing is sent until the window ends or the page is left; Undo sends nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.support import (
    Stack,
    card_locator,
    find_card,
    leave_page,
    reconcile_card_where,
    screenshot,
)
from tests.e2e.test_density import CARDS, _open_list, six_cards

pytestmark = pytest.mark.e2e

__all__ = ["six_cards"]

NORTHWIND, MAPLE, BIRCH, CEDAR = (
    next(c for c in CARDS if c["card_id"] == i) for i in ["n1", "m1", "b1", "c1"]
)


def _select(page: Any, card: dict[str, Any]) -> None:
    page.get_by_label(f"Select {card['account_name']}, {card['service_line']}").check()


def _row(page: Any, card: dict[str, Any]) -> Any:
    return page.get_by_role(
        "button", name=f"Details of {card['account_name']}, {card['service_line']}"
    )


def _bulk_sent(page: Any) -> list[dict[str, Any]]:
    return [entry for entry in page.sent if entry["action"] == "bulk"]


class TestApproveSelected:
    def test_the_rows_leave_at_once_and_are_sent_when_the_window_ends(self, six_cards: Any) -> None:
        page = six_cards
        _open_list(page, "none")
        _select(page, NORTHWIND)
        _select(page, MAPLE)
        page.get_by_role("button", name="Approve selected").click()

        toast = page.get_by_role("status").filter(has_text="Approved 2 cards")
        toast.get_by_role("button", name="Undo").wait_for()
        _row(page, NORTHWIND).wait_for(state="detached")
        _row(page, MAPLE).wait_for(state="detached")
        screenshot(page, "list-view-approve-undo")
        assert _bulk_sent(page) == []

        with page.expect_response(lambda r: urlsplit(r.url).path.endswith("/api/v1/cards/bulk")):
            leave_page(page)
        [sent] = _bulk_sent(page)
        assert sent["body"]["action"] == "approve"
        assert sorted(sent["ids"]) == ["m1", "n1"]

    def test_undo_brings_the_rows_back_and_sends_nothing(self, six_cards: Any) -> None:
        page = six_cards
        _open_list(page, "none")
        _select(page, BIRCH)
        page.get_by_role("button", name="Approve selected").click()
        _row(page, BIRCH).wait_for(state="detached")
        page.get_by_role("status").filter(has_text="Approved 1 card").get_by_role(
            "button", name="Undo"
        ).click()
        _row(page, BIRCH).wait_for()

        # A second approval, then leaving: only that one goes out.
        _select(page, CEDAR)
        page.get_by_role("button", name="Approve selected").click()
        _row(page, CEDAR).wait_for(state="detached")
        with page.expect_response(lambda r: urlsplit(r.url).path.endswith("/api/v1/cards/bulk")):
            leave_page(page)
        assert [entry["ids"] for entry in _bulk_sent(page)] == [["c1"]]


class TestApproveInDetails:
    def test_the_dialog_closes_the_card_leaves_and_undo_keeps_it_unsent(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        card = reconcile_card_where(
            stack,
            lambda c: not c.get("large_change"),
            "every pending card of the demo MSP is a large change",
        )
        approvals: list[str] = []
        page.on(
            "request",
            lambda r: (
                approvals.append(r.url) if urlsplit(r.url).path.endswith("/approve") else None
            ),
        )

        def approve_in_details() -> None:
            find_card(page, card).get_by_role("button", name="Details").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_test_id("preview-revenue").wait_for()
            dialog.get_by_role("button", name="Approve change").click()
            dialog.wait_for(state="detached")
            card_locator(page, card).wait_for(state="detached")

        approve_in_details()
        toast = page.get_by_role("status").filter(has_text=f"Approved {card['account_name']}")
        toast.get_by_role("button", name="Undo").wait_for()
        screenshot(page, "details-approve-undo")
        assert approvals == []
        toast.get_by_role("button", name="Undo").click()
        card_locator(page, card).wait_for()

        approve_in_details()
        with page.expect_response(lambda r: urlsplit(r.url).path.endswith("/approve")) as sent:
            leave_page(page)
        assert sent.value.status == 202, sent.value.text()
        assert len(approvals) == 1, "the approval taken back with Undo was never sent"
