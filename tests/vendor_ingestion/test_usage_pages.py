"""The usage list through the gateway: pages in key order, a cursor that cannot be forged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.vendor_ingestion.conftest import Stack
from trueup.platform import paging

ACCOUNTS = 7
SKUS = ("EDR", "SIEM")


def _usage_csv() -> bytes:
    lines = ["Customer,Product,Seats"]
    lines += [f"Client {n:02d},{sku},{n + 1}" for n in range(ACCOUNTS) for sku in SKUS]
    return ("\n".join(lines) + "\n").encode()


async def _page(stack: Stack, **params: Any) -> dict[str, Any]:
    response = await stack.api.get(
        "/api/v1/usage", params={"vendor": "edr", **params}, headers=stack.headers
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _import_usage(stack: Stack) -> None:
    job = await stack.import_file(
        "edr.csv",
        _usage_csv(),
        {
            "vendor": "edr",
            "mapping": {
                "account_column": "Customer",
                "sku_column": "Product",
                "quantity_mode": "column_value",
                "quantity_column": "Seats",
            },
        },
    )
    assert job["status"] == "completed", job


class TestUsagePages:
    async def test_pages_of_three_list_every_row_once_in_key_order(self, stack: Stack) -> None:
        await _import_usage(stack)

        seen: list[tuple[str, str]] = []
        pages = 0
        cursor: str | None = None
        while True:
            page = await _page(stack, limit=3, **({"cursor": cursor} if cursor else {}))
            pages += 1
            assert len(page["items"]) <= 3
            seen += [(u["vendor_account_id"], u["sku"]) for u in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        expected = sorted((f"Client {n:02d}", sku) for n in range(ACCOUNTS) for sku in SKUS)
        assert seen == expected
        assert pages == -(-len(expected) // 3)

    async def test_a_page_too_large_for_one_answer_is_cut_and_continues(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # 5,000 rows with long names would pass the broker's 1 MB message limit (413).
        # Here a page holds about two rows, whatever the limit asked.
        await _import_usage(stack)
        everything = [(u["vendor_account_id"], u["sku"]) for u in (await _page(stack))["items"]]
        one = max(len(json.dumps(u)) for u in (await _page(stack, limit=1))["items"])
        monkeypatch.setattr(paging, "PAGE_BYTES", 2 * one + 40)

        seen: list[tuple[str, str]] = []
        sizes: list[int] = []
        cursor: str | None = None
        while True:
            page = await _page(stack, limit=100, **({"cursor": cursor} if cursor else {}))
            sizes.append(len(page["items"]))
            seen += [(u["vendor_account_id"], u["sku"]) for u in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert max(sizes) <= 2 < len(everything)
        assert seen == everything

    async def test_a_cursor_not_made_by_the_service_is_a_400(self, stack: Stack) -> None:
        response = await stack.api.get(
            "/api/v1/usage", params={"cursor": "not-a-cursor"}, headers=stack.headers
        )
        assert response.status_code == 400, response.text
        assert response.json()["title"] == "Invalid cursor"
