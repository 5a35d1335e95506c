"""Pure helpers: Retry-After parsing, JSON numbers for Decimal, error descriptions,
the ConnectWise conditions grammar and the demo MSP's shape."""

from __future__ import annotations

import email.utils
import json
import time
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from trueup.devstack.psa_simulators.cw_conditions import ConditionsError, parse_conditions
from trueup.devstack.psa_simulators.demo import build_demo_msp
from trueup.psa.base import _json_default, describe_validation_error, parse_retry_after


class TestRetryAfter:
    def test_seconds(self) -> None:
        assert parse_retry_after("3") == 3.0
        assert parse_retry_after("-4") == 0.0

    def test_http_date(self) -> None:
        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        waited = parse_retry_after(when)
        assert waited is not None
        assert 25 <= waited <= 31

    def test_missing_or_bad(self) -> None:
        assert parse_retry_after(None) is None
        assert parse_retry_after("soon") is None


class TestDecimalOnTheWire:
    @given(st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False))
    def test_round_trips(self, value: Decimal) -> None:
        text = json.dumps({"q": value}, default=_json_default)
        assert json.loads(text, parse_float=Decimal)["q"] == value

    def test_integral_goes_out_as_integer(self) -> None:
        assert json.dumps(Decimal("27.00"), default=_json_default) == "27"

    def test_refuses_to_lose_digits(self) -> None:
        with pytest.raises(TypeError):
            json.dumps(Decimal("0.12345678901234567890123"), default=_json_default)


class TestValidationMessages:
    def test_names_nested_field_and_value(self) -> None:
        class Row(BaseModel):
            quantity: Decimal

        with pytest.raises(ValidationError) as raised:
            Row.model_validate({"quantity": "lots"})
        message = describe_validation_error(raised.value)
        assert message.startswith("unexpected payload: field quantity:")
        assert "'lots'" in message


class TestConditions:
    RECORD = {  # noqa: RUF012
        "id": 7,
        "name": "Acme Dental",
        "company": {"id": 250, "identifier": "AcmeDental"},
        "cancelledFlag": False,
        "quantity": 12.5,
        "_info": {"lastUpdated": "2024-06-03T14:22:10Z"},
    }

    @pytest.mark.parametrize(
        ("conditions", "expected"),
        [
            ("company/id = 250", True),
            ("company/id != 250", False),
            ('name = "acme dental"', True),
            ('name like "Acme%"', True),
            ('name like "%Law%"', False),
            ('name contains "Dent"', True),
            ("cancelledFlag = false", True),
            ("quantity >= 12.5 and quantity < 13", True),
            ("lastUpdated > [2024-06-01T00:00:00Z]", True),
            ("_info/lastUpdated < [2024-06-01T00:00:00Z]", False),
            ("id in (1, 7, 9)", True),
            ("id not in (7)", False),
            ('not (id = 7) or company/identifier = "AcmeDental"', True),
            ("(id = 1 or id = 2) and cancelledFlag = false", False),
        ],
    )
    def test_evaluates(self, conditions: str, expected: bool) -> None:
        assert parse_conditions(conditions)(self.RECORD) is expected

    @pytest.mark.parametrize("bad", ["id =", "id ~ 3", "(id = 3", 'name = "x" and', "[2024"])
    def test_rejects(self, bad: str) -> None:
        with pytest.raises(ConditionsError):
            parse_conditions(bad)


class TestDemoMsp:
    def test_meets_the_brief(self) -> None:
        msp = build_demo_msp()
        assert len(msp.accounts) >= 40
        assert len(msp.contracts) >= 100
        assert len(msp.line_items) >= 500
        assert len({i.product.id for i in msp.line_items}) >= 15
        statuses = Counter(c.status for c in msp.contracts)
        assert statuses["cancelled"] > 0
        assert statuses["expired"] > 0
        with_active = {c.account_id for c in msp.contracts if c.status == "active"}
        assert len(msp.accounts) - len(with_active) >= 3
        assert len({c.billing_cycle for c in msp.contracts}) >= 3
        assert len({i.unit_price for i in msp.line_items}) > 20

    def test_is_deterministic(self) -> None:
        a, b = build_demo_msp(seed=3), build_demo_msp(seed=3)
        assert [(i.id, i.quantity, i.unit_price) for i in a.line_items] == [
            (i.id, i.quantity, i.unit_price) for i in b.line_items
        ]
        assert [i.quantity for i in build_demo_msp(seed=4).line_items] != [
            i.quantity for i in a.line_items
        ]

    def test_scales(self) -> None:
        msp = build_demo_msp(accounts=2000, line_items=20_000)
        assert len(msp.accounts) == 2000
        assert abs(len(msp.line_items) - 20_000) < 200


class TestSecretsStayOutOfReprs:
    def test_credentials_repr_hides_secrets(self) -> None:
        from trueup.psa import AutotaskCredentials, ConnectWiseCredentials, HaloCredentials

        texts = [
            repr(ConnectWiseCredentials("h", "co", "pub", "PRIVATE-1", "CLIENT-2")),
            repr(AutotaskCredentials("u@x", "SECRET-3", "CODE-4")),
            repr(HaloCredentials("https://h", "id", "SECRET-5")),
        ]
        for text in texts:
            for secret in ("PRIVATE-1", "CLIENT-2", "SECRET-3", "CODE-4", "SECRET-5"):
                assert secret not in text


class TestCredentialsDocuments:
    def test_round_trip(self) -> None:
        from trueup.psa import ConnectWiseCredentials, credentials_from_dict, credentials_to_dict

        original = ConnectWiseCredentials("h", "co", "pub", "priv", "cid")
        psa, document = credentials_to_dict(original)
        assert psa == "connectwise"
        assert credentials_from_dict(psa, document) == original

    def test_refuses_unknown_psa_and_missing_fields(self) -> None:
        from trueup.psa import credentials_from_dict

        with pytest.raises(ValueError, match="unknown PSA"):
            credentials_from_dict("kaseya", {})
        with pytest.raises(ValueError, match="halo"):
            credentials_from_dict("halo", {"base_url": "https://h"})
