"""Billing cycles: closing the open cycle (its cards kept as they stood, with the action
taken on each), and reading the open and closed cycles back.

A card actioned in a cycle is hidden until the next one starts, when the next recompute
brings it back as pending (`d.card_status`): that would lose what was decided. So before
any recompute on a day of a later cycle, the open cycle is closed first — its cards copied
to `cycle_cards` — and the schedule moves on; all in the transaction that holds the
tenant's settings row, so two replicas close a cycle once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trueup import domain as d
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.platform.database import upsert_insert
from trueup.platform.paging import within_page_bytes
from trueup.reconciliation import state as st
from trueup.reconciliation.cards import names_contain
from trueup.reconciliation.models import (
    ActionRow,
    CardRow,
    ClosedCycleRow,
    CycleCardRow,
    CycleScheduleRow,
)
from trueup.reconciliation.repository import Repository

# States of a card someone approved or added (it may since have been written, or failed).
_APPROVED = ("approved", "applied", "conflict", "failed")
_DECIDING_ACTIONS = ("approve", "add", "dismiss")


def _now() -> datetime:
    return datetime.now(UTC)


def _kept() -> Any:
    """Cards a cycle keeps: those that showed a difference or were actioned. Agreeing
    pending cards say nothing about the cycle and would only multiply its size."""
    return sa.or_(
        CardRow.kind != d.CardKind.NO_CHANGE.value, CardRow.state != d.CardState.PENDING.value
    )


def _decided_since(start: date, states: Sequence[str]) -> list[Any]:
    """Cards in one of `states` by an action since `start`: what was decided while the
    cycle starting then was open. No upper bound: a cycle closes before any action of a
    later day, and when the tenant moves its start day to today, what was decided today
    was decided in the cycle that closes (the card stays hidden in the new one too)."""
    return [CardRow.state.in_(states), CardRow.actioned_on >= start]


async def _cycle_view(repo: Repository, period: d.Period, policy: d.RoundingPolicy) -> r.CycleView:
    """The figures of a cycle from the live cards: what the open cycle shows, and what a
    closing cycle keeps."""
    count = sa.select(sa.func.count()).select_from(CardRow)
    tenant = CardRow.tenant_id == repo.tenant_id
    cards = await repo.session.scalar(count.where(tenant, _kept()))
    approved_where = _decided_since(period.start, _APPROVED)
    dismissed = await repo.session.scalar(
        count.where(tenant, *_decided_since(period.start, ["dismissed"]))
    )
    rows = await repo.card_prices(approved_where)
    return r.CycleView(
        start=period.start,
        last_day=period.last_day,
        closed=False,
        cards=cards or 0,
        approved=len(rows),
        dismissed=dismissed or 0,
        approved_by_currency=st.currency_totals(rows, policy),
    )


async def cycle_schedule(repo: Repository) -> CycleScheduleRow | None:
    return await repo.session.get(CycleScheduleRow, repo.tenant_id)


async def turn(repo: Repository, start_day: int, today: date) -> d.CycleTurn:
    """The tenant's open cycle as of `today` (and the cycle that closes, if one does)."""
    schedule = await cycle_schedule(repo)
    return d.turn_cycle(schedule.open_start if schedule else None, today, start_day)


async def close_due_cycle(
    repo: Repository, settings: r.BillingSettings, today: date
) -> d.Period | None:
    """Close the open cycle when `today` is in a later one; return the cycle closed.

    Runs before a recompute, with the tenant's settings row locked: the cards are still
    those of the cycle that closes. Closing twice closes nothing the second time.
    """
    schedule = await cycle_schedule(repo)
    cycle_turn = d.turn_cycle(
        schedule.open_start if schedule else None, today, settings.cycle_start_day
    )
    if cycle_turn.closed is not None:
        await _keep_cards(repo, cycle_turn.closed, settings)
    if schedule is None:
        # An upsert, not an insert: a writer that did not take the settings row's lock
        # first (as `recompute` does) may find no schedule at the same time as another,
        # and one insert would then fail on the primary key.
        insert = upsert_insert(repo.session.get_bind().dialect.name)(CycleScheduleRow)
        await repo.session.execute(
            insert.values(
                tenant_id=repo.tenant_id,
                open_start=cycle_turn.open_start,
                closes_on=cycle_turn.closes_on,
            ).on_conflict_do_update(
                index_elements=["tenant_id"],
                set_={name: insert.excluded[name] for name in ("open_start", "closes_on")},
            )
        )
    else:
        schedule.open_start = cycle_turn.open_start
        schedule.closes_on = cycle_turn.closes_on
    return cycle_turn.closed


async def _keep_cards(repo: Repository, period: d.Period, settings: r.BillingSettings) -> None:
    if await _closed_cycle(repo, period.start) is not None:
        return
    policy = st.domain_settings(settings).rounding
    view = await _cycle_view(repo, period, policy)
    units = await repo.sales_units()
    rows = await repo.cards([_kept()], [CardRow.card_id])
    acted = [row.card_id for row in rows if row.actioned_on and row.actioned_on >= period.start]
    actions = await _latest_actions(repo, acted, since=period.start)
    repo.add(
        ClosedCycleRow(
            tenant_id=repo.tenant_id,
            cycle_start=period.start,
            cycle_end=period.end,
            closed_at=_now(),
            summary=view.model_dump(mode="json", exclude={"start", "last_day", "closed"}),
        )
    )
    values = []
    for row in rows:
        item = st.card_item(
            row, policy=policy, sales_unit=units.get(row.service_line_id or ""), open_cycle=False
        )
        action = actions.get(row.card_id)
        values.append(
            {
                "tenant_id": repo.tenant_id,
                "cycle_start": period.start,
                "card_id": row.card_id,
                "kind": row.kind,
                "state": row.state,
                "account_name": row.account_name,
                "service_line": row.service_line,
                "contract_name": row.contract_name,
                "card": item.model_dump(mode="json"),
                "action": action.model_dump(mode="json") if action else None,
            }
        )
    # One statement per thousand cards: a large tenant keeps tens of thousands.
    for start in range(0, len(values), 1000):
        await repo.session.execute(sa.insert(CycleCardRow), values[start : start + 1000])


