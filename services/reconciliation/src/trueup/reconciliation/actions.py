"""Actions on cards (approve, add, dismiss, restore, retry, set the effective date), alone
or in bulk, and the writeback outcomes that move an approved card on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup import domain as d
from trueup.contracts import Envelope, Payload, new_id
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.platform.logging import bound_context, get_logger
from trueup.reconciliation import cycles, index_cache
from trueup.reconciliation import state as st
from trueup.reconciliation.announcements import announce
from trueup.reconciliation.cards import card_conditions
from trueup.reconciliation.changes import check_date, large_change, requested_changes
from trueup.reconciliation.index_cache import StoredCard, new_token
from trueup.reconciliation.models import (
    ActionRow,
    CardRow,
    ContractRow,
    ServiceLineRow,
)
from trueup.reconciliation.repository import Repository

log = get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


async def act(
    session: AsyncSession,
    tenant_id: str,
    request: r.ActionQuery,
    *,
    cause: Envelope[Any] | None = None,
    today: date | None = None,
) -> r.ActionAccepted:
    """Approve, add, dismiss, restore or retry one card; idempotent by its key.

    Everything that can refuse the action (`QueryFailedError`) is checked before anything
    is changed, so that a refusal leaves the session as it was (`act_together` relies on
    it). The session's copy of the card is taken as current: read before the tenant's
    lock, it must be read again under it (`act_together` does)."""
    repo = Repository(session, tenant_id)
    previous = await repo.action_by_key(request.idempotency_key)
    if previous is not None:
        return r.ActionAccepted(
            action_id=previous.action_id,
            card_id=previous.card_id,
            state=previous.result_state,  # type: ignore[arg-type]
        )
    today = today or _now().date()
    await cycles.check_open_cycle(repo, request.cycle, today)
    card = await repo.card(request.card_id)
    if card is None:
        raise QueryFailedError(404, "Not Found", f"No card {request.card_id}.")
    action = d.ActionKind(request.action)
    try:
        status = d.take_action(
            st.card_status(card),
            action,
            today,
            kind=d.CardKind(card.kind),
            failed_job=card.last_job_id,
        )
    except d.TransitionRefusedError as refused:
        raise QueryFailedError(409, "Conflict", str(refused)) from refused
    action_id = new_id()
    detail: dict[str, Any] = {"reason": request.reason}
    outgoing: list[Payload] = []
    contract_row = await repo.get(ContractRow, card.contract_id) if card.contract_id else None
    # What the activity entry says was written (or sent again), at which price and in
    # which currency; a dismiss or restore writes nothing.
    written: list[m.ProratedChange] = []
    price = card.unit_price
    currency = contract_row.currency if contract_row else card.currency

    if action is d.ActionKind.RESTORE:
        detail["restored_from"] = card.state
    elif action is d.ActionKind.RETRY:
        assert card.last_job_id is not None  # take_action retries only a failed job
        outgoing.append(m.RetryWriteback(job_id=card.last_job_id, actor=request.actor))
        card.error = None
        # The job sent again is the card's last approve or add: its entry names that write.
        retried = await repo.last_write_action(card.card_id)
        if retried is not None:
            detail["retried_action_id"] = retried.action_id
            earlier = retried.detail or {}
            written = [
                m.ProratedChange.model_validate(c, strict=False)
                for c in earlier.get("changes") or []
            ]
            price = Decimal(earlier["unit_price"]) if earlier.get("unit_price") else price
            currency = earlier.get("currency") or currency
    elif action is d.ActionKind.SET_EFFECTIVE_DATE:
        if request.change.effective_date is None:
            raise QueryFailedError(422, "Invalid request", "effective_date is required.")
        check_date(contract_row, request.change.effective_date, today)
        card.planned_effective_date = request.change.effective_date
        detail["effective_date"] = request.change.effective_date.isoformat()
    elif action is not d.ActionKind.DISMISS:
        # Approve or add: the change goes to the PSA; dismissing writes nothing.
        command, target = await _writeback_command(
            repo, card, contract_row, request, action_id, today
        )
        large = large_change(
            card, command.changes, await repo.billing_settings(), command.unit_price
        )
        if large is not None and not request.confirm:
            raise QueryFailedError(
                409,
                "Confirmation required",
                f"This is a large change ({large}); confirm it to {request.action} "
                '(in the API: "confirm": true).',
            )
        detail["large_change"] = large
        outgoing.append(command)
        written, price, currency = list(command.changes), command.unit_price, target.currency
        detail["changes"] = [c.model_dump(mode="json") for c in command.changes]
        # Kept so that a retry of this write is recorded at the same price and currency.
        detail["unit_price"] = None if price is None else format(price, "f")
        detail["currency"] = currency
    _set_status(card, status)
    card.updated_at = _now()
    card.fingerprint = st.fingerprint(card)
    await repo.add_action(
        ActionRow(
            tenant_id=tenant_id,
            action_id=action_id,
            idempotency_key=request.idempotency_key,
            card_id=card.card_id,
            kind=request.action,
            actor=request.actor.model_dump(mode="json"),
            detail=detail,
            result_state=card.state,
            created_at=_now(),
        )
    )
    await _card_state_changed(repo, card)
    if action in _RECORDED:
        first = outgoing[0] if outgoing else None
        outgoing.insert(
            0,
            m.ActionRecorded(
                action_id=action_id,
                card_id=card.card_id,
                action=request.action,  # type: ignore[arg-type]
                actor=request.actor,
                account_name=card.account_name,
                service_line=card.service_line,
                contract_psa_id=card.contract_id,
                account_id=card.account_id or None,
                contract_name=_contract_name(first, contract_row),
                quantity_before=card.psa_quantity,
                quantity_after=written[-1].quantity if written else None,
                unit_price=price,
                effective_date=written[0].effective_date if written else None,
                reason=request.reason,
                unit_price_before=card.unit_price if card.line_item_id else None,
                changes=written,
                currency=currency,
            ),
        )
    for payload in outgoing:
        await announce(session, tenant_id, payload, cause)
    await announce(
        session, tenant_id, m.CardsChanged(card_ids=[card.card_id], reason=request.action), cause
    )
    log.info(
        "card actioned",
        tenant_id=tenant_id,
        card_id=card.card_id,
        action=request.action,
        state=card.state,
    )
    return r.ActionAccepted(action_id=action_id, card_id=card.card_id, state=card.state)  # type: ignore[arg-type]


async def read_ahead(
    session: AsyncSession, tenant_id: str, requests: Sequence[r.ActionQuery]
) -> list[Any]:
    """Load the actions' cards, their contracts and their service lines, a statement each,
    before the tenant's lock is taken.

    Every writer of the tenant waits while actions hold the lock, so it is held for the
    cards' second, fresh read (`act_together`) and the writes, not for these reads too: the
    contract and the service line change only with a PSA sync, and an action decided on
    them a moment old is one taken a moment earlier. The rows are returned to be held: the
    session keeps unreferenced rows only weakly.
    """
    repo = Repository(session, tenant_id)
    cards = await repo.all_of(CardRow, CardRow.card_id.in_({q.card_id for q in requests}))
    by_id = {card.card_id: card for card in cards}
    contract_ids = {card.contract_id for card in cards} | {
        q.contract_id for q in requests if q.card_id in by_id
    }
    contract_ids.discard(None)
    line_ids = {card.service_line_id for card in cards if card.service_line_id}
    held: list[Any] = list(cards)
    if contract_ids:
        held += await repo.all_of(ContractRow, ContractRow.contract_id.in_(contract_ids))
    if line_ids:
        held += await repo.all_of(ServiceLineRow, ServiceLineRow.service_line_id.in_(line_ids))
    return held


async def act_together(
    session: AsyncSession, tenant_id: str, queries: Sequence[Envelope[r.ActionQuery]]
) -> list[r.ActionAccepted | QueryFailedError]:
    """Several actions of one tenant, in order, in one transaction that holds the tenant's
    lock: each one's answer, or the refusal it alone gets.

    Each is decided as if taken alone, after the ones before it (the same key twice is one
    action; a card approved twice is refused the second time). A refused action leaves
    nothing behind, because `act` decides before it changes anything, so no savepoint is
    needed per action. The actions' keys and cards are read in a statement each, and what
    they write goes out in one flush: the lock is held for about as many statements for
    eight approvals as for one.
    """
    repo = Repository(session, tenant_id)
    await repo.read_actions(query.payload.idempotency_key for query in queries)
    # Read again under the lock: the decisions rest on the cards as they are now. Held
    # until the flush, as the session keeps unchanged rows only weakly.
    held = await repo.fresh_cards(query.payload.card_id for query in queries)
    answers: list[r.ActionAccepted | QueryFailedError] = []
    with session.no_autoflush:
        for query in queries:
            try:
                with bound_context(correlation_id=query.correlation_id, event_id=query.event_id):
                    answers.append(await act(session, tenant_id, query.payload, cause=query))
            except QueryFailedError as refused:
                answers.append(refused)
    await session.flush()
    del held
    return answers


# The actions the activity log records: every change of a card's state. Planning an
# effective date leaves the state as it was and writes nothing.
_RECORDED = frozenset(
    {
        d.ActionKind.APPROVE,
        d.ActionKind.ADD,
        d.ActionKind.DISMISS,
        d.ActionKind.RESTORE,
        d.ActionKind.RETRY,
    }
)


def _set_status(card: CardRow, status: d.CardStatus) -> None:
    card.state, card.hidden, card.actioned_on = (
        status.state.value,
        status.hidden,
        status.actioned_on,
    )


def _contract_name(command: Payload | None, contract_row: ContractRow | None) -> str:
    # An add may go to another contract of the account than the card's own.
    if isinstance(command, m.ApplyWriteback):
        return command.contract_name
    return contract_row.name if contract_row else ""


async def _writeback_command(
    repo: Repository,
    card: CardRow,
    contract_row: ContractRow | None,
    request: r.ActionQuery,
    action_id: str,
    today: date,
) -> tuple[m.ApplyWriteback, ContractRow]:
    """The writeback command, and the contract it writes to (an add's may be another of
    the account's contracts than the card's)."""
    # Whether the card's kind allows the action is `d.take_action`'s to say.
    if request.action == d.ActionKind.ADD:
        contract_id = request.contract_id or card.contract_id
        contract_row = await repo.get(ContractRow, contract_id) if contract_id else None
        if contract_row is None or contract_row.account_id != card.account_id:
            raise QueryFailedError(
                422, "Invalid contract", "Choose an active contract of this card's account."
            )
    if contract_row is None:
        raise QueryFailedError(409, "Conflict", "The card's contract is no longer in the PSA.")
    contract = st.contract(contract_row)
    default_date = card.planned_effective_date or d.default_effective_date(contract, today)
    changes = requested_changes(request.change, card, default_date)
    for change in changes:
        check_date(contract_row, change.effective_date, today)
    line = await repo.get(ServiceLineRow, card.service_line_id) if card.service_line_id else None
    prorate = request.prorate or (
        contract_row.proration_allowed
        and (len(changes) > 1 or bool(request.change.prorated_changes))
    )
    command = m.ApplyWriteback(
        idempotency_key=f"{repo.tenant_id}:{action_id}",
        card_id=card.card_id,
        action_id=action_id,
        action="add" if request.action == "add" else "approve",
        actor=request.actor,
        connection_id=contract_row.connection_id,
        psa=contract_row.psa or "connectwise",  # type: ignore[arg-type]
        contract_psa_id=contract_row.contract_id,
        line_item_psa_id=card.line_item_id,
        product_id=line.product_id if line else None,
        product_name=line.name if line else card.service_line,
        account_name=card.account_name,
        expected_quantity=card.psa_quantity if request.action == d.ActionKind.APPROVE else None,
        changes=changes,
        unit_price=request.unit_price if request.unit_price is not None else card.unit_price,
        unit_cost=request.unit_cost if request.unit_cost is not None else card.unit_cost,
        prorate=prorate and contract_row.proration_allowed,
        account_id=card.account_id or None,
        contract_name=contract_row.name,
    )
    return command, contract_row


async def bulk(
    session: AsyncSession, tenant_id: str, request: Envelope[r.BulkActionQuery]
) -> r.BulkResult:
    """The same action over a selection or a filter; each card succeeds or fails alone."""
    query = request.payload
    repo = Repository(session, tenant_id)
    await cycles.check_open_cycle(repo, query.cycle, _now().date())
    ids = list(query.card_ids)
    if query.filter is not None:
        rows = await repo.cards(card_conditions(query.filter), [CardRow.card_id])
        ids.extend(row.card_id for row in rows if row.card_id not in ids)
    accepted: list[r.ActionAccepted] = []
    rejected: list[r.BulkRejection] = []
    for card_id in ids:
        try:
            async with session.begin_nested():
                accepted.append(
                    await act(
                        session,
                        tenant_id,
                        r.ActionQuery(
                            card_id=card_id,
                            action=query.action,
                            actor=query.actor,
                            idempotency_key=f"{query.idempotency_key}:{card_id}",
                            change=r.ChangeRequest(effective_date=query.effective_date),
                            reason=query.reason,
                            confirm=query.confirm,
                        ),
                        cause=request,
                    )
                )
        except QueryFailedError as exc:
            rejected.append(r.BulkRejection(card_id=card_id, status=exc.status, detail=exc.detail))
    return r.BulkResult(accepted=accepted, rejected=rejected)


async def apply_writeback_outcomes(
    session: AsyncSession,
    tenant_id: str,
    outcomes: Sequence[
        Envelope[m.WritebackApplied] | Envelope[m.WritebackConflict] | Envelope[m.WritebackFailed]
    ],
) -> None:
    """Several outcomes of one tenant, in their order: the tenant locked once and their
    cards read in one statement."""
    repo = Repository(session, tenant_id)
    await repo.lock_tenant()
    card_ids = {outcome.payload.card_id for outcome in outcomes}
    # Held while the outcomes are applied: the session keeps unchanged rows only weakly.
    held = await repo.all_of(CardRow, CardRow.card_id.in_(card_ids))
    for outcome in outcomes:
        await apply_writeback_outcome(session, outcome)
    del held


async def apply_writeback_outcome(
    session: AsyncSession,
    envelope: Envelope[m.WritebackApplied]
    | Envelope[m.WritebackConflict]
    | Envelope[m.WritebackFailed],
) -> None:
    """Move the card to applied, conflict or failed (the last two stay visible)."""
    outcome = envelope.payload
    repo = Repository(session, envelope.tenant_id)
    await repo.lock_tenant()
    card = await repo.card(outcome.card_id)
    if card is None:
        return
    if isinstance(outcome, m.WritebackApplied):
        _set_status(card, d.apply_outcome(st.card_status(card), d.WritebackOutcome.APPLIED))
        card.error = None
    elif isinstance(outcome, m.WritebackConflict):
        _set_status(card, d.apply_outcome(st.card_status(card), d.WritebackOutcome.CONFLICT))
        card.error = (
            f"The PSA now shows {outcome.found_quantity}, not the {outcome.expected_quantity} "
            "this card showed; nothing was written. Check the PSA, then reconcile again."
        )
    else:
        _set_status(card, d.apply_outcome(st.card_status(card), d.WritebackOutcome.FAILED))
        card.error = outcome.error
        card.last_job_id = outcome.job_id
    card.updated_at = _now()
    card.fingerprint = st.fingerprint(card)
    await _card_state_changed(repo, card)
    await announce(
        session,
        envelope.tenant_id,
        m.CardsChanged(card_ids=[card.card_id], reason=f"writeback.{card.state}"),
        envelope,
    )


async def _card_state_changed(repo: Repository, card: CardRow) -> None:
    """Keep the tenant's index in step with a card's new state (see `index_cache`)."""
    await repo.bump_cards_version()
    settings_row = await repo.locked_settings_row()
    cached = index_cache.INDEXES.check_out(
        repo.tenant_id, settings_row.inputs_token if settings_row else None, _now().date()
    )
    token = new_token()
    await repo.set_inputs_token(token)
    if cached is not None:
        cached.index.set_card_record(card.card_id, st.card_record(card))
        cached.stored_cards.setdefault(card.account_id, {})[card.card_id] = StoredCard(
            card.fingerprint, card.error, card.last_job_id, card.planned_effective_date
        )
        cached.token = token
        index_cache.INDEXES.put(repo.tenant_id, cached)
