"""Detection of how a vendor usage file is written, from its first kilobytes.

Encoding comes from the byte-order mark or charset-normalizer, the delimiter and quote
character from clevercsv, and the header row, number format and line endings from the
parsed sample. The result, a `Detection`, is all that `preview`, `validate` and
`aggregate` need to read the whole file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO

import charset_normalizer
import clevercsv

from trueup.vendors.csv.errors import (
    BinaryFileError,
    EmptyFileError,
    NoHeaderError,
    TooManyColumnsError,
)

#: How much of the file detection reads. Enough for a preamble, the header and a few
#: hundred data rows of any real export.
DEFAULT_SAMPLE_BYTES = 64 * 1024

#: The widest file the wizard takes. Real vendor exports have tens of columns; a wider
#: file is refused at inspection, before dialect detection (whose cost grows with the
#: width) and before a preview that would not fit in one NATS message (1 MiB).
MAX_COLUMNS = 500

#: The delimiters the wizard accepts.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")

CsvSource = str | os.PathLike[str] | bytes | BinaryIO

# Signatures of files people drag in by mistake. Workbooks (xlsx) are zip archives.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (or an Excel .xlsx workbook); export it as CSV first"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel .xls workbook; export it as CSV first"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Languages charset-normalizer names for text in other scripts: its guess stands.
_NON_LATIN_LANGUAGES = frozenset(
    {
        "Russian",
        "Bulgarian",
        "Ukrainian",
        "Serbian",
        "Macedonian",
        "Belarusian",
        "Kazakh",
        "Greek",
        "Arabic",
        "Hebrew",
        "Farsi",
        "Thai",
        "Japanese",
        "Chinese",
        "Korean",
        "Hindi",
    }
)
_SCRIPT_EVIDENCE_BYTES = 20
# How far down the header may be: past this, a row of text is more likely data.
_HEADER_SEARCH_ROWS = 30
_WESTERN_SYMBOLS = frozenset("€£¥°§²³µ«»–—‘’‚“”„…©®™·¼½¾×÷¢¤¦¨ª¬¯±´¸¹º¿\u00a0")

#: A cell that marks a totals or summary row: "Total", "Grand Total:", "Subtotal", ...
TOTALS_PATTERN = (
    r"^\s*(grand[\s_-]*|sub[\s_-]*)?totals?\s*:?\s*$"
    r"|^\s*(summary|sum|gesamt|gesamtsumme|summe|total général|totaal)\s*:?\s*$"
)
_TOTALS_RE = re.compile(TOTALS_PATTERN, re.IGNORECASE)

DATE_RE = re.compile(
    r"^\s*(\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}( \d{1,2}:\d{2}(:\d{2})?( ?[AaPp][Mm])?)?)\s*$"
)
BOOLEAN_VALUES = frozenset({"true", "false", "yes", "no", "y", "n"})
_NUMERIC_CHARS_RE = re.compile(r"^[-+(]?[\d.,'\s\u00a0]*\d[\d.,'\s\u00a0]*\)?$")
_US_NUMBER_RE = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_EU_NUMBER_RE = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")
# Separators that are never a decimal mark: spaces (French, Nordic) and apostrophes (Swiss).
_ALWAYS_GROUPING = (" ", "\u00a0", "\u202f", "'")
CURRENCY_SIGNS = ("$", "€", "£", "¥")


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """How numbers are written: the decimal mark and the thousands separator."""

    decimal_separator: str = "."
    thousands_separator: str = ","

    @property
    def pattern(self) -> str:
        """A regular expression for a well-formed number in this format.

        Thousands groups must have three digits: in a decimal-comma file "1.5" is not
        fifteen but a mistake, and must be reported rather than read as 15.
        """
        thousands = re.escape(self.thousands_separator)
        decimal = re.escape(self.decimal_separator)
        return rf"^-?(\d{{1,3}}({thousands}\d{{3}})+|\d+)({decimal}\d+)?$"

    def parse(self, text: str) -> Decimal | None:
        """The exact value of a number written in this format, or None if it is not one."""
        cleaned = normalise_number(text, self)
        if cleaned is None or not cleaned:
            return None
        try:
            return Decimal(cleaned)
        except InvalidOperation:  # pragma: no cover - the pattern rules it out
            return None


def strip_number_decoration(text: str) -> str:
    """Drop spaces, apostrophes and currency signs; `(5)` becomes `-5`, `+5` becomes `5`."""
    cleaned = text.strip()
    for separator in (*_ALWAYS_GROUPING, *CURRENCY_SIGNS):
        cleaned = cleaned.replace(separator, "")
    if cleaned.startswith("(") and cleaned.endswith(")"):
        # Accounting exports write negative numbers in parentheses.
        cleaned = "-" + cleaned[1:-1]
    return cleaned.removeprefix("+")


def normalise_number(text: str, number_format: NumberFormat) -> str | None:
    """Rewrite a number in the file's format as `-1234.5`; None if it is not well formed."""
    cleaned = strip_number_decoration(text)
    if not cleaned:
        return ""
    if not re.match(number_format.pattern, cleaned):
        return None
    cleaned = cleaned.replace(number_format.thousands_separator, "")
    return cleaned.replace(number_format.decimal_separator, ".")


