"""Detection of encoding, dialect, header row and number format; precise file errors."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from trueup.vendors.csv import (
    BinaryFileError,
    CsvImportError,
    EmptyFileError,
    NoHeaderError,
    NumberFormat,
    content_digest,
    detect,
    header_fingerprint,
    inspect_file,
    preview,
)
from trueup.vendors.csv.preview import ColumnType

TEXT = 'Customer,Product,Qty\n"Müller, GmbH",M365 BP,3\nCafé Zürich,M365 BP,4\n'


class TestEncoding:
    @pytest.mark.parametrize(
        ("encoded", "expected"),
        [
            (TEXT.encode("utf-8"), "utf-8"),
            (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
            (TEXT.encode("utf-16"), "utf-16"),
            (TEXT.encode("cp1252"), "cp1252"),
        ],
    )
    def test_detects_encoding_and_reads_the_names(self, encoded: bytes, expected: str) -> None:
        detection = detect(encoded)

        assert detection.encoding == expected
        assert detection.columns == ("Customer", "Product", "Qty")
        assert detection.sample_rows[0][0] == "Müller, GmbH"
        assert detection.sample_rows[1][0] == "Café Zürich"


class TestDialect:
    @pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
    @pytest.mark.parametrize("newline", ["\n", "\r\n"])
    def test_detects_delimiter_and_line_endings(self, delimiter: str, newline: str) -> None:
        rows = [["Customer", "Product", "Qty"]] + [
            [f"Client {n}", f"SKU-{n % 3}", str(n)] for n in range(20)
        ]
        data = newline.join(delimiter.join(row) for row in rows) + newline

        detection = detect(data.encode())

        assert detection.delimiter == delimiter
        assert detection.line_terminator == newline
        assert detection.columns == ("Customer", "Product", "Qty")
        assert len(detection.sample_rows) == 20

    def test_quoted_cells_keep_delimiters_and_newlines(self) -> None:
        data = b'Customer,Note,Qty\n"Acme, Inc.","two\nlines",3\n"Bluebird ""BB"" Ltd",x,4\n'

        detection = detect(data)

        assert detection.sample_rows[0] == ("Acme, Inc.", "two\nlines", "3")
        assert detection.sample_rows[1][0] == 'Bluebird "BB" Ltd'


class TestHeaderRow:
    def test_header_after_title_date_and_blank_lines(self) -> None:
        data = b"Usage report\nPeriod: November 2026\n\n\nAccount,SKU,Seats\nAcme,E3,4\nBeta,E3,5\n"

        detection = detect(data)

        assert detection.header_row == 5
        assert detection.columns == ("Account", "SKU", "Seats")

    def test_padded_preamble_rows_are_not_taken_for_the_header(self) -> None:
        data = b"Usage report,,\n,,\nAccount,SKU,Seats\nAcme,E3,4\n"

        assert detect(data).header_row == 3

    def test_blank_and_duplicate_header_names_are_made_unique(self) -> None:
        data = b"Account,Qty,Qty,\nAcme,1,2,\nBeta,3,4,\n"

        assert detect(data).columns == ("Account", "Qty", "Qty (2)", "Column 4")


class TestNumberFormat:
    @pytest.mark.parametrize(
        ("rows", "delimiter", "expected"),
        [
            (['"1,234.50"', "12.5"], ",", NumberFormat(".", ",")),
            (["1.234,50", "12,5"], ";", NumberFormat(",", ".")),
            (['"12,5"', '"3,25"'], ",", NumberFormat(",", ".")),
            (["1,234", "2,000"], ";", NumberFormat(",", ".")),
            (["1,234", "2,000"], "|", NumberFormat(".", ",")),
        ],
    )
    def test_decimal_mark_from_the_values(
        self, rows: list[str], delimiter: str, expected: NumberFormat
    ) -> None:
        lines = [f"Account{delimiter}Qty"] + [f"Acme {n}{delimiter}{v}" for n, v in enumerate(rows)]

        assert detect("\n".join(lines).encode()).number_format == expected

    @pytest.mark.parametrize(
        ("text", "number_format", "expected"),
        [
            ("1,234.50", NumberFormat(".", ","), "1234.50"),
            ("1.234,50", NumberFormat(",", "."), "1234.50"),
            ("1 234,5", NumberFormat(",", "."), "1234.5"),
            ("1'234.5", NumberFormat(".", ","), "1234.5"),
            ("(12)", NumberFormat(".", ","), "-12"),
            ("$1,022.00", NumberFormat(".", ","), "1022.00"),
            ("1.5", NumberFormat(",", "."), None),
            ("12,34,5", NumberFormat(".", ","), None),
            ("abc", NumberFormat(".", ","), None),
        ],
    )
    def test_parse_is_exact_and_strict(
        self, text: str, number_format: NumberFormat, expected: str | None
    ) -> None:
        parsed = number_format.parse(text)

        assert (None if parsed is None else str(parsed)) == expected


class TestPreviewTypes:
    def test_types_of_columns(self) -> None:
        data = (
            b"Account,Seats,Price,Start,Trial,Empty\n"
            b"Acme,3,22.00,2026-11-01,yes,\nBeta,4,12.5,2026-11-02,no,\n"
        )

        shown = preview(detect(data))

        types = {column.name: column.inferred_type for column in shown.columns}
        assert types == {
            "Account": ColumnType.TEXT,
            "Seats": ColumnType.INTEGER,
            "Price": ColumnType.DECIMAL,
            "Start": ColumnType.DATE,
            "Trial": ColumnType.BOOLEAN,
            "Empty": ColumnType.EMPTY,
        }
        assert shown.rows[1] == ("Beta", "4", "12.5", "2026-11-02", "no", "")
        assert shown.column("Account").examples == ("Acme", "Beta")


class TestFileErrors:
    def test_empty_file(self) -> None:
        with pytest.raises(EmptyFileError) as caught:
            detect(b"", file_name="usage.csv")

        assert caught.value.file_name == "usage.csv"
        assert caught.value.as_dict()["code"] == "empty_file"

    def test_only_blank_lines(self) -> None:
        with pytest.raises(EmptyFileError):
            detect(b"\r\n\r\n   \r\n")

    def test_zip_archive(self) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("usage.csv", TEXT)

        with pytest.raises(BinaryFileError, match="zip archive") as caught:
            detect(buffer.getvalue(), file_name="usage.zip")

        assert "usage.zip" in str(caught.value)

    def test_gzip_archive(self) -> None:
        with pytest.raises(BinaryFileError, match="gzip"):
            detect(gzip.compress(TEXT.encode()))

    def test_random_binary(self) -> None:
        data = bytes(range(256)) * 40

        with pytest.raises(BinaryFileError):
            detect(data, file_name="image.bin")

    def test_data_where_the_header_should_be(self) -> None:
        data = b"Acme,M365 BP,3\nBeta,M365 BP,4\n"

        with pytest.raises(NoHeaderError) as caught:
            detect(data, file_name="noheader.csv")

        assert caught.value.row == 1
        assert caught.value.column == "3"
        assert caught.value.file_name == "noheader.csv"
        assert isinstance(caught.value, CsvImportError)


class TestHeaderFingerprint:
    def test_same_names_in_another_order_or_case_match(self) -> None:
        assert header_fingerprint(["Customer", "SKU", "Qty"]) == header_fingerprint(
            [" qty", "CUSTOMER", "sku  ", "Column 4"]
        )

    def test_different_names_do_not_match(self) -> None:
        assert header_fingerprint(["Customer", "SKU", "Qty"]) != header_fingerprint(
            ["Customer", "SKU", "Quantity"]
        )

    def test_detection_exposes_the_fingerprint(self) -> None:
        first = detect(b"\xef\xbb\xbfCustomer;SKU;Qty\r\nA;B;1\r\n")
        second = detect(b"Report\n\nQty,Customer,SKU\n1,A,B\n")

        assert first.header_fingerprint == second.header_fingerprint


class TestInspection:
    def test_upload_answer_holds_detection_preview_and_suggestion(self) -> None:
        data = b"Customer,Product,Qty\nAcme,E3,2\nBeta,E3,3\n"

        inspection = inspect_file(data, file_name="u.csv")

        body = inspection.as_dict()
        assert body["detection"]["file_name"] == "u.csv"  # type: ignore[index]
        assert body["preview"]["rows"] == [["Acme", "E3", "2"], ["Beta", "E3", "3"]]  # type: ignore[index]
        mapping = inspection.suggestion.mapping
        assert mapping is not None
        assert (mapping.account_column, mapping.sku_column, mapping.quantity_column) == (
            "Customer",
            "Product",
            "Qty",
        )


class TestContentDigest:
    def test_same_bytes_same_digest_from_any_source(self, tmp_path: Path) -> None:
        path = tmp_path / "usage.csv"
        path.write_bytes(TEXT.encode())
        handle = io.BytesIO(TEXT.encode())

        digests = {content_digest(TEXT.encode()), content_digest(path), content_digest(handle)}

        assert len(digests) == 1
        assert handle.tell() == 0
        assert content_digest(TEXT.encode() + b" ") not in digests


class TestWidePreamble:
    def test_a_preamble_row_as_wide_as_the_data_is_skipped(self) -> None:
        data = b"Usage,Report,2026-11-27\nAccount,SKU,Seats\nAcme,E3,4\n"

        detection = detect(data)

        assert detection.header_row == 2
        assert detection.columns == ("Account", "SKU", "Seats")
