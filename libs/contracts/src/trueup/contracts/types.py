"""Field types shared by the message schemas.

Quantities and prices that people and vendors send are checked here, once, for every
entry point (HTTP bodies, webhooks, the push API, commands between services), so that no
absurd number reaches arithmetic, a PSA or a stored activity entry.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

#: Quantities are below a billion units and carry at most six decimals (vendors bill GB).
MAX_QUANTITY = Decimal(10) ** 9
QUANTITY_PLACES = 6
#: Unit prices and costs are below a billion in the contract's currency, six decimals at most.
MAX_UNIT_PRICE = Decimal(10) ** 9
PRICE_PLACES = 6
#: Effective dates and other business dates people send lie in these years.
FIRST_YEAR, LAST_YEAR = 2000, 2099
#: Vendor account ids and SKUs are at most this many characters, as the stores' columns.
MAX_NAME_LENGTH = 500


def _to_decimal(value: Any) -> Any:
    # A JSON number parsed as float has already lost exactness (0.1 + 0.2); money and
    # quantities travel as strings or integers only.
    if isinstance(value, float):
        raise ValueError("must be a decimal string or an integer, not a float")
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return Decimal(value)
        except ArithmeticError as exc:
            raise ValueError(f"{value!r} is not a decimal number") from exc
    return value


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    return value


Amount = Annotated[Decimal, BeforeValidator(_to_decimal), AfterValidator(_finite)]
"""A Decimal that never came from a float: computed money and quantities."""


def _bounded(limit: Decimal, places: int, what: str) -> Any:
    # Decimal() also takes "1e400", "1_000", "-0", " 7 " and non-ASCII digits ("٣");
    # none of them is how a person or a vendor writes a quantity, so text must be plain
    # ASCII digits with an optional fraction.
    integer_digits = len(str(int(limit))) - 1
    text = re.compile(rf"[0-9]{{1,{integer_digits}}}(?:\.[0-9]{{1,{places}}})?")
    rule = (
        f"must be a plain decimal such as 12 or 12.5 (ASCII digits, no sign, exponent or "
        f"separators), at least 0, below {limit:,}, with at most {places} decimals"
    )

    def check(value: Any) -> Decimal:
        if isinstance(value, float):
            raise ValueError(f"{what} must be a decimal string or an integer, not a float")
        if isinstance(value, bool):
            raise ValueError(f"{what} {rule}")
        if isinstance(value, str):
            if not text.fullmatch(value):
                raise ValueError(f"{what} {rule}")
            value = Decimal(value)
        elif isinstance(value, int):
            value = Decimal(value)
        if not isinstance(value, Decimal):
            raise ValueError(f"{what} {rule}")
        if not value.is_finite() or value < 0 or value >= limit:
            raise ValueError(f"{what} {rule}")
        if not value:
            # Decimal("-0") == 0 but prints "-0": keep the plain zero.
            return Decimal(0)
        # Trailing zeros (12.5000000 from arithmetic) are not precision.
        if value.normalize().as_tuple().exponent < -places:  # type: ignore[operator]
            raise ValueError(f"{what} {rule}")
        return value

    return check


def _plain(value: Decimal) -> str:
    # str(Decimal) may say "1E+3" or "0E-7", which the checks above refuse as text; the
    # fixed-point form reads back, and keeps the sender's own digits ("1.50") when it can.
    if not value:
        return "0"
    if value.as_tuple().exponent < -QUANTITY_PLACES:  # type: ignore[operator]
        value = value.normalize()
    return format(value, "f")


Quantity = Annotated[
    Decimal,
    BeforeValidator(_bounded(MAX_QUANTITY, QUANTITY_PLACES, "quantity")),
    PlainSerializer(_plain, return_type=str, when_used="json"),
]
"""A quantity someone sends: exact, 0 ≤ q < 10⁹, at most six decimals, never from a float."""

UnitPrice = Annotated[
    Decimal,
    BeforeValidator(_bounded(MAX_UNIT_PRICE, PRICE_PLACES, "price")),
    PlainSerializer(_plain, return_type=str, when_used="json"),
]
"""A unit price or cost someone sends: exact, 0 ≤ p < 10⁹, at most six decimals."""


def _plausible_date(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be a date in the years {FIRST_YEAR}–{LAST_YEAR}")
    return value


BusinessDate = Annotated[date, AfterValidator(_plausible_date)]
"""An effective date someone sends: within 2000–2099, so date arithmetic cannot overflow."""

TenantId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
"""A tenant id; safe as a NATS subject token."""


def _without_nul(value: str) -> str:
    # PostgreSQL cannot store U+0000 in text: a NUL in a vendor's name would fail every
    # transaction that stores it, in whichever service, long after it was accepted.
    if "\x00" in value:
        raise ValueError("must not contain the control character U+0000 (NUL)")
    return value


Text = Annotated[str, AfterValidator(_without_nul)]
"""Text from outside (a vendor, a file): anything but NUL, which no database stores."""

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH), AfterValidator(_without_nul)]
