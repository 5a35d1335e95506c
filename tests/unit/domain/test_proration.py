"""Billing periods and proration: actual days and 30-day months, credits, back-dating."""

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trueup.domain import (
    BackdatingNotAllowedError,
    BillingCycle,
    Contract,
    InvalidChangeError,
    Money,
    Period,
    ProrationConvention,
    QuantityChange,
    billing_period,
    days_between,
    period_days,
    preview_changes,
    prorated_amount,
    round_amount,
)

# A busy CI machine must not turn a slow example into a failure.
NO_DEADLINE = settings(deadline=None)

D = Decimal
ACTUAL = ProrationConvention.ACTUAL_DAYS
THIRTY = ProrationConvention.THIRTY_DAY_MONTHS
TODAY = date(2026, 11, 15)


def contract(
    cycle: BillingCycle = BillingCycle.MONTHLY,
    *,
    backdating: bool = False,
    proration: bool = True,
    anchor: date = date(2026, 1, 1),
) -> Contract:
    return Contract(
        "c1",
        "a1",
        "Managed services",
        start=anchor,
        billing_cycle=cycle,
        backdating_allowed=backdating,
        proration_allowed=proration,
    )


class TestBillingPeriods:
    @pytest.mark.parametrize(
        ("anchor", "cycle", "day", "start", "end"),
        [
            (
                date(2026, 1, 1),
                BillingCycle.MONTHLY,
                date(2026, 11, 15),
                date(2026, 11, 1),
                date(2026, 12, 1),
            ),
            (
                date(2026, 1, 1),
                BillingCycle.MONTHLY,
                date(2026, 11, 1),
                date(2026, 11, 1),
                date(2026, 12, 1),
            ),
            (
                date(2026, 1, 1),
                BillingCycle.QUARTERLY,
                date(2026, 11, 15),
                date(2026, 10, 1),
                date(2027, 1, 1),
            ),
            (
                date(2025, 3, 15),
                BillingCycle.SEMI_ANNUAL,
                date(2026, 11, 15),
                date(2026, 9, 15),
                date(2027, 3, 15),
            ),
            (
                date(2025, 7, 1),
                BillingCycle.ANNUAL,
                date(2026, 6, 30),
                date(2025, 7, 1),
                date(2026, 7, 1),
            ),
            (
                date(2026, 1, 31),
                BillingCycle.MONTHLY,
                date(2026, 2, 15),
                date(2026, 1, 31),
                date(2026, 2, 28),
            ),
            (
                date(2026, 1, 31),
                BillingCycle.MONTHLY,
                date(2026, 3, 5),
                date(2026, 2, 28),
                date(2026, 3, 31),
            ),
            (
                date(2026, 6, 1),
                BillingCycle.MONTHLY,
                date(2026, 2, 10),
                date(2026, 2, 1),
                date(2026, 3, 1),
            ),
        ],
    )
    def test_period_containing_a_day(
        self, anchor: date, cycle: BillingCycle, day: date, start: date, end: date
    ) -> None:
        assert billing_period(anchor, cycle, day) == Period(start, end)

    @NO_DEADLINE
    @given(
        st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
        st.sampled_from(list(BillingCycle)),
        st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    )
    def test_period_always_contains_the_day(
        self, anchor: date, cycle: BillingCycle, day: date
    ) -> None:
        period = billing_period(anchor, cycle, day)
        assert period.contains(day)
        assert billing_period(anchor, cycle, period.end).start == period.end


class TestDayCounting:
    @pytest.mark.parametrize(
        ("start", "end", "actual", "thirty"),
        [
            (date(2026, 11, 1), date(2026, 12, 1), 30, 30),
            (date(2026, 12, 1), date(2027, 1, 1), 31, 30),
            (date(2026, 2, 1), date(2026, 3, 1), 28, 30),
            (date(2028, 2, 1), date(2028, 3, 1), 29, 30),
            (date(2026, 11, 16), date(2026, 12, 1), 15, 15),
            (date(2026, 12, 17), date(2027, 1, 1), 15, 14),
            (date(2026, 2, 15), date(2026, 3, 1), 14, 16),
            (date(2026, 10, 1), date(2027, 1, 1), 92, 90),
        ],
    )
    def test_days_between(self, start: date, end: date, actual: int, thirty: int) -> None:
        assert days_between(start, end, ACTUAL) == actual
        assert days_between(start, end, THIRTY) == thirty

    @NO_DEADLINE
    @given(
        st.lists(
            st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
            min_size=3,
            max_size=3,
        ).map(sorted),
        st.sampled_from(list(ProrationConvention)),
    )
    def test_day_counts_add_up(self, days: list[date], convention: ProrationConvention) -> None:
        a, b, c = days
        assert days_between(a, b, convention) + days_between(b, c, convention) == days_between(
            a, c, convention
        )


