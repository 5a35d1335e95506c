"""Money: a `Decimal` amount with its currency, rounded to the currency's minor unit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from enum import StrEnum

from trueup.domain.errors import CurrencyMismatchError

# ISO 4217 currencies whose minor unit is not the usual two decimals.
_MINOR_UNITS: dict[str, int] = {
    "BHD": 3,
    "CLP": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
    "XAF": 0,
    "XOF": 0,
}

ZERO = Decimal(0)
_VALID_CURRENCIES: set[str] = set()
_EXPONENTS: dict[str, Decimal] = {}


class RoundingMode(StrEnum):
    """How an amount is rounded to the minor unit; values are the `decimal` module's names."""

    HALF_UP = ROUND_HALF_UP
    HALF_EVEN = ROUND_HALF_EVEN
    HALF_DOWN = ROUND_HALF_DOWN
    UP = ROUND_UP
    DOWN = ROUND_DOWN
    CEILING = ROUND_CEILING
    FLOOR = ROUND_FLOOR


@dataclass(frozen=True, slots=True)
class RoundingPolicy:
    """A tenant's rounding setting: half-up to the currency's minor unit unless changed."""

    mode: RoundingMode = RoundingMode.HALF_UP


DEFAULT_ROUNDING = RoundingPolicy()


def minor_unit_digits(currency: str) -> int:
    """Number of decimals of `currency`'s minor unit (2 for USD, 0 for JPY, 3 for KWD)."""
    return _MINOR_UNITS.get(currency, 2)


def as_decimal(value: Decimal | int | str) -> Decimal:
    """Convert an exact value to `Decimal`; floats are refused because they are not exact."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"expected Decimal, int or str, got {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def round_amount(
    amount: Decimal, currency: str, policy: RoundingPolicy = DEFAULT_ROUNDING
) -> Decimal:
    """Round `amount` to `currency`'s minor unit under `policy`."""
    exponent = _EXPONENTS.get(currency)
    if exponent is None:
        exponent = _EXPONENTS[currency] = Decimal(1).scaleb(-minor_unit_digits(currency))
    return amount.quantize(exponent, rounding=policy.mode)


def _check_currency(currency: str) -> None:
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"currency must be an ISO 4217 code, got {currency!r}")
    if not currency.isupper():
        raise ValueError(f"currency must be an ISO 4217 code, got {currency!r}")
    # Remembered so that valuing 100,000 cards does not re-check the same code each time.
    _VALID_CURRENCIES.add(currency)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of one currency. Arithmetic keeps full precision until `rounded` is called."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money amount must be Decimal, got {type(self.amount).__name__}")
        if self.currency not in _VALID_CURRENCIES:
            _check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in `currency`."""
        return cls(ZERO, currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if not isinstance(factor, Decimal | int) or isinstance(factor, bool):
            raise TypeError(f"Money can only be multiplied by Decimal or int, not {factor!r}")
        return Money(self.amount * factor, self.currency)

    def __rmul__(self, factor: Decimal | int) -> Money:
        return self.__mul__(factor)

    def rounded(self, policy: RoundingPolicy = DEFAULT_ROUNDING) -> Money:
        """This amount rounded to the currency's minor unit."""
        return Money(round_amount(self.amount, self.currency, policy), self.currency)

    def is_zero(self) -> bool:
        """True when the amount is zero."""
        return self.amount == ZERO

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def sum_money(amounts: Iterable[Money], currency: str) -> Money:
    """Sum of `amounts`, all in `currency`; zero when empty."""
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total
