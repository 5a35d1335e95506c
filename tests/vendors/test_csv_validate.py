"""Validation reports name the row, column and reason; aggregation refuses or skips."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from trueup.contracts.types import MAX_NAME_LENGTH, MAX_QUANTITY, QUANTITY_PLACES, Name, Quantity
from trueup.vendors.csv import (
    MAPPING_EXAMPLES,
    ColumnMapping,
    CsvImportError,
    FilterOperator,
    InvalidRowsError,
    MappingError,
    QuantityMode,
    RowError,
    RowFilter,
    aggregate,
    detect,
    read_usage,
    validate,
)

SUM = ColumnMapping(
    account_column="Customer",
    sku_column="SKU",
    quantity_mode=QuantityMode.SUM_PER_SKU,
    quantity_column="Qty",
)

BAD = (
    b"Usage export\r\n"  # row 1
    b"\r\n"  # row 2
    b"Customer,SKU,Qty,Status\r\n"  # row 3
    b"Acme,E3,4,Active\r\n"  # row 4
    b"Acme,E3,four,Active\r\n"  # row 5: not a number
    b'"Beta, Ltd","E3\r\nAnnual",2,Active\r\n'  # rows 6: a quoted newline in one row
    b"Beta,E3,-3,Active\r\n"  # row 7: negative
    b",E3,5,Active\r\n"  # row 8: empty account
    b"\r\n"  # row 9: blank
    b"Gamma,E3,5\r\n"  # row 10: ragged
    b"Gamma,,5,Active\r\n"  # row 11: empty SKU
    b"Gamma,E5,1.5,Inactive\r\n"  # row 12: filtered out when filtering on Status
    b"Gamma,E5,2,Active\r\n"  # row 13
    b"Total,,17,\r\n"  # row 14: totals
)


class TestValidationReport:
    def test_every_bad_row_with_row_column_and_reason(self) -> None:
        report = validate(BAD, SUM, file_name="bad.csv")

        assert not report.ok
        assert report.file_name == "bad.csv"
        assert [(e.row, e.column, e.reason) for e in report.errors] == [
            (5, "Qty", "the quantity is not a number"),
            (7, "Qty", "the quantity is negative"),
            (8, "Customer", "the vendor account is empty"),
            (10, None, "the row has 3 fields but the header has 4"),
            (11, "SKU", "the SKU is empty"),
        ]
        assert report.errors[0].value == "four"
        assert report.errors[1].value == "-3"
        assert report.error_count == 5
        assert report.invalid_rows == 5

    def test_counts_add_up(self) -> None:
        result = read_usage(BAD, SUM)

        counts = result.counts
        assert counts.rows_read == 10
        assert counts.blank_rows == 1
        assert counts.totals_rows_ignored == 1
        assert counts.rows_skipped_invalid == 5
        assert counts.rows_imported == 4
        assert counts.rows_read == (
            counts.rows_imported
            + counts.rows_skipped_invalid
            + counts.totals_rows_ignored
            + counts.rows_filtered_out
        )

    def test_commit_is_refused_while_errors_exist(self) -> None:
        with pytest.raises(InvalidRowsError) as caught:
            aggregate(BAD, SUM, file_name="bad.csv")

        assert caught.value.report.error_count == 5
        assert "bad.csv" in str(caught.value)

    def test_skipping_invalid_rows_imports_the_rest(self) -> None:
        result = aggregate(BAD, SUM, skip_invalid_rows=True)

        assert result.usage_by_key() == {
            ("Acme", "E3"): Decimal(4),
            ("Beta, Ltd", "E3\r\nAnnual"): Decimal(2),
            ("Gamma", "E5"): Decimal("3.5"),
        }
        assert result.counts.rows_skipped_invalid == 5

    def test_filters_drop_rows_before_they_are_validated(self) -> None:
        mapping = SUM.model_copy(
            update={"filters": [RowFilter(column="Status", values=["ACTIVE"])]}
        )

        result = read_usage(BAD, mapping)

        assert result.counts.rows_filtered_out == 1
        assert result.usage_by_key()[("Gamma", "E5")] == Decimal(2)

    def test_report_lists_at_most_max_errors_but_counts_all(self) -> None:
        rows = "Customer,SKU,Qty\n" + "".join(f"A{n},E3,x\n" for n in range(50))

        report = validate(rows.encode(), SUM, max_errors=10)

        assert len(report.errors) == 10
        assert report.error_count == 50
        assert report.truncated


class TestQuantityModes:
    DATA = (
        b"Customer,SKU,Qty,User\n"
        b"Acme,E3,2,ann\nAcme,E3,3,bob\nAcme,E3,1,ANN \nAcme,E5,1.25,cid\nBeta,E3,7,dan\n"
    )

    def test_sum_per_sku(self) -> None:
        result = aggregate(self.DATA, SUM)

        assert result.usage_by_key() == {
            ("Acme", "E3"): Decimal(6),
            ("Acme", "E5"): Decimal("1.25"),
            ("Beta", "E3"): Decimal(7),
        }

    def test_row_count(self) -> None:
        mapping = ColumnMapping(
            account_column="Customer", sku_column="SKU", quantity_mode=QuantityMode.ROW_COUNT
        )

        assert aggregate(self.DATA, mapping).usage_by_key() == {
            ("Acme", "E3"): Decimal(3),
            ("Acme", "E5"): Decimal(1),
            ("Beta", "E3"): Decimal(1),
        }

    def test_distinct_count(self) -> None:
        mapping = ColumnMapping(
            account_column="Customer",
            sku_column="SKU",
            quantity_mode=QuantityMode.DISTINCT_COUNT,
            distinct_column="User",
        )

        result = aggregate(self.DATA, mapping)

        assert result.usage_by_key()[("Acme", "E3")] == Decimal(2)
        assert {u.sku: u.rows for u in result.usage if u.vendor_account_id == "Acme"} == {
            "E3": 3,
            "E5": 1,
        }

    def test_column_value_reports_a_second_row_for_the_same_pair(self) -> None:
        mapping = SUM.model_copy(update={"quantity_mode": QuantityMode.COLUMN_VALUE})

        report = validate(self.DATA, mapping)

        assert len(report.errors) == 1
        error = report.errors[0]
        assert error.row == 4
        assert error.column == "Qty"
        assert "first on row 2" in error.reason
        assert report.invalid_rows == 3
        result = aggregate(self.DATA, mapping, skip_invalid_rows=True)
        assert ("Acme", "E3") not in result.usage_by_key()
        assert result.usage_by_key()[("Beta", "E3")] == Decimal(7)

    def test_account_id_keys_usage_and_the_name_is_kept(self) -> None:
        data = b"Id,Name,SKU,Qty\nC1,Acme Inc,E3,2\nC1,Acme Inc,E3,3\nC2,Beta,E3,1\n"
        mapping = ColumnMapping(
            account_column="Name",
            account_id_column="Id",
            sku_column="SKU",
            quantity_mode=QuantityMode.SUM_PER_SKU,
            quantity_column="Qty",
        )

        usage = aggregate(data, mapping).usage

        assert [(u.vendor_account_id, u.vendor_account_name, u.quantity) for u in usage] == [
            ("C1", "Acme Inc", Decimal(5)),
            ("C2", "Beta", Decimal(1)),
        ]

    def test_decimal_commas_and_thousands_dots(self) -> None:
        data = "Kunde;SKU;Menge\nMüller;Backup GB;1.536,25\nMüller;Backup GB;0,75\n"

        result = aggregate(
            data.encode("cp1252"),
            ColumnMapping(
                account_column="Kunde",
                sku_column="SKU",
                quantity_mode=QuantityMode.SUM_PER_SKU,
                quantity_column="Menge",
            ),
        )

        assert result.usage_by_key() == {("Müller", "Backup GB"): Decimal("1537")}

    def test_a_malformed_grouping_is_an_error_not_a_different_number(self) -> None:
        data = b"Kunde;SKU;Menge\nA;B;1,5\nA;B;1.5\n"
        mapping = ColumnMapping(
            account_column="Kunde",
            sku_column="SKU",
            quantity_mode=QuantityMode.SUM_PER_SKU,
            quantity_column="Menge",
        )

        report = validate(data, mapping)

        assert [(e.row, e.reason) for e in report.errors] == [(3, "the quantity is not a number")]


class TestQuantityLimits:
    """A cell or a per-pair total outside the contracts' `Quantity` is a row error."""

    OUT_OF_RANGE = (
        b"Customer,SKU,Qty\n"
        b"Acme,E3,5000000000\n"  # row 2: a billion or more
        b"Acme,E5,1.1234567\n"  # row 3: seven decimals
        b"Beta,E3,1111111111111111111111111111111111111111\n"  # row 4: 40 digits
        b"Beta,E5,2\n"
    )

    def test_a_cell_past_the_range_or_the_scale_is_named_with_its_row_and_value(self) -> None:
        report = validate(self.OUT_OF_RANGE, SUM, file_name="huge.csv")

        assert report.file_name == "huge.csv"
        assert [(e.row, e.column, e.reason, e.value) for e in report.errors] == [
            (2, "Qty", f"the quantity is {MAX_QUANTITY:,} or more", "5000000000"),
            (3, "Qty", f"the quantity has more than {QUANTITY_PLACES} decimals", "1.1234567"),
            (4, "Qty", f"the quantity is {MAX_QUANTITY:,} or more", "1" * 40),
        ]
        assert report.invalid_rows == 3
        with pytest.raises(InvalidRowsError):
            aggregate(self.OUT_OF_RANGE, SUM, file_name="huge.csv")
        # Skipped, the 40-digit cell is gone, not read as some other 38-digit number.
        skipped = aggregate(self.OUT_OF_RANGE, SUM, skip_invalid_rows=True)
        assert skipped.usage_by_key() == {("Beta", "E5"): Decimal(2)}

    def test_the_limits_are_the_contracts_and_padding_zeros_are_not_precision(self) -> None:
        largest = MAX_QUANTITY - Decimal(1).scaleb(-QUANTITY_PLACES)
        data = (
            "Customer,SKU,Qty\n"
            f"Acme,E3,{largest}\n"
            f"Acme,E5,{MAX_QUANTITY}\n"  # row 3
            "Beta,E3,0001.500000000000000000000000000\n"
            f"Beta,E5,0.{'0' * QUANTITY_PLACES}1\n"  # row 5
        ).encode()

        result = read_usage(data, SUM)

        assert [(e.row, e.column) for e in result.report.errors] == [(3, "Qty"), (5, "Qty")]
        assert result.usage_by_key() == {("Acme", "E3"): largest, ("Beta", "E3"): Decimal("1.5")}
        quantities = TypeAdapter(Quantity)
        assert all(quantities.validate_python(u.quantity) == u.quantity for u in result.usage)

    def test_grouped_and_decimal_comma_cells_are_judged_by_their_value(self) -> None:
        data = "Kunde;SKU;Menge\nA;B;5.000.000.000\nA;C;1,1234567\nA;D;999.999.999,5\n"
        mapping = SUM.model_copy(
            update={"account_column": "Kunde", "sku_column": "SKU", "quantity_column": "Menge"}
        )

        result = read_usage(data.encode(), mapping)

        assert [(e.row, e.value) for e in result.report.errors] == [
            (2, "5.000.000.000"),
            (3, "1,1234567"),
        ]
        assert result.usage_by_key() == {("A", "D"): Decimal("999999999.5")}

    def test_rows_summed_past_the_range_name_the_pair_and_its_rows(self) -> None:
        data = (
            b"Customer,SKU,Qty\n"
            b"Acme,E3,600000000\n"  # row 2
            b"Beta,E3,1\n"
            b"Acme,E3,400000000\n"  # row 4: the total reaches a billion
            b"Acme,E5,999999999\n"
        )

        result = read_usage(data, SUM, file_name="sum.csv")

        report = result.report
        assert report.file_name == "sum.csv"
        assert [(e.row, e.column) for e in report.errors] == [(4, "Qty")]
        reason = report.errors[0].reason
        assert "vendor account 'Acme' and SKU 'E3' add up to 1,000,000,000 on 2 rows" in reason
        assert "(first on row 2)" in reason
        assert f"below {MAX_QUANTITY:,}" in reason
        assert (report.error_count, report.invalid_rows) == (1, 2)
        assert result.counts.rows_imported == 2
        assert result.usage_by_key() == {
            ("Beta", "E3"): Decimal(1),
            ("Acme", "E5"): Decimal(999999999),
        }
        with pytest.raises(InvalidRowsError):
            aggregate(data, SUM)

    def test_a_total_past_the_range_across_blocks_is_found(self) -> None:
        lines = ["Customer,SKU,Qty"] + [f"Acme,E3,{10**8}" for _ in range(2000)]
        data = ("\n".join(lines) + "\nBeta,E3,1\n").encode()

        result = read_usage(data, SUM, block_bytes=4096)

        assert [(e.row, e.column) for e in result.report.errors] == [(2001, "Qty")]
        assert "on 2000 rows (first on row 2)" in result.report.errors[0].reason
        assert result.usage_by_key() == {("Beta", "E3"): Decimal(1)}


