"""Field types shared by the message schemas."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field


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
"""A Decimal that never came from a float: money and quantities."""

TenantId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
"""A tenant id; safe as a NATS subject token."""

Name = Annotated[str, Field(min_length=1, max_length=500)]
