"""Money: currencies, minor units, rounding policy, and no float ever."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trueup.domain import (
    CurrencyMismatchError,
    Money,
    RoundingMode,
    RoundingPolicy,
    as_decimal,
    minor_unit_digits,
    round_amount,
    sum_money,
)

# A busy CI machine must not turn a slow example into a failure.
NO_DEADLINE = settings(deadline=None)

amounts = st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, places=6)


class TestRoundingToMinorUnit:
    @pytest.mark.parametrize(
        ("amount", "currency", "mode", "expected"),
        [
            ("2.345", "USD", RoundingMode.HALF_UP, "2.35"),
            ("2.344", "USD", RoundingMode.HALF_UP, "2.34"),
            ("-2.345", "USD", RoundingMode.HALF_UP, "-2.35"),
            ("2.345", "USD", RoundingMode.HALF_EVEN, "2.34"),
            ("2.355", "USD", RoundingMode.HALF_EVEN, "2.36"),
            ("2.341", "EUR", RoundingMode.UP, "2.35"),
            ("2.349", "GBP", RoundingMode.DOWN, "2.34"),
            ("-2.341", "USD", RoundingMode.FLOOR, "-2.35"),
            ("1234.5", "JPY", RoundingMode.HALF_UP, "1235"),
            ("1.2345", "KWD", RoundingMode.HALF_UP, "1.235"),
        ],
    )
    def test_rounds_half_up_by_default_and_as_configured(
        self, amount: str, currency: str, mode: RoundingMode, expected: str
    ) -> None:
        rounded = round_amount(Decimal(amount), currency, RoundingPolicy(mode))
        assert rounded == Decimal(expected)
        assert rounded.as_tuple().exponent == -minor_unit_digits(currency)

    def test_default_policy_is_half_up(self) -> None:
        assert Money(Decimal("0.005"), "USD").rounded().amount == Decimal("0.01")


class TestMoneyArithmetic:
    def test_adds_and_subtracts_same_currency(self) -> None:
        total = Money(Decimal("10.10"), "USD") + Money(Decimal("0.25"), "USD")
        assert total == Money(Decimal("10.35"), "USD")
        assert (total - Money(Decimal("0.35"), "USD")).amount == Decimal("10.00")
        assert (-total).amount == Decimal("-10.35")

    def test_refuses_to_mix_currencies(self) -> None:
        with pytest.raises(CurrencyMismatchError):
            _ = Money(Decimal(1), "USD") + Money(Decimal(1), "EUR")

    def test_multiplies_by_decimal_without_rounding(self) -> None:
        assert (Money(Decimal("22.00"), "USD") * Decimal("0.5")).amount == Decimal("11.000")
        assert (3 * Money(Decimal("1.10"), "USD")).amount == Decimal("3.30")

    def test_rejects_bad_currency(self) -> None:
        with pytest.raises(ValueError, match="ISO 4217"):
            Money(Decimal(1), "usd")

    def test_sum_of_nothing_is_zero(self) -> None:
        assert sum_money([], "EUR") == Money.zero("EUR")


class TestNoFloatReachesMoney:
    @NO_DEADLINE
    @given(st.floats(allow_nan=False, allow_infinity=False))
    def test_money_refuses_floats(self, value: float) -> None:
        with pytest.raises(TypeError):
            Money(value, "USD")  # type: ignore[arg-type]

    @NO_DEADLINE
    @given(st.floats(allow_nan=False, allow_infinity=False))
    def test_as_decimal_refuses_floats(self, value: float) -> None:
        with pytest.raises(TypeError):
            as_decimal(value)  # type: ignore[arg-type]

    @NO_DEADLINE
    @given(st.floats(allow_nan=False, allow_infinity=False))
    def test_money_cannot_be_multiplied_by_a_float(self, value: float) -> None:
        with pytest.raises(TypeError):
            _ = Money(Decimal(1), "USD") * value  # type: ignore[operator]

    def test_as_decimal_accepts_exact_values(self) -> None:
        assert as_decimal("0.1") + as_decimal("0.2") == Decimal("0.3")
        assert as_decimal(7) == Decimal(7)
        with pytest.raises(ValueError, match="finite"):
            as_decimal("NaN")

    @NO_DEADLINE
    @given(amounts, amounts)
    def test_arithmetic_stays_decimal(self, left: Decimal, right: Decimal) -> None:
        result = (Money(left, "USD") + Money(right, "USD")).rounded()
        assert isinstance(result.amount, Decimal)
        assert abs(result.amount - (left + right)) <= Decimal("0.005")
