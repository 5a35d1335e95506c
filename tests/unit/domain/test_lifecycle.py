"""A card's lifecycle: what each state accepts, where each action and writeback outcome
takes the card, and the reasons a person reads when an action is refused."""

from dataclasses import dataclass, replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trueup.domain import (
    ActionKind,
    CardKind,
    CardRecord,
    CardState,
    CardStatus,
    TransitionRefusedError,
    WritebackOutcome,
    allowed_actions,
    apply_outcome,
    card_status,
    take_action,
)

TODAY = date(2026, 11, 15)
PENDING = CardStatus(CardState.PENDING, hidden=False, actioned_on=None)
# A person's actions: approve, add and dismiss are refused alike once a card is actioned.
DECISIONS = (ActionKind.APPROVE, ActionKind.ADD, ActionKind.DISMISS)


def status(state: CardState, *, hidden: bool = False, on: date | None = TODAY) -> CardStatus:
    return CardStatus(state, hidden=hidden, actioned_on=on)


def refusal(
    current: CardStatus,
    action: ActionKind,
    *,
    kind: CardKind = CardKind.RECONCILE,
    failed_job: str | None = None,
) -> str:
    with pytest.raises(TransitionRefusedError) as raised:
        take_action(current, action, TODAY, kind=kind, failed_job=failed_job)
    assert raised.value.state == current.state
    assert raised.value.action == action
    return str(raised.value)


class TestActions:
    @pytest.mark.parametrize(
        ("action", "kind", "state"),
        [
            (ActionKind.APPROVE, CardKind.RECONCILE, CardState.APPROVED),
            (ActionKind.APPROVE, CardKind.NO_CHANGE, CardState.APPROVED),
            (ActionKind.ADD, CardKind.NEW_REVENUE, CardState.APPROVED),
            (ActionKind.DISMISS, CardKind.RECONCILE, CardState.DISMISSED),
            (ActionKind.DISMISS, CardKind.NEW_REVENUE, CardState.DISMISSED),
        ],
    )
    def test_a_decision_hides_the_card_for_the_rest_of_the_cycle(
        self, action: ActionKind, kind: CardKind, state: CardState
    ) -> None:
        after = take_action(PENDING, action, TODAY, kind=kind)

        assert after == CardStatus(state, hidden=True, actioned_on=TODAY)
        record = CardRecord(after.state, after.actioned_on)
        assert card_status(record, date(2026, 11, 30)).hidden
        assert card_status(record, date(2026, 12, 1)) == PENDING

    def test_restore_brings_a_dismissed_card_back_pending(self) -> None:
        dismissed = status(CardState.DISMISSED, hidden=True)

        restored = take_action(dismissed, ActionKind.RESTORE, TODAY, kind=CardKind.RECONCILE)

        assert restored == PENDING

    def test_a_retry_is_hidden_from_its_own_day(self) -> None:
        # Approved in October, failed, retried in November: dated October, the next
        # recompute in November would show it pending (approvable twice) mid-retry.
        failed = status(CardState.FAILED, on=date(2026, 10, 28))

        retried = take_action(
            failed, ActionKind.RETRY, TODAY, kind=CardKind.RECONCILE, failed_job="job-1"
        )

        assert retried == status(CardState.APPROVED, hidden=True, on=TODAY)
        carried = card_status(CardRecord(retried.state, retried.actioned_on), TODAY)
        assert carried.hidden

    @pytest.mark.parametrize(
        ("action", "kind", "state"),
        [
            (ActionKind.APPROVE, CardKind.RECONCILE, CardState.APPROVED),
            (ActionKind.ADD, CardKind.NEW_REVENUE, CardState.APPROVED),
            (ActionKind.DISMISS, CardKind.RECONCILE, CardState.DISMISSED),
        ],
    )
    def test_a_conflict_is_decided_again(
        self, action: ActionKind, kind: CardKind, state: CardState
    ) -> None:
        # Nothing was written: the card, now showing the PSA's quantity, is open again.
        conflict = status(CardState.CONFLICT, on=date(2026, 11, 3))

        after = take_action(conflict, action, TODAY, kind=kind)

        assert after == CardStatus(state, hidden=True, actioned_on=TODAY)

    def test_a_failed_card_can_be_dismissed(self) -> None:
        failed = status(CardState.FAILED, on=date(2026, 11, 3))

        after = take_action(
            failed, ActionKind.DISMISS, TODAY, kind=CardKind.RECONCILE, failed_job="job-1"
        )

        assert after == CardStatus(CardState.DISMISSED, hidden=True, actioned_on=TODAY)
        assert refusal(failed, ActionKind.APPROVE, failed_job="job-1") == (
            "This card is failed and cannot be approved; refresh to see it."
        )

    @pytest.mark.parametrize("state", list(CardState))
    def test_setting_the_effective_date_leaves_the_state(self, state: CardState) -> None:
        current = status(state, hidden=state is CardState.APPROVED)

        after = take_action(current, ActionKind.SET_EFFECTIVE_DATE, TODAY, kind=CardKind.RECONCILE)

        assert after == current


