"""The words of TrueUp as data: accounts, contracts, line items, usage, mappings, cards.

Every value is immutable. Most are frozen, slotted dataclasses. The three that a full
reconcile handles by the hundred thousand or the million, `VendorUsage`, `UsageContribution`
and `Card`, are named tuples: a frozen dataclass assigns each field through
`object.__setattr__` where a tuple is built in one step, and a tuple's fields can be read
by position, without an attribute lookup, in the loops that sum usage. Quantities and money
are `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import NamedTuple

from trueup.domain.figures import CardMoney, card_money
from trueup.domain.money import DEFAULT_ROUNDING, RoundingPolicy

ONE = Decimal(1)
ZERO = Decimal(0)


class BillingCycle(StrEnum):
    """How often a contract invoices its recurring line items."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMI_ANNUAL = "semi_annual"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        """Length of one billing period in months."""
        return _CYCLE_MONTHS[self]


_CYCLE_MONTHS = {
    BillingCycle.MONTHLY: 1,
    BillingCycle.QUARTERLY: 3,
    BillingCycle.SEMI_ANNUAL: 6,
    BillingCycle.ANNUAL: 12,
}


class BillingTiming(StrEnum):
    """Whether a period is invoiced at its start (advance) or its end (arrears)."""

    ADVANCE = "advance"
    ARREARS = "arrears"


class ContractStatus(StrEnum):
    """Contract status as the PSA reports it."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class RoundingRule(StrEnum):
    """How a converted vendor quantity becomes whole sales units."""

    UP = "up"
    DOWN = "down"
    HALF_UP = "half_up"
    EXACT = "exact"


class CardKind(StrEnum):
    """What a card says about a line item or a piece of unbilled usage."""

    RECONCILE = "reconcile"
    NO_CHANGE = "no_change"
    NEW_REVENUE = "new_revenue"


class CardState(StrEnum):
    """Where a card is in its life within a billing cycle."""

    PENDING = "pending"
    APPROVED = "approved"
    APPLIED = "applied"
    CONFLICT = "conflict"
    FAILED = "failed"
    DISMISSED = "dismissed"


class ActionKind(StrEnum):
    """What a person (or a rule) does with a card (see `lifecycle` for where each leads)."""

    APPROVE = "approve"
    ADD = "add"
    DISMISS = "dismiss"
    RESTORE = "restore"
    """Undo a dismissal: the card is pending again."""
    RETRY = "retry"
    """Run a failed writeback's job again."""
    SET_EFFECTIVE_DATE = "set_effective_date"
    """Plan the date a later approval writes from; the state stays as it is."""


class WritebackOutcome(StrEnum):
    """What became of an approved change in the PSA."""

    APPLIED = "applied"
    CONFLICT = "conflict"
    """The PSA no longer showed the quantity the card did; nothing was written."""
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Account:
    """A client of the MSP as the PSA knows it."""

    id: str
    name: str
    # Per-account switch: some clients buy licences elsewhere and New Revenue is noise.
    suppress_new_revenue: bool = False


@dataclass(frozen=True, slots=True)
class Contract:
    """A PSA agreement/contract: dates, status, billing cycle and its rules."""

    id: str
    account_id: str
    name: str
    start: date
    end: date | None = None
    status: ContractStatus = ContractStatus.ACTIVE
    billing_cycle: BillingCycle = BillingCycle.MONTHLY
    timing: BillingTiming = BillingTiming.ADVANCE
    proration_allowed: bool = True
    backdating_allowed: bool = False
    currency: str = "USD"
    # Periods start on this date's day of month; the contract start when not given.
    period_anchor: date | None = None
    # False where the PSA changes a quantity from now on and cannot schedule a later
    # change (HaloPSA): only changes effective today or earlier can be written as asked.
    dated_changes: bool = True

    def is_active(self, today: date) -> bool:
        """True when the contract is active and `today` lies within its dates."""
        if self.status is not ContractStatus.ACTIVE or self.start > today:
            return False
        return self.end is None or self.end >= today

    @property
    def anchor(self) -> date:
        """The date billing periods are counted from."""
        return self.period_anchor or self.start


