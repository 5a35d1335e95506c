"""PSA-neutral records: what every PSA client reads and writes.

Ids are strings whatever the PSA uses (ConnectWise and Autotask use integers, Halo
can use negative ones), so callers never branch on the PSA kind. Money and quantities
are `Decimal`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


class PsaKind(enum.StrEnum):
    """Which PSA a connection talks to."""

    CONNECTWISE = "connectwise"
    AUTOTASK = "autotask"
    HALO = "halo"


class PsaContractStatus(enum.StrEnum):
    """Contract status, normalised across PSAs."""

    ACTIVE = "active"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    INACTIVE = "inactive"


class PsaBillingCycle(enum.StrEnum):
    """How often a contract invoices its recurring line items."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMI_ANNUAL = "semi_annual"
    ANNUAL = "annual"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a PSA can do through its API.

    `proration`: the PSA charges a dated mid-period change for the remaining days.
    `proration_optional`: the caller chooses per change whether to prorate (when False,
    the PSA decides and `prorate=False` is refused).
    `incremental_sync`: `changed_since` is honoured; otherwise it is ignored and a full
    listing is returned (a superset is always safe for a sync).
    `dated_changes`: a quantity change can carry an effective date.
    `contract_notes`: `add_contract_note` writes to the PSA.
    `audit_trail`: the PSA records every change made through its API in the contract's
    own audit trail, so a write is traced there without a note.
    `replaces_line`: a dated or prorated quantity change is a cancel-and-add: a new line
    item from the effective date, the old one cancelled the day before, so the line item's
    id changes (`cancel_line_item` finishes one left half-done).
    `deferred_quantity`: a change dated after today shows in the line item's quantity only
    from that date; where False, a read shows a written change at once.
    """

    proration: bool
    proration_optional: bool
    incremental_sync: bool
    dated_changes: bool
    contract_notes: bool
    audit_trail: bool
    replaces_line: bool
    deferred_quantity: bool


@dataclass(frozen=True, slots=True)
class PsaAccount:
    """A client of the MSP as the PSA knows it (ConnectWise/Autotask company, Halo client)."""

    id: str
    name: str
    identifier: str | None = None
    active: bool = True
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PsaContract:
    """A ConnectWise agreement, Autotask contract or Halo recurring invoice."""

    id: str
    account_id: str
    name: str
    status: PsaContractStatus
    start_date: date | None
    end_date: date | None
    billing_cycle: PsaBillingCycle
    bill_in_advance: bool
    prorate: bool
    currency: str
    updated_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        """True when the contract bills today."""
        return self.status is PsaContractStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class PsaProduct:
    """A product from the PSA's catalogue (ConnectWise catalog item, Autotask service)."""

    id: str
    name: str
    identifier: str | None = None


@dataclass(frozen=True, slots=True)
class LineItemRef:
    """Where a line item lives: enough to read or change it again."""

    contract_id: str
    line_item_id: str


@dataclass(frozen=True, slots=True)
class PsaLineItem:
    """One recurring service on a contract, with its current quantity."""

    id: str
    contract_id: str
    product: PsaProduct
    quantity: Decimal
    unit_price: Decimal
    unit_cost: Decimal
    effective_date: date | None = None
    cancelled_date: date | None = None
    description: str | None = None
    updated_at: datetime | None = None

    @property
    def ref(self) -> LineItemRef:
        """The reference used to read or change this line item."""
        return LineItemRef(contract_id=self.contract_id, line_item_id=self.id)


@dataclass(frozen=True, slots=True)
class RecordWritten:
    """One PSA record that a write created or changed, for the audit trail."""

    entity: str
    id: str
    action: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did in the PSA.

    `line_item` is the line item as it now bills (after cancel-and-add it is the new
    addition). `records` lists every PSA record written, in order.
    """

    line_item: PsaLineItem | None
    records: tuple[RecordWritten, ...] = field(default_factory=tuple)

    @property
    def record_ids(self) -> tuple[str, ...]:
        """The ids of the records written, in order."""
        return tuple(r.id for r in self.records)