class TestRefusals:
    """The texts are the 409 details the API answers with."""

    @pytest.mark.parametrize(
        ("action", "done"),
        [
            (ActionKind.APPROVE, "approved"),
            (ActionKind.ADD, "added"),
            (ActionKind.DISMISS, "dismissed"),
        ],
    )
    def test_an_actioned_card_refuses_a_decision(self, action: ActionKind, done: str) -> None:
        kind = CardKind.NEW_REVENUE if action is ActionKind.ADD else CardKind.RECONCILE

        reason = refusal(status(CardState.DISMISSED, hidden=True), action, kind=kind)

        assert reason == f"This card is dismissed and cannot be {done}; refresh to see it."

    def test_a_hidden_pending_card_refuses_a_decision(self) -> None:
        reason = refusal(status(CardState.PENDING, hidden=True), ActionKind.APPROVE)

        assert reason == "This card is pending and cannot be approved; refresh to see it."

    def test_only_a_dismissed_card_is_restored(self) -> None:
        reason = refusal(PENDING, ActionKind.RESTORE)

        assert reason == "Only a dismissed card can be restored; this one is pending."

    @pytest.mark.parametrize(
        ("current", "job"),
        [(PENDING, "job-1"), (status(CardState.FAILED), None), (status(CardState.FAILED), "")],
    )
    def test_only_a_failed_writeback_with_its_job_is_retried(
        self, current: CardStatus, job: str | None
    ) -> None:
        reason = refusal(current, ActionKind.RETRY, failed_job=job)

        assert reason == (f"Only a failed writeback can be retried; this card is {current.state}.")

    def test_new_revenue_is_added_not_approved(self) -> None:
        assert (
            refusal(PENDING, ActionKind.APPROVE, kind=CardKind.NEW_REVENUE)
            == "A New Revenue card is added, not approved."
        )
        assert refusal(PENDING, ActionKind.ADD) == "Only a New Revenue card can be added."

    def test_the_state_is_refused_before_the_kind(self) -> None:
        # A person who sees an outdated card is told to refresh, not about its kind.
        reason = refusal(status(CardState.APPROVED, hidden=True), ActionKind.ADD)

        assert reason.startswith("This card is approved")


class TestAllowedActions:
    @pytest.mark.parametrize(
        ("current", "kind", "job", "allowed"),
        [
            (PENDING, CardKind.RECONCILE, None, {"approve", "dismiss"}),
            (PENDING, CardKind.NO_CHANGE, None, {"approve", "dismiss"}),
            (PENDING, CardKind.NEW_REVENUE, None, {"add", "dismiss"}),
            (status(CardState.APPROVED, hidden=True), CardKind.RECONCILE, None, set()),
            (status(CardState.APPLIED, hidden=True), CardKind.RECONCILE, None, set()),
            (status(CardState.DISMISSED, hidden=True), CardKind.RECONCILE, None, {"restore"}),
            (status(CardState.FAILED), CardKind.RECONCILE, "job-1", {"retry", "dismiss"}),
            (status(CardState.FAILED), CardKind.RECONCILE, None, {"dismiss"}),
            (status(CardState.CONFLICT), CardKind.RECONCILE, None, {"approve", "dismiss"}),
            (status(CardState.CONFLICT), CardKind.NEW_REVENUE, None, {"add", "dismiss"}),
        ],
    )
    def test_what_each_state_offers(
        self, current: CardStatus, kind: CardKind, job: str | None, allowed: set[str]
    ) -> None:
        offered = allowed_actions(current, kind, failed_job=job)

        # The effective date may be planned in every state.
        assert offered == {ActionKind(a) for a in allowed} | {ActionKind.SET_EFFECTIVE_DATE}


