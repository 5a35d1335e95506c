"""Money figures of a card and of a selection of cards."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trueup.domain import BillingCycle, Money, RoundingMode, RoundingPolicy, card_money

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
