"""The usage record every vendor source produces: webhook, push API or connector."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from trueup.contracts.types import Quantity as ContractQuantity

#: A usage quantity: exact, never negative, never a float, written as a string in JSON so
#: no client reads it as a float. One definition for every entry point: the contracts'.
Quantity = ContractQuantity


class ReportedUsage(BaseModel):
    """How many units of a vendor SKU a vendor account uses, as one vendor reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor: str = Field(min_length=1, max_length=100, examples=["pax8"])
    vendor_account_id: str = Field(min_length=1, max_length=200)
    vendor_account_name: str | None = Field(default=None, max_length=500)
    sku: str = Field(min_length=1, max_length=200)
    sku_name: str | None = Field(default=None, max_length=500)
    quantity: Quantity
    as_of: AwareDatetime
    #: The source's id for this record (webhook id, push idempotency key, connector
    #: poll), so a record delivered twice is recognised.
    record_id: str | None = Field(default=None, max_length=300)


def reported_usage(
    *,
    vendor: str,
    vendor_account_id: str,
    sku: str,
    quantity: Decimal | int,
    as_of: datetime,
    vendor_account_name: str | None = None,
    sku_name: str | None = None,
    record_id: str | None = None,
) -> ReportedUsage:
    """Build a validated usage record (keyword arguments, Decimal or int quantity)."""
    return ReportedUsage(
        vendor=vendor,
        vendor_account_id=vendor_account_id,
        vendor_account_name=vendor_account_name,
        sku=sku,
        sku_name=sku_name,
        quantity=Decimal(quantity),
        as_of=as_of,
        record_id=record_id,
    )