@dataclass(frozen=True, slots=True)
class Detection:
    """How a vendor usage file is written, and its columns.

    Row numbers are 1-based and count every row a spreadsheet would show, preamble
    and blank rows included, so they match what the user sees when opening the file.
    """

    file_name: str | None
    encoding: str
    bom: bool
    delimiter: str
    quote_char: str
    line_terminator: str
    header_row: int
    columns: tuple[str, ...]
    number_format: NumberFormat
    sample_rows: tuple[tuple[str, ...], ...] = field(repr=False)
    sample_truncated: bool = field(default=True, repr=False)

    @property
    def preamble_rows(self) -> int:
        """How many rows come before the header (titles, report dates, blank rows)."""
        return self.header_row - 1

    @property
    def header_fingerprint(self) -> str:
        """Fingerprint of the header, to recognise files a saved profile can read."""
        return header_fingerprint(self.columns)

    def as_dict(self) -> dict[str, object]:
        """The detection as plain data for an API response."""
        return {
            "file_name": self.file_name,
            "encoding": self.encoding,
            "bom": self.bom,
            "delimiter": self.delimiter,
            "quote_char": self.quote_char,
            "line_terminator": self.line_terminator,
            "header_row": self.header_row,
            "preamble_rows": self.preamble_rows,
            "columns": list(self.columns),
            "decimal_separator": self.number_format.decimal_separator,
            "thousands_separator": self.number_format.thousands_separator,
            "header_fingerprint": self.header_fingerprint,
        }


