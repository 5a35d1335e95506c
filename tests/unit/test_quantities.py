"""Quantities, prices and dates people and vendors send are checked once, in the contracts."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from trueup.contracts import recon as r
from trueup.contracts.messages import ProratedChange
from trueup.contracts.types import BusinessDate, Quantity, UnitPrice
from trueup.vendors.webhooks.schemas import UsageBatch

QUANTITY: TypeAdapter[Decimal] = TypeAdapter(Quantity)

REFUSED: list[Any] = [
    "1e400",  # overflowed arithmetic, retried the PSA 8 times, broke the activity log
    "1e20",
    "1E+3",
    "-0",
    "-1",
    "+1",
    "1_000",
    "١٢",  # Arabic-Indic digits: Decimal() reads them as 12
    "１２",  # full-width digits
    " 7",
    "7 ",
    "",
    ".5",
    "5.",
    "NaN",
    "Infinity",
    "0.0000001",  # seven decimals
    "1000000000",  # 10^9 units
    10**30,
    -1,
    1.5,  # a JSON float has already lost exactness
    2.0,
    True,
    None,
    [],
]


class TestQuantityText:
    @pytest.mark.parametrize("value", REFUSED, ids=repr)
    def test_absurd_or_ambiguous_quantities_are_refused(self, value: Any) -> None:
        with pytest.raises(ValidationError, match="quantity"):
            QUANTITY.validate_python(value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("0", Decimal(0)),
            ("12", Decimal(12)),
            ("12.5", Decimal("12.5")),
            ("999999999.999999", Decimal("999999999.999999")),
            (42, Decimal(42)),
            (Decimal("-0"), Decimal(0)),
            (Decimal("12.500000000"), Decimal("12.500000000")),  # trailing zeros are not places
        ],
    )
    def test_plain_decimals_within_range_are_kept_exactly(
        self, value: Any, expected: Decimal
    ) -> None:
        parsed = QUANTITY.validate_python(value)
        assert parsed == expected
        assert not parsed.is_signed()

    @given(
        st.decimals(min_value=0, max_value=Decimal("999999999.999999"), places=6, allow_nan=False)
    )
    def test_every_accepted_quantity_survives_a_trip_through_json(self, value: Decimal) -> None:
        text = QUANTITY.dump_json(QUANTITY.validate_python(value))
        assert QUANTITY.validate_json(text) == value
        assert "E" not in text.decode().upper()

    def test_the_error_names_the_rule(self) -> None:
        with pytest.raises(ValidationError) as caught:
            QUANTITY.validate_python("1e400")
        message = str(caught.value)
        assert "ASCII digits" in message
        assert "below 1,000,000,000" in message

    def test_prices_have_the_same_rules(self) -> None:
        price: TypeAdapter[Decimal] = TypeAdapter(UnitPrice)
        assert price.validate_python("19.99") == Decimal("19.99")
        for value in ("1e400", "-0", 10**30, 0.1):
            with pytest.raises(ValidationError, match="price"):
                price.validate_python(value)


class TestEveryEntryPointUsesThem:
    def test_a_change_request_names_the_refused_field(self) -> None:
        with pytest.raises(ValidationError) as caught:
            r.ChangeRequest.model_validate(
                {"prorated_changes": [{"effective_date": date(2026, 12, 20), "quantity": "1e20"}]}
            )
        assert caught.value.errors()[0]["loc"] == ("prorated_changes", 0, "quantity")

    def test_a_step_at_the_end_of_time_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="2000"):
            ProratedChange(effective_date=date(9999, 12, 31), quantity=Decimal(1))
        dates: TypeAdapter[date] = TypeAdapter(BusinessDate)
        assert dates.validate_python(date(2026, 12, 4)) == date(2026, 12, 4)

    def test_webhook_floats_and_exponents_are_refused(self) -> None:
        for quantity in (12.0, "1e3", "1_000"):
            body = {"records": [{"account_id": "a", "sku": "s", "quantity": quantity}]}
            with pytest.raises(ValidationError) as caught:
                UsageBatch.model_validate_json(json.dumps(body))
            assert caught.value.errors()[0]["loc"] == ("records", 0, "quantity")

    def test_rules_and_large_change_limits_are_bounded(self) -> None:
        with pytest.raises(ValidationError):
            r.AutoRuleView(name="r", max_units="1e400")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            r.LargeChangeSettings(money="1e400")  # type: ignore[arg-type]
