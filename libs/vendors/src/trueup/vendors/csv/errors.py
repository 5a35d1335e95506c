"""Errors raised when a vendor usage file cannot be read at all.

Row-level problems (a quantity that is not a number, an empty account) are not
exceptions: they are collected in a `ValidationReport`. These errors are for files
that cannot be imported whatever the mapping.
"""

from __future__ import annotations


class CsvImportError(Exception):
    """A vendor usage file cannot be read; says which file, row and column, and why."""

    code = "csv_import_error"

    def __init__(
        self,
        reason: str,
        *,
        file_name: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.reason = reason
        self.file_name = file_name
        self.row = row
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        where = [part for part in (self.file_name, self._row_text(), self._column_text()) if part]
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def _row_text(self) -> str | None:
        return f"row {self.row}" if self.row is not None else None

    def _column_text(self) -> str | None:
        return f"column {self.column!r}" if self.column is not None else None

    def as_dict(self) -> dict[str, str | int | None]:
        """The error as plain data, ready for a problem-details body."""
        return {
            "code": self.code,
            "file_name": self.file_name,
            "row": self.row,
            "column": self.column,
            "reason": self.reason,
        }


class EmptyFileError(CsvImportError):
    """The file has no bytes, or nothing but blank lines."""

    code = "empty_file"


class BinaryFileError(CsvImportError):
    """The file is not text: a zip, a workbook, a PDF, an image or other binary data."""

    code = "binary_file"


class NoHeaderError(CsvImportError):
    """No row of the file can serve as the header naming the columns."""

    code = "no_header"


class TooManyColumnsError(CsvImportError):
    """The file is wider than any usage report (`MAX_COLUMNS`): refused before it is parsed."""

    code = "too_many_columns"


class MappingError(CsvImportError):
    """The column mapping names a column that the file does not have."""

    code = "mapping_error"
