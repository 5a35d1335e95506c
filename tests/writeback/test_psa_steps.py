"""How writeback writes to each PSA, decided from the PSA's capabilities alone.

A stand-in client that only declares capabilities is enough: no decision here may
depend on which client class it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from trueup.contracts.messages import ProratedChange
from trueup.psa import PSAS, Capabilities, PsaKind
from trueup.writeback.psa_steps import StepOptions, options_for, today, wants_note


@dataclass(frozen=True)
class Declares:
    """A client that is nothing but its capabilities."""

    caps: Capabilities

    def capabilities(self) -> Capabilities:
        return self.caps


def _client(psa: str, **overrides: Any) -> Any:
    return Declares(replace(PSAS[PsaKind(psa)].capabilities, **overrides))


def _change(days: int) -> ProratedChange:
    return ProratedChange(effective_date=today() + timedelta(days=days), quantity=Decimal(5))


def test_only_autotask_gets_a_note() -> None:
    assert {psa.value: wants_note(_client(psa)) for psa in PsaKind} == {
        "connectwise": False,
        "autotask": True,
        "halo": False,
    }
    # The note follows the flag, not the PSA: without its audit trail ConnectWise gets one.
    assert wants_note(_client("connectwise", audit_trail=False))


@pytest.mark.parametrize(
    ("psa", "days", "prorate", "expected_days", "expected_prorate", "replaces"),
    [
        ("connectwise", 0, False, None, False, False),
        ("connectwise", -3, True, -3, True, True),
        ("connectwise", 5, False, 5, False, True),
        ("autotask", 0, False, 0, True, False),
        ("autotask", 5, False, 5, True, False),
        ("halo", -3, True, None, False, False),
        ("halo", 5, False, 5, False, False),
    ],
)
def test_each_psa_s_own_way_to_write_a_change(
    psa: str,
    days: int,
    prorate: bool,
    expected_days: int | None,
    expected_prorate: bool,
    replaces: bool,
) -> None:
    # Dates are taken when the test runs, not when it is collected: a run that crosses
    # midnight would otherwise expect yesterday's dates.
    client = _client(psa)
    options = options_for(client, _change(days), prorate)
    expected_date = None if expected_days is None else today() + timedelta(days=expected_days)
    assert options == StepOptions(expected_date, expected_prorate)
    assert options.replaces_line(client) is replaces


def test_cancel_and_add_follows_the_flag_not_the_psa() -> None:
    client = _client("connectwise", replaces_line=False)
    options = options_for(client, _change(5), False)
    assert not options.replaces_line(client)
