"""A new tenant from the operator's command line to its first screen: the invite link
signs its first admin in, and the setup checklist walks them through connecting the
ConnectWise simulator and testing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.support import ROOT, Stack, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.e2e

CONNECTWISE_URL = os.environ.get("TRUEUP_DEMO_CONNECTWISE_URL", "http://127.0.0.1:8101")


def _operator(*args: str) -> Any:
    env = {
        **os.environ,
        "TRUEUP_DATA_DIR": str(ROOT / ".data"),
        "TRUEUP_LOG_LEVEL": "WARNING",
    }
    env.pop("TRUEUP_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "trueup.gateway.operator", "tenants", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture
def invite(stack: Stack) -> Iterator[dict[str, Any]]:
    """A new tenant made by the operator's command line; deleted again afterwards."""
    created = _operator("create", f"Onboarding MSP {uuid.uuid4().hex[:6]}")
    yield created
    _operator("delete", created["tenant_id"], "--yes")


class TestOnboarding:
    def test_an_invited_admin_connects_and_tests_a_psa_from_the_checklist(
        self, page: Any, stack: Stack, invite: dict[str, Any]
    ) -> None:
        page.goto(invite["invite_url"])
        page.get_by_role("heading", name=f"Join {invite['name']}").wait_for()
        page.get_by_label("Your name").fill("Olivia Owner")
        page.get_by_label("Email").fill(f"owner@{invite['tenant_id']}.example")
        page.get_by_label("Password (at least 12 characters)").fill("a long onboarding secret")
        page.get_by_role("button", name="Create account and sign in").click()

        page.get_by_role("heading", name="Welcome to TrueUp").wait_for()
        expect(page.get_by_test_id("step-psa-state")).to_have_text("Not done")
        expect(page.get_by_test_id("step-sync-state")).to_have_text("Not done")
        expect(page.get_by_test_id("step-cards-state")).to_have_text("Not done")
        assert "Olivia Owner" in page.locator(".sidebar-user").inner_text()

        page.locator("#psa-site").fill(CONNECTWISE_URL)
        page.locator("#psa-company_id").fill("trueup_demo")
        page.locator("#psa-public_key").fill("TrueUpDemoPublicKey")
        page.locator("#psa-private_key").fill("TrueUpDemoPrivateKey")
        page.locator("#psa-client_id").fill("trueup-onboarding")
        page.get_by_role("button", name="Save connection").click()

        expect(page.get_by_test_id("step-psa-state")).to_have_text("Done")
        page.get_by_role("button", name="Test connection").click()
        page.get_by_text("Connection works").wait_for()
        # The first sync starts with the connection; the checklist follows it to its end.
        expect(page.get_by_test_id("step-sync-state")).to_have_text("Done", timeout=90_000)
        expect(page.get_by_test_id("step-vendors-state")).to_have_text("Not done")
        screenshot(page, "onboarding", full_page=True)
        assert serious_accessibility_violations(page) == []

        # The invite worked once: opened again, it says so instead of signing anyone in.
        page.context.clear_cookies()
        page.goto(invite["invite_url"])
        page.get_by_role("heading", name="This link does not work").wait_for()
