"""The tenant's reconciliation cycle: when actioned cards come back, and default dates.

A tenant reconciles once a month, in a cycle that starts on its own day of the month
(1-28). A card that is approved, added or dismissed is hidden until the next cycle
starts; then it comes back if it still shows a difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from trueup.domain.errors import BackdatingNotAllowedError, InvalidChangeError
from trueup.domain.model import (
    BillingTiming,
    Card,
    CardKind,
    CardRecord,
    CardState,
    Contract,
)
from trueup.domain.proration import Period, add_months, contract_period

# States a person (or a rule) put the card in; they hide it for the rest of the cycle.
ACTIONED_STATES = frozenset({CardState.APPROVED, CardState.APPLIED, CardState.DISMISSED})


def tenant_cycle(day: date, start_day: int = 1) -> Period:
    """The tenant's monthly reconciliation cycle that contains `day`."""
    if not 1 <= start_day <= 28:
        raise ValueError(f"cycle start day must be 1-28, got {start_day}")
    start = date(day.year, day.month, start_day)
    if day < start:
        start = add_months(start, -1)
    return Period(start, add_months(start, 1))


@dataclass(frozen=True, slots=True)
class CycleTurn:
    """Which cycle is open after looking at the calendar, and which one closes now."""

    open_start: date
    """First day of the cycle open from now on."""
    closes_on: date
    """The day the open cycle is due to close (the next cycle's first day)."""
    closed: Period | None
    """The cycle to close now (keep its cards as they stood), or None."""


def turn_cycle(open_start: date | None, today: date, start_day: int = 1) -> CycleTurn:
    """Close the open cycle once `today` falls in a later one.

    The closed cycle runs from the open cycle's start to the new one's, so closed cycles
    never overlap, even when the tenant moves its start day or nothing ran for a month.
    A start day moved back into the open cycle leaves it open until the next start.
    """
    current = tenant_cycle(today, start_day)
    if open_start is None:
        return CycleTurn(current.start, current.end, None)
    if current.start > open_start:
        return CycleTurn(current.start, current.end, Period(open_start, current.start))
    return CycleTurn(open_start, current.end, None)


def is_hidden(actioned_on: date | None, today: date, start_day: int = 1) -> bool:
    """True when a card actioned on `actioned_on` is still hidden on `today`."""
    if actioned_on is None:
        return False
    return tenant_cycle(today, start_day).contains(actioned_on)


@dataclass(frozen=True, slots=True)
class CardStatus:
    """A card's state and visibility after a recompute."""

    state: CardState
    hidden: bool
    actioned_on: date | None


def card_status(record: CardRecord | None, today: date, start_day: int = 1) -> CardStatus:
    """Carry a card's state over a recompute: actioned cards stay hidden until the next cycle.

    Once the next cycle starts an actioned card starts over as pending; conflicts and
    failures stay visible so a person sees them.
    """
    if record is None:
        return CardStatus(CardState.PENDING, hidden=False, actioned_on=None)
    if record.state in ACTIONED_STATES:
        if is_hidden(record.actioned_on, today, start_day):
            return CardStatus(record.state, hidden=True, actioned_on=record.actioned_on)
        return CardStatus(CardState.PENDING, hidden=False, actioned_on=None)
    return CardStatus(record.state, hidden=False, actioned_on=record.actioned_on)


def default_effective_date(contract: Contract, today: date) -> date:
    """First day of the next period for bill-in-advance contracts; today for arrears, and
    for a PSA that cannot schedule a later change."""
    if contract.timing is BillingTiming.ADVANCE and contract.dated_changes:
        return contract_period(contract, today).end
    return today


def check_effective_date(contract: Contract, effective: date, today: date) -> None:
    """Raise `BackdatingNotAllowedError` when `effective` is before the current period, and
    `InvalidChangeError` for a later date the contract's PSA cannot schedule."""
    if effective > today and not contract.dated_changes:
        raise InvalidChangeError(
            f"this PSA changes quantities from today on and cannot schedule a change on "
            f"{effective.isoformat()}; date it today or earlier"
        )
    current = contract_period(contract, today)
    if effective < current.start and not contract.backdating_allowed:
        raise BackdatingNotAllowedError(contract.id, effective, current.start)


@dataclass(frozen=True, slots=True)
class BulkEffectiveDates:
    """Effective dates chosen for a selection of cards, and the cards that refused one."""

    dates: Mapping[str, date]
    refused: Mapping[str, str]


def bulk_effective_dates(
    cards: Iterable[Card],
    contracts: Mapping[str, Contract],
    today: date,
    effective: date | None = None,
) -> BulkEffectiveDates:
    """Set one effective date on many cards (or each contract's default when None).

    A card whose contract forbids the date is listed in `refused` with the reason; the
    others still get it, so one odd contract does not block a bulk approval.
    """
    dates: dict[str, date] = {}
    refused: dict[str, str] = {}
    for card in cards:
        contract = contracts.get(card.contract_id) if card.contract_id else None
        if contract is None:
            if card.kind is CardKind.NEW_REVENUE and effective is not None:
                dates[card.id] = effective
            else:
                refused[card.id] = "no contract to date the change on"
            continue
        chosen = default_effective_date(contract, today) if effective is None else effective
        try:
            check_effective_date(contract, chosen, today)
        except BackdatingNotAllowedError as error:
            refused[card.id] = str(error)
            continue
        dates[card.id] = chosen
    return BulkEffectiveDates(dates, refused)