def _normalise_header_name(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").split()).casefold()


def header_fingerprint(columns: Sequence[str]) -> str:
    """A stable fingerprint of a header row.

    Names are compared ignoring case, surrounding and repeated whitespace and column
    order (vendors reorder columns between releases, and a mapping names columns, not
    positions). Empty trailing columns that spreadsheets add are ignored too.
    """
    names = sorted(
        normalised
        for normalised in (_normalise_header_name(name) for name in columns)
        if normalised and not re.fullmatch(r"column \d+", normalised)
    )
    return hashlib.sha256("\x1f".join(names).encode("utf-8")).hexdigest()


def is_totals_cell(text: str) -> bool:
    """Whether a cell marks a totals or summary row ("Total", "Grand Total:")."""
    return bool(_TOTALS_RE.match(text))


def source_name(source: CsvSource, file_name: str | None = None) -> str | None:
    """The file name to put in errors: the given one, else the path's name."""
    if file_name is not None:
        return file_name
    if isinstance(source, str | os.PathLike):
        return Path(source).name
    return None


def read_sample(source: CsvSource, size: int = DEFAULT_SAMPLE_BYTES) -> bytes:
    """The first `size` bytes of the source, leaving a file object where it was."""
    if isinstance(source, bytes):
        return source[:size]
    if isinstance(source, str | os.PathLike):
        with Path(source).open("rb") as handle:
            return handle.read(size)
    position = source.tell()
    try:
        return source.read(size)
    finally:
        source.seek(position)


def detect(
    source: CsvSource,
    *,
    file_name: str | None = None,
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
) -> Detection:
    """Detect encoding, dialect, header row and number format from the start of a file.

    Raises `EmptyFileError`, `BinaryFileError` or `NoHeaderError` with the file name,
    row and reason when the file cannot be a usage report.
    """
    name = source_name(source, file_name)
    sample = read_sample(source, sample_bytes)
    return detect_sample(sample, file_name=name, truncated=len(sample) >= sample_bytes)


def detect_sample(sample: bytes, *, file_name: str | None, truncated: bool) -> Detection:
    """Detect how a file is written from a sample of its first bytes."""
    if not sample.strip(b" \t\r\n\x00"):
        raise EmptyFileError("the file is empty", file_name=file_name)
    for magic, what in _MAGIC:
        if sample.startswith(magic):
            raise BinaryFileError(f"the file is {what}, not a CSV file", file_name=file_name)

    encoding = detect_encoding(sample, file_name=file_name)
    text = _decode_sample(sample, encoding, file_name=file_name)
    if text.startswith("\ufeff"):
        text = text[1:]
    _refuse_binary_text(text, file_name=file_name)
    if not text.strip():
        raise EmptyFileError("the file holds only blank lines", file_name=file_name)

    line_terminator = _detect_line_terminator(text)
    if truncated:
        # The last line of a cut sample is partial: it would look like a ragged row.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut > 0:
            text = text[: cut + 1]
        else:
            raise TooManyColumnsError(
                f"the first row is longer than the {len(sample)} bytes read to detect the"
                f" format; a usage file has at most {MAX_COLUMNS} columns",
                file_name=file_name,
                row=1,
            )
    _refuse_wide_rows(text, file_name=file_name)

    delimiter, quote_char = _detect_dialect(text)
    records = list(
        csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote_char)
    )
    for index, record in enumerate(records):
        if len(record) > MAX_COLUMNS:
            raise _too_wide(len(record), index + 1, file_name)
    header_index = _find_header(records, file_name=file_name)
    data_rows = tuple(
        tuple(record)
        for record in records[header_index + 1 :]
        if any(cell.strip() for cell in record)
    )
    columns = _column_names(_fit_header(records[header_index], data_rows))
    return Detection(
        file_name=file_name,
        encoding=encoding,
        bom=encoding in ("utf-8-sig", "utf-16", "utf-32"),
        delimiter=delimiter,
        quote_char=quote_char,
        line_terminator=line_terminator,
        header_row=header_index + 1,
        columns=columns,
        number_format=detect_number_format(data_rows, delimiter),
        sample_rows=data_rows,
        sample_truncated=truncated,
    )


def _too_wide(width: int, row: int, file_name: str | None) -> TooManyColumnsError:
    return TooManyColumnsError(
        f"the row has {width} columns; a usage file has at most {MAX_COLUMNS} columns",
        file_name=file_name,
        row=row,
    )


def _refuse_wide_rows(text: str, *, file_name: str | None) -> None:
    """Refuse a sample with a row wider than `MAX_COLUMNS` under any accepted delimiter.

    Runs before clevercsv, which takes seconds on a row of 30,000 cells. Counting the
    delimiter overestimates when quoted cells hold it, so a suspect row is parsed to
    confirm (with the standard double quote; a file quoting otherwise is still checked
    after the dialect is known).
    """
    for index, line in enumerate(text.splitlines()):
        for delimiter in DELIMITERS:
            if line.count(delimiter) + 1 > MAX_COLUMNS:
                cells = next(csv.reader([line], delimiter=delimiter), [])
                if len(cells) > MAX_COLUMNS:
                    raise _too_wide(len(cells), index + 1, file_name)


