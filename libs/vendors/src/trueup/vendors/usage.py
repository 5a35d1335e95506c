"""The usage record every vendor source produces: webhook, push API or connector."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

#: A usage quantity: exact, never negative, written as a string in JSON so no client
#: reads it as a float. Some vendors bill fractional units (GB), hence the decimals.
Quantity = Annotated[
    Decimal,
    Field(ge=0, max_digits=24, decimal_places=6),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
]


class UsageRecord(BaseModel):
    """How many units of a vendor SKU a vendor account uses, as one vendor reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor: str = Field(min_length=1, max_length=100, examples=["pax8"])
    vendor_account_id: str = Field(min_length=1, max_length=200)
    vendor_account_name: str | None = Field(default=None, max_length=500)
    sku: str = Field(min_length=1, max_length=200)
    sku_name: str | None = Field(default=None, max_length=500)
    quantity: Quantity
    observed_at: AwareDatetime
    #: The source's id for this record (webhook id, push idempotency key, connector
    #: poll), so a record delivered twice is recognised.
    record_id: str | None = Field(default=None, max_length=300)


def usage_record(
    *,
    vendor: str,
    vendor_account_id: str,
    sku: str,
    quantity: Decimal | int,
    observed_at: datetime,
    vendor_account_name: str | None = None,
    sku_name: str | None = None,
    record_id: str | None = None,
) -> UsageRecord:
    """Build a validated usage record (keyword arguments, Decimal or int quantity)."""
    return UsageRecord(
        vendor=vendor,
        vendor_account_id=vendor_account_id,
        vendor_account_name=vendor_account_name,
        sku=sku,
        sku_name=sku_name,
        quantity=Decimal(quantity),
        observed_at=observed_at,
        record_id=record_id,
    )
