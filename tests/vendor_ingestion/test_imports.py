"""CSV imports through the gateway API, end to end over real NATS and databases."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from tests.vendor_ingestion.conftest import FIXTURES, Stack
from trueup.contracts.types import MAX_NAME_LENGTH, MAX_QUANTITY, QUANTITY_PLACES
from trueup.gateway.identity.principal import Role
from trueup.gateway.identity.service import create_api_key, ensure_tenant
from trueup.vendor_ingestion import imports as ingestion_imports
from trueup.vendors.csv import DEFAULT_SAMPLE_BYTES, FileUsage, ImportResult


def _decimal(usage: dict[tuple[str, str], str]) -> dict[tuple[str, str], Decimal]:
    return {key: Decimal(value) for key, value in usage.items()}


class TestDoneWhenExports:
    async def test_four_real_exports_import_through_the_api(self, stack: Stack) -> None:
        # A distributor billing export with a BOM and a grand-total row: the suggestion.
        content = (FIXTURES / "distributor-billing-bom.csv").read_bytes()
        uploaded = await stack.upload("billing.csv", content, vendor="distributor")
        assert uploaded.status_code == 201, uploaded.text
        inspection = uploaded.json()
        assert inspection["detection"]["encoding"] == "utf-8-sig"
        assert inspection["suggestion"]["mapping"]["quantity_mode"] == "sum_per_sku"
        assert inspection["preview"]["columns"]
        committed = await stack.commit(inspection["import_id"], {"save_profile_as": "billing"})
        assert committed.status_code == 202, committed.text
        job = await stack.finished(inspection["import_id"])
        assert job["status"] == "completed", job
        assert job["counts"]["rows_read"] == 9
        assert job["counts"]["rows_imported"] == 8
        assert job["counts"]["totals_rows_ignored"] == 1
        assert job["usage_total"] == 6
        assert _decimal(await stack.usage("distributor")) == {
            ("c1a7e0f2-0001", "CFQ7TTC0LCHC"): Decimal(30),
            ("c1a7e0f2-0001", "CFQ7TTC0LH0R"): Decimal(30),
            ("c1a7e0f2-0002", "CFQ7TTC0LDPB"): Decimal(12),
            ("c1a7e0f2-0002", "CFQ7TTC0LH16"): Decimal(4),
            ("c1a7e0f2-0003", "CFQ7TTC0LCHC"): Decimal(50),
            ("c1a7e0f2-0003", "CFQ7TTC0LHSF"): Decimal(5),
        }

        # A semicolon-separated Windows-1252 device list, counted per site.
        job = await stack.import_file(
            "devices.csv",
            (FIXTURES / "device-list-cp1252.csv").read_bytes(),
            {
                "vendor": "rmm",
                "mapping": {
                    "account_column": "Site",
                    "sku_column": "Device Class",
                    "quantity_mode": "row_count",
                    "filters": [{"column": "Status", "operator": "equals", "values": ["Active"]}],
                },
            },
        )
        assert job["status"] == "completed", job
        assert job["counts"]["rows_filtered_out"] == 2
        assert _decimal(await stack.usage("rmm")) == {
            ("Müller & Söhne GmbH", "Workstation"): Decimal(2),
            ("Müller & Söhne GmbH", "Server"): Decimal(1),
            ("Café Zürich AG", "Workstation"): Decimal(2),
            ("Café Zürich AG", "Server"): Decimal(1),
            ("Société Générale Sécurité", "Workstation"): Decimal(2),
        }

        # A licence report with preamble lines and thousands separators.
        job = await stack.import_file(
            "licences.csv",
            (FIXTURES / "licence-report-preamble.csv").read_bytes(),
            {
                "vendor": "microsoft",
                "mapping": {
                    "account_column": "Customer",
                    "sku_column": "Licence",
                    "quantity_mode": "column_value",
                    "quantity_column": "Assigned",
                },
            },
        )
        assert job["status"] == "completed", job
        assert job["detection"]["header_row"] == 5
        assert job["counts"]["totals_rows_ignored"] == 1
        usage = _decimal(await stack.usage("microsoft"))
        assert usage[("Acme, Inc.", "Microsoft 365 E3")] == Decimal(1204)
        assert usage[("Contoso Ltd", "Backup Storage (GB)")] == Decimal("1536.25")

        # A tab-separated agent list: distinct hostnames per organisation, one product.
        job = await stack.import_file(
            "agents.tsv",
            (FIXTURES / "agent-list.tsv").read_bytes(),
            {
                "vendor": "huntress",
                "mapping": {
                    "account_column": "Organization",
                    "sku_constant": "Huntress EDR agent",
                    "quantity_mode": "distinct_count",
                    "distinct_column": "Hostname",
                },
            },
        )
        assert job["status"] == "completed", job
        assert _decimal(await stack.usage("huntress")) == {
            ("Acme Inc", "Huntress EDR agent"): Decimal(3),
            ("Riverside Veterinary Clinic", "Huntress EDR agent"): Decimal(2),
            ("Northwind Traders", "Huntress EDR agent"): Decimal(1),
        }

        # The saved profile recognises the next billing export by its header.
        again = await stack.upload("billing-december.csv", content.replace(b"27,", b"28,"))
        assert again.json()["profile"]["name"] == "billing"
        assert again.json()["profile"]["vendor"] == "distributor"
        profiles = await stack.api.get("/api/v1/import-profiles", headers=stack.headers)
        assert [p["name"] for p in profiles.json()["items"]] == ["billing"]
        # ...and is imported with it: no mapping, no vendor in the commit.
        committed = await stack.commit(again.json()["import_id"], {})
        assert committed.status_code == 202, committed.text
        job = await stack.finished(again.json()["import_id"])
        assert job["status"] == "completed"
        assert job["vendor"] == "distributor"
        usage = _decimal(await stack.usage("distributor"))
        assert usage[("c1a7e0f2-0001", "CFQ7TTC0LCHC")] == Decimal(31)


LICENCES = b"Customer,SKU,Qty\nAcme,M365-BP,27\nAcme,EXO-P1,3\nContoso,M365-BP,10\n"
MAPPING: dict[str, Any] = {
    "vendor": "pax8",
    "mapping": {
        "account_column": "Customer",
        "sku_column": "SKU",
        "quantity_mode": "column_value",
        "quantity_column": "Qty",
    },
}


class TestIdempotencyAndReplacement:
    async def test_the_same_bytes_again_change_nothing_and_say_so(self, stack: Stack) -> None:
        first = await stack.import_file("a.csv", LICENCES, MAPPING)
        assert first["status"] == "completed"
        second = await stack.import_file("a-again.csv", LICENCES, MAPPING)
        assert second["status"] == "unchanged"
        assert second["unchanged_from"] == first["import_id"]
        assert len(await stack.usage("pax8")) == 3

    async def test_a_newer_file_replaces_the_vendors_usage_for_its_accounts(
        self, stack: Stack
    ) -> None:
        await stack.import_file("a.csv", LICENCES, MAPPING)
        newer = b"Customer,SKU,Qty\nAcme,M365-BP,30\n"
        job = await stack.import_file("b.csv", newer, MAPPING)
        assert job["status"] == "completed"
        # Acme's EXO line is gone (replaced, not added to); Contoso was not in the file.
        assert _decimal(await stack.usage("pax8")) == {
            ("Acme", "M365-BP"): Decimal(30),
            ("Contoso", "M365-BP"): Decimal(10),
        }


BAD_ROWS = (
    b"Customer,SKU,Qty\n"
    b"Acme,M365-BP,27\n"
    b"Acme,EXO,abc\n"  # row 3: not a number
    b",M365-BP,4\n"  # row 4: empty account
    b"Contoso,M365-BP,-2\n"  # row 5: negative
    b"Fab,M365-BP,5,extra\n"  # row 6: ragged
    b"Good,M365-BP,1\n"
)


class TestValidation:
    async def test_invalid_rows_are_refused_with_each_row_column_and_reason(
        self, stack: Stack
    ) -> None:
        uploaded = await stack.upload("bad.csv", BAD_ROWS)
        import_id = uploaded.json()["import_id"]
        refused = await stack.commit(import_id, MAPPING)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        # The file is named with its first error, and on each error.
        assert refused.json()["detail"].startswith(
            "bad.csv, row 3, column 'Qty': the quantity is not a number; in all, 4 rows are"
            " invalid (4 errors); "
        ), refused.text
        assert {e["file_name"] for e in refused.json()["errors"]} == {"bad.csv"}
        errors = {(e["row"], e["column"]) for e in refused.json()["errors"]}
        assert (3, "Qty") in errors  # not a number
        assert (4, "Customer") in errors  # empty account
        assert (5, "Qty") in errors  # negative
        assert any(row == 6 for row, _ in errors)  # ragged row
        assert await stack.usage() == {}

        accepted = await stack.commit(import_id, {**MAPPING, "skip_invalid_rows": True})
        assert accepted.status_code == 202, accepted.text
        job = await stack.finished(import_id)
        assert job["status"] == "completed"
        assert job["counts"]["rows_skipped_invalid"] == 4
        assert job["counts"]["rows_imported"] == 2
        assert _decimal(await stack.usage()) == {
            ("Acme", "M365-BP"): Decimal(27),
            ("Good", "M365-BP"): Decimal(1),
        }
        again = await stack.commit(import_id, MAPPING)
        assert again.status_code == 409

    async def test_a_quantity_past_the_range_or_the_scale_is_refused_by_row(
        self, stack: Stack
    ) -> None:
        content = (
            b"Customer,SKU,Qty\n"
            b"Acme,M365-BP,5000000000\n"  # row 2: a billion or more
            b"Acme,EXO,1.1234567\n"  # row 3: seven decimals
            b"Good,M365-BP,1\n"
        )
        uploaded = await stack.upload("huge.csv", content)
        assert uploaded.status_code == 201, uploaded.text
        import_id = uploaded.json()["import_id"]

        refused = await stack.commit(import_id, MAPPING)

        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert [
            (e["row"], e["column"], e["reason"], e["value"]) for e in refused.json()["errors"]
        ] == [
            (2, "Qty", f"the quantity is {MAX_QUANTITY:,} or more", "5000000000"),
            (3, "Qty", f"the quantity has more than {QUANTITY_PLACES} decimals", "1.1234567"),
        ]
        assert refused.json()["detail"].startswith("huge.csv, row 2, column 'Qty': ")
        job = (await stack.api.get(f"/api/v1/imports/{import_id}", headers=stack.headers)).json()
        assert (job["file_name"], job["status"]) == ("huge.csv", "inspected")
        assert await stack.usage() == {}

        # Skipping them, the import finishes with the rest instead of running for ever.
        accepted = await stack.commit(import_id, {**MAPPING, "skip_invalid_rows": True})
        assert accepted.status_code == 202, accepted.text
        job = await stack.finished(import_id)
        assert job["status"] == "completed", job
        assert job["counts"]["rows_skipped_invalid"] == 2
        assert [(e["row"], e["column"]) for e in job["errors"]] == [(2, "Qty"), (3, "Qty")]
        assert _decimal(await stack.usage()) == {("Good", "M365-BP"): Decimal(1)}

    async def test_rows_summed_past_the_range_are_refused_naming_the_pair(
        self, stack: Stack
    ) -> None:
        content = (
            b"Customer,SKU,Qty\n"
            b"Acme,M365-BP,600000000\n"  # row 2
            b"Acme,M365-BP,400000000\n"  # row 3: the total reaches a billion
            b"Beta,M365-BP,2\n"
        )
        body = {**MAPPING, "mapping": {**MAPPING["mapping"], "quantity_mode": "sum_per_sku"}}
        uploaded = await stack.upload("sum.csv", content)

        refused = await stack.commit(uploaded.json()["import_id"], body)

        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert (error["row"], error["column"]) == (3, "Qty")
        assert (
            "vendor account 'Acme' and SKU 'M365-BP' add up to 1,000,000,000 on 2 rows"
            " (first on row 2)"
        ) in error["reason"]
        assert await stack.usage() == {}

    async def test_a_nul_or_an_overlong_id_or_sku_is_refused_by_row(self, stack: Stack) -> None:
        # Notes fill the sample inspection reads, so the NULs below it pass inspection (a
        # NUL in the sample is refused there as binary data) and only commit sees them.
        filler = "".join(f"Acme,M365-BP,1,{'n' * 90}\n" for _ in range(800))
        assert len(filler) > DEFAULT_SAMPLE_BYTES
        content = (
            "Customer,SKU,Qty,Notes\n"
            f"{filler}"
            "Ac\x00me,M365-BP,2,\n"  # row 802
            "Beta,EXO\x00,3,\n"  # row 803
            f"{'B' * (MAX_NAME_LENGTH + 1)},M365-BP,4,\n"  # row 804
            f"Beta,{'S' * (MAX_NAME_LENGTH + 1)},5,\n"  # row 805
            "Good,M365-BP,1,\n"
        ).encode()
        body = {**MAPPING, "mapping": {**MAPPING["mapping"], "quantity_mode": "sum_per_sku"}}
        uploaded = await stack.upload("names.csv", content)
        assert uploaded.status_code == 201, uploaded.text
        import_id = uploaded.json()["import_id"]

        refused = await stack.commit(import_id, body)

        assert refused.status_code == 422, refused.text
        nul = "contains the control character U+0000 (NUL)"
        long = f"is longer than {MAX_NAME_LENGTH} characters"
        assert [
            (e["file_name"], e["row"], e["column"], e["reason"], e["value"])
            for e in refused.json()["errors"]
        ] == [
            ("names.csv", 802, "Customer", f"the vendor account {nul}", "Ac\u2400me"),
            ("names.csv", 803, "SKU", f"the SKU {nul}", "EXO\u2400"),
            ("names.csv", 804, "Customer", f"the vendor account {long}", "B" * 199 + "\u2026"),
            ("names.csv", 805, "SKU", f"the SKU {long}", "S" * 199 + "\u2026"),
        ]
        assert refused.json()["detail"].startswith(
            f"names.csv, row 802, column 'Customer': the vendor account {nul}; "
        )
        job = (await stack.api.get(f"/api/v1/imports/{import_id}", headers=stack.headers)).json()
        assert job["status"] == "inspected"
        assert await stack.usage() == {}

        # Skipped, the rest is imported and the errors are kept with the job.
        accepted = await stack.commit(import_id, {**body, "skip_invalid_rows": True})
        assert accepted.status_code == 202, accepted.text
        job = await stack.finished(import_id)
        assert job["status"] == "completed", job
        assert job["counts"]["rows_skipped_invalid"] == 4
        assert [(e["row"], e["value"][:3]) for e in job["errors"]] == [
            (802, "Ac\u2400"),
            (803, "EXO"),
            (804, "BBB"),
            (805, "SSS"),
        ]
        assert _decimal(await stack.usage()) == {
            ("Acme", "M365-BP"): Decimal(800),
            ("Good", "M365-BP"): Decimal(1),
        }

    async def test_an_overlong_account_name_beside_an_id_is_refused_by_row(
        self, stack: Stack
    ) -> None:
        # Stored in a column as long as an id's: PostgreSQL refused it mid-import, which
        # left the job running for ever.
        body = {
            **MAPPING,
            "mapping": {**MAPPING["mapping"], "account_column": "Name", "account_id_column": "Id"},
        }
        content = (
            "Id,Name,SKU,Qty\n"
            f"A-1,{'N' * (MAX_NAME_LENGTH + 1)},M365-BP,2\n"  # row 2
            "G-1,Good,M365-BP,1\n"
        ).encode()
        uploaded = await stack.upload("names.csv", content)
        import_id = uploaded.json()["import_id"]

        refused = await stack.commit(import_id, body)

        assert refused.status_code == 422, refused.text
        assert [(e["row"], e["column"], e["reason"]) for e in refused.json()["errors"]] == [
            (2, "Name", f"the vendor account name is longer than {MAX_NAME_LENGTH} characters")
        ]
        assert await stack.usage() == {}
        accepted = await stack.commit(import_id, {**body, "skip_invalid_rows": True})
        assert accepted.status_code == 202, accepted.text
        assert (await stack.finished(import_id))["status"] == "completed"
        assert _decimal(await stack.usage()) == {("G-1", "M365-BP"): Decimal(1)}

    async def test_usage_the_contracts_refuse_fails_the_job_and_stores_nothing(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Should the reader ever let through usage a usage record refuses, the job must
        # fail with the reason, not stay running for ever.
        read_usage = ingestion_imports.read_usage

        def lenient(*args: Any, **kwargs: Any) -> ImportResult:
            result = read_usage(*args, **kwargs)
            unstorable = FileUsage("Acme", "Acme", "S" * (MAX_NAME_LENGTH + 1), Decimal(2), 1)
            return dataclasses.replace(result, usage=(*result.usage, unstorable))

        monkeypatch.setattr(ingestion_imports, "read_usage", lenient)
        content = b"Customer,SKU,Qty\nGood,M365-BP,1\n"

        job = await stack.import_file("long.csv", content, MAPPING)

        assert job["status"] == "failed", job
        assert "vendor account 'Acme'" in job["error"]
        assert "sku: String should have at most 500 characters" in job["error"]
        assert "nothing was imported" in job["error"]
        assert job["batch_id"] is None
        assert await stack.usage() == {}

    async def test_unreadable_files_get_a_precise_error_and_change_nothing(
        self, stack: Stack
    ) -> None:
        cases = {
            "empty.csv": (b"", "empty"),
            "blank.csv": (b"\r\n\r\n  \n", "blank"),
            "export.zip": (b"PK\x03\x04" + bytes(range(256)) * 4, "zip"),
            "noise.bin": (bytes(range(256)) * 40, ""),
            "numbers.csv": (b"1,2,3\n4,5,6\n7,8,9\n", "header"),
        }
        for name, (content, word) in cases.items():
            response = await stack.upload(name, content)
            assert response.status_code == 422, (name, response.text)
            assert name in response.json()["detail"], response.text
            assert word in response.json()["detail"].lower(), (name, response.text)
        assert await stack.usage() == {}

    async def test_a_mapping_naming_a_missing_column_is_refused(self, stack: Stack) -> None:
        uploaded = await stack.upload("a.csv", LICENCES)
        body = {**MAPPING, "mapping": {**MAPPING["mapping"], "quantity_column": "Seats"}}
        refused = await stack.commit(uploaded.json()["import_id"], body)
        assert refused.status_code == 422
        assert "Seats" in refused.json()["detail"]


class TestTenantIsolation:
    async def test_another_tenant_cannot_read_an_import_by_id(
        self, stack: Stack, tenant_ids: tuple[str, str]
    ) -> None:
        job = await stack.import_file("a.csv", LICENCES, MAPPING)
        _, other = tenant_ids
        async with stack.gateway.database.transaction() as session:
            await ensure_tenant(session, other, "Other MSP")
            _row, key = await create_api_key(session, other, "k", Role.ADMIN)
        headers = {"Authorization": f"Bearer {key}"}
        response = await stack.api.get(f"/api/v1/imports/{job['import_id']}", headers=headers)
        assert response.status_code == 404
        commit = await stack.api.post(
            f"/api/v1/imports/{job['import_id']}/commit", json=MAPPING, headers=headers
        )
        assert commit.status_code == 404
        usage = await stack.api.get("/api/v1/usage", headers=headers)
        assert usage.json()["items"] == []


class TestLimitsAndDocs:
    async def test_the_openapi_schema_documents_the_mapping_with_an_example_per_mode(
        self, stack: Stack
    ) -> None:
        schema = (await stack.api.get("/openapi.json")).json()
        commit = schema["paths"]["/api/v1/imports/{import_id}/commit"]["post"]
        examples = commit["requestBody"]["content"]["application/json"]["examples"]
        modes = {
            example["value"]["mapping"]["quantity_mode"]
            for example in examples.values()
            if "mapping" in example["value"]
        }
        assert modes == {"column_value", "row_count", "distinct_count", "sum_per_sku"}
        mapping = schema["components"]["schemas"]["ImportMapping"]
        assert set(mapping["properties"]["quantity_mode"]["enum"]) == modes

    async def test_an_upload_over_the_size_limit_is_refused(
        self, stack: Stack, tmp_path: Any
    ) -> None:
        limit = stack.api._transport.app.state.settings.max_upload_bytes  # type: ignore[attr-defined]
        # The limit is 200 MB; count on the middleware by declaring a bigger body.
        response = await stack.api.post(
            "/api/v1/imports",
            content=b"x" * 10,
            headers={
                **stack.headers,
                "content-type": "multipart/form-data; boundary=b",
                "content-length": str(limit + 1),
            },
        )
        assert response.status_code == 413
        assert await stack.usage() == {}


class TestIdempotencyKeyRetention:
    async def test_keys_older_than_the_retention_are_purged(self, stack: Stack) -> None:
        from datetime import UTC, datetime, timedelta

        import sqlalchemy as sa

        from trueup.vendor_ingestion.models import UsageBatchRow
        from trueup.vendor_ingestion.service import purge_idempotency_keys

        await stack.import_file("a.csv", LICENCES, MAPPING)
        database = stack.ingestion.database
        async with database.transaction(stack.tenant_id) as session:
            await session.execute(
                sa.update(UsageBatchRow)
                .where(UsageBatchRow.tenant_id == stack.tenant_id)
                .values(received_at=datetime.now(UTC) - timedelta(days=401))
            )
        assert await purge_idempotency_keys(database, retention_days=400) == 1
        assert await purge_idempotency_keys(database, retention_days=400) == 0