def detect_encoding(sample: bytes, *, file_name: str | None = None) -> str:
    """The Python codec name for the sample: a BOM first, then UTF-8, then charset-normalizer."""
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        raise BinaryFileError(
            "the file is not text in any known encoding (binary data)", file_name=file_name
        )
    if "cp1252" in best.could_be_from_charset:
        return "cp1252"
    # A guess of another script needs evidence: with a handful of accented bytes in an
    # ASCII file (one "ß"), charset-normalizer may well answer Shift-JIS.
    trusted = sum(1 for byte in sample if byte >= 0x80) >= _SCRIPT_EVIDENCE_BYTES
    if (best.language not in _NON_LATIN_LANGUAGES or not trusted) and _reads_as_western(sample):
        return "cp1252"
    return str(best.encoding)


def _reads_as_western(sample: bytes) -> bool:
    # Short samples with a few accented names leave charset-normalizer guessing among
    # single-byte code pages (cp775, cp1250, mac_latin2 ...). Excel writes Windows-1252
    # in Western locales, so when the bytes read as Latin letters and common symbols
    # under it, that is the better answer.
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return all(
        char.isascii() or char in _WESTERN_SYMBOLS or "LATIN" in unicodedata.name(char, "")
        for char in set(text)
    )


def _decode_sample(sample: bytes, encoding: str, *, file_name: str | None) -> str:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError as error:
        raise BinaryFileError(
            f"the file is not valid {encoding} text (byte {error.start})", file_name=file_name
        ) from error


