"""The tenant's cycle: hidden-until-next-cycle, default and bulk effective dates."""

from datetime import date
from decimal import Decimal

import pytest

from trueup.domain import (
    BillingCycle,
    BillingTiming,
    Card,
    CardKind,
    CardRecord,
    CardState,
    Contract,
    CycleTurn,
    Period,
    bulk_effective_dates,
    card_status,
    default_effective_date,
    is_hidden,
    tenant_cycle,
    turn_cycle,
)


class TestTenantCycle:
    @pytest.mark.parametrize(
        ("day", "start_day", "start", "end"),
        [
            (date(2026, 11, 15), 1, date(2026, 11, 1), date(2026, 12, 1)),
            (date(2026, 11, 15), 20, date(2026, 10, 20), date(2026, 11, 20)),
            (date(2026, 11, 20), 20, date(2026, 11, 20), date(2026, 12, 20)),
            (date(2026, 1, 5), 10, date(2025, 12, 10), date(2026, 1, 10)),
        ],
    )
    def test_cycle_has_its_own_start_day(
        self, day: date, start_day: int, start: date, end: date
    ) -> None:
        assert tenant_cycle(day, start_day) == Period(start, end)

    def test_start_day_must_exist_in_every_month(self) -> None:
        with pytest.raises(ValueError, match="1-28"):
            tenant_cycle(date(2026, 1, 1), 31)


class TestHiddenUntilNextCycle:
    @pytest.mark.parametrize(
        ("actioned_on", "today", "start_day", "hidden"),
        [
            (date(2026, 11, 3), date(2026, 11, 28), 1, True),
            (date(2026, 11, 30), date(2026, 12, 1), 1, False),
            (date(2026, 11, 18), date(2026, 11, 19), 20, True),
            (date(2026, 11, 18), date(2026, 11, 20), 20, False),
            (None, date(2026, 11, 20), 1, False),
        ],
    )
    def test_is_hidden(
        self, actioned_on: date | None, today: date, start_day: int, hidden: bool
    ) -> None:
        assert is_hidden(actioned_on, today, start_day) is hidden

    @pytest.mark.parametrize("state", [CardState.APPROVED, CardState.APPLIED, CardState.DISMISSED])
    def test_actioned_card_is_hidden_then_comes_back_pending(self, state: CardState) -> None:
        record = CardRecord(state, actioned_on=date(2026, 11, 10))
        during = card_status(record, date(2026, 11, 25))
        assert (during.state, during.hidden) == (state, True)
        after = card_status(record, date(2026, 12, 2))
        assert (after.state, after.hidden, after.actioned_on) == (CardState.PENDING, False, None)

    @pytest.mark.parametrize("state", [CardState.CONFLICT, CardState.FAILED, CardState.PENDING])
    def test_problems_stay_visible(self, state: CardState) -> None:
        status = card_status(CardRecord(state, date(2026, 11, 10)), date(2026, 11, 25))
        assert (status.state, status.hidden) == (state, False)

    def test_new_card_is_pending(self) -> None:
        status = card_status(None, date(2026, 11, 25))
        assert (status.state, status.hidden) == (CardState.PENDING, False)


def contract(
    cid: str,
    timing: BillingTiming,
    *,
    backdating: bool = False,
    cycle: BillingCycle = BillingCycle.MONTHLY,
) -> Contract:
    return Contract(
        cid,
        "a1",
        cid,
        start=date(2026, 1, 1),
        timing=timing,
        billing_cycle=cycle,
        backdating_allowed=backdating,
    )


def card(cid: str, contract_id: str | None, kind: CardKind = CardKind.RECONCILE) -> Card:
    return Card(
        id=cid,
        tenant_id="t",
        kind=kind,
        account_id="a1",
        service_line_id="s",
        contract_id=contract_id,
        line_item_id=None,
        psa_quantity=Decimal(1),
        vendor_quantity=Decimal(2),
        target_quantity=Decimal(2),
        billed_elsewhere=Decimal(0),
        unit_price=Decimal(1),
        unit_cost=Decimal(0),
        currency="USD",
        billing_cycle=BillingCycle.MONTHLY,
    )