class TestProratedCharges:
    @pytest.mark.parametrize(
        ("effective", "cycle", "convention", "before", "after", "expected"),
        [
            # 2 x $22 for the 15 of 30 days left in November.
            (date(2026, 11, 16), BillingCycle.MONTHLY, ACTUAL, "10", "12", "22.00"),
            (date(2026, 11, 16), BillingCycle.MONTHLY, THIRTY, "10", "12", "22.00"),
            # December: 15 of 31 actual days; 14 of 30 under 30-day months.
            (date(2026, 12, 17), BillingCycle.MONTHLY, ACTUAL, "10", "12", "21.29"),
            (date(2026, 12, 17), BillingCycle.MONTHLY, THIRTY, "10", "12", "20.53"),
            # A decrease is a credit.
            (date(2026, 11, 16), BillingCycle.MONTHLY, ACTUAL, "12", "10", "-22.00"),
            # First day of the period: the full period.
            (date(2026, 11, 1), BillingCycle.MONTHLY, ACTUAL, "10", "13", "66.00"),
            # Quarterly Oct-Dec: 46 of 92 days.
            (date(2026, 11, 16), BillingCycle.QUARTERLY, ACTUAL, "10", "12", "22.00"),
            # Next period's first day (the bill-in-advance default): the full next period.
            (date(2026, 12, 1), BillingCycle.MONTHLY, ACTUAL, "10", "12", "44.00"),
        ],
    )
    def test_single_change(
        self,
        effective: date,
        cycle: BillingCycle,
        convention: ProrationConvention,
        before: str,
        after: str,
        expected: str,
    ) -> None:
        preview = preview_changes(
            contract(cycle),
            quantity_before=D(before),
            unit_price=D("22.00"),
            changes=[QuantityChange(effective, D(after))],
            today=TODAY,
            convention=convention,
        )
        assert [line.amount for line in preview.lines] == [Money(D(expected), "USD")]
        assert preview.total == Money(D(expected), "USD")
        assert preview.final_quantity == D(after)
        assert preview.lines[0].is_credit == (D(expected) < 0)

    def test_several_changes_on_one_card(self) -> None:
        preview = preview_changes(
            contract(),
            quantity_before=D(10),
            unit_price=D("22.00"),
            changes=[
                QuantityChange(date(2026, 11, 21), D(11)),
                QuantityChange(date(2026, 11, 6), D(12)),
            ],
            today=TODAY,
        )
        assert [
            (line.effective, line.quantity_delta, line.amount.amount) for line in preview.lines
        ] == [
            (date(2026, 11, 6), D(2), D("36.67")),  # +2 for 25 of 30 days
            (date(2026, 11, 21), D(-1), D("-7.33")),  # -1 for 10 of 30 days: a credit
        ]
        assert preview.total.amount == D("29.34")
        assert preview.final_quantity == D(11)

    def test_backdating_into_the_previous_period_catches_up(self) -> None:
        preview = preview_changes(
            contract(backdating=True),
            quantity_before=D(10),
            unit_price=D("22.00"),
            changes=[QuantityChange(date(2026, 10, 20), D(12))],
            today=TODAY,
        )
        assert [
            (line.period.start, line.days_charged, line.amount.amount) for line in preview.lines
        ] == [
            (date(2026, 10, 1), 12, D("17.03")),  # 12 of 31 October days
            (date(2026, 11, 1), 30, D("44.00")),  # November was invoiced at the old quantity
        ]

    def test_backdating_refused_where_the_contract_forbids_it(self) -> None:
        with pytest.raises(BackdatingNotAllowedError, match="does not allow back-dating"):
            preview_changes(
                contract(backdating=False),
                quantity_before=D(10),
                unit_price=D("22.00"),
                changes=[QuantityChange(date(2026, 10, 20), D(12))],
                today=TODAY,
            )

    def test_without_proration_the_change_starts_next_period(self) -> None:
        preview = preview_changes(
            contract(proration=False),
            quantity_before=D(10),
            unit_price=D("22.00"),
            changes=[QuantityChange(date(2026, 11, 16), D(12))],
            today=TODAY,
        )
        assert len(preview.lines) == 1
        assert preview.lines[0].effective == date(2026, 12, 1)
        assert preview.lines[0].amount.amount == D("44.00")

    def test_two_changes_on_one_date_are_refused(self) -> None:
        with pytest.raises(InvalidChangeError):
            preview_changes(
                contract(),
                quantity_before=D(10),
                unit_price=D(1),
                changes=[QuantityChange(TODAY, D(11)), QuantityChange(TODAY, D(12))],
                today=TODAY,
            )

    def test_negative_quantity_is_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            QuantityChange(TODAY, D(-1))