@dataclass(frozen=True, slots=True)
class LineItem:
    """One recurring service on a contract (ConnectWise addition, Autotask contract service)."""

    id: str
    contract_id: str
    product_id: str
    quantity: Decimal
    unit_price: Decimal
    unit_cost: Decimal
    description: str = ""
    effective: date | None = None
    cancelled: date | None = None

    def is_current(self, today: date) -> bool:
        """True when the line item bills on `today` (effective, not yet cancelled)."""
        if self.effective is not None and self.effective > today:
            return False
        return self.cancelled is None or self.cancelled > today


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """One product across all accounts; cards are grouped by it."""

    id: str
    name: str
    product_id: str
    vendor_tag: str | None = None
    sales_unit: str = "each"
    # Catalogue price, used to value New Revenue until a person enters one.
    catalogue_unit_price: Decimal | None = None
    catalogue_unit_cost: Decimal | None = None


class VendorUsage(NamedTuple):
    """A quantity a vendor reports for (vendor account, SKU) at a time.

    The tenant's current usage is the sum of its records per (vendor, vendor account, SKU):
    one Pax8 company may hold two subscriptions of one product. The first four fields are
    the key usage is grouped by, so that reconciliation reads it as one slice.
    """

    vendor: str
    vendor_account_id: str
    sku: str
    source: str
    quantity: Decimal
    as_of: datetime
    vendor_account_name: str = ""
    sku_name: str = ""
    # A PSA account id carried in the vendor's data (Datto RMM sites often carry one).
    psa_account_hint: str | None = None


@dataclass(frozen=True, slots=True)
class AccountMapping:
    """Vendor account -> PSA account. Several vendor accounts may map to one PSA account."""

    vendor: str
    vendor_account_id: str
    account_id: str | None
    excluded: bool = False

    def __post_init__(self) -> None:
        if not self.excluded and self.account_id is None:
            raise ValueError("an account mapping needs an account unless it is excluded")


@dataclass(frozen=True, slots=True)
class ServiceMapping:
    """Vendor SKU -> service line, with the sales-unit conversion.

    One SKU may feed several service lines (a bundle) and several SKUs may feed one.
    `factor` is how many vendor units make one sales unit: 100 when the vendor reports GB
    and the MSP bills per 100 GB, 5 for packs of five users.
    """

    vendor: str
    sku: str
    service_line_id: str | None
    factor: Decimal = ONE
    rounding: RoundingRule = RoundingRule.UP
    excluded: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.factor, Decimal) or self.factor <= ZERO:
            raise ValueError(f"sales-unit factor must be a positive Decimal, got {self.factor!r}")
        if not self.excluded and self.service_line_id is None:
            raise ValueError("a service mapping needs a service line unless it is excluded")

    def to_sales_units(self, vendor_quantity: Decimal) -> Decimal:
        """Convert a summed vendor quantity to sales units under the rounding rule."""
        if self.factor == ONE:
            # The common case, once per usage group in a full reconcile: whole vendor units
            # are already whole sales units.
            if (
                vendor_quantity == vendor_quantity.to_integral_value()
                or self.rounding is RoundingRule.EXACT
            ):
                return vendor_quantity
            converted = vendor_quantity
        else:
            converted = vendor_quantity / self.factor
        if self.rounding is RoundingRule.EXACT:
            # "Exact" is exact to the six decimals a quantity may carry anywhere in
            # TrueUp (10 / 3 would otherwise be 28 digits no PSA or message accepts).
            return converted.quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)
        mode = _ROUNDING_MODES[self.rounding]
        return converted.quantize(ONE, rounding=mode)


QUANTITY_STEP = Decimal("0.000001")

