"""The wizard's first step: the first rows of a file and the type of each column."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from trueup.vendors.csv.detect import BOOLEAN_VALUES, DATE_RE, Detection, NumberFormat

DEFAULT_PREVIEW_ROWS = 20
# Share of non-empty sample cells that must fit a type for the column to get it; a
# totals row or one typo in the sample should not turn a quantity column into text.
_TYPE_SHARE = 0.9


class ColumnType(StrEnum):
    """What a column's sample cells look like."""

    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    BOOLEAN = "boolean"
    TEXT = "text"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class ColumnPreview:
    """One detected column: its name, inferred type and what it holds in the sample."""

    name: str
    position: int
    inferred_type: ColumnType
    examples: tuple[str, ...]
    distinct_values: int
    empty_cells: int

    def as_dict(self) -> dict[str, object]:
        """The column as plain data for an API response."""
        return {
            "name": self.name,
            "position": self.position,
            "inferred_type": self.inferred_type.value,
            "examples": list(self.examples),
            "distinct_values": self.distinct_values,
            "empty_cells": self.empty_cells,
        }


@dataclass(frozen=True, slots=True)
class Preview:
    """The first rows of a file with its detected columns."""

    columns: tuple[ColumnPreview, ...]
    rows: tuple[tuple[str, ...], ...]

    def column(self, name: str) -> ColumnPreview:
        """The preview of the named column."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def as_dict(self) -> dict[str, object]:
        """The preview as plain data for an API response."""
        return {
            "columns": [column.as_dict() for column in self.columns],
            "rows": [list(row) for row in self.rows],
        }


def preview(detection: Detection, rows: int = DEFAULT_PREVIEW_ROWS) -> Preview:
    """The first `rows` data rows and every column with the type its sample cells share."""
    width = len(detection.columns)
    sample = [_fit(row, width) for row in detection.sample_rows]
    columns = tuple(
        _column_preview(name, position, [row[position] for row in sample], detection.number_format)
        for position, name in enumerate(detection.columns)
    )
    return Preview(columns=columns, rows=tuple(sample[:rows]))


def infer_type(cells: Sequence[str], number_format: NumberFormat) -> ColumnType:
    """The type most of the non-empty cells share."""
    values = [cell.strip() for cell in cells if cell.strip()]
    if not values:
        return ColumnType.EMPTY
    needed = _TYPE_SHARE * len(values)
    # Dates first: 25.11.2026 is also a well-formed number with dots as thousands marks.
    if sum(1 for value in values if DATE_RE.match(value)) >= needed:
        return ColumnType.DATE
    numbers = [number_format.parse(value) for value in values]
    parsed = [number for number in numbers if number is not None]
    if len(parsed) >= needed:
        if all(number == number.to_integral_value() for number in parsed):
            return ColumnType.INTEGER
        return ColumnType.DECIMAL
    if sum(1 for value in values if value.lower() in BOOLEAN_VALUES) >= needed:
        return ColumnType.BOOLEAN
    return ColumnType.TEXT


def _fit(row: Sequence[str], width: int) -> tuple[str, ...]:
    cells = tuple(row[:width])
    return cells + ("",) * (width - len(cells))


def _column_preview(
    name: str, position: int, cells: list[str], number_format: NumberFormat
) -> ColumnPreview:
    values = [cell.strip() for cell in cells]
    filled = [value for value in values if value]
    examples = tuple(dict.fromkeys(filled))[:5]
    return ColumnPreview(
        name=name,
        position=position,
        inferred_type=infer_type(values, number_format),
        examples=examples,
        distinct_values=len(set(filled)),
        empty_cells=len(values) - len(filled),
    )
