"""What validating and aggregating a vendor usage file produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from trueup.vendors.csv.detect import Detection
from trueup.vendors.usage import ReportedUsage


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad cell or row: where it is (as the user sees the file) and why it is bad."""

    row: int
    column: str | None
    reason: str
    value: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The error as plain data for an API response."""
        return {"row": self.row, "column": self.column, "reason": self.reason, "value": self.value}


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every bad row of a file, up to `max_errors` in detail, with the full count."""

    file_name: str | None
    errors: tuple[RowError, ...]
    error_count: int
    invalid_rows: int

    @property
    def ok(self) -> bool:
        """Whether the file has no bad rows."""
        return self.error_count == 0

    @property
    def truncated(self) -> bool:
        """Whether more errors exist than are listed."""
        return self.error_count > len(self.errors)

    def as_dict(self) -> dict[str, object]:
        """The report as plain data for an API response."""
        return {
            "file_name": self.file_name,
            "ok": self.ok,
            "error_count": self.error_count,
            "invalid_rows": self.invalid_rows,
            "truncated": self.truncated,
            "errors": [error.as_dict() for error in self.errors],
        }


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What happened to the rows of a file.

    `rows_read` counts every non-blank row after the header; it equals the sum of
    imported, skipped invalid, totals rows ignored and filtered out.
    """

    rows_read: int = 0
    rows_imported: int = 0
    rows_skipped_invalid: int = 0
    totals_rows_ignored: int = 0
    rows_filtered_out: int = 0
    blank_rows: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as plain data for an API response."""
        return {
            "rows_read": self.rows_read,
            "rows_imported": self.rows_imported,
            "rows_skipped_invalid": self.rows_skipped_invalid,
            "totals_rows_ignored": self.totals_rows_ignored,
            "rows_filtered_out": self.rows_filtered_out,
            "blank_rows": self.blank_rows,
        }


class FileUsage(NamedTuple):
    """Usage of one vendor SKU by one vendor account, as a file reports it.

    A named tuple rather than a dataclass: a file can hold hundreds of thousands of
    pairs, and tuples are several times cheaper to build.
    """

    vendor_account_id: str
    vendor_account_name: str
    sku: str
    quantity: Decimal
    rows: int
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None

    def as_dict(self) -> dict[str, object]:
        """The usage as plain data; decimals as exact strings."""
        return {
            "vendor_account_id": self.vendor_account_id,
            "vendor_account_name": self.vendor_account_name,
            "sku": self.sku,
            "quantity": str(self.quantity),
            "rows": self.rows,
            "unit_price": None if self.unit_price is None else str(self.unit_price),
            "unit_cost": None if self.unit_cost is None else str(self.unit_cost),
        }


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The outcome of reading a whole file with a mapping: usage, counts and errors."""

    detection: Detection
    counts: ImportCounts
    report: ValidationReport
    usage: tuple[FileUsage, ...] = field(default=())

    def reported_usage(
        self, *, vendor: str, as_of: datetime, file_digest: str
    ) -> list[ReportedUsage]:
        """The usage as records like webhooks and connectors produce, ids from the file."""
        return [
            ReportedUsage(
                vendor=vendor,
                vendor_account_id=item.vendor_account_id,
                vendor_account_name=item.vendor_account_name,
                sku=item.sku,
                quantity=item.quantity,
                as_of=as_of,
                record_id=f"file:{file_digest}:{position}",
            )
            for position, item in enumerate(self.usage)
        ]

    def usage_by_key(self) -> dict[tuple[str, str], Decimal]:
        """Quantity per (vendor account, SKU): handy for tests and summaries."""
        return {(item.vendor_account_id, item.sku): item.quantity for item in self.usage}