class TestNameLimits:
    """Ids, SKUs and names the contracts' `Name` and `Text` refuse are row errors."""

    LONG_ACCOUNT = "B" * (MAX_NAME_LENGTH + 1)
    LONG_SKU = "S" * (MAX_NAME_LENGTH + 1)
    NULS = "\x00" * (MAX_NAME_LENGTH + 1)

    def test_a_nul_or_an_overlong_id_or_sku_is_named_with_its_row_and_a_short_value(
        self,
    ) -> None:
        data = (
            "Customer,SKU,Qty\n"
            "Acme,E3,1\n"
            "Ac\x00me,E3,2\n"  # row 3
            "Beta,E\x003,3\n"  # row 4
            f"{self.LONG_ACCOUNT},E3,4\n"  # row 5
            f"Beta,{self.LONG_SKU},5\n"  # row 6
            f"{self.NULS},E3,6\n"  # row 7: both, once each
            "Gamma,E3,7\n"
        ).encode()
        # The detection sample ends before the NULs, as it does in a large file.
        detection = detect(data.split(b"Ac")[0])

        report = validate(data, SUM, detection, file_name="names.csv")

        nul = "contains the control character U+0000 (NUL)"
        long = f"is longer than {MAX_NAME_LENGTH} characters"
        assert report.file_name == "names.csv"
        assert [(e.row, e.column, e.reason, e.value) for e in report.errors] == [
            (3, "Customer", f"the vendor account {nul}", "Ac\u2400me"),
            (4, "SKU", f"the SKU {nul}", "E\u24003"),
            (5, "Customer", f"the vendor account {long}", "B" * 199 + "\u2026"),
            (6, "SKU", f"the SKU {long}", "S" * 199 + "\u2026"),
            (7, "Customer", f"the vendor account {nul}", "\u2400" * 199 + "\u2026"),
            (7, "Customer", f"the vendor account {long}", "\u2400" * 199 + "\u2026"),
        ]
        assert (report.error_count, report.invalid_rows) == (6, 5)
        with pytest.raises(InvalidRowsError):
            aggregate(data, SUM, detection)
        skipped = aggregate(data, SUM, detection, skip_invalid_rows=True)
        assert skipped.usage_by_key() == {("Acme", "E3"): Decimal(1), ("Gamma", "E3"): Decimal(7)}
        assert skipped.counts.rows_skipped_invalid == 5

    def test_the_limits_are_the_contracts_in_characters_not_bytes(self) -> None:
        longest = "\u00e9" * MAX_NAME_LENGTH  # 1,000 bytes of UTF-8
        data = (
            "Customer,SKU,Qty\n"
            f"{longest},{longest},1\n"
            f"  {longest}  ,E3,2\n"  # padding is trimmed, as the stored id is
            f"{longest}x,E3,3\n"  # row 4
        ).encode()

        result = read_usage(data, SUM)

        assert [(e.row, e.column) for e in result.report.errors] == [(4, "Customer")]
        assert result.usage_by_key() == {
            (longest, longest): Decimal(1),
            (longest, "E3"): Decimal(2),
        }
        names = TypeAdapter(Name)
        for usage in result.usage:
            assert names.validate_python(usage.vendor_account_id) == usage.vendor_account_id
            assert names.validate_python(usage.sku) == usage.sku
        with pytest.raises(ValidationError):
            names.validate_python(f"{longest}x")
        with pytest.raises(ValidationError):
            names.validate_python("Ac\x00me")

    def test_a_nul_or_an_overlong_account_name_beside_an_id_column(self) -> None:
        mapping = SUM.model_copy(update={"account_column": "Name", "account_id_column": "Id"})
        longest = "N" * MAX_NAME_LENGTH
        data = (
            "Id,Name,SKU,Qty\n"
            f"A-1,{longest},E3,1\n"
            "B-2,Be\x00ta,E3,2\n"  # row 3
            f"C-3,{longest}x,E3,3\n"  # row 4: stored beside the id, as long as one
        ).encode()

        result = read_usage(data, mapping, detect(data.split(b"B-2")[0]))

        name = "the vendor account name"
        assert [(e.row, e.column, e.reason, e.value) for e in result.report.errors] == [
            (3, "Name", f"{name} contains the control character U+0000 (NUL)", "Be\u2400ta"),
            (
                4,
                "Name",
                f"{name} is longer than {MAX_NAME_LENGTH} characters",
                "N" * 199 + "\u2026",
            ),
        ]
        assert [(u.vendor_account_id, u.vendor_account_name) for u in result.usage] == [
            ("A-1", longest)
        ]


