"""An import whose usage is all on unmapped accounts says what waits for mapping (issue #20),
not "No differences": nothing was compared.

The import runs for real (the distributor fixture plus one row the stack has not seen);
the card list and the unmapped queue are answered by the test, so that no card came of it
and every account of the file waits for mapping.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.e2e.support import Stack

pytestmark = pytest.mark.e2e


class TestImportWithUnmappedUsage:
    def test_an_import_that_made_no_card_names_what_waits_for_mapping(
        self, signed_in: Any, stack: Stack, tmp_path: Path
    ) -> None:
        from tests.e2e.test_import import FIXTURES, _drop_file

        page = signed_in
        # A file the stack has not seen: one imported before ends "unchanged", with no usage.
        csv = tmp_path / "distributor-billing-bom.csv"
        text = (FIXTURES / "distributor-billing-bom.csv").read_text(encoding="utf-8-sig")
        unique = uuid.uuid4().hex[:8]
        row = (
            f'INV-{unique},c-{unique},"Density Test {unique}",sub-{unique},prd-m365bp,'
            '"Microsoft 365 Business Premium, Monthly",CFQ7TTC0LCHC,4,22.00,88.00,'
            "2026-11-01,2026-11-30,Renewal\r\n"
        )
        csv.write_text(text.rstrip("\r\n") + "\r\n" + row, encoding="utf-8")
        usage: list[dict[str, Any]] = []

        def import_route(route: Any) -> None:
            answer = route.fetch()
            body = answer.json() if answer.ok else None
            if isinstance(body, dict) and body.get("usage"):
                usage[:] = body["usage"]
            route.fulfill(response=answer)

        def unmapped_route(route: Any) -> None:
            # Every account of this file waits for mapping; none of its usage made a card.
            accounts = [
                {
                    "vendor": "pax8",
                    "key": u["vendor_account_id"],
                    "name": u["vendor_account_name"],
                    "sources": ["import"],
                    "usage_count": 1,
                    "psa_account_hint": None,
                }
                for u in usage
            ]
            unique = list({a["key"]: a for a in accounts}.values())
            body = {"accounts": unique, "skus": [], "count": len(unique)}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

        page.route(
            lambda url: (
                urlparse(url).path.startswith("/api/v1/imports/")
                and urlparse(url).path.count("/") == 4
            ),
            import_route,
        )
        page.route("**/api/v1/unmapped", unmapped_route)
        page.route(
            lambda url: urlparse(url).path == "/api/v1/cards",
            lambda route: route.fulfill(
                status=200,
                content_type="application/json",
                body=json.dumps({"items": [], "next_cursor": None}),
            ),
        )
        page.get_by_role("link", name="Import").click()
        page.get_by_role("heading", name="Import vendor usage").wait_for()
        page.get_by_label("Vendor").fill("pax8")
        _drop_file(page, csv)
        page.get_by_role("heading", name="Detected settings").wait_for()
        page.get_by_role("button", name="Next: map columns").click()
        page.get_by_role("heading", name="Map the columns").wait_for()
        page.get_by_label("Account name").select_option("companyName")
        page.get_by_label("SKU or product").select_option("productName")
        page.get_by_label("Sum per SKU").check()
        page.get_by_label("Quantity column").select_option("quantity")
        page.get_by_role("button", name="Next: review").click()
        page.get_by_role("heading", name="Review and save").wait_for()
        page.get_by_role("button", name="Import", exact=True).click()
        errors = page.get_by_test_id("row-errors")
        finished = page.get_by_role("heading", name="Import finished")
        errors.or_(finished).wait_for(timeout=60_000)
        if errors.is_visible():
            page.get_by_label("Skip invalid rows and import the rest").check()
            page.get_by_role("button", name="Import", exact=True).click()
        finished.wait_for(timeout=120_000)

        waiting = page.get_by_test_id("import-unmapped")
        waiting.wait_for()
        accounts = len({u["vendor_account_id"] for u in usage})
        heading = f"{accounts} unmapped account{'s' if accounts != 1 else ''} waiting"
        assert page.get_by_role("heading", name=heading).is_visible()
        assert page.get_by_role("heading", name="No differences").count() == 0
        page.get_by_role("button", name="Map them on the Mapping page").click()
        page.wait_for_url("**/mapping")
