"""The list view as a user left it (issue #20): grouping, filters and hidden columns come
back after a reload and on another device, another user sees the default, and Reset view
brings the default back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.support import Stack, cards_or_xfail, screenshot, sign_in

pytestmark = pytest.mark.e2e

VIEW = "/api/v1/me/preferences/list-view"


def _open_list(page: Any) -> None:
    page.get_by_role("link", name="List").click()
    page.get_by_role("heading", name="List view").wait_for()
    page.get_by_label("Filter Account").wait_for()


def _contract_column(page: Any) -> Any:
    return page.get_by_role("columnheader", name="Contract", exact=True)


def _shows_the_default(page: Any) -> None:
    assert page.get_by_label("Group by").input_value() == "account_name"
    assert page.get_by_label("Filter Account").input_value() == ""
    _contract_column(page).wait_for()


@pytest.fixture
def other_user(stack: Stack) -> Iterator[tuple[str, str]]:
    """A second user of the demo tenant (deactivated afterwards)."""
    email = f"viewer-{uuid.uuid4().hex[:8]}@demo.example"
    password = f"pw-{uuid.uuid4().hex}"
    with stack.api() as client:
        created = client.post(
            "/api/v1/users",
            json={"email": email, "name": "Second viewer", "password": password, "role": "viewer"},
        )
        created.raise_for_status()
    yield email, password
    with stack.api() as client:
        client.patch(f"/api/v1/users/{created.json()['user_id']}", json={"active": False})


@pytest.fixture
def fresh_context(browser: Any, browser_context_args: dict[str, Any]) -> Iterator[Any]:
    """Another browser (no cookies, no local storage): another device."""
    context = browser.new_context(**browser_context_args)
    yield context
    context.close()


class TestTheListViewIsKeptPerUser:
    def test_it_comes_back_after_a_reload_and_elsewhere_and_others_see_the_default(
        self,
        signed_in: Any,
        stack: Stack,
        other_user: tuple[str, str],
        fresh_context: Any,
    ) -> None:
        page = signed_in
        account = cards_or_xfail(stack)[0]["account_name"]
        _open_list(page)
        _shows_the_default(page)

        def saved_everything(response: Any) -> bool:
            if not (response.url.endswith(VIEW) and response.request.method == "PUT"):
                return False
            view = response.request.post_data_json
            return (
                view["group_by"] == "service_line"
                and {"id": "account_name", "value": account} in view["filters"]
                and "contract_name" in view["hidden_columns"]
            )

        with page.expect_response(saved_everything) as saved:
            page.get_by_label("Group by").select_option("service_line")
            page.get_by_label("Filter Account").fill(account)
            page.locator(".columns-menu summary").click()
            page.get_by_label("Show Contract").uncheck()
        assert saved.value.ok, saved.value.text()
        screenshot(page, "list-view-columns-menu")
        _contract_column(page).wait_for(state="detached")

        page.reload()
        page.get_by_label("Filter Account").wait_for()
        assert page.get_by_label("Group by").input_value() == "service_line"
        assert page.get_by_label("Filter Account").input_value() == account
        assert _contract_column(page).count() == 0
        page.get_by_role("columnheader", name="Service line", exact=True).wait_for()
        page.locator("tr.group-row").first.wait_for()
        screenshot(page, "list-view-saved")

        # The same user in another browser: the view is the server's, not this browser's.
        elsewhere = fresh_context.new_page()
        sign_in(elsewhere, stack, reset=False)
        _open_list(elsewhere)
        assert elsewhere.get_by_label("Group by").input_value() == "service_line"
        assert elsewhere.get_by_label("Filter Account").input_value() == account
        elsewhere.close()

        # Another user of the same tenant starts from the default.
        fresh_context.clear_cookies()
        someone = fresh_context.new_page()
        sign_in(someone, stack, *other_user, reset=False)
        _open_list(someone)
        _shows_the_default(someone)
        someone.close()

        with page.expect_response(
            lambda r: r.url.endswith(VIEW) and r.request.method == "DELETE"
        ) as reset:
            page.get_by_role("button", name="Reset view").click()
        assert reset.value.status == 204
        _shows_the_default(page)
        page.reload()
        page.get_by_label("Filter Account").wait_for()
        _shows_the_default(page)