class TestStreaming:
    def test_small_blocks_keep_row_numbers_and_totals_exact(self) -> None:
        lines = ["Customer,SKU,Qty"]
        for n in range(3000):
            quantity = "oops" if n in (5, 1234, 2999) else str(n % 7)
            lines.append(f'"Client {n % 40}, Inc.",SKU-{n % 3},{quantity}')
            if n == 2000:
                lines.append("Client 1,short")
        data = ("\n".join(lines) + "\n").encode()

        result = read_usage(data, SUM, block_bytes=4096)

        # Data row n sits on file row n + 2; rows after the short row move down by one.
        assert [(e.row, e.column) for e in result.report.errors] == [
            (7, "Qty"),
            (1236, "Qty"),
            (2003, None),
            (3002, "Qty"),
        ]
        expected: dict[tuple[str, str], Decimal] = {}
        for n in range(3000):
            if n in (5, 1234, 2999):
                continue
            key = (f"Client {n % 40}, Inc.", f"SKU-{n % 3}")
            expected[key] = expected.get(key, Decimal(0)) + n % 7
        assert result.usage_by_key() == expected

    def test_reads_paths_and_file_objects(self, tmp_path: Path) -> None:
        data = b"Customer,SKU,Qty\nAcme,E3,2\n"
        path = tmp_path / "usage.csv"
        path.write_bytes(data)

        from_path = aggregate(path, SUM)
        from_file = aggregate(io.BytesIO(data), SUM)

        assert from_path.usage_by_key() == from_file.usage_by_key() == {("Acme", "E3"): 2}
        assert from_path.detection.file_name == "usage.csv"

    def test_windows_1252_after_an_ascii_sample(self) -> None:
        lines = ["Customer,SKU,Qty"] + [f"Client {n},E3,1" for n in range(5000)]
        data = ("\n".join(lines) + "\nSociété Générale,E3,4\n").encode("cp1252")
        detection = detect(data, sample_bytes=1024)
        assert detection.encoding == "utf-8"

        result = aggregate(data, SUM, detection)

        assert result.detection.encoding == "cp1252"
        assert result.usage_by_key()[("Société Générale", "E3")] == Decimal(4)

    def test_footer_lines_after_the_data_are_not_errors(self) -> None:
        data = b"Customer,SKU,Qty\nAcme,E3,2\n,,2\nExported by Vendor Portal on 2026-11-27\n"

        result = aggregate(data, SUM)

        assert result.report.ok
        assert result.counts.totals_rows_ignored == 2


