"""Real-looking vendor exports import to exactly the usage a person would count by hand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from trueup.vendors.csv import (
    ColumnMapping,
    FilterOperator,
    QuantityMode,
    RowFilter,
    aggregate,
    detect,
    preview,
    suggest_mapping,
)
from trueup.vendors.csv.preview import ColumnType

FIXTURES = Path(__file__).parent / "fixtures"


class TestDistributorBillingExportWithBomAndGrandTotal:
    path = FIXTURES / "distributor-billing-bom.csv"

    def test_detection_reads_bom_crlf_and_commas_in_quotes(self) -> None:
        detection = detect(self.path)

        assert detection.encoding == "utf-8-sig"
        assert detection.bom is True
        assert detection.delimiter == ","
        assert detection.line_terminator == "\r\n"
        assert detection.header_row == 1
        assert detection.columns[0] == "invoiceId"  # no BOM left in the first name
        assert detection.columns[2] == "companyName"

    def test_suggested_mapping_sums_invoice_lines_per_company_and_sku(self) -> None:
        detection = detect(self.path)

        mapping = suggest_mapping(detection).mapping

        assert mapping is not None
        assert mapping.account_id_column == "companyId"
        assert mapping.account_column == "companyName"
        assert mapping.sku_column == "sku"
        assert mapping.quantity_column == "quantity"
        assert mapping.quantity_mode is QuantityMode.SUM_PER_SKU
        assert mapping.price_column == "unitPrice"

    def test_usage_and_counts_are_exact(self) -> None:
        detection = detect(self.path)
        mapping = suggest_mapping(detection).mapping
        assert mapping is not None

        result = aggregate(self.path, mapping, detection)

        assert result.usage_by_key() == {
            ("c1a7e0f2-0001", "CFQ7TTC0LCHC"): Decimal(30),
            ("c1a7e0f2-0001", "CFQ7TTC0LH0R"): Decimal(30),
            ("c1a7e0f2-0002", "CFQ7TTC0LDPB"): Decimal(12),
            ("c1a7e0f2-0002", "CFQ7TTC0LH16"): Decimal(4),
            ("c1a7e0f2-0003", "CFQ7TTC0LCHC"): Decimal(50),
            ("c1a7e0f2-0003", "CFQ7TTC0LHSF"): Decimal(5),
        }
        names = {usage.vendor_account_id: usage.vendor_account_name for usage in result.usage}
        assert names["c1a7e0f2-0002"] == "Bluebird Dental Group, LLC"
        prices = {(u.vendor_account_id, u.sku): u.unit_price for u in result.usage}
        assert prices[("c1a7e0f2-0002", "CFQ7TTC0LDPB")] == Decimal("12.5")
        assert result.counts.rows_read == 9
        assert result.counts.rows_imported == 8
        assert result.counts.totals_rows_ignored == 1
        assert result.counts.rows_skipped_invalid == 0
        assert result.report.ok


class TestSemicolonWindows1252DeviceListCountedPerSite:
    path = FIXTURES / "device-list-cp1252.csv"

    def test_detection_reads_windows_1252_semicolons_and_decimal_commas(self) -> None:
        detection = detect(self.path)

        assert detection.encoding == "cp1252"
        assert detection.delimiter == ";"
        assert detection.number_format.decimal_separator == ","
        assert detection.number_format.thousands_separator == "."
        shown = preview(detection)
        assert shown.rows[0][0] == "Müller & Söhne GmbH"
        assert shown.column("Disk (GB)").inferred_type is ColumnType.DECIMAL
        assert shown.column("Last Seen").inferred_type is ColumnType.DATE

    def test_suggestion_counts_rows_of_active_devices(self) -> None:
        mapping = suggest_mapping(detect(self.path)).mapping

        assert mapping is not None
        assert mapping.quantity_mode is QuantityMode.ROW_COUNT
        assert mapping.account_column == "Site"
        assert mapping.sku_column == "Device Class"
        assert mapping.filters == [
            RowFilter(column="Status", operator=FilterOperator.EQUALS, values=["Active"])
        ]

    def test_active_devices_per_site_and_class(self) -> None:
        mapping = ColumnMapping(
            account_column="Site",
            sku_column="Device Class",
            quantity_mode=QuantityMode.ROW_COUNT,
            filters=[RowFilter(column="Status", values=["active"])],
        )

        result = aggregate(self.path, mapping)

        assert result.usage_by_key() == {
            ("Müller & Söhne GmbH", "Workstation"): Decimal(2),
            ("Müller & Söhne GmbH", "Server"): Decimal(1),
            ("Café Zürich AG", "Workstation"): Decimal(2),
            ("Café Zürich AG", "Server"): Decimal(1),
            ("Société Générale Sécurité", "Workstation"): Decimal(2),
        }
        assert result.counts.rows_read == 10
        assert result.counts.rows_filtered_out == 2
        assert result.counts.rows_imported == 8


class TestLicenceReportWithPreambleAndThousandsSeparators:
    path = FIXTURES / "licence-report-preamble.csv"

    def test_header_is_found_after_the_preamble(self) -> None:
        detection = detect(self.path)

        assert detection.header_row == 5
        assert detection.preamble_rows == 4
        assert detection.columns == ("Customer", "Licence", "Purchased", "Assigned", "Unit Price")

    def test_assigned_licences_with_thousands_separators(self) -> None:
        mapping = ColumnMapping(
            account_column="Customer",
            sku_column="Licence",
            quantity_mode=QuantityMode.COLUMN_VALUE,
            quantity_column="Assigned",
            price_column="Unit Price",
        )

        result = aggregate(self.path, mapping)

        assert result.usage_by_key() == {
            ("Acme, Inc.", "Microsoft 365 Business Premium"): Decimal(27),
            ("Acme, Inc.", "Microsoft 365 E3"): Decimal(1204),
            ("Contoso Ltd", "Microsoft 365 Business Basic"): Decimal(1987),
            ("Contoso Ltd", "Backup Storage (GB)"): Decimal("1536.25"),
            ("Fabrikam Inc", "Microsoft 365 Business Premium"): Decimal(18),
        }
        assert result.counts.totals_rows_ignored == 1
        assert result.counts.rows_imported == 5
        assert result.report.ok

    def test_suggestion_takes_a_licence_count_column(self) -> None:
        suggestion = suggest_mapping(detect(self.path))

        assert suggestion.mapping is not None
        assert suggestion.mapping.quantity_column in ("Purchased", "Assigned")
        assert suggestion.mapping.quantity_mode is QuantityMode.COLUMN_VALUE


class TestTabSeparatedAgentList:
    path = FIXTURES / "agent-list.tsv"

    def test_detection_reads_tabs(self) -> None:
        detection = detect(self.path)

        assert detection.delimiter == "\t"
        assert detection.columns[:2] == ("Organization", "Hostname")

    def test_suggestion_needs_a_product_name_when_the_file_has_none(self) -> None:
        detection = detect(self.path)

        assert suggest_mapping(detection).missing == ("sku",)
        mapping = suggest_mapping(detection, default_sku="Huntress EDR agent").mapping
        assert mapping is not None
        assert mapping.sku_constant == "Huntress EDR agent"
        assert mapping.quantity_mode is QuantityMode.ROW_COUNT

    @pytest.mark.parametrize(
        ("mode", "acme_agents"),
        [(QuantityMode.ROW_COUNT, 4), (QuantityMode.DISTINCT_COUNT, 3)],
    )
    def test_agents_per_organisation(self, mode: QuantityMode, acme_agents: int) -> None:
        mapping = ColumnMapping(
            account_column="Organization",
            sku_constant="Huntress EDR agent",
            quantity_mode=mode,
            distinct_column="Hostname" if mode is QuantityMode.DISTINCT_COUNT else None,
        )

        result = aggregate(self.path, mapping)

        assert result.usage_by_key() == {
            ("Acme Inc", "Huntress EDR agent"): Decimal(acme_agents),
            ("Riverside Veterinary Clinic", "Huntress EDR agent"): Decimal(2),
            ("Northwind Traders", "Huntress EDR agent"): Decimal(1),
        }
        assert result.counts.rows_imported == 7
