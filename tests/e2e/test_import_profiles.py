"""The import profiles screen: list, rename, remove an import's usage, delete."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.e2e.support import Stack, requires, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.e2e


def _import_with_profile(stack: Stack, vendor: str, profile: str) -> dict[str, Any]:
    """A small test file of a vendor TrueUp has not seen, saved as a profile."""
    content = b"Tenant Name,Plan,Seats\nE2E Test Co,Plan A,3\nE2E Test Co,Plan B,2\n"
    with stack.api() as client:
        uploaded = client.post(
            "/api/v1/imports",
            files={"file": ("e2e-test-file.csv", content, "text/csv")},
            data={"vendor": vendor},
        )
        assert uploaded.status_code == 201, uploaded.text
        import_id = uploaded.json()["import_id"]
        committed = client.post(
            f"/api/v1/imports/{import_id}/commit",
            json={
                "vendor": vendor,
                "save_profile_as": profile,
                "mapping": {
                    "account_column": "Tenant Name",
                    "sku_column": "Plan",
                    "quantity_mode": "column_value",
                    "quantity_column": "Seats",
                },
            },
        )
        assert committed.status_code == 202, committed.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job: dict[str, Any] = client.get(f"/api/v1/imports/{import_id}").json()
            if job["status"] in ("completed", "unchanged", "failed"):
                assert job["status"] == "completed", job
                return job
            time.sleep(0.5)
    raise AssertionError("the test import did not finish")


def _usage_rows(stack: Stack, vendor: str) -> int:
    with stack.api() as client:
        return len(client.get("/api/v1/usage", params={"vendor": vendor}).json()["items"])


class TestImportProfiles:
    @requires(
        "GET /api/v1/import-profiles",
        "PATCH /api/v1/import-profiles/{profile_id}",
        "DELETE /api/v1/import-profiles/{profile_id}",
        "GET /api/v1/imports",
        "POST /api/v1/usage/removals",
    )
    def test_rename_remove_a_test_imports_usage_and_delete_the_profile(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        with stack.api() as client:
            empty = client.get("/api/v1/import-profiles").json()["items"] == []
        if empty:
            page.goto("/import/profiles")
            page.get_by_role("heading", name="No import profiles yet").wait_for()
            screenshot(page, "import-profiles-empty")

        suffix = uuid.uuid4().hex[:6]
        vendor, name = f"e2e{suffix}", f"E2E test profile {suffix}"
        job = _import_with_profile(stack, vendor, name)
        assert _usage_rows(stack, vendor) == 2

        # Reached from the Import page.
        page.get_by_role("link", name="Import", exact=True).click()
        page.get_by_role("link", name="Import profiles").click()
        page.get_by_role("heading", name="Import profiles", exact=True).wait_for()
        table = page.get_by_test_id("import-profiles")
        row = table.get_by_role("row").filter(has_text=name)
        row.wait_for()
        for column in ("Tenant Name", "Plan", "Seats"):
            assert column in row.inner_text()
        screenshot(page, "import-profiles")
        assert serious_accessibility_violations(page) == []

        # Rename.
        renamed = f"{name} (renamed)"
        page.get_by_role("button", name=f"Rename {name}").click()
        page.get_by_label("Name", exact=True).fill(renamed)
        page.get_by_role("dialog").get_by_role("button", name="Rename").click()
        table.get_by_role("row").filter(has_text=renamed).wait_for()

        # Remove the test import's usage: preview, then confirm the previewed count.
        page.get_by_role("button", name="Remove usage…").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("The usage of one import").check()
        dialog.get_by_label("Import", exact=True).select_option(job["import_id"])
        dialog.get_by_role("button", name="Preview").click()
        preview = dialog.get_by_test_id("removal-preview")
        preview.wait_for()
        assert "2 usage records" in preview.inner_text()
        assert "1 vendor account" in preview.inner_text()
        screenshot(page, "import-remove-usage")
        assert serious_accessibility_violations(page) == []
        dialog.get_by_role("button", name="Remove 2 records").click()
        page.get_by_text("Removed 2 usage records").wait_for()
        deadline = time.monotonic() + 20
        while _usage_rows(stack, vendor) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _usage_rows(stack, vendor) == 0

        # Delete the profile.
        page.get_by_role("button", name=f"Delete {renamed}").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete profile").click()
        table.get_by_role("row").filter(has_text=renamed).wait_for(state="detached")
        with stack.api() as client:
            names = [p["name"] for p in client.get("/api/v1/import-profiles").json()["items"]]
            activity = client.get(
                "/api/v1/activity", params={"action_type": "usage_removal"}
            ).json()["items"]
        assert renamed not in names
        assert any("e2e-test-file.csv" in entry["summary"] for entry in activity)
