"""The first answer to an upload: detection, preview and suggested mapping together."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from trueup.vendors.csv.detect import DEFAULT_SAMPLE_BYTES, CsvSource, Detection, detect
from trueup.vendors.csv.preview import DEFAULT_PREVIEW_ROWS, Preview, preview
from trueup.vendors.csv.suggest import ColumnMappingSuggestion, suggest_mapping


@dataclass(frozen=True, slots=True)
class Inspection:
    """What the wizard shows after an upload."""

    detection: Detection
    preview: Preview
    suggestion: ColumnMappingSuggestion

    def as_dict(self) -> dict[str, object]:
        """Everything as plain data for the API response."""
        return {
            "detection": self.detection.as_dict(),
            "preview": self.preview.as_dict(),
            "suggestion": self.suggestion.as_dict(),
        }


def inspect_file(
    source: CsvSource,
    *,
    file_name: str | None = None,
    default_sku: str | None = None,
    preview_rows: int = DEFAULT_PREVIEW_ROWS,
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
) -> Inspection:
    """Detect, preview and suggest a mapping from the first `sample_bytes` of a file.

    Raises `EmptyFileError`, `BinaryFileError` or `NoHeaderError` like `detect`.
    """
    detection = detect(source, file_name=file_name, sample_bytes=sample_bytes)
    shown = preview(detection, rows=preview_rows)
    suggestion = suggest_mapping(detection, shown=shown, default_sku=default_sku)
    return Inspection(detection=detection, preview=shown, suggestion=suggestion)


def content_digest(source: CsvSource) -> str:
    """SHA-256 of the file's bytes, read in chunks: re-importing the same bytes is a no-op.

    A file object is read from its current position and left where it was.
    """
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    if isinstance(source, str | os.PathLike):
        with Path(source).open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    position = source.tell()
    digest = hashlib.sha256()
    try:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
    finally:
        source.seek(position)
    return digest.hexdigest()
