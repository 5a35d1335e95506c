"""Properties of parsing: any well-written file aggregates to the exact sums."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from trueup.contracts.types import MAX_QUANTITY, Quantity
from trueup.vendors.csv import (
    ColumnMapping,
    CsvImportError,
    NumberFormat,
    QuantityMode,
    aggregate,
    detect,
)
from trueup.vendors.csv.detect import is_totals_cell

US = NumberFormat(".", ",")
EU = NumberFormat(",", ".")
ALPHABET = "abcxyzABCXYZ019 ,;|\"'&éüß€-."

names = (
    st.text(ALPHABET, min_size=1, max_size=14)
    .map(str.strip)
    .filter(lambda name: bool(name) and not is_totals_cell(name))
)
# Windows-1252 cannot be told from other single-byte code pages by bytes alone, only by
# how natural the text reads; so for it, names are built from real Western words.
WORDS = (
    "Müller",
    "Café",
    "Société",
    "Zürich",
    "Straße",
    "Acme, Inc.",
    "O'Brien",
    "Smith & Co",
    '"Best" Ltd',
    "Ålesund",
    "Øster",
    "Señor",
    "Crème",
    "Ltd.",
    "GmbH",
    "S.A.",
    "Vet",
)
western_names = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
quantities = st.decimals(
    min_value=0, max_value=10_000_000, places=3, allow_nan=False, allow_infinity=False
)


def written(quantity: Decimal, number_format: NumberFormat) -> str:
    text = f"{quantity:,}"
    if number_format == EU:
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


@st.composite
def usage_files(draw: st.DrawFn) -> tuple[bytes, dict[tuple[str, str], Decimal]]:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    number_format = EU if delimiter == ";" else US
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    preamble = draw(st.lists(st.sampled_from(["Usage report", "", "Period: 2026-11"]), max_size=3))
    rows = draw(
        st.lists(
            st.tuples(
                western_names if encoding == "cp1252" else names,
                st.sampled_from(["E3", "M365 BP", "EDR agent"]),
                quantities,
            ),
            min_size=1,
            max_size=40,
        )
    )
    buffer = io.StringIO()
    for line in preamble:
        buffer.write(line + newline)
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["Customer", "Product", "Seats"])
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for account, sku, quantity in rows:
        writer.writerow([account, sku, written(quantity, number_format)])
        expected[(account, sku)] += quantity
    if draw(st.booleans()):
        writer.writerow(
            ["Grand Total", "", written(sum(expected.values(), Decimal(0)), number_format)]
        )
    data = buffer.getvalue().encode(encoding)
    if encoding == "cp1252" and not data.isascii():
        # Bytes that are also valid UTF-8 ("ß€" is 0xDF 0x80) are read as UTF-8, by
        # design: such files are ambiguous, and real Western exports almost never are.
        assume(not _valid_utf8(data))
    return data, dict(expected)


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


MAPPING = ColumnMapping(
    account_column="Customer",
    sku_column="Product",
    quantity_mode=QuantityMode.SUM_PER_SKU,
    quantity_column="Seats",
)


class TestAggregationIsExact:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(usage_files())
    def test_sums_equal_decimal_arithmetic(
        self, case: tuple[bytes, dict[tuple[str, str], Decimal]]
    ) -> None:
        data, expected = case

        result = aggregate(data, MAPPING)

        assert result.usage_by_key() == expected
        assert all(isinstance(usage.quantity, Decimal) for usage in result.usage)
        assert result.detection.columns == ("Customer", "Product", "Seats")


class TestNumberFormat:
    @given(quantities, st.sampled_from([US, EU]))
    def test_written_numbers_parse_back(self, quantity: Decimal, fmt: NumberFormat) -> None:
        assert fmt.parse(written(quantity, fmt)) == quantity


def _contracts_accept(quantity: Decimal) -> bool:
    try:
        TypeAdapter(Quantity).validate_python(quantity)
    except ValidationError:
        return False
    return True


class TestQuantityLimits:
    @settings(max_examples=150, deadline=None)
    @given(
        st.one_of(
            st.decimals(min_value=0, max_value=10**12, places=9),
            st.sampled_from(
                [MAX_QUANTITY, MAX_QUANTITY - Decimal("0.000001"), Decimal("1.0000001")]
            ),
        ),
        st.integers(min_value=0, max_value=3),
    )
    def test_a_cell_is_read_exactly_when_the_contracts_accept_it(
        self, quantity: Decimal, padding: int
    ) -> None:
        cell = "0" * padding + format(quantity, "f")
        data = f"Customer,Product,Seats\nAcme,E3,1\nBeta,E3,{cell}\n".encode()

        result = aggregate(data, MAPPING, skip_invalid_rows=True)

        accepted = ("Beta", "E3") in result.usage_by_key()
        assert accepted == _contracts_accept(quantity), cell
        assert result.report.ok == accepted
        if accepted:
            assert result.usage_by_key()[("Beta", "E3")] == quantity


class TestDetectionNeverCrashes:
    @settings(max_examples=150, deadline=None)
    @given(st.binary(max_size=400))
    def test_any_bytes_detect_or_raise_a_precise_error(self, data: bytes) -> None:
        try:
            detection = detect(data, file_name="fuzz.csv")
        except CsvImportError as error:
            refused: CsvImportError | None = error
        else:
            refused = None
            assert detection.columns
            assert detection.header_row >= 1
        if refused is not None:
            assert refused.file_name == "fuzz.csv"
            assert refused.reason
