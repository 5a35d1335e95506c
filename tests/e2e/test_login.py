"""Signing in and out, and the problem details of a refused sign-in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.support import Stack, screenshot, serious_accessibility_violations, sign_in

pytestmark = pytest.mark.e2e


class TestSignIn:
    def test_a_wrong_password_shows_the_servers_reason(self, page: Any, stack: Stack) -> None:
        page.goto("/")
        page.get_by_label("Email").fill(stack.email)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "Wrong email or password" in alert.inner_text()
        screenshot(page, "login-refused")

    def test_the_demo_admin_lands_on_the_card_view(self, page: Any, stack: Stack) -> None:
        sign_in(page, stack)
        page.get_by_role("heading", name="Service reconciliation").wait_for()
        assert page.get_by_role("link", name="Cards").get_attribute("aria-current") == "page"
        screenshot(page, "cards")

    def test_the_session_survives_a_reload_and_ends_on_sign_out(
        self, page: Any, stack: Stack
    ) -> None:
        sign_in(page, stack)
        page.reload()
        page.get_by_role("navigation", name="Main").wait_for()
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Sign in").wait_for()
        page.reload()
        page.get_by_role("heading", name="Sign in").wait_for()


class TestSessionRenewal:
    def test_a_lost_session_cookie_is_renewed_with_the_refresh_cookie(
        self, page: Any, stack: Stack
    ) -> None:
        sign_in(page, stack)
        page.wait_for_load_state("networkidle")
        page.context.clear_cookies(name="trueup_session")
        with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/refresh")) as renewal:
            page.get_by_role("link", name="Activity log").click()
        assert renewal.value.status == 200
        page.get_by_role("heading", name="Activity log").wait_for()
        page.get_by_role("navigation", name="Main").wait_for()
        assert page.get_by_role("heading", name="Sign in").count() == 0

    def test_without_any_session_the_app_goes_to_sign_in(self, page: Any, stack: Stack) -> None:
        sign_in(page, stack)
        page.wait_for_load_state("networkidle")
        page.context.clear_cookies()
        # Every request now finds the session gone: the click's, or a background refetch
        # that may reach sign-in first and detach the link mid-click. The locator then
        # resolves to the sign-in heading, and clicking that is harmless.
        sign_in_heading = page.get_by_role("heading", name="Sign in")
        page.get_by_role("link", name="Activity log").or_(sign_in_heading).first.click()
        sign_in_heading.wait_for()


class TestLoginAccessibility:
    def test_the_login_page_has_no_serious_axe_violation(self, page: Any, stack: Stack) -> None:
        page.goto("/")
        page.get_by_role("heading", name="Sign in").wait_for()
        assert serious_accessibility_violations(page) == []
