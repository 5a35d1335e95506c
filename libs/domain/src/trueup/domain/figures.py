"""The money figures of a card and of any selection of cards.

Per card: the revenue, cost and profit change per billing period and as monthly recurring
revenue (MRR), the margin after the change, and unbilled revenue (usage above what is
billed). Revenue and cost are rounded once, from the exact product, to the currency's
minor unit, and profit is their difference; a selection's totals are sums of those
rounded figures, so totals always equal their lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from trueup.domain.money import DEFAULT_ROUNDING, Money, RoundingPolicy, round_amount

if TYPE_CHECKING:
    # Only for annotations: the model imports this module to value its cards.
    from trueup.domain.model import BillingCycle, Card

ZERO = Decimal(0)
HUNDRED = Decimal(100)
PERCENT_PLACES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class CardMoney:
    """The money effect of a card, rounded to the minor unit; the Details view shows these."""

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
    """Totals of a selection of cards in one currency."""

    currency: str
    card_count: int
    revenue_change: Money
    cost_change: Money
    profit_change: Money
    mrr_change: Money
    mrr_cost_change: Money
    mrr_profit_change: Money
    unbilled_revenue: Money
    unbilled_mrr: Money

    @property
    def margin_percent(self) -> Decimal | None:
        """Profit as a percent of revenue for the selection's change; None without revenue."""
        if self.revenue_change.is_zero():
            return None
        return (self.profit_change.amount * HUNDRED / self.revenue_change.amount).quantize(
            PERCENT_PLACES
        )


_FIELDS = (
    "revenue_change",
    "cost_change",
    "profit_change",
    "mrr_change",
    "mrr_cost_change",
    "mrr_profit_change",
    "unbilled_revenue",
    "unbilled_mrr",
)


def summarise_money(cards: Iterable[Card]) -> dict[str, MoneySummary]:
    """Totals of the priced cards in `cards`, one summary per currency."""
    totals: dict[str, dict[str, Decimal]] = {}
    counts: dict[str, int] = {}
    for card in cards:
        figures = card.money
        if figures is None:
            continue
        currency = figures.currency
        bucket = totals.setdefault(currency, dict.fromkeys(_FIELDS, ZERO))
        counts[currency] = counts.get(currency, 0) + 1
        for name in _FIELDS:
            amount: Money = getattr(figures, name)
            bucket[name] += amount.amount
    return {
        currency: MoneySummary(
            currency=currency,
            card_count=counts[currency],
            **{name: Money(value, currency) for name, value in bucket.items()},
        )
        for currency, bucket in sorted(totals.items())
    }
