"""Auto-reconcile rules: which cards approve themselves, and the reason they give."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trueup.domain import (
    AutoRule,
    BillingCycle,
    Card,
    CardKind,
    CardState,
    Direction,
    UsageContribution,
    evaluate_rules,
)

D = Decimal


def card(
    psa: str,
    target: str,
    *,
    vendor: str = "pax8",
    service_line: str = "m365",
    kind: CardKind = CardKind.RECONCILE,
    stale: bool = False,
    state: CardState = CardState.PENDING,
    price: str = "22.00",
) -> Card:
    contribution = UsageContribution(
        vendor=vendor,
        vendor_account_id="va",
        sku="sku",
        vendor_quantity=D(target),
        quantity=D(target),
        record_count=1,
        oldest_as_of=datetime(2026, 11, 1, tzinfo=UTC),
        sources=("api",),
        stale=stale,
    )
    return Card(
        id="t:li:1",
        tenant_id="t",
        kind=kind,
        account_id="a",
        service_line_id=service_line,
        contract_id="c",
        line_item_id="1",
        psa_quantity=D(psa),
        vendor_quantity=D(target),
        target_quantity=D(target),
        billed_elsewhere=D(0),
        unit_price=D(price),
        unit_cost=D(0),
        currency="USD",
        billing_cycle=BillingCycle.MONTHLY,
        contributions=(contribution,),
        stale=stale,
        state=state,
    )


SMALL_GROWTH = AutoRule("small M365 growth", max_units=D(5), direction=Direction.INCREASE)


class TestRuleExamples:
    @pytest.mark.parametrize(
        ("rule", "psa", "target", "explanation"),
        [
            (
                SMALL_GROWTH,
                "10",
                "12",
                "auto-approved by rule 'small M365 growth': +2 ≤ 5, increases only",
            ),
            (
                SMALL_GROWTH,
                "10",
                "15",
                "auto-approved by rule 'small M365 growth': +5 ≤ 5, increases only",
            ),
            (SMALL_GROWTH, "10", "16", None),
            (SMALL_GROWTH, "10", "8", None),
            (
                AutoRule("any small", max_units=D(2)),
                "10",
                "8",
                "auto-approved by rule 'any small': -2 ≤ 2",
            ),
            (AutoRule("shrink", max_units=D(2), direction=Direction.DECREASE), "10", "11", None),
            (
                AutoRule("ten pct", max_percent=D(10)),
                "50",
                "55",
                "auto-approved by rule 'ten pct': +10.0% ≤ 10%",
            ),
            (AutoRule("ten pct", max_percent=D(10)), "50", "56", None),
            # Percent of nothing is not small: a line billing zero never passes a percent limit.
            (AutoRule("ten pct", max_percent=D(10)), "0", "1", None),
            # Units or percent: either one suffices.
            (
                AutoRule("either", max_units=D(1), max_percent=D(10)),
                "100",
                "108",
                "auto-approved by rule 'either': +8.0% ≤ 10%",
            ),
            (
                AutoRule("capped", max_units=D(10), max_money=D(50)),
                "10",
                "12",
                "auto-approved by rule 'capped': +2 ≤ 10, +44.00 USD ≤ 50",
            ),
            (AutoRule("capped", max_units=D(10), max_money=D(50)), "10", "13", None),
            (
                AutoRule("fractional", max_units=D("0.5")),
                "10",
                "10.25",
                "auto-approved by rule 'fractional': +0.25 ≤ 0.5",
            ),
        ],
    )
    def test_rule_decisions(
        self, rule: AutoRule, psa: str, target: str, explanation: str | None
    ) -> None:
        decision = evaluate_rules(card(psa, target), [rule])
        assert (decision.explanation if decision else None) == explanation


class TestRuleScope:
    def test_narrowed_to_a_vendor(self) -> None:
        rule = AutoRule("pax8 only", max_units=D(5), vendor="pax8")
        assert evaluate_rules(card("10", "12", vendor="pax8"), [rule]) is not None
        assert evaluate_rules(card("10", "12", vendor="sherweb"), [rule]) is None

    def test_narrowed_to_a_service_line(self) -> None:
        rule = AutoRule("m365 only", max_units=D(5), service_line_id="m365")
        assert evaluate_rules(card("10", "12"), [rule]) is not None
        assert evaluate_rules(card("10", "12", service_line="edr"), [rule]) is None

    def test_first_matching_rule_in_order_wins(self) -> None:
        rules = [AutoRule("strict", max_units=D(1)), AutoRule("loose", max_units=D(10))]
        decision = evaluate_rules(card("10", "12"), rules)
        assert decision is not None
        assert decision.rule_name == "loose"

    def test_disabled_rule_does_nothing(self) -> None:
        rule = AutoRule("off", max_units=D(5), enabled=False)
        assert evaluate_rules(card("10", "12"), [rule]) is None


class TestEverythingElseWaitsForAPerson:
    @pytest.mark.parametrize(
        "subject",
        [
            card("10", "12", stale=True),
            card("0", "12", kind=CardKind.NEW_REVENUE),
            card("10", "10", kind=CardKind.NO_CHANGE),
            card("10", "12", state=CardState.DISMISSED),
            card("10", "12", state=CardState.CONFLICT),
        ],
    )
    def test_not_auto_approved(self, subject: Card) -> None:
        assert evaluate_rules(subject, [AutoRule("anything", max_units=D(1000))]) is None

    def test_rule_needs_a_size_limit(self) -> None:
        with pytest.raises(ValueError, match="max_units or max_percent"):
            AutoRule("unbounded", max_money=D(100))
