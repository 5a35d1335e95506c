"""Bodies vendors send: a batch of usage records, and the "set unit count" push API.

The push API is shaped like the Gradient vendor API: a vendor names its accounts and
services and sets a unit count per (account, service). Every push carries an
idempotency key so a retried push is applied once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from trueup.contracts.types import Text
from trueup.vendors.usage import Quantity, ReportedUsage

#: Most records one webhook or push may carry; larger loads are split by the sender.
MAX_RECORDS_PER_BATCH = 1000
MAX_UNIT_COUNTS_PER_PUSH = 5000

Identifier = Annotated[Text, Field(min_length=1, max_length=200)]
Name = Annotated[Text, Field(min_length=1, max_length=500)]


def _in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00+14:00 parses, but has no UTC instant: storing or comparing it later
    # would raise far from the request. Refuse it here, as a field error.
    try:
        return value.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("the time is outside the range that can be expressed in UTC") from error


#: An aware time, carried to UTC (so it is refused at the edge if it has no UTC instant).
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class UsagePushRecord(BaseModel):
    """One usage count in a webhook batch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: Identifier
    account_name: Name | None = None
    sku: Identifier
    sku_name: Name | None = None
    quantity: Quantity
    observed_at: Instant | None = None


class UsageBatch(BaseModel):
    """A webhook body: usage records for one or more vendor accounts."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "records": [
                        {
                            "account_id": "org-1042",
                            "account_name": "Acme, Inc.",
                            "sku": "edr-agent",
                            "quantity": "42",
                            "observed_at": "2026-11-27T06:00:00Z",
                        }
                    ]
                }
            ]
        },
    )

    records: list[UsagePushRecord] = Field(min_length=1, max_length=MAX_RECORDS_PER_BATCH)

    def to_reported_usage(
        self, *, vendor: str, webhook_id: str, received_at: datetime
    ) -> list[ReportedUsage]:
        """The records as usage, each with an id derived from the webhook id."""
        return [
            ReportedUsage(
                vendor=vendor,
                vendor_account_id=record.account_id,
                vendor_account_name=record.account_name,
                sku=record.sku,
                sku_name=record.sku_name,
                quantity=record.quantity,
                as_of=record.observed_at or received_at,
                record_id=f"{webhook_id}:{position}",
            )
            for position, record in enumerate(self.records)
        ]


class PushAccount(BaseModel):
    """A vendor account as the vendor names it (a Gradient "account")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    name: Name


class PushService(BaseModel):
    """A vendor product (a Gradient "service"): its SKU and name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    name: Name
    category: Name | None = None


class UnitCount(BaseModel):
    """How many units of a service an account uses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: Identifier
    service_id: Identifier
    unit_count: Quantity


class SetUnitCounts(BaseModel):
    """The push API body: accounts, services and unit counts, with an idempotency key.

    Each unit count must name an account and a service listed in the same body, so a
    push can be checked and applied on its own; a pair may appear only once.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "idempotency_key": "2026-11-27-nightly-0001",
                    "accounts": [{"id": "org-1042", "name": "Acme, Inc."}],
                    "services": [{"id": "edr-agent", "name": "Managed EDR agent"}],
                    "unit_counts": [
                        {"account_id": "org-1042", "service_id": "edr-agent", "unit_count": "42"}
                    ],
                }
            ]
        },
    )

    idempotency_key: Annotated[str, Field(min_length=8, max_length=200)]
    accounts: list[PushAccount] = Field(min_length=1, max_length=MAX_UNIT_COUNTS_PER_PUSH)
    services: list[PushService] = Field(min_length=1, max_length=MAX_UNIT_COUNTS_PER_PUSH)
    unit_counts: list[UnitCount] = Field(min_length=1, max_length=MAX_UNIT_COUNTS_PER_PUSH)
    observed_at: Instant | None = None

    @model_validator(mode="after")
    def _counts_refer_to_listed_accounts_and_services(self) -> Self:
        accounts = {account.id for account in self.accounts}
        services = {service.id for service in self.services}
        seen: set[tuple[str, str]] = set()
        for position, count in enumerate(self.unit_counts):
            if count.account_id not in accounts:
                raise ValueError(
                    f"unit_counts[{position}].account_id {count.account_id!r} is not in accounts"
                )
            if count.service_id not in services:
                raise ValueError(
                    f"unit_counts[{position}].service_id {count.service_id!r} is not in services"
                )
            pair = (count.account_id, count.service_id)
            if pair in seen:
                raise ValueError(
                    f"unit_counts[{position}] repeats account {pair[0]!r} and service {pair[1]!r}"
                )
            seen.add(pair)
        return self

    def to_reported_usage(self, *, vendor: str, received_at: datetime) -> list[ReportedUsage]:
        """The unit counts as usage, named from the listed accounts and services."""
        accounts = {account.id: account.name for account in self.accounts}
        services = {service.id: service.name for service in self.services}
        return [
            ReportedUsage(
                vendor=vendor,
                vendor_account_id=count.account_id,
                vendor_account_name=accounts[count.account_id],
                sku=count.service_id,
                sku_name=services[count.service_id],
                quantity=count.unit_count,
                as_of=self.observed_at or received_at,
                record_id=f"{self.idempotency_key}:{count.account_id}:{count.service_id}",
            )
            for count in self.unit_counts
        ]