periods = st.builds(
    billing_period,
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    st.sampled_from(list(BillingCycle)),
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
)
prices = st.decimals(min_value=0, max_value=5000, places=4)
deltas = st.decimals(min_value=-500, max_value=500, places=2)


class TestProrationProperties:
    @NO_DEADLINE
    @given(periods, prices, deltas, st.sampled_from(list(ProrationConvention)))
    def test_first_day_of_a_period_costs_the_full_period(
        self, period: Period, price: Decimal, delta: Decimal, convention: ProrationConvention
    ) -> None:
        assert prorated_amount(delta, price, period.start, period, convention) == delta * price

    @NO_DEADLINE
    @given(
        periods,
        prices,
        deltas,
        st.sampled_from(list(ProrationConvention)),
        st.lists(st.integers(min_value=0, max_value=999), max_size=6),
        st.data(),
    )
    def test_pieces_of_a_split_period_sum_to_the_whole(
        self,
        period: Period,
        price: Decimal,
        delta: Decimal,
        convention: ProrationConvention,
        permille: list[int],
        data: st.DataObject,
    ) -> None:
        start = data.draw(st.dates(min_value=period.start, max_value=period.last_day))
        length = (period.end - start).days
        cuts = sorted({start + timedelta(days=p * length // 1000) for p in permille} | {start})
        bounds = [*cuts, period.end]
        pieces = [
            round_amount(prorated_amount(delta, price, a, period, convention, end=b), "USD")
            for a, b in pairwise(bounds)
        ]
        whole = round_amount(prorated_amount(delta, price, start, period, convention), "USD")
        # Each piece is rounded once: the sum may differ by half a cent per piece.
        tolerance = D("0.005") * (len(pieces) + 1)
        assert abs(sum(pieces, D(0)) - whole) <= tolerance

    @NO_DEADLINE
    @given(
        st.lists(
            st.tuples(
                st.dates(min_value=date(2026, 11, 1), max_value=date(2027, 3, 31)),
                st.integers(min_value=0, max_value=200),
            ),
            min_size=1,
            max_size=5,
            unique_by=lambda c: c[0],
        ),
        prices,
        st.sampled_from(list(ProrationConvention)),
    )
    def test_preview_total_equals_the_sum_of_its_lines(
        self,
        changes: list[tuple[date, int]],
        price: Decimal,
        convention: ProrationConvention,
    ) -> None:
        preview = preview_changes(
            contract(),
            quantity_before=D(10),
            unit_price=price,
            changes=[QuantityChange(day, D(q)) for day, q in changes],
            today=TODAY,
            convention=convention,
        )
        assert preview.total.amount == sum((line.amount.amount for line in preview.lines), D(0))
        assert all(line.quantity_delta != 0 for line in preview.lines)
        assert all(0 <= line.days_charged <= line.days_in_period for line in preview.lines)


def test_period_days_under_each_convention() -> None:
    november = Period(date(2026, 11, 1), date(2026, 12, 1))
    assert period_days(november, ACTUAL) == 30
    assert period_days(Period(date(2026, 2, 1), date(2026, 3, 1)), THIRTY) == 30
