"""Vendor usage files: detection, preview, mapping suggestion, validation, aggregation.

The usual sequence for an import::

    inspection = inspect_file(source, file_name="usage.csv")  # detect, preview, suggest
    report = validate(source, mapping, inspection.detection)
    result = aggregate(source, mapping, inspection.detection, skip_invalid_rows=False)
"""

from trueup.vendors.csv.detect import (
    DEFAULT_SAMPLE_BYTES,
    MAX_COLUMNS,
    CsvSource,
    Detection,
    NumberFormat,
    detect,
    detect_sample,
    header_fingerprint,
    read_sample,
)
from trueup.vendors.csv.errors import (
    BinaryFileError,
    CsvImportError,
    EmptyFileError,
    MappingError,
    NoHeaderError,
    TooManyColumnsError,
)
from trueup.vendors.csv.inspection import Inspection, content_digest, inspect_file
from trueup.vendors.csv.mapping import (
    MAPPING_EXAMPLES,
    ColumnMapping,
    FilterOperator,
    QuantityMode,
    RowFilter,
)
from trueup.vendors.csv.preview import ColumnPreview, ColumnType, Preview, infer_type, preview
from trueup.vendors.csv.process import InvalidRowsError, aggregate, read_usage, validate
from trueup.vendors.csv.results import (
    FileUsage,
    ImportCounts,
    ImportResult,
    RowError,
    ValidationReport,
)
from trueup.vendors.csv.suggest import (
    ColumnCandidate,
    ColumnMappingSuggestion,
    normalise_header,
    suggest_mapping,
)

__all__ = [
    "DEFAULT_SAMPLE_BYTES",
    "MAPPING_EXAMPLES",
    "MAX_COLUMNS",
    "BinaryFileError",
    "ColumnCandidate",
    "ColumnMapping",
    "ColumnMappingSuggestion",
    "ColumnPreview",
    "ColumnType",
    "CsvImportError",
    "CsvSource",
    "Detection",
    "EmptyFileError",
    "FileUsage",
    "FilterOperator",
    "ImportCounts",
    "ImportResult",
    "Inspection",
    "InvalidRowsError",
    "MappingError",
    "NoHeaderError",
    "NumberFormat",
    "Preview",
    "QuantityMode",
    "RowError",
    "RowFilter",
    "TooManyColumnsError",
    "ValidationReport",
    "aggregate",
    "content_digest",
    "detect",
    "detect_sample",
    "header_fingerprint",
    "infer_type",
    "inspect_file",
    "normalise_header",
    "preview",
    "read_sample",
    "read_usage",
    "suggest_mapping",
    "validate",
]