class TestWritebackOutcomes:
    def test_applied_keeps_the_card_hidden(self) -> None:
        approved = status(CardState.APPROVED, hidden=True)

        assert apply_outcome(approved, WritebackOutcome.APPLIED) == status(
            CardState.APPLIED, hidden=True
        )

    @pytest.mark.parametrize(
        ("outcome", "state"),
        [
            (WritebackOutcome.CONFLICT, CardState.CONFLICT),
            (WritebackOutcome.FAILED, CardState.FAILED),
        ],
    )
    def test_a_conflict_or_failure_shows_the_card(
        self, outcome: WritebackOutcome, state: CardState
    ) -> None:
        approved = status(CardState.APPROVED, hidden=True)

        assert apply_outcome(approved, outcome) == status(state, hidden=False)

    @pytest.mark.parametrize("outcome", list(WritebackOutcome))
    def test_a_late_outcome_is_recorded_whatever_the_card_shows(
        self, outcome: WritebackOutcome
    ) -> None:
        # A new cycle brought the approved card back as pending before its writeback ended.
        after = apply_outcome(PENDING, outcome)

        assert after.state == CardState(outcome.value)


@dataclass(frozen=True)
class Card:
    """A card as the service keeps it: its status, its kind, its failed job, and whether a
    writeback of it is running."""

    status: CardStatus
    kind: CardKind
    failed_job: str | None = None
    writing: bool = False


Step = tuple[str, ActionKind | WritebackOutcome | None]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("act"), st.sampled_from(list(ActionKind))),
        st.tuples(st.just("outcome"), st.sampled_from(list(WritebackOutcome))),
        st.tuples(st.just("day"), st.none()),
        st.tuples(st.just("cycle"), st.none()),
    ),
    max_size=40,
)


@given(kind=st.sampled_from(list(CardKind)), sequence=steps)
def test_random_sequences_keep_the_lifecycle_rules(kind: CardKind, sequence: list[Step]) -> None:
    """Actions, writeback outcomes (only while a writeback runs), days passing and cycles
    turning (a recompute carrying the card over, as `card_status` does), in any order."""
    card = Card(PENDING, kind)
    today = TODAY
    for what, value in sequence:
        before = card.status
        if what == "day":
            today += timedelta(days=1)
            continue
        if what == "cycle":
            today += timedelta(days=31)
            carried = card_status(CardRecord(before.state, before.actioned_on), today)
            card = replace(card, status=carried)
            continue
        if what == "outcome":
            assert isinstance(value, WritebackOutcome)
            if not card.writing:
                continue
            after = apply_outcome(before, value)
            assert after.state == CardState(value.value)
            assert after.actioned_on == before.actioned_on
            assert after.hidden == (before.hidden and value is WritebackOutcome.APPLIED)
            job = "job" if value is WritebackOutcome.FAILED else card.failed_job
            card = replace(card, status=after, failed_job=job, writing=False)
            continue
        assert isinstance(value, ActionKind)
        allowed = allowed_actions(before, kind, failed_job=card.failed_job)
        if value not in allowed:
            with pytest.raises(TransitionRefusedError) as refused:
                take_action(before, value, today, kind=kind, failed_job=card.failed_job)
            assert str(refused.value)
            continue
        after = take_action(before, value, today, kind=kind, failed_job=card.failed_job)
        if value in DECISIONS:
            # A hidden card never takes a decision: only a visible pending card, a
            # conflict (nothing was written) and, to give it up, a failed one.
            assert not before.hidden
            if before.state is CardState.FAILED:
                assert value is ActionKind.DISMISS
            else:
                assert before.state in (CardState.PENDING, CardState.CONFLICT)
            assert after.hidden
            assert after.actioned_on == today
            assert allowed_actions(after, kind) & set(DECISIONS) == set()
        if value is ActionKind.RESTORE:
            assert before.state is CardState.DISMISSED
            assert after == PENDING
        if value is ActionKind.RETRY:
            assert before.state is CardState.FAILED
            assert (after.state, after.hidden) == (CardState.APPROVED, True)
        if value is ActionKind.SET_EFFECTIVE_DATE:
            assert after == before
        if value is ActionKind.APPROVE:
            assert kind is not CardKind.NEW_REVENUE
        if value is ActionKind.ADD:
            assert kind is CardKind.NEW_REVENUE
        writes = value in (ActionKind.APPROVE, ActionKind.ADD, ActionKind.RETRY)
        card = replace(card, status=after, writing=card.writing or writes)
        # A hidden card is one a person decided on; a visible one is open to look at.
        if card.status.hidden:
            assert card.status.state in (CardState.APPROVED, CardState.APPLIED, CardState.DISMISSED)
