"""Billing periods and proration: what a quantity change effective inside a period costs.

A change effective on day *d* is charged for the days from *d* to the end of its period:
``delta × unit price × days charged / days in period``. Days are counted by the tenant's
convention: actual calendar days, or 30-day months (30/360, where every month has 30 days).
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from trueup.domain.errors import BackdatingNotAllowedError, InvalidChangeError
from trueup.domain.model import BillingCycle, Contract, QuantityChange
from trueup.domain.money import DEFAULT_ROUNDING, Money, RoundingPolicy, sum_money


class ProrationConvention(StrEnum):
    """How days are counted when a period is split."""

    ACTUAL_DAYS = "actual_days"
    THIRTY_DAY_MONTHS = "30_day_months"


@dataclass(frozen=True, slots=True)
class Period:
    """A billing period: `start` inclusive, `end` exclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"period end {self.end} must be after its start {self.start}")

    def contains(self, day: date) -> bool:
        """True when `day` lies inside the period."""
        return self.start <= day < self.end

    @property
    def last_day(self) -> date:
        """The period's last day (inclusive)."""
        return self.end - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """`day` moved by `months`, clamped to the last day of a shorter month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def billing_period(anchor: date, cycle: BillingCycle, day: date) -> Period:
    """The period of a cycle counted from `anchor` that contains `day`."""
    step = cycle.months
    # Boundaries are always computed from the anchor, never from the previous boundary,
    # so a 31st anchor gives Jan 31, Feb 28, Mar 31 rather than drifting to the 28th.
    months_apart = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    k = months_apart // step
    start = add_months(anchor, k * step)
    while start > day:
        k -= 1
        start = add_months(anchor, k * step)
    end = add_months(anchor, (k + 1) * step)
    while end <= day:
        k += 1
        start, end = end, add_months(anchor, (k + 1) * step)
    return Period(start, end)


def contract_period(contract: Contract, day: date) -> Period:
    """The billing period of `contract` that contains `day`."""
    return billing_period(contract.anchor, contract.billing_cycle, day)


def _day360(day: date) -> int:
    # 30/360 day number: day 31 and the last day of February count as day 30, which
    # makes the count additive: days(a, b) + days(b, c) == days(a, c).
    last = calendar.monthrange(day.year, day.month)[1]
    dd = 30 if day.day == last or day.day > 30 else day.day
    return day.year * 360 + (day.month - 1) * 30 + dd


def _start360(day: date) -> int:
    # A boundary date (period end, exclusive) counts as the start of its day.
    return _day360(day - timedelta(days=1)) + 1


def days_between(start: date, end: date, convention: ProrationConvention) -> int:
    """Days from `start` (inclusive) to `end` (exclusive) under `convention`."""
    if end <= start:
        return 0
    if convention is ProrationConvention.ACTUAL_DAYS:
        return (end - start).days
    return _start360(end) - _start360(start)


def period_days(period: Period, convention: ProrationConvention) -> int:
    """Length of `period` in days under `convention` (30 per month for 30-day months)."""
    return days_between(period.start, period.end, convention)


def prorated_amount(
    quantity_delta: Decimal,
    unit_price: Decimal,
    start: date,
    period: Period,
    convention: ProrationConvention,
    end: date | None = None,
) -> Decimal:
    """Unrounded charge for `quantity_delta` units from `start` to `end` (default: period end)."""
    stop = period.end if end is None else end
    if not (period.start <= start <= stop <= period.end):
        raise InvalidChangeError(f"{start}..{stop} is not inside {period.start}..{period.end}")
    charged = days_between(start, stop, convention)
    total = period_days(period, convention)
    return quantity_delta * unit_price * Decimal(charged) / Decimal(total)


@dataclass(frozen=True, slots=True)
class ProrationLine:
    """One line that would be written to the PSA: a delta charged for part of a period."""

    effective: date
    period: Period
    quantity_before: Decimal
    quantity_after: Decimal
    unit_price: Decimal
    days_charged: int
    days_in_period: int
    amount: Money

    @property
    def quantity_delta(self) -> Decimal:
        """Units added (positive) or removed (negative)."""
        return self.quantity_after - self.quantity_before

    @property
    def is_credit(self) -> bool:
        """True when the line gives money back (a decrease)."""
        return self.amount.amount < 0


@dataclass(frozen=True, slots=True)
class ProrationPreview:
    """Exactly the lines a set of changes would write, and their total."""

    lines: tuple[ProrationLine, ...]
    total: Money
    final_quantity: Decimal


def change_steps(
    quantity_before: Decimal, changes: Sequence[QuantityChange]
) -> tuple[QuantityChange, ...]:
    """The steps a change writes to the PSA, in date order.

    The preview, the approval, the PSA writes and the activity entry all take their steps
    from here, so they cannot disagree. A step that leaves the quantity where the step
    before it left it writes nothing and is dropped; two steps on one date are refused.
    """
    ordered = sorted(changes, key=lambda c: c.effective)
    for earlier, later in itertools.pairwise(ordered):
        if earlier.effective == later.effective:
            raise InvalidChangeError(
                f"two changes take effect on {later.effective.isoformat()}; "
                "give one quantity per date"
            )
    steps: list[QuantityChange] = []
    before = quantity_before
    for change in ordered:
        if change.quantity != before:
            steps.append(change)
            before = change.quantity
    return tuple(steps)


def preview_changes(
    contract: Contract,
    *,
    quantity_before: Decimal,
    unit_price: Decimal,
    changes: Sequence[QuantityChange],
    today: date,
    convention: ProrationConvention = ProrationConvention.ACTUAL_DAYS,
    policy: RoundingPolicy = DEFAULT_ROUNDING,
) -> ProrationPreview:
    """Prorated lines for several quantity changes on one line item, each with its own date.

    Each change is charged from its date to the end of its period, then for every whole
    period up to the current one (a back-dated change catches up the periods already
    invoiced). Decreases produce credits. Without proration on the contract a change takes
    effect at the start of the next period and is charged for that full period.
    """
    ordered = change_steps(quantity_before, changes)
    current = contract_period(contract, today)
    lines: list[ProrationLine] = []
    before = quantity_before
    for change in ordered:
        effective = change.effective
        if effective < current.start and not contract.backdating_allowed:
            raise BackdatingNotAllowedError(contract.id, effective, current.start)
        period = contract_period(contract, effective)
        if not contract.proration_allowed and effective != period.start:
            effective = period.end
            period = contract_period(contract, effective)
        start = effective
        while True:
            amount = prorated_amount(
                change.quantity - before, unit_price, start, period, convention
            )
            lines.append(
                ProrationLine(
                    effective=start,
                    period=period,
                    quantity_before=before,
                    quantity_after=change.quantity,
                    unit_price=unit_price,
                    days_charged=days_between(start, period.end, convention),
                    days_in_period=period_days(period, convention),
                    amount=Money(amount, contract.currency).rounded(policy),
                )
            )
            if period.end > current.start:
                break
            # A back-dated change: the following periods were invoiced at the old quantity.
            period = contract_period(contract, period.end)
            start = period.start
        before = change.quantity
    lines = [line for line in lines if line.quantity_delta != 0]
    total = sum_money((line.amount for line in lines), contract.currency)
    return ProrationPreview(tuple(lines), total, before)
