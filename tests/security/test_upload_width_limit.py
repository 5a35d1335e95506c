"""Issue #16 item 9: a very wide CSV is refused at inspection, and every answer fits NATS.

Before the fix a 100,000-column file kept the inspection busy until the gateway gave up
(503 after 120 s), and its job could never be read back: the reply was larger than the
broker's max payload.
"""

from __future__ import annotations

import time

from tests.vendor_ingestion import conftest as ingestion
from tests.vendor_ingestion.conftest import Stack
from trueup.vendors.csv import MAX_COLUMNS

# vendor_ingestion and the gateway on real NATS: the fixture of tests/vendor_ingestion.
stack = ingestion.stack


def _wide_csv(columns: int, rows: int = 3) -> bytes:
    header = ",".join(f"Column name number {n}" for n in range(columns))
    data = [",".join(str(r * n % 97) for n in range(columns)) for r in range(1, rows + 1)]
    return ("\r\n".join([header, *data]) + "\r\n").encode()


class TestWideFiles:
    async def test_a_100000_column_file_is_refused_at_inspection_naming_file_and_limit(
        self, stack: Stack
    ) -> None:
        started = time.monotonic()
        response = await stack.upload("wide-export.csv", _wide_csv(100_000, rows=2))
        assert time.monotonic() - started < 30
        assert response.status_code == 422, response.text
        problem = response.json()
        assert "wide-export.csv" in problem["detail"]
        assert str(MAX_COLUMNS) in problem["detail"]
        assert "columns" in problem["detail"]

    async def test_one_column_over_the_limit_is_refused(self, stack: Stack) -> None:
        response = await stack.upload("just-too-wide.csv", _wide_csv(MAX_COLUMNS + 1))
        assert response.status_code == 422, response.text
        assert "just-too-wide.csv" in response.json()["detail"]

    async def test_a_file_at_the_limit_is_inspected_and_can_be_read_back(
        self, stack: Stack
    ) -> None:
        uploaded = await stack.upload("widest-allowed.csv", _wide_csv(MAX_COLUMNS, rows=30))
        assert uploaded.status_code == 201, uploaded.text
        assert len(uploaded.json()["preview"]["columns"]) == MAX_COLUMNS
        again = await stack.api.get(
            f"/api/v1/imports/{uploaded.json()['import_id']}", headers=stack.headers
        )
        assert again.status_code == 200, again.text
        assert again.json()["import_id"] == uploaded.json()["import_id"]
