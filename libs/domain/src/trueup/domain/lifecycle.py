"""A card's life within a cycle: which actions it accepts in each state, and where each
action and each writeback outcome takes it.

    pending --approve / add--> approved --applied--> applied
       |                          |------conflict--> conflict --approve / add / dismiss-->
       |                          '------failed----> failed --retry--> approved
       |                                                    '--dismiss--> dismissed
       '--dismiss--> dismissed --restore--> pending

Approving, adding and dismissing hide the card for the rest of the cycle; `card_status`
brings it back as pending in the next. A conflict or a failure shows the card again so a
person sees it. A conflict wrote nothing: the PSA held another quantity than the card
showed. Once the card shows the PSA's quantity again it is decided anew (approved against
that quantity, or dismissed). A failure is retried as it was, or dismissed. Setting the
effective date only plans the change: the state stays.
"""

from __future__ import annotations

from datetime import date

from trueup.domain.cycles import CardStatus
from trueup.domain.errors import TransitionRefusedError
from trueup.domain.model import ActionKind, CardKind, CardState, WritebackOutcome

# In the refusal a person reads: "cannot be approved", never "approve" + "d".
_DONE = {
    ActionKind.APPROVE: "approved",
    ActionKind.ADD: "added",
    ActionKind.DISMISS: "dismissed",
}


def _refusal(
    status: CardStatus, action: ActionKind, kind: CardKind, failed_job: str | None
) -> str | None:
    """Why `action` is not valid for the card now, or None when it is."""
    if action is ActionKind.SET_EFFECTIVE_DATE:
        return None
    if action is ActionKind.RESTORE:
        if status.state is not CardState.DISMISSED:
            return f"Only a dismissed card can be restored; this one is {status.state}."
        return None
    if action is ActionKind.RETRY:
        # A failed card without its job has nothing to run again.
        if status.state is not CardState.FAILED or not failed_job:
            return f"Only a failed writeback can be retried; this card is {status.state}."
        return None
    undecided = status.state is CardState.PENDING and not status.hidden
    if action is ActionKind.DISMISS and status.state is CardState.FAILED:
        return None
    if not (undecided or status.state is CardState.CONFLICT):
        return f"This card is {status.state} and cannot be {_DONE[action]}; refresh to see it."
    if action is ActionKind.ADD and kind is not CardKind.NEW_REVENUE:
        return "Only a New Revenue card can be added."
    if action is ActionKind.APPROVE and kind is CardKind.NEW_REVENUE:
        return "A New Revenue card is added, not approved."
    return None


def allowed_actions(
    status: CardStatus, kind: CardKind, *, failed_job: str | None = None
) -> frozenset[ActionKind]:
    """The actions `take_action` accepts for a card of `kind` in `status`.

    `failed_job` is the job of the card's failed writeback, which a retry runs again.
    """
    return frozenset(
        action for action in ActionKind if _refusal(status, action, kind, failed_job) is None
    )


def take_action(
    status: CardStatus,
    action: ActionKind,
    today: date,
    *,
    kind: CardKind,
    failed_job: str | None = None,
) -> CardStatus:
    """The card's status once `action` is taken on `today`.

    Raises `TransitionRefusedError`, with the reason a person reads, when the card's state
    (or its kind: New Revenue is added, everything else approved) does not allow it.
    """
    reason = _refusal(status, action, kind, failed_job)
    if reason is not None:
        raise TransitionRefusedError(status.state, action, reason)
    if action in (ActionKind.APPROVE, ActionKind.ADD):
        return CardStatus(CardState.APPROVED, hidden=True, actioned_on=today)
    if action is ActionKind.DISMISS:
        return CardStatus(CardState.DISMISSED, hidden=True, actioned_on=today)
    if action is ActionKind.RESTORE:
        return CardStatus(CardState.PENDING, hidden=False, actioned_on=None)
    if action is ActionKind.RETRY:
        # Hidden from today, like a new approval: kept at the day of the first one, a
        # card failed in an earlier cycle would come back as pending on the next recompute
        # while its retry is still being written, and could be approved a second time.
        return CardStatus(CardState.APPROVED, hidden=True, actioned_on=today)
    return status


def apply_outcome(status: CardStatus, outcome: WritebackOutcome) -> CardStatus:
    """The card's status once its writeback ends in `outcome`.

    Every state accepts an outcome: it reports what the PSA now holds, which stays true
    even if the card moved on meanwhile (a new cycle brought it back as pending). A
    conflict or a failure shows the card; an applied change leaves it as hidden as it was.
    """
    if outcome is WritebackOutcome.APPLIED:
        return CardStatus(CardState.APPLIED, hidden=status.hidden, actioned_on=status.actioned_on)
    state = CardState.CONFLICT if outcome is WritebackOutcome.CONFLICT else CardState.FAILED
    return CardStatus(state, hidden=False, actioned_on=status.actioned_on)
