"""The quantity changes a card's action or preview would write, and the checks on them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from pydantic import ValidationError

from trueup import domain as d
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.reconciliation import state as st
from trueup.reconciliation.models import (
    CardRow,
    ContractRow,
)


def requested_changes(
    request: r.ChangeRequest, card: CardRow, default_date: date
) -> list[m.ProratedChange]:
    """The steps a change request writes, in date order (see `d.change_steps`).

    The request's own quantity (or, when it names no step at all, the card's target) is
    the main change, from its effective date; prorated changes are further steps.
    """
    quantity = request.quantity
    if quantity is None and not request.prorated_changes:
        quantity = card.target_quantity
        if quantity is None:
            raise QueryFailedError(
                422,
                "No quantity",
                "This card has no vendor quantity; enter the quantity to write.",
            )
    wanted = [d.QuantityChange(c.effective_date, c.quantity) for c in request.prorated_changes]
    if quantity is not None:
        wanted.append(d.QuantityChange(request.effective_date or default_date, quantity))
    try:
        steps = d.change_steps(card.psa_quantity, wanted)
        changes = [m.ProratedChange(effective_date=s.effective, quantity=s.quantity) for s in steps]
    except d.DomainError as exc:
        raise QueryFailedError(422, "Invalid change", str(exc)) from exc
    except ValidationError as exc:
        # The card's own target can be out of range (usage summed past the limit).
        raise QueryFailedError(422, "Invalid change", _first_error(exc)) from exc
    if not changes:
        raise QueryFailedError(
            422,
            "Nothing to write",
            f"This change leaves the quantity at {card.psa_quantity}; nothing would be written.",
        )
    return changes


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}"


def large_change(
    card: CardRow,
    changes: Sequence[m.ProratedChange],
    settings: r.BillingSettings,
    unit_price: Decimal | None,
) -> str | None:
    """Why these steps make a large change (any step past a limit), or None.

    `unit_price` is the price the change is written at: an add names its own, and the
    money limit must weigh that, not the catalogue price the card was computed with.
    """
    limits = st.large_change_limits(settings)
    for change in changes:
        why = d.explain_large_change(card.psa_quantity, change.quantity, unit_price, limits)
        if why is not None:
            return why
    return None


def check_date(contract_row: ContractRow | None, effective: date, today: date) -> None:
    if contract_row is None:
        return
    try:
        d.check_effective_date(st.contract(contract_row), effective, today)
    except d.DomainError as exc:
        raise QueryFailedError(422, "Effective date not allowed", str(exc)) from exc
