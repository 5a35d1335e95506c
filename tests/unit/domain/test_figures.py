"""Money figures of a card and of a selection of cards."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trueup.domain import (
    BillingCycle,
    CardMoney,
    Money,
    RoundingMode,
    RoundingPolicy,
    card_money,
    summarise_money,
)

# A busy CI machine must not turn a slow example into a failure.
NO_DEADLINE = settings(deadline=None)

D = Decimal


class TestCardMoney:
    @pytest.mark.parametrize(
        ("psa", "target", "vendor", "price", "cost", "cycle", "revenue", "cost_change", "mrr"),
        [
            ("10", "12", "12", "22.00", "18.50", BillingCycle.MONTHLY, "44.00", "37.00", "44.00"),
            (
                "12",
                "10",
                "10",
                "22.00",
                "18.50",
                BillingCycle.MONTHLY,
                "-44.00",
                "-37.00",
                "-44.00",
            ),
            (
                "10",
                "11",
                "11",
                "100.00",
                "60.00",
                BillingCycle.QUARTERLY,
                "100.00",
                "60.00",
                "33.33",
            ),
            ("10", "11", "11", "20.00", "10.00", BillingCycle.ANNUAL, "20.00", "10.00", "1.67"),
            ("5", "5", None, "9.99", "5.00", BillingCycle.MONTHLY, "0.00", "0.00", "0.00"),
            ("1", "2", "2", "0.125", "0", BillingCycle.MONTHLY, "0.13", "0.00", "0.13"),
        ],
    )
    def test_revenue_cost_and_mrr(
        self,
        psa: str,
        target: str,
        vendor: str | None,
        price: str,
        cost: str,
        cycle: BillingCycle,
        revenue: str,
        cost_change: str,
        mrr: str,
    ) -> None:
        figures = card_money(
            psa_quantity=D(psa),
            target_quantity=D(target),
            vendor_quantity=None if vendor is None else D(vendor),
            unit_price=D(price),
            unit_cost=D(cost),
            billing_cycle=cycle,
            currency="USD",
        )
        assert figures.revenue_change == Money(D(revenue), "USD")
        assert figures.cost_change == Money(D(cost_change), "USD")
        assert figures.profit_change == figures.revenue_change - figures.cost_change
        assert figures.mrr_profit_change == figures.mrr_change - figures.mrr_cost_change
        assert figures.mrr_change == Money(D(mrr), "USD")

    def test_margin_and_unbilled_revenue(self) -> None:
        figures = card_money(
            psa_quantity=D(10),
            target_quantity=D(10),
            vendor_quantity=D(13),
            unit_price=D("20.00"),
            unit_cost=D("15.00"),
            billing_cycle=BillingCycle.QUARTERLY,
            currency="EUR",
        )
        assert figures.margin_percent == D("25.00")
        assert figures.unbilled_revenue == Money(D("60.00"), "EUR")
        assert figures.unbilled_mrr == Money(D("20.00"), "EUR")
        assert figures.revenue_change.is_zero()

    def test_usage_below_billing_is_not_unbilled(self) -> None:
        figures = card_money(
            psa_quantity=D(10),
            target_quantity=D(8),
            vendor_quantity=D(8),
            unit_price=D(5),
            unit_cost=D(1),
            billing_cycle=BillingCycle.MONTHLY,
            currency="USD",
        )
        assert figures.unbilled_revenue.is_zero()

    def test_zero_price_has_no_margin(self) -> None:
        figures = card_money(
            psa_quantity=D(1),
            target_quantity=D(2),
            vendor_quantity=D(2),
            unit_price=D(0),
            unit_cost=D(1),
            billing_cycle=BillingCycle.MONTHLY,
            currency="USD",
        )
        assert figures.margin_percent is None

    def test_rounding_policy_is_applied(self) -> None:
        args = {
            "psa_quantity": D(0),
            "target_quantity": D(1),
            "vendor_quantity": D(1),
            "unit_price": D("0.125"),
            "unit_cost": D(0),
            "billing_cycle": BillingCycle.MONTHLY,
            "currency": "USD",
        }
        assert card_money(**args).revenue_change.amount == D("0.13")  # type: ignore[arg-type]
        even = card_money(**args, policy=RoundingPolicy(RoundingMode.HALF_EVEN))  # type: ignore[arg-type]
        assert even.revenue_change.amount == D("0.12")

    @NO_DEADLINE
    @given(
        st.decimals(min_value=0, max_value=10_000, places=2),
        st.decimals(min_value=0, max_value=10_000, places=2),
        st.decimals(min_value=0, max_value=1000, places=4),
        st.decimals(min_value=0, max_value=1000, places=4),
        st.sampled_from(list(BillingCycle)),
    )
    def test_every_figure_is_rounded_within_half_a_cent(
        self, psa: Decimal, target: Decimal, price: Decimal, cost: Decimal, cycle: BillingCycle
    ) -> None:
        figures = card_money(
            psa_quantity=psa,
            target_quantity=target,
            vendor_quantity=target,
            unit_price=price,
            unit_cost=cost,
            billing_cycle=cycle,
            currency="USD",
        )
        exact = (target - psa) * price
        assert abs(figures.revenue_change.amount - exact) <= D("0.005")
        assert abs(figures.mrr_change.amount - exact / cycle.months) <= D("0.005")
        for money in (figures.revenue_change, figures.profit_change, figures.unbilled_mrr):
            assert money.amount.as_tuple().exponent == -2


def _half_up_cents(value: Fraction) -> Decimal:
    """`value` rounded half-up to cents, computed with exact fractions (the reference)."""
    cents = value * 100
    sign = -1 if cents < 0 else 1
    whole, rest = divmod(abs(cents), 1)
    rounded = int(whole) + (1 if rest >= Fraction(1, 2) else 0)
    return Decimal(sign * rounded) / 100


class TestMonthlyNormalisation:
    """A card's per-period figures are in the contract's cycle; MRR is the same change a month."""

    def test_quarterly_contract(self) -> None:
        figures = card_money(
            psa_quantity=D(10),
            target_quantity=D(20),
            vendor_quantity=D(20),
            unit_price=D("295.68"),
            unit_cost=D("200.00"),
            billing_cycle=BillingCycle.QUARTERLY,
            currency="USD",
        )
        # The example: +$2,956.80 a quarter is +$985.60 a month.
        assert figures.revenue_change == Money(D("2956.80"), "USD")
        assert figures.mrr_change == Money(D("985.60"), "USD")
        assert figures.mrr_cost_change == Money(D("666.67"), "USD")
        assert figures.mrr_profit_change == Money(D("318.93"), "USD")

    def test_annual_contract(self) -> None:
        figures = card_money(
            psa_quantity=D(5),
            target_quantity=D(8),
            vendor_quantity=D(8),
            unit_price=D("1200.00"),
            unit_cost=D("1000.00"),
            billing_cycle=BillingCycle.ANNUAL,
            currency="CAD",
        )
        assert figures.revenue_change == Money(D("3600.00"), "CAD")
        assert figures.mrr_change == Money(D("300.00"), "CAD")
        assert figures.mrr_profit_change == Money(D("50.00"), "CAD")

    @pytest.mark.parametrize(
        ("price", "mode", "mrr"),
        [
            # 0.03 / 6 is exactly half a cent: exact division rounds it by the tenant's rule,
            # where multiplying by a rounded 1/6 would land a hair above and round up.
            ("0.03", RoundingMode.HALF_UP, "0.01"),
            ("0.03", RoundingMode.HALF_EVEN, "0.00"),
            ("59.97", RoundingMode.HALF_EVEN, "10.00"),
        ],
    )
    def test_semi_annual_half_cents_follow_the_rounding_rule(
        self, price: str, mode: RoundingMode, mrr: str
    ) -> None:
        figures = card_money(
            psa_quantity=D(0),
            target_quantity=D(1),
            vendor_quantity=D(1),
            unit_price=D(price),
            unit_cost=D(0),
            billing_cycle=BillingCycle.SEMI_ANNUAL,
            currency="USD",
            policy=RoundingPolicy(mode),
        )
        assert figures.mrr_change.amount == D(mrr)

    @NO_DEADLINE
    @given(
        st.decimals(min_value=-100_000, max_value=100_000, places=4),
        st.decimals(min_value=0, max_value=1_000_000, places=6),
        st.sampled_from(list(BillingCycle)),
    )
    def test_mrr_is_the_exact_quotient_rounded_once(
        self, delta: Decimal, price: Decimal, cycle: BillingCycle
    ) -> None:
        figures = card_money(
            psa_quantity=D(0) if delta >= 0 else -delta,
            target_quantity=delta if delta >= 0 else D(0),
            vendor_quantity=None,
            unit_price=price,
            unit_cost=price,
            billing_cycle=cycle,
            currency="USD",
        )
        exact = Fraction(delta) * Fraction(price) / cycle.months
        assert figures.mrr_change.amount == _half_up_cents(exact)
        assert figures.revenue_change.amount == _half_up_cents(exact * cycle.months)


class TestSummariseMoney:
    """Totals are per currency and per month: no two currencies, no two periods, are added."""

    def figures(self, currency: str, cycle: BillingCycle, delta: int, price: str) -> CardMoney:
        return card_money(
            psa_quantity=D(0),
            target_quantity=D(delta),
            vendor_quantity=D(delta),
            unit_price=D(price),
            unit_cost=D(0),
            billing_cycle=cycle,
            currency=currency,
        )

    def test_one_summary_per_currency_in_mrr(self) -> None:
        summaries = summarise_money(
            [
                self.figures("USD", BillingCycle.QUARTERLY, 10, "295.68"),  # 985.60 a month
                self.figures("USD", BillingCycle.ANNUAL, 3, "1200.00"),  # 300.00 a month
                self.figures("USD", BillingCycle.MONTHLY, 1, "14.40"),
                self.figures("CAD", BillingCycle.MONTHLY, 45, "21.00"),  # 945.00 a month
                None,  # a card without a price has no figures and is not counted
            ]
        )
        assert list(summaries) == ["CAD", "USD"]
        usd, cad = summaries["USD"], summaries["CAD"]
        assert (usd.card_count, usd.mrr_change) == (3, Money(D("1300.00"), "USD"))
        assert (cad.card_count, cad.mrr_change) == (1, Money(D("945.00"), "CAD"))
        assert usd.mrr_profit_change == usd.mrr_change
        assert usd.margin_percent == D("100.00")

    def test_per_period_figures_are_not_totalled(self) -> None:
        # A quarter's change and a month's change do not add up to anything.
        (summary,) = summarise_money([self.figures("USD", BillingCycle.QUARTERLY, 1, "3")]).values()
        assert not hasattr(summary, "revenue_change")
        assert not hasattr(summary, "profit_change")
