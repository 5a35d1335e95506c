"""The import wizard, from dragging a vendor's CSV to the cards it changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import ROOT, Stack, requires, screenshot, serious_accessibility_violations

pytestmark = pytest.mark.e2e

FIXTURES = ROOT / "tests" / "vendors" / "fixtures"


def _drop_file(page: Any, path: Path, mime: str = "text/csv") -> None:
    """Drag a file onto the drop zone, as a person would from their file manager."""
    data = list(path.read_bytes())
    transfer = page.evaluate_handle(
        """([name, bytes, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            return transfer;
        }""",
        [path.name, data, mime],
    )
    zone = page.locator(".dropzone")
    for event in ("dragenter", "dragover", "drop"):
        zone.dispatch_event(event, {"dataTransfer": transfer})


class TestImportWizard:
    @requires(
        "POST /api/v1/imports",
        "POST /api/v1/imports/{import_id}/commit",
        "GET /api/v1/imports/{import_id}",
    )
    def test_a_distributor_export_goes_from_drop_to_changed_cards(
        self, signed_in: Any, stack: Stack
    ) -> None:
        page = signed_in
        page.get_by_role("link", name="Import").click()
        page.get_by_role("heading", name="Import vendor usage").wait_for()
        page.get_by_label("Vendor").fill("pax8")
        screenshot(page, "import-drop")

        _drop_file(page, FIXTURES / "distributor-billing-bom.csv")

        # Detected settings, editable.
        page.get_by_role("heading", name="Detected settings").wait_for()
        assert page.get_by_label("Delimiter").input_value() == ","
        screenshot(page, "import-settings")
        page.get_by_role("button", name="Next: map columns").click()

        # Columns, with a live preview that follows the mapping.
        page.get_by_role("heading", name="Map the columns").wait_for()
        page.get_by_label("Account name").select_option("companyName")
        page.get_by_label("SKU or product").select_option("productName")
        page.get_by_label("Sum per SKU").check()
        page.get_by_label("Quantity column").select_option("quantity")
        preview = page.get_by_test_id("live-preview")
        preview.wait_for()
        assert "Acme, Inc." in preview.inner_text()
        screenshot(page, "import-columns")
        assert serious_accessibility_violations(page) == []
        page.get_by_role("button", name="Next: review").click()

        # Review, save the profile, import.
        page.get_by_role("heading", name="Review and save").wait_for()
        page.get_by_label("Save as import profile").fill("Pax8 monthly billing (e2e)")
        page.get_by_role("button", name="Import", exact=True).click()
        errors = page.get_by_test_id("row-errors")
        finished = page.get_by_role("heading", name="Import finished")
        errors.or_(finished).wait_for(timeout=60_000)
        if errors.is_visible():
            screenshot(page, "import-row-errors")
            page.get_by_label("Skip invalid rows and import the rest").check()
            page.get_by_role("button", name="Import", exact=True).click()

        # Progress, then the cards that changed.
        finished.wait_for(timeout=120_000)
        counts = page.get_by_test_id("import-counts").inner_text()
        assert "Rows read" in counts
        page.get_by_role("heading", name="Cards to review for pax8").wait_for()
        page.get_by_role("button", name="Review the cards").wait_for()
        page.wait_for_load_state("networkidle")
        screenshot(page, "import-done")