def _refuse_binary_text(text: str, *, file_name: str | None) -> None:
    controls = sum(1 for char in text if ord(char) < 32 and char not in "\t\r\n\f")
    if "\x00" in text or controls > max(2, len(text) // 100):
        raise BinaryFileError("the file holds binary data, not text", file_name=file_name)


def _detect_line_terminator(text: str) -> str:
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    if crlf >= max(lf, cr) and crlf:
        return "\r\n"
    return "\r" if cr > lf else "\n"


def _detect_dialect(text: str) -> tuple[str, str]:
    # clevercsv scores each candidate dialect on how regular the rows become and on how
    # well the cells type; it is robust to preamble lines, unlike csv.Sniffer.
    dialect = clevercsv.Detector().detect(text[:32_768], delimiters=list(DELIMITERS))
    delimiter = getattr(dialect, "delimiter", "") or ""
    quote_char = getattr(dialect, "quotechar", "") or '"'
    if delimiter not in DELIMITERS:
        delimiter = _most_regular_delimiter(text)
    if quote_char != '"' and not _single_quotes_protect_delimiters(text, delimiter):
        # Vendor exports quote with double quotes. Single quotes count only when they
        # visibly protect a delimiter; otherwise "O'Brien" or '' in a cell would make
        # clevercsv treat apostrophes as quotes and split names wrongly.
        quote_char = '"'
    return delimiter, quote_char


def _single_quotes_protect_delimiters(text: str, delimiter: str) -> bool:
    if '"' in text:
        return False
    separator = re.escape(delimiter)
    pattern = rf"(^|{separator})'[^'\n]*{separator}[^'\n]*'($|{separator})"
    return re.search(pattern, text, re.MULTILINE) is not None


def _most_regular_delimiter(text: str) -> str:
    # Fallback for samples clevercsv cannot decide (a single column, two short rows).
    lines = [line for line in text.splitlines() if line.strip()][-50:]
    best, best_score = ",", 0
    for delimiter in DELIMITERS:
        counts = Counter(line.count(delimiter) for line in lines)
        count, frequency = counts.most_common(1)[0]
        if count and frequency * count > best_score:
            best, best_score = delimiter, frequency * count
    return best


def _find_header(records: list[list[str]], *, file_name: str | None) -> int:
    non_blank = [
        (index, record) for index, record in enumerate(records) if any(c.strip() for c in record)
    ]
    if not non_blank:
        raise EmptyFileError("the file holds only blank lines", file_name=file_name)
    # Widths ignore empty trailing cells: spreadsheets pad some rows with delimiters.
    widths = Counter(w for w in (_effective_width(record) for _, record in non_blank) if w > 1)
    width = widths.most_common(1)[0][0] if widths else 1
    # The header is the first row as wide as the data whose cells are mostly filled in:
    # titles and "Generated on ..." lines above it have one or two cells.
    needed = max(1, (width + 1) // 2)
    first_refusal: NoHeaderError | None = None
    for index, record in non_blank[:_HEADER_SEARCH_ROWS]:
        filled = sum(1 for cell in record if cell.strip())
        if _effective_width(record) >= width and filled >= needed:
            # A wide preamble row ("Report,Usage,2026-11") holds a value: look further,
            # but if no row passes, the first refusal is the error to report.
            try:
                _check_header(record, index, file_name=file_name)
            except NoHeaderError as refusal:
                first_refusal = first_refusal or refusal
                continue
            return index
    if first_refusal is not None:
        raise first_refusal
    raise NoHeaderError(
        f"no row has {width} named columns", file_name=file_name, row=non_blank[0][0] + 1
    )


def _effective_width(record: Sequence[str]) -> int:
    width = len(record)
    while width and not record[width - 1].strip():
        width -= 1
    return width


def _fit_header(header: list[str], data_rows: Sequence[Sequence[str]]) -> list[str]:
    """The header cut or padded to the width most data rows have.

    Exports often end every data row with a delimiter the header lacks (or the other
    way round); the parser needs one width, and empty trailing cells carry no data.
    """
    if not data_rows:
        return header
    width = Counter(len(row) for row in data_rows).most_common(1)[0][0]
    if width > len(header):
        return header + [""] * (width - len(header))
    if width < len(header) and not any(cell.strip() for cell in header[width:]):
        return header[:width]
    return header


def _check_header(record: list[str], index: int, *, file_name: str | None) -> None:
    names = _column_names(record)
    for cell, name in zip(record, names, strict=True):
        value = cell.strip()
        if value and (_looks_numeric(value) or DATE_RE.match(value)):
            raise NoHeaderError(
                f"the first row with data holds {value!r}, a value rather than a column name;"
                " the file needs a header row naming its columns",
                file_name=file_name,
                row=index + 1,
                column=name,
            )


def _looks_numeric(value: str) -> bool:
    return bool(_NUMERIC_CHARS_RE.match(value))


def _column_names(header: Sequence[str]) -> tuple[str, ...]:
    names: list[str] = []
    seen: Counter[str] = Counter()
    for position, cell in enumerate(header, start=1):
        name = " ".join(cell.replace("\ufeff", "").split()) or f"Column {position}"
        seen[name.casefold()] += 1
        if seen[name.casefold()] > 1:
            name = f"{name} ({seen[name.casefold()]})"
        names.append(name)
    return tuple(names)


def detect_number_format(rows: Sequence[Sequence[str]], delimiter: str) -> NumberFormat:
    """Decide decimal mark and thousands separator from the numeric cells of a sample."""
    us_only = eu_only = 0
    width = max((len(row) for row in rows), default=0)
    for position in range(width):
        cells = [row[position].strip() for row in rows if position < len(row)]
        cells = [cell for cell in cells if cell]
        numeric = [
            strip_number_decoration(cell).removeprefix("-")
            for cell in cells
            if _looks_numeric(cell) and not DATE_RE.match(cell)
        ]
        if not cells or len(numeric) < 0.8 * len(cells):
            continue
        for cell in numeric:
            us = bool(_US_NUMBER_RE.match(cell))
            eu = bool(_EU_NUMBER_RE.match(cell))
            us_only += us and not eu
            eu_only += eu and not us
    if eu_only > us_only or (eu_only == us_only and delimiter == ";"):
        # Semicolon-separated files come from locales that write decimal commas.
        return NumberFormat(decimal_separator=",", thousands_separator=".")
    return NumberFormat(decimal_separator=".", thousands_separator=",")
