"""Auto-reconcile rules: small, expected changes approve themselves, with a reason.

A rule (per tenant, optionally narrowed to a vendor or a service line) approves a
Reconcile card when every limit it sets holds:

- size: |delta| ≤ `max_units`, or |delta| ≤ `max_percent` % of the billed quantity
  (either one is enough when both are set);
- direction: increases only, decreases only, or both;
- money: |revenue change per period| ≤ `max_money`.

Stale, hidden and already actioned cards, New Revenue cards, and large changes always wait
for a person.

A **large change** is one past any of the tenant's large-change limits (units, percent of
the billed quantity, or money per billing period in the card's own currency). Such a card
is marked, and approving it needs an explicit confirmation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from trueup.domain.model import Card, CardKind, CardState, RuleDecision

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class Direction(StrEnum):
    """Which changes a rule may approve."""

    INCREASE = "increase"
    DECREASE = "decrease"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class AutoRule:
    """One auto-reconcile rule of a tenant."""

    name: str
    max_units: Decimal | None = None
    max_percent: Decimal | None = None
    direction: Direction = Direction.ANY
    max_money: Decimal | None = None
    vendor: str | None = None
    service_line_id: str | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.max_units is None and self.max_percent is None:
            # A rule without a size limit would approve any change at all.
            raise ValueError(f"rule {self.name!r} needs max_units or max_percent")
        for label, limit in (
            ("max_units", self.max_units),
            ("max_percent", self.max_percent),
            ("max_money", self.max_money),
        ):
            if limit is not None and (not isinstance(limit, Decimal) or limit < ZERO):
                raise ValueError(f"rule {self.name!r}: {label} must be a Decimal >= 0")


@dataclass(frozen=True, slots=True)
class LargeChangeLimits:
    """A tenant's limits past which a change asks for a confirmation; None: no limit."""

    units: Decimal | None = Decimal(100)
    percent: Decimal | None = None
    money: Decimal | None = Decimal(5000)


def explain_large_change(
    quantity_before: Decimal,
    quantity_after: Decimal,
    unit_price: Decimal | None,
    limits: LargeChangeLimits,
) -> str | None:
    """Why changing `quantity_before` to `quantity_after` is large (e.g. "+1237 units >
    100"), or None when it is within every limit."""
    delta = quantity_after - quantity_before
    if delta == ZERO:
        return None
    size = abs(delta)
    reasons: list[str] = []
    if limits.units is not None and size > limits.units:
        reasons.append(f"{_signed(delta)} units > {_fmt(limits.units)}")
    if limits.percent is not None and quantity_before > ZERO:
        percent = size * HUNDRED / quantity_before
        if percent > limits.percent:
            shown = _signed(
                (delta * HUNDRED / quantity_before).quantize(Decimal("0.1")), exact=True
            )
            reasons.append(f"{shown}% > {_fmt(limits.percent)}%")
    if limits.money is not None and unit_price is not None:
        money = size * unit_price
        if money > limits.money:
            reasons.append(f"{_fmt(money)} per period > {_fmt(limits.money)}")
    return "; ".join(reasons) or None


def card_large_change(card: Card, limits: LargeChangeLimits) -> str | None:
    """Why approving `card` as computed is a large change, or None."""
    if card.target_quantity is None or card.kind is CardKind.NO_CHANGE:
        return None
    return explain_large_change(card.psa_quantity, card.target_quantity, card.unit_price, limits)


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _signed(value: Decimal, *, exact: bool = False) -> str:
    # Quantities read best normalised ("+2"); money and percents keep their places.
    text = format(value, "f") if exact else _fmt(value)
    return ("+" if value > 0 else "") + text


def _applies_to(rule: AutoRule, card: Card) -> bool:
    if not rule.enabled:
        return False
    if rule.service_line_id is not None and card.service_line_id != rule.service_line_id:
        return False
    # Narrowed to a vendor: every piece of usage behind the card must come from it.
    return rule.vendor is None or card.vendors == (rule.vendor,)


def explain_rule(rule: AutoRule, card: Card) -> str | None:
    """Why `rule` approves `card` (e.g. "+2 ≤ 5"), or None when it does not."""
    if not _applies_to(rule, card):
        return None
    delta = card.delta
    if delta == ZERO:
        return None
    if rule.direction is Direction.INCREASE and delta < ZERO:
        return None
    if rule.direction is Direction.DECREASE and delta > ZERO:
        return None
    reasons: list[str] = []
    size = abs(delta)
    if rule.max_units is not None and size <= rule.max_units:
        reasons.append(f"{_signed(delta)} ≤ {_fmt(rule.max_units)}")
    elif rule.max_percent is not None and card.psa_quantity > ZERO:
        percent = size * HUNDRED / card.psa_quantity
        if percent <= rule.max_percent:
            shown = _signed(
                (delta * HUNDRED / card.psa_quantity).quantize(Decimal("0.1")), exact=True
            )
            reasons.append(f"{shown}% ≤ {_fmt(rule.max_percent)}%")
    if not reasons:
        return None
    if rule.direction is not Direction.ANY:
        reasons.append(f"{rule.direction.value}s only")
    if rule.max_money is not None:
        if card.money is None:
            return None
        change = card.money.revenue_change
        if abs(change.amount) > rule.max_money:
            return None
        limit = _fmt(rule.max_money)
        reasons.append(f"{_signed(change.amount, exact=True)} {change.currency} ≤ {limit}")
    return ", ".join(reasons)


def evaluate_rules(
    card: Card, rules: Iterable[AutoRule], large: LargeChangeLimits | None = None
) -> RuleDecision | None:
    """The first rule, in order, that approves `card`, with its explanation; else None.

    A large change (past `large`) is never approved by a rule, whatever the rule says.
    """
    if card.kind is not CardKind.RECONCILE or card.stale or card.hidden:
        return None
    if card.state is not CardState.PENDING:
        return None
    if large is not None and card_large_change(card, large) is not None:
        return None
    for rule in rules:
        why = explain_rule(rule, card)
        if why is not None:
            return RuleDecision(rule.name, f"auto-approved by rule '{rule.name}': {why}")
    return None