class TestMappingModel:
    def test_a_mapping_naming_a_missing_column_is_refused(self) -> None:
        mapping = SUM.model_copy(update={"quantity_column": "Seats"})

        with pytest.raises(MappingError) as caught:
            read_usage(b"Customer,SKU,Qty\nAcme,E3,2\n", mapping, file_name="u.csv")

        assert caught.value.column == "Seats"
        assert isinstance(caught.value, CsvImportError)

    @pytest.mark.parametrize(
        "fields",
        [
            {"account_column": "A", "quantity_mode": "row_count"},
            {"account_column": "A", "sku_column": "S", "sku_constant": "X"},
            {"account_column": "A", "sku_column": "S", "quantity_mode": "sum_per_sku"},
            {"account_column": "A", "sku_column": "S", "quantity_mode": "distinct_count"},
        ],
    )
    def test_incomplete_mappings_are_invalid(self, fields: dict[str, str]) -> None:
        with pytest.raises(ValidationError):
            ColumnMapping.model_validate(fields)

    def test_filter_operators(self) -> None:
        data = b"Customer,SKU,State\nA,E3,Active\nB,E3,suspended\nC,E3,\nD,E3,Active trial\n"

        def customers(row_filter: RowFilter) -> set[str]:
            mapping = ColumnMapping(
                account_column="Customer",
                sku_column="SKU",
                quantity_mode=QuantityMode.ROW_COUNT,
                filters=[row_filter],
            )
            return {usage.vendor_account_id for usage in aggregate(data, mapping).usage}

        assert customers(RowFilter(column="State", values=["active"])) == {"A"}
        not_equals = RowFilter(
            column="State", operator=FilterOperator.NOT_EQUALS, values=["active"]
        )
        assert customers(not_equals) == {"B", "C", "D"}
        is_in = RowFilter(
            column="State", operator=FilterOperator.IN, values=["Active", "Suspended"]
        )
        assert customers(is_in) == {"A", "B"}
        contains = RowFilter(column="State", operator=FilterOperator.CONTAINS, values=["active"])
        assert customers(contains) == {"A", "D"}
        not_empty = RowFilter(column="State", operator=FilterOperator.NOT_EMPTY)
        assert customers(not_empty) == {"A", "B", "D"}

    def test_row_error_as_dict(self) -> None:
        error = RowError(row=3, column="Qty", reason="the quantity is negative", value="-1")

        assert error.as_dict() == {
            "row": 3,
            "column": "Qty",
            "reason": "the quantity is negative",
            "value": "-1",
        }


