"""The steps a change writes, large changes, and exact sales-unit conversion."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.domain.test_rules import card
from trueup.domain import (
    AutoRule,
    Contract,
    InvalidChangeError,
    LargeChangeLimits,
    QuantityChange,
    RoundingRule,
    ServiceMapping,
    card_large_change,
    change_steps,
    check_effective_date,
    default_effective_date,
    evaluate_rules,
    explain_large_change,
)

D = Decimal
DEC_10 = date(2026, 12, 10)


class TestChangeSteps:
    def test_the_main_change_and_prorated_changes_are_all_written_in_date_order(self) -> None:
        # The approval that lost its 45: 45 from 12/10, then 48 from 12/20 and 50 from 12/28.
        steps = change_steps(
            D(20),
            [
                QuantityChange(date(2026, 12, 28), D(50)),
                QuantityChange(date(2026, 12, 20), D(48)),
                QuantityChange(DEC_10, D(45)),
            ],
        )
        assert [(s.effective, s.quantity) for s in steps] == [
            (DEC_10, D(45)),
            (date(2026, 12, 20), D(48)),
            (date(2026, 12, 28), D(50)),
        ]

    def test_two_steps_on_one_date_are_refused_with_the_date(self) -> None:
        with pytest.raises(InvalidChangeError, match="2026-12-10"):
            change_steps(D(20), [QuantityChange(DEC_10, D(45)), QuantityChange(DEC_10, D(48))])

    def test_a_step_that_changes_nothing_writes_nothing(self) -> None:
        steps = change_steps(
            D(20),
            [
                QuantityChange(DEC_10, D(20)),
                QuantityChange(DEC_10 + timedelta(days=5), D(25)),
                QuantityChange(DEC_10 + timedelta(days=9), D(25)),
            ],
        )
        assert [s.quantity for s in steps] == [D(25)]

    @given(
        st.lists(
            st.tuples(st.integers(0, 60), st.integers(0, 500)),
            max_size=8,
            unique_by=lambda t: t[0],
        ),
        st.integers(0, 500),
    )
    def test_steps_are_ordered_distinct_and_end_at_the_last_quantity(
        self, wanted: list[tuple[int, int]], before: int
    ) -> None:
        changes = [QuantityChange(DEC_10 + timedelta(days=d), D(q)) for d, q in wanted]
        steps = change_steps(D(before), changes)
        dates = [s.effective for s in steps]
        assert dates == sorted(dates)
        previous = D(before)
        for step in steps:
            assert step.quantity != previous
            previous = step.quantity
        last = max(changes, key=lambda c: c.effective).quantity if changes else D(before)
        assert previous == last


class TestLargeChange:
    LIMITS = LargeChangeLimits(units=D(100), percent=D(200), money=D(5000))

    def test_the_jump_that_was_one_click_is_large(self) -> None:
        # 13 → 1,250 at $26.40: +$32,656.80 per period.
        why = explain_large_change(D(13), D(1250), D("26.40"), self.LIMITS)
        assert why is not None
        assert "+1237 units > 100" in why
        assert "32656.8" in why

    def test_a_small_change_is_not(self) -> None:
        assert explain_large_change(D(13), D(15), D("26.40"), self.LIMITS) is None

    def test_each_limit_alone_marks_a_change(self) -> None:
        assert explain_large_change(D(2), D(8), None, LargeChangeLimits(None, D(200), None))
        assert explain_large_change(D(2), D(8), D(2000), LargeChangeLimits(None, None, D(5000)))
        assert (
            explain_large_change(D(2), D(8), D(2000), LargeChangeLimits(None, None, None)) is None
        )

    def test_a_rule_never_approves_a_large_change(self) -> None:
        rule = AutoRule("anything up to 2000", max_units=D(2000))
        big = card("13", "1250")
        assert evaluate_rules(big, [rule]) is not None  # the rule alone would approve it
        assert card_large_change(big, self.LIMITS) is not None
        assert evaluate_rules(big, [rule], self.LIMITS) is None
        assert evaluate_rules(card("13", "15"), [rule], self.LIMITS) is not None


class TestExactConversion:
    def test_exact_rounding_keeps_six_decimals(self) -> None:
        mapping = ServiceMapping(
            vendor="v", sku="gb", service_line_id="backup", factor=D(3), rounding=RoundingRule.EXACT
        )
        assert mapping.to_sales_units(D(10)) == D("3.333333")


class TestPsaWithoutDatedChanges:
    HALO = Contract(
        id="h1",
        account_id="a",
        name="Halo recurring invoice",
        start=date(2026, 1, 1),
        proration_allowed=False,
        dated_changes=False,
    )

    def test_a_later_date_is_refused_because_it_could_not_be_written_as_previewed(self) -> None:
        with pytest.raises(InvalidChangeError, match="2026-12-20"):
            check_effective_date(self.HALO, date(2026, 12, 20), today=date(2026, 12, 4))
        check_effective_date(self.HALO, date(2026, 12, 4), today=date(2026, 12, 4))

    def test_the_default_date_is_today_even_when_billed_in_advance(self) -> None:
        assert default_effective_date(self.HALO, date(2026, 12, 4)) == date(2026, 12, 4)
        cw = Contract(id="c", account_id="a", name="CW", start=date(2026, 1, 1))
        assert default_effective_date(cw, date(2026, 12, 4)) == date(2027, 1, 1)