class TestEffectiveDates:
    TODAY = date(2026, 11, 15)

    @pytest.mark.parametrize(
        ("timing", "cycle", "expected"),
        [
            (BillingTiming.ADVANCE, BillingCycle.MONTHLY, date(2026, 12, 1)),
            (BillingTiming.ADVANCE, BillingCycle.QUARTERLY, date(2027, 1, 1)),
            (BillingTiming.ARREARS, BillingCycle.MONTHLY, date(2026, 11, 15)),
            (BillingTiming.ARREARS, BillingCycle.ANNUAL, date(2026, 11, 15)),
        ],
    )
    def test_default_effective_date(
        self, timing: BillingTiming, cycle: BillingCycle, expected: date
    ) -> None:
        assert default_effective_date(contract("c", timing, cycle=cycle), self.TODAY) == expected

    def test_bulk_default_dates_follow_each_contract(self) -> None:
        contracts = {
            "adv": contract("adv", BillingTiming.ADVANCE),
            "arr": contract("arr", BillingTiming.ARREARS),
        }
        result = bulk_effective_dates([card("x", "adv"), card("y", "arr")], contracts, self.TODAY)
        assert result.dates == {"x": date(2026, 12, 1), "y": self.TODAY}
        assert result.refused == {}

    def test_bulk_date_is_refused_only_where_backdating_is_forbidden(self) -> None:
        contracts = {
            "strict": contract("strict", BillingTiming.ADVANCE),
            "lenient": contract("lenient", BillingTiming.ADVANCE, backdating=True),
        }
        result = bulk_effective_dates(
            [card("x", "strict"), card("y", "lenient"), card("z", None)],
            contracts,
            self.TODAY,
            effective=date(2026, 10, 5),
        )
        assert result.dates == {"y": date(2026, 10, 5)}
        assert set(result.refused) == {"x", "z"}
        assert "back-dating" in result.refused["x"]


class TestTurnCycle:
    """Whether a cycle closes, and which: the decision behind keeping a past cycle's cards."""

    def test_the_first_look_opens_the_current_cycle_and_closes_nothing(self) -> None:
        turn = turn_cycle(None, date(2026, 11, 15), 1)
        assert turn == CycleTurn(date(2026, 11, 1), date(2026, 12, 1), None)

    def test_a_day_within_the_open_cycle_closes_nothing(self) -> None:
        turn = turn_cycle(date(2026, 11, 20), date(2026, 12, 19), 20)
        assert turn == CycleTurn(date(2026, 11, 20), date(2026, 12, 20), None)

    @pytest.mark.parametrize(
        ("open_start", "today", "start_day", "closed", "new_start"),
        [
            # The new cycle's first day closes the old one.
            (
                date(2026, 11, 1),
                date(2026, 12, 1),
                1,
                (date(2026, 11, 1), date(2026, 12, 1)),
                date(2026, 12, 1),
            ),
            # Month ends: a cycle starting on the 28th across February and a leap year.
            (
                date(2027, 1, 28),
                date(2027, 2, 28),
                28,
                (date(2027, 1, 28), date(2027, 2, 28)),
                date(2027, 2, 28),
            ),
            (
                date(2028, 2, 28),
                date(2028, 3, 28),
                28,
                (date(2028, 2, 28), date(2028, 3, 28)),
                date(2028, 3, 28),
            ),
            # Across the year's end.
            (
                date(2026, 12, 15),
                date(2027, 1, 15),
                15,
                (date(2026, 12, 15), date(2027, 1, 15)),
                date(2027, 1, 15),
            ),
            # Nothing ran for two months: one closed cycle up to the current one, no gap.
            (
                date(2026, 9, 1),
                date(2026, 11, 3),
                1,
                (date(2026, 9, 1), date(2026, 11, 1)),
                date(2026, 11, 1),
            ),
            # The start day moved forward: the open cycle closes where the new one starts.
            (
                date(2026, 12, 1),
                date(2026, 12, 5),
                5,
                (date(2026, 12, 1), date(2026, 12, 5)),
                date(2026, 12, 5),
            ),
        ],
    )
    def test_a_later_cycle_closes_the_open_one(
        self,
        open_start: date,
        today: date,
        start_day: int,
        closed: tuple[date, date],
        new_start: date,
    ) -> None:
        turn = turn_cycle(open_start, today, start_day)
        assert turn.closed == Period(*closed)
        assert turn.open_start == new_start
        assert turn_cycle(turn.open_start, today, start_day).closed is None

    def test_the_day_before_the_next_start_still_belongs_to_the_open_cycle(self) -> None:
        # 31 January with cycles starting on the 28th: still the cycle of 28 January.
        assert turn_cycle(date(2027, 1, 28), date(2027, 2, 27), 28).closed is None

    def test_a_start_day_moved_back_keeps_the_open_cycle_until_the_next_start(self) -> None:
        # Open since 15 December; the tenant moves its start to the 1st on the 20th.
        turn = turn_cycle(date(2026, 12, 15), date(2026, 12, 20), 1)
        assert turn == CycleTurn(date(2026, 12, 15), date(2027, 1, 1), None)
        closed = turn_cycle(date(2026, 12, 15), date(2027, 1, 1), 1).closed
        assert closed == Period(date(2026, 12, 15), date(2027, 1, 1))
