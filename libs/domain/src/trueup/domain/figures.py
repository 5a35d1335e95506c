"""The money figures of a card and of any selection of cards.

Per card: the revenue, cost and profit change per billing period of its contract (a
quarter on a quarterly contract) and per month (MRR, the period's change divided by its
months), the margin after the change, and unbilled revenue (usage above what is billed).
Each figure is rounded once, from the exact value, to the currency's minor unit, and
profit is the difference of the rounded revenue and cost. A selection's totals are sums
of those rounded monthly figures, one per currency, so totals always equal their lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from trueup.domain.money import DEFAULT_ROUNDING, Money, RoundingPolicy, round_amount

if TYPE_CHECKING:
    # Only for annotations: the model imports this module to value its cards.
    from trueup.domain.model import BillingCycle

ZERO = Decimal(0)
HUNDRED = Decimal(100)
PERCENT_PLACES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class CardMoney:
    """The money effect of a card, rounded to the minor unit; the Details view shows these.

    `revenue_change`, `cost_change`, `profit_change` and `unbilled_revenue` are per billing
    period of the card's contract; the `mrr_*` figures and `unbilled_mrr` are per month.
    """

    revenue_change: Money
    cost_change: Money
    profit_change: Money
    mrr_change: Money
    mrr_cost_change: Money
    mrr_profit_change: Money
    unbilled_revenue: Money
    unbilled_mrr: Money
    # Profit / revenue of the line after the change, in percent; None when not known.
    margin_percent: Decimal | None

    @property
    def currency(self) -> str:
        """Currency of every figure."""
        return self.revenue_change.currency


def _margin_percent(unit_price: Decimal, unit_cost: Decimal) -> Decimal | None:
    if unit_price == ZERO:
        return None
    return ((unit_price - unit_cost) * HUNDRED / unit_price).quantize(PERCENT_PLACES)


def card_money(
    *,
    psa_quantity: Decimal,
    target_quantity: Decimal,
    vendor_quantity: Decimal | None,
    unit_price: Decimal,
    unit_cost: Decimal | None,
    billing_cycle: BillingCycle,
    currency: str,
    policy: RoundingPolicy = DEFAULT_ROUNDING,
    billed_elsewhere: Decimal = ZERO,
) -> CardMoney:
    """Money effect of moving a line item from `psa_quantity` to `target_quantity`.

    Call it again with edited quantity or prices to get the figures the Details view shows.
    Without a unit cost, cost counts as zero and the margin is unknown (None).
    """
    months = Decimal(billing_cycle.months)
    known_cost = unit_cost is not None
    unit_cost = unit_cost if unit_cost is not None else ZERO
    delta = target_quantity - psa_quantity
    # Usage above everything billed for it, this line and the account's other line items.
    unbilled_units = max(ZERO, (vendor_quantity or ZERO) - psa_quantity - billed_elsewhere)

    def money(amount: Decimal) -> Money:
        return Money(round_amount(amount, currency, policy), currency)

    revenue = money(delta * unit_price)
    cost = money(delta * unit_cost)
    # Divided exactly, then rounded once: multiplying by a rounded 1/months would turn an
    # exact half cent (0.03 / 6) into a hair more and round it the wrong way.
    mrr_revenue = money(delta * unit_price / months)
    mrr_cost = money(delta * unit_cost / months)
    # Profit is the difference of the rounded figures, so revenue - cost = profit on screen.
    return CardMoney(
        revenue_change=revenue,
        cost_change=cost,
        profit_change=revenue - cost,
        mrr_change=mrr_revenue,
        mrr_cost_change=mrr_cost,
        mrr_profit_change=mrr_revenue - mrr_cost,
        unbilled_revenue=money(unbilled_units * unit_price),
        unbilled_mrr=money(unbilled_units * unit_price / months),
        margin_percent=_margin_percent(unit_price, unit_cost) if known_cost else None,
    )


@dataclass(frozen=True, slots=True)
class MoneySummary:
    """Totals of a selection of cards in one currency, per month (MRR).

    Only monthly figures are totalled: a quarterly contract's change per quarter and a
    monthly one's per month are amounts of different periods and add up to nothing.
    """

    currency: str
    card_count: int
    mrr_change: Money
    mrr_cost_change: Money
    mrr_profit_change: Money
    unbilled_mrr: Money

    @property
    def margin_percent(self) -> Decimal | None:
        """Profit as a percent of revenue for the selection's change; None without revenue."""
        if self.mrr_change.is_zero():
            return None
        return (self.mrr_profit_change.amount * HUNDRED / self.mrr_change.amount).quantize(
            PERCENT_PLACES
        )


_FIELDS = ("mrr_change", "mrr_cost_change", "mrr_profit_change", "unbilled_mrr")


def summarise_money(figures: Iterable[CardMoney | None]) -> dict[str, MoneySummary]:
    """Monthly totals of the cards' `figures`, one summary per currency, sorted by currency.

    The one place money of many cards is added up: never across currencies, and never per
    billing period (see `MoneySummary`). A card without a price (None) is not counted.
    """
    totals: dict[str, dict[str, Decimal]] = {}
    counts: dict[str, int] = {}
    for card in figures:
        if card is None:
            continue
        currency = card.currency
        bucket = totals.setdefault(currency, dict.fromkeys(_FIELDS, ZERO))
        counts[currency] = counts.get(currency, 0) + 1
        for name in _FIELDS:
            amount: Money = getattr(card, name)
            bucket[name] += amount.amount
    return {
        currency: MoneySummary(
            currency=currency,
            card_count=counts[currency],
            **{name: Money(value, currency) for name, value in bucket.items()},
        )
        for currency, bucket in sorted(totals.items())
    }
