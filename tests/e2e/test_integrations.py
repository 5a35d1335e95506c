"""Settings → Integrations in the browser: connectors added, tested, run, edited and
deleted; a webhook endpoint's secret shown once, rotated and the endpoint deleted; the
push API key issued once. Everything the test creates is removed again, so the demo MSP
stays as the other browser tests expect it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.support import Stack, requires, screenshot, serious_accessibility_violations
from trueup.devstack.vendor_simulators import huntress, ninjaone

pytestmark = pytest.mark.e2e

NINJA_URL = "http://127.0.0.1:8112"  # the demo's NinjaOne simulator
HUNTRESS_URL = "http://127.0.0.1:8113"
PREFIX = "E2E "


def _remove_what_the_test_made(stack: Stack) -> None:
    with stack.api() as client:
        for connector in client.get("/api/v1/connectors").json()["items"]:
            if connector["name"].startswith(PREFIX):
                client.delete(f"/api/v1/connectors/{connector['connector_id']}")
        for endpoint in client.get("/api/v1/webhooks").json()["items"]:
            if endpoint["vendor"] == "e2e-vendor":
                client.delete(f"/api/v1/webhooks/{endpoint['endpoint_id']}")


@pytest.fixture
def tidy(stack: Stack) -> Iterator[None]:
    _remove_what_the_test_made(stack)
    yield
    _remove_what_the_test_made(stack)


def _add_connector(page: Any, kind: str, name: str, url: str, first: str, second: str) -> None:
    page.get_by_role("button", name="Add connector").first.click()
    dialog = page.get_by_role("dialog", name="Add a connector")
    dialog.get_by_label("Vendor").select_option(label=kind)
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label("API base URL").fill(url)
    fields = dialog.locator("input[autocomplete=off]")
    fields.nth(0).fill(first)
    fields.nth(1).fill(second)
    dialog.get_by_role("button", name="Add connector").click()
    expect(dialog).to_be_hidden()


class TestIntegrations:
    @requires(
        "GET /api/v1/connectors",
        "POST /api/v1/connectors/{connector_id}/test",
        "DELETE /api/v1/webhooks/{endpoint_id}",
        "POST /api/v1/push-key/rotate",
    )
    def test_connectors_webhooks_and_the_push_key_from_settings(
        self, signed_in: Any, stack: Stack, tidy: None
    ) -> None:
        page = signed_in
        page.get_by_role("link", name="Settings").click()
        page.get_by_role("link", name="Integrations").click()
        table = page.get_by_role("table", name="Connectors")
        # The demo tenant's three connectors, with their last run.
        expect(table.get_by_role("row").filter(has_text="Pax8 (demo)")).to_be_visible()

        name = f"{PREFIX}NinjaOne"
        _add_connector(
            page,
            "NinjaOne",
            name,
            NINJA_URL,
            ninjaone.DEFAULT_CLIENT_ID,
            ninjaone.DEFAULT_CLIENT_SECRET,
        )
        row = table.get_by_role("row").filter(has_text=name)
        expect(row).to_be_visible()
        expect(row).not_to_contain_text(ninjaone.DEFAULT_CLIENT_SECRET)

        row.get_by_role("button", name=f"Test {name}").click()
        expect(row.get_by_role("status")).to_contain_text(re.compile(r"Connected: \d+ usage"))
        row.get_by_role("button", name=f"Run {name} now").click()
        expect(row).to_contain_text("OK", timeout=30_000)

        failing = f"{PREFIX}Huntress"
        _add_connector(
            page, "Huntress", failing, HUNTRESS_URL, huntress.DEFAULT_API_KEY, "not-the-secret"
        )
        bad = table.get_by_role("row").filter(has_text=failing)
        bad.get_by_role("button", name=f"Test {failing}").click()
        expect(bad.get_by_role("status")).to_contain_text("answered HTTP 401")
        screenshot(page, "integrations-connectors")

        # Edit: a new name; empty credential fields keep the stored ones.
        row.get_by_role("button", name=f"Edit {name}").click()
        dialog = page.get_by_role("dialog", name=f"Edit {name}")
        expect(dialog.locator("#connector-client_secret")).to_have_attribute(
            "placeholder", re.compile("Stored")
        )
        screenshot(page, "integrations-edit-connector")
        renamed = f"{PREFIX}NinjaOne EU"
        dialog.get_by_label("Name").fill(renamed)
        dialog.get_by_role("button", name="Save changes").click()
        expect(dialog).to_be_hidden()
        row = table.get_by_role("row").filter(has_text=renamed)
        row.get_by_role("button", name=f"Test {renamed}").click()
        expect(row.get_by_role("status")).to_contain_text("Connected")

        row.get_by_role("button", name=f"Delete {renamed}").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete connector").click()
        expect(table.get_by_role("row").filter(has_text=renamed)).to_have_count(0)

        # A webhook endpoint: its secret is shown once, in a dialog.
        page.get_by_label("Vendor", exact=True).fill("e2e-vendor")
        page.get_by_role("button", name="Add webhook endpoint").click()
        issued = page.get_by_role("dialog", name="Webhook endpoint for e2e-vendor")
        first_secret = issued.get_by_label("Secret").input_value()
        assert first_secret.startswith("whsec_")
        expect(issued).to_contain_text("shown once")
        screenshot(page, "integrations-secret-shown-once")
        issued.get_by_role("button", name="I have stored it").click()
        endpoints = page.get_by_role("table", name="Webhook endpoints")
        expect(endpoints).to_contain_text("e2e-vendor")
        assert first_secret not in page.content()

        endpoints.get_by_role("button", name="Rotate the secret of e2e-vendor").click()
        page.get_by_role("dialog").get_by_role("button", name="Rotate secret").click()
        rotated = page.get_by_role("dialog", name="New signing secret for e2e-vendor")
        second_secret = rotated.get_by_label("Secret").input_value()
        assert second_secret.startswith("whsec_")
        assert second_secret != first_secret
        rotated.get_by_role("button", name="I have stored it").click()
        expect(endpoints).to_contain_text("previous secret expires")

        # The push API key: issued once.
        push = page.get_by_role("region", name="Push API key")
        push.get_by_role("button", name=re.compile("(Create|Rotate) key")).click()
        key_dialog = page.get_by_role("dialog", name="Push API key")
        key = key_dialog.get_by_label("Secret").input_value()
        assert key.startswith("tu_")
        key_dialog.get_by_role("button", name="I have stored it").click()
        expect(push).to_contain_text("Active")
        screenshot(page, "integrations", full_page=True)
        assert serious_accessibility_violations(page) == []

        endpoints.get_by_role("button", name="Delete the e2e-vendor endpoint").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete endpoint").click()
        expect(endpoints.get_by_role("row").filter(has_text="e2e-vendor")).to_have_count(0)