async def _latest_actions(
    repo: Repository, card_ids: Sequence[str], *, since: date
) -> dict[str, r.CycleAction]:
    """The last approve, add or dismiss of each card since `since`."""
    # A day early: `actioned_on` is the action's date in UTC, as `created_at` is.
    after = datetime.combine(since - timedelta(days=1), time(), tzinfo=UTC)
    found: dict[str, r.CycleAction] = {}
    for start in range(0, len(card_ids), 500):
        rows = await repo.all_of(
            ActionRow,
            ActionRow.card_id.in_(card_ids[start : start + 500]),
            ActionRow.kind.in_(_DECIDING_ACTIONS),
            ActionRow.created_at >= after,
        )
        for row in sorted(rows, key=lambda a: a.created_at):
            found[row.card_id] = _cycle_action(row)
    return found


def _cycle_action(row: ActionRow) -> r.CycleAction:
    detail = row.detail or {}
    return r.CycleAction(
        action_id=row.action_id,
        action=row.kind,  # type: ignore[arg-type]
        actor=m.Actor.model_validate(row.actor, strict=False),
        at=row.created_at,
        reason=detail.get("reason"),
        changes=[
            m.ProratedChange.model_validate(c, strict=False) for c in detail.get("changes") or []
        ],
        large_change=detail.get("large_change"),
    )


# --- queries ----------------------------------------------------------------------------


def _closed_view(row: ClosedCycleRow) -> r.CycleView:
    return r.CycleView.model_validate(
        {
            **row.summary,
            "start": row.cycle_start,
            "last_day": row.cycle_end - timedelta(days=1),
            "closed": True,
            "closed_at": row.closed_at,
        },
        strict=False,
    )


async def list_cycles(
    session: AsyncSession, tenant_id: str, *, today: date | None = None
) -> r.CycleList:
    """The open cycle with its figures so far, and the closed cycles, newest first."""
    repo = Repository(session, tenant_id)
    settings = await repo.billing_settings()
    cycle_turn = await turn(repo, settings.cycle_start_day, today or _now().date())
    # Until the open cycle is closed (at the next recompute) it is still the one shown.
    start = cycle_turn.closed.start if cycle_turn.closed else cycle_turn.open_start
    end = cycle_turn.closed.end if cycle_turn.closed else cycle_turn.closes_on
    policy = st.domain_settings(settings).rounding
    current = await _cycle_view(repo, d.Period(start, end), policy)
    closed = await repo.all_of(ClosedCycleRow)
    return r.CycleList(
        current=current,
        closed=[_closed_view(row) for row in sorted(closed, key=lambda c: c.cycle_start)][::-1],
    )


async def _closed_cycle(repo: Repository, start: date) -> ClosedCycleRow | None:
    return await repo.session.get(ClosedCycleRow, (repo.tenant_id, start))


async def closed_cycle_or_raise(repo: Repository, start: date) -> ClosedCycleRow:
    row = await _closed_cycle(repo, start)
    if row is None:
        raise QueryFailedError(404, "Not Found", f"No closed cycle starting {start.isoformat()}.")
    return row


async def cycle_cards(
    session: AsyncSession, tenant_id: str, query: r.CycleCardsQuery
) -> r.CycleCardList:
    """A page of a closed cycle's cards as they stood, with the action taken on each."""
    repo = Repository(session, tenant_id)
    cycle = await closed_cycle_or_raise(repo, query.start)
    where: list[Any] = [
        CycleCardRow.tenant_id == tenant_id,
        CycleCardRow.cycle_start == query.start,
    ]
    if query.state:
        where.append(CycleCardRow.state == query.state)
    if query.kind:
        where.append(CycleCardRow.kind == query.kind)
    if query.q:
        where.append(names_contain(CycleCardRow, query.q))
    offset = int(query.cursor) if query.cursor and query.cursor.isdigit() else 0
    statement = (
        sa.select(CycleCardRow)
        .where(*where)
        .order_by(CycleCardRow.service_line, CycleCardRow.account_name, CycleCardRow.card_id)
        .offset(offset)
        .limit(query.limit + 1)
    )
    page = list((await session.scalars(statement)).all())
    items = within_page_bytes(
        [
            r.CycleCard.model_validate({**row.card, "action": row.action}, strict=False)
            for row in page[: query.limit]
        ]
    )
    return r.CycleCardList(
        cycle=_closed_view(cycle),
        items=items,
        # `page` holds one row past the limit when more follow; a cut page leaves more too.
        next_cursor=str(offset + len(items)) if len(page) > len(items) else None,
    )


async def check_open_cycle(repo: Repository, cycle: date | None, today: date) -> None:
    """Refuse an action taken from a closed cycle's view (409), or an unknown cycle (404)."""
    if cycle is None:
        return
    settings = await repo.billing_settings()
    cycle_turn = await turn(repo, settings.cycle_start_day, today)
    if cycle_turn.closed is None and cycle == cycle_turn.open_start:
        return
    # A cycle due to close at this moment has ended too, even before it is kept.
    if cycle_turn.closed is None or cycle != cycle_turn.closed.start:
        await closed_cycle_or_raise(repo, cycle)
    raise QueryFailedError(
        409,
        "Cycle closed",
        f"The cycle starting {cycle.isoformat()} is closed and read-only; act on the "
        "current cycle's cards.",
    )
