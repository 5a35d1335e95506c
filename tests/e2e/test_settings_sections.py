"""Every settings section an admin has opens from the settings menu with what it is for:
the PSA connection, the billing cycle and large-change limits, the rules, users and keys."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.support import Stack, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("link", "panel", "shown"),
    [
        ("PSA connection", "PSA connection", "active accounts"),
        ("Billing cycle", "Billing cycle", "Large change: more than … units"),
        ("Auto-reconcile rules", "Auto-reconcile rules", "Add rule"),
        ("Users and roles", "Users and roles", "Invite a user"),
        ("API keys", "API keys", "Create key"),
    ],
)
def test_a_settings_section_opens_with_its_content(
    signed_in: Any, stack: Stack, link: str, panel: str, shown: str
) -> None:
    page = signed_in
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("heading", name="Settings", exact=True).wait_for()
    page.get_by_role("navigation", name="Settings sections").get_by_role("link", name=link).click()
    section = page.get_by_role("region", name=panel).first
    expect(section.get_by_role("heading", name=panel)).to_be_visible()
    expect(page.get_by_text(shown).first).to_be_visible()
    if link == "Users and roles":
        expect(page.get_by_role("cell", name=stack.email, exact=True)).to_be_visible()
    if link == "Billing cycle":
        expect(page.get_by_label("Cycle starts on day")).not_to_have_value("")
        screenshot(page, "settings-billing")
    page.wait_for_load_state("networkidle")
    assert serious_accessibility_violations(page) == []