class TestPaddedRows:
    def test_data_rows_ending_in_a_delimiter_the_header_lacks(self) -> None:
        data = b"Customer,SKU,Qty\r\nAcme,E3,2,\r\nBeta,E3,3,\r\n"

        result = aggregate(data, SUM)

        assert result.detection.columns == ("Customer", "SKU", "Qty", "Column 4")
        assert result.usage_by_key() == {("Acme", "E3"): Decimal(2), ("Beta", "E3"): Decimal(3)}

    def test_a_header_ending_in_a_delimiter_the_rows_lack(self) -> None:
        data = b"Customer,SKU,Qty,\nAcme,E3,2\nBeta,E3,3\n"

        result = aggregate(data, SUM)

        assert result.detection.columns == ("Customer", "SKU", "Qty")
        assert result.report.ok


class TestTotalsRows:
    def test_subtotals_between_accounts_and_a_grand_total(self) -> None:
        data = (
            b"Customer|SKU|Qty\n"
            b"Acme|E3|2\nAcme|E5|1\nAcme|Subtotal|3\n"
            b"Beta|E3|4\n|Total:|4\n"
            b"GRAND TOTAL||7\n"
        )

        result = aggregate(data, SUM)

        assert result.detection.delimiter == "|"
        assert result.usage_by_key() == {
            ("Acme", "E3"): Decimal(2),
            ("Acme", "E5"): Decimal(1),
            ("Beta", "E3"): Decimal(4),
        }
        assert result.counts.totals_rows_ignored == 3

    def test_an_account_named_like_a_total_is_still_data(self) -> None:
        data = b"Customer,SKU,Qty\nTotal Networks Ltd,E3,2\n"

        assert aggregate(data, SUM).usage_by_key() == {("Total Networks Ltd", "E3"): 2}

    def test_a_file_with_only_a_header_imports_nothing(self) -> None:
        result = aggregate(b"Customer,SKU,Qty\r\n", SUM)

        assert result.usage == ()
        assert result.counts.rows_read == 0
        assert result.report.ok


class TestMappingExamplesAndRecords:
    def test_every_quantity_mode_has_a_valid_example(self) -> None:
        modes = {
            ColumnMapping.model_validate(example["value"]).quantity_mode
            for example in MAPPING_EXAMPLES.values()
        }

        assert modes == set(QuantityMode)
        schema = ColumnMapping.model_json_schema()
        assert len(schema["examples"]) == len(QuantityMode)

    def test_usage_records_carry_the_file_digest(self) -> None:
        result = aggregate(b"Customer,SKU,Qty\nAcme,E3,2.50\nBeta,E3,1\n", SUM)
        as_of = datetime(2026, 11, 27, tzinfo=UTC)

        records = result.reported_usage(vendor="pax8", as_of=as_of, file_digest="ab12")

        assert [(r.vendor_account_id, r.quantity, r.record_id) for r in records] == [
            ("Acme", Decimal("2.5"), "file:ab12:0"),
            ("Beta", Decimal(1), "file:ab12:1"),
        ]
        assert all(r.vendor == "pax8" and r.as_of == as_of for r in records)