_ROUNDING_MODES = {
    RoundingRule.UP: ROUND_CEILING,
    RoundingRule.DOWN: ROUND_FLOOR,
    RoundingRule.HALF_UP: ROUND_HALF_UP,
}


class UsageContribution(NamedTuple):
    """How one (vendor, vendor account, SKU) adds to a card, for the Details view."""

    vendor: str
    vendor_account_id: str
    sku: str
    vendor_quantity: Decimal
    quantity: Decimal
    record_count: int
    oldest_as_of: datetime
    sources: tuple[str, ...]
    stale: bool


@dataclass(frozen=True, slots=True)
class RuleDecision:
    """An auto-reconcile rule approved a card; `explanation` says why."""

    rule_name: str
    explanation: str


class Card(NamedTuple):
    """One line item compared with its mapped usage, or usage nobody bills yet (New Revenue).

    `id` is stable across recomputes so the service can upsert cards.
    """

    id: str
    tenant_id: str
    kind: CardKind
    account_id: str
    service_line_id: str | None
    contract_id: str | None
    line_item_id: str | None
    psa_quantity: Decimal
    vendor_quantity: Decimal | None
    # What approving writes to this line item; None when no usage is mapped.
    target_quantity: Decimal | None
    # Quantity other line items of the same account and service line already bill.
    billed_elsewhere: Decimal
    unit_price: Decimal | None
    unit_cost: Decimal | None
    currency: str
    billing_cycle: BillingCycle
    contributions: tuple[UsageContribution, ...] = ()
    stale: bool = False
    state: CardState = CardState.PENDING
    hidden: bool = False
    actioned_on: date | None = None
    auto_approval: RuleDecision | None = None
    rounding: RoundingPolicy = DEFAULT_ROUNDING
    # False for the other line items of an account and service line: the first one carries
    # the comparison, so unbilled revenue is counted once.
    primary: bool = True

    @property
    def money(self) -> CardMoney | None:
        """Revenue, cost, profit, MRR, margin and unbilled revenue; None without a price.

        Derived from the card's quantities and prices each time, so it can never disagree
        with them.
        """
        if self.unit_price is None:
            return None
        return card_money(
            psa_quantity=self.psa_quantity,
            target_quantity=self.psa_quantity
            if self.target_quantity is None
            else self.target_quantity,
            vendor_quantity=self.vendor_quantity if self.primary else None,
            unit_price=self.unit_price,
            unit_cost=self.unit_cost,
            billing_cycle=self.billing_cycle,
            currency=self.currency,
            policy=self.rounding,
            billed_elsewhere=self.billed_elsewhere,
        )

    @property
    def delta(self) -> Decimal:
        """Quantity change approving would make (0 without mapped usage)."""
        if self.target_quantity is None:
            return ZERO
        return self.target_quantity - self.psa_quantity

    @property
    def vendors(self) -> tuple[str, ...]:
        """Vendors whose usage feeds this card, sorted."""
        return tuple(sorted({c.vendor for c in self.contributions}))

    @property
    def usage_as_of(self) -> datetime | None:
        """Time of the oldest usage behind this card."""
        if not self.contributions:
            return None
        return min(c.oldest_as_of for c in self.contributions)


@dataclass(frozen=True, slots=True)
class CardRecord:
    """What the service remembers of a card between recomputes: its state and when actioned."""

    state: CardState
    actioned_on: date | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """Approve (vendor or custom quantity), add (New Revenue) or dismiss a card."""

    card_id: str
    kind: ActionKind
    effective: date | None = None
    quantity: Decimal | None = None
    actor: str | None = None
    changes: tuple[QuantityChange, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class QuantityChange:
    """From `effective` on, the line item bills `quantity` units."""

    effective: date
    quantity: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.quantity, Decimal):
            raise TypeError(f"quantity must be Decimal, got {type(self.quantity).__name__}")
        if self.quantity < ZERO:
            raise ValueError(f"quantity cannot be negative: {self.quantity}")
