"""Removing an import's usage across services: reconciliation deletes it and recomputes the
card, vendor ingestion drops its raw rows and forgets the file, audit records who did it.
A dry run changes nothing, and a count that went stale is refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.conftest import Databases
from tests.integration.test_reconciliation_flow import (
    Stack,
    _billed_line,
    _cards_for,
    connectwise,
    stack,
)
from tests.support import eventually
from trueup.devstack.psa_simulators.server import SimulatorServer

__all__ = ["connectwise"]  # the module-scoped simulator fixture, used by name


async def _import(s: Stack, content: bytes) -> dict[str, Any]:
    uploaded = await s.client.post(
        "/api/v1/imports",
        files={"file": ("test-licences.csv", content, "text/csv")},
        data={"vendor": "pax8"},
        headers=s.headers(),
    )
    assert uploaded.status_code == 201, uploaded.text
    import_id = uploaded.json()["import_id"]
    committed = await s.client.post(
        f"/api/v1/imports/{import_id}/commit",
        json={
            "mapping": {
                "account_column": "Customer",
                "sku_column": "SKU",
                "quantity_mode": "column_value",
                "quantity_column": "Qty",
            }
        },
        headers=s.headers(),
    )
    assert committed.status_code == 202, committed.text

    async def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = (
            await s.client.get(f"/api/v1/imports/{import_id}", headers=s.headers())
        ).json()
        return job if job["status"] in ("completed", "unchanged", "failed") else None

    return await eventually(finished, timeout=30, what="the import to finish")


async def _raw_usage(s: Stack) -> list[dict[str, Any]]:
    response = await s.client.get("/api/v1/usage", params={"vendor": "pax8"}, headers=s.headers())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _remove(s: Stack, body: dict[str, Any], key: str | None = None) -> Any:
    return await s.client.post(
        "/api/v1/usage/removals", json=body, headers=s.headers(key) if key else s.headers()
    )


class TestUsageRemoval:
    async def test_a_test_imports_usage_is_removed_in_one_audited_action(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, other = tenant_ids
        _agreement, addition, company = _billed_line(connectwise.app.state.store)
        line_item_id = str(addition["id"])
        psa_quantity = Decimal(str(addition["quantity"]))
        # Named as in the PSA, so the account and the SKU map themselves.
        account, sku = (
            text.replace('"', '""') for text in (company["name"], addition["description"])
        )
        content = f'Customer,SKU,Qty\n"{account}","{sku}",{psa_quantity + 3}\n'.encode()
        async with stack(clean_nats, databases, tenant, other, connectwise) as s:
            await eventually(
                lambda: _cards_for(s, line_item_id), timeout=60, what="the PSA's cards"
            )
            job = await _import(s, content)
            assert job["status"] == "completed", job

            async def reconciled() -> dict[str, Any] | None:
                cards = await _cards_for(s, line_item_id)
                return cards[0] if cards and cards[0]["vendor_quantity"] is not None else None

            card = await eventually(reconciled, timeout=30, what="the import to reach the card")
            assert Decimal(card["vendor_quantity"]) == psa_quantity + 3

            # The dry run counts and changes nothing.
            preview = await _remove(s, {"import_id": job["import_id"], "dry_run": True})
            assert preview.status_code == 200, preview.text
            counts = preview.json()
            assert (counts["records"], counts["vendor_accounts"], counts["cards"]) == (1, 1, 1)
            assert (counts["vendor"], counts["label"]) == ("pax8", "test-licences.csv")
            assert (await _cards_for(s, line_item_id))[0]["vendor_quantity"] is not None
            assert len(await _raw_usage(s)) == 1

            # A count other than the current one is refused: nothing is removed.
            stale = await _remove(
                s, {"import_id": job["import_id"], "dry_run": False, "expected_records": 5}
            )
            assert stale.status_code == 409, stale.text
            assert stale.headers["content-type"].startswith("application/problem+json")
            assert (await _cards_for(s, line_item_id))[0]["vendor_quantity"] is not None

            # A viewer cannot remove; another tenant cannot even find the import.
            body = {"import_id": job["import_id"], "dry_run": True}
            assert (await _remove(s, body, s.viewer_key)).status_code == 403
            assert (await _remove(s, body, s.other_key)).status_code == 404

            done = await _remove(
                s, {"import_id": job["import_id"], "dry_run": False, "expected_records": 1}
            )
            assert done.status_code == 200, done.text
            assert done.json()["removal_id"]

            # The card is recomputed without the usage (at once: the answer follows the
            # commit), the raw rows go, and the activity log says who removed what.
            cards = await _cards_for(s, line_item_id)
            assert not cards or cards[0]["vendor_quantity"] is None
            await eventually(
                lambda: _empty(_raw_usage(s)), timeout=15, what="the raw rows to be dropped"
            )

            async def entry() -> dict[str, Any] | None:
                response = await s.client.get(
                    "/api/v1/activity", params={"action_type": "usage_removal"}, headers=s.headers()
                )
                items = response.json()["items"]
                return items[0] if items else None

            recorded = await eventually(entry, timeout=15, what="the activity entry")
            assert recorded["summary"] == (
                "Removed usage of import test-licences.csv (Pax8): 1 record, "
                "1 vendor account, 1 card recomputed"
            )
            assert recorded["actor"]["kind"] == "api_key"

            # The same file imported again is imported, not found unchanged.
            again = await _import(s, content)
            assert again["status"] == "completed", again
            card = await eventually(reconciled, timeout=30, what="the usage to come back")
            assert Decimal(card["vendor_quantity"]) == psa_quantity + 3


async def _empty(items: Any) -> bool:
    return not await items
