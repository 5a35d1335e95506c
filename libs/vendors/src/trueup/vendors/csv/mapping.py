"""The column mapping: which columns hold the vendor account, SKU and quantity.

A mapping is what the wizard's user confirms and what a saved profile stores, so it is a
pydantic model (it travels in API bodies and is persisted as JSON).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trueup.vendors.csv.errors import MappingError


class QuantityMode(StrEnum):
    """How the quantity of a (vendor account, SKU) pair is read from the rows."""

    #: One row per vendor account and SKU; the quantity column holds the count.
    #: A second row for the same pair is an error.
    COLUMN_VALUE = "column_value"
    #: Each row is one unit (one device, one user): the quantity is the number of rows.
    ROW_COUNT = "row_count"
    #: The quantity is the number of distinct values of a column (distinct users, hosts),
    #: compared without case.
    DISTINCT_COUNT = "distinct_count"
    #: Several rows per vendor account and SKU (invoice lines): their quantities add up.
    SUM_PER_SKU = "sum_per_sku"


class FilterOperator(StrEnum):
    """How a row filter compares a cell; comparisons ignore case and surrounding spaces."""

    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    NOT_EMPTY = "not_empty"


class RowFilter(BaseModel):
    """Keep only rows whose `column` matches, e.g. Status equals Active."""

    model_config = ConfigDict(frozen=True)

    column: str = Field(min_length=1)
    operator: FilterOperator = FilterOperator.EQUALS
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Self:
        if self.operator in (
            FilterOperator.EQUALS,
            FilterOperator.NOT_EQUALS,
            FilterOperator.CONTAINS,
        ):
            if len(self.values) != 1:
                raise ValueError(f"operator {self.operator.value!r} takes exactly one value")
        elif self.operator in (FilterOperator.IN, FilterOperator.NOT_IN):
            if not self.values:
                raise ValueError(f"operator {self.operator.value!r} takes at least one value")
        elif self.values:
            raise ValueError(f"operator {self.operator.value!r} takes no value")
        return self


#: One example mapping per quantity mode, shaped for FastAPI's `openapi_examples`.
MAPPING_EXAMPLES: dict[str, dict[str, Any]] = {
    "column_value": {
        "summary": "A column's value: one row per vendor account and SKU",
        "value": {
            "account_column": "Customer Name",
            "sku_column": "SKU",
            "quantity_mode": "column_value",
            "quantity_column": "Quantity",
        },
    },
    "row_count": {
        "summary": "Count of rows: one row per device, active ones only",
        "value": {
            "account_column": "Site",
            "sku_column": "Device Class",
            "quantity_mode": "row_count",
            "filters": [{"column": "Status", "operator": "equals", "values": ["Active"]}],
        },
    },
    "distinct_count": {
        "summary": "Count of distinct values: users with a mailbox, one product",
        "value": {
            "account_column": "Tenant",
            "sku_constant": "M365 mailbox",
            "quantity_mode": "distinct_count",
            "distinct_column": "User Principal Name",
        },
    },
    "sum_per_sku": {
        "summary": "Sum per SKU: invoice lines added up, accounts keyed by id",
        "value": {
            "account_column": "Company",
            "account_id_column": "Company Id",
            "sku_column": "Product",
            "quantity_mode": "sum_per_sku",
            "quantity_column": "Qty",
            "price_column": "Unit Price",
        },
    },
}


class ColumnMapping(BaseModel):
    """Which columns of a file make usage, and how quantities are counted.

    The vendor account is identified by `account_id_column` when given (stable ids
    survive renames), else by `account_column`. The SKU comes from `sku_column`, or is
    `sku_constant` for files about a single product (an agent list, a device list).
    """

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [example["value"] for example in MAPPING_EXAMPLES.values()]},
    )

    account_column: str = Field(min_length=1)
    account_id_column: str | None = None
    sku_column: str | None = None
    sku_constant: str | None = Field(default=None, min_length=1)
    quantity_mode: QuantityMode = QuantityMode.COLUMN_VALUE
    quantity_column: str | None = None
    distinct_column: str | None = None
    price_column: str | None = None
    cost_column: str | None = None
    date_column: str | None = None
    filters: list[RowFilter] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete_for_mode(self) -> Self:
        if (self.sku_column is None) == (self.sku_constant is None):
            raise ValueError("give exactly one of sku_column and sku_constant")
        needs_quantity = self.quantity_mode in (QuantityMode.COLUMN_VALUE, QuantityMode.SUM_PER_SKU)
        if needs_quantity and self.quantity_column is None:
            raise ValueError(f"quantity mode {self.quantity_mode.value!r} needs quantity_column")
        if self.quantity_mode is QuantityMode.DISTINCT_COUNT and self.distinct_column is None:
            raise ValueError("quantity mode 'distinct_count' needs distinct_column")
        return self

    def referenced_columns(self) -> dict[str, str]:
        """Each mapped column, keyed by the role it plays."""
        roles = {
            "account_column": self.account_column,
            "account_id_column": self.account_id_column,
            "sku_column": self.sku_column,
            "quantity_column": self.quantity_column
            if self.quantity_mode in (QuantityMode.COLUMN_VALUE, QuantityMode.SUM_PER_SKU)
            else None,
            "distinct_column": self.distinct_column
            if self.quantity_mode is QuantityMode.DISTINCT_COUNT
            else None,
            "price_column": self.price_column,
            "cost_column": self.cost_column,
            "date_column": self.date_column,
        }
        found = {role: column for role, column in roles.items() if column is not None}
        for position, row_filter in enumerate(self.filters):
            found[f"filters[{position}]"] = row_filter.column
        return found

    def check_columns(self, columns: Sequence[str], *, file_name: str | None = None) -> None:
        """Raise `MappingError` if the mapping names a column the file does not have."""
        known = set(columns)
        for role, column in self.referenced_columns().items():
            if column not in known:
                raise MappingError(
                    f"{role} names a column the file does not have; its columns are "
                    + ", ".join(repr(name) for name in columns),
                    file_name=file_name,
                    column=column,
                )
