"""Request-reply: every query and action the gateway sends to reconciliation.

Actions on single cards of one tenant that arrive while others of the tenant are being
taken wait and are taken together, in one transaction (`GroupCommit`): every writer of
a tenant holds its lock, and an integration approving cards one by one otherwise got as
many a second as lock-holding transactions fit in one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, Payload
from trueup.contracts import recon as r
from trueup.platform.broker import query_responder
from trueup.platform.database import Database, database_unreachable, transaction_conflict
from trueup.platform.group_commit import GroupCommit
from trueup.platform.logging import get_logger
from trueup.platform.messaging import staged_together
from trueup.platform.service import ServiceRuntime
from trueup.reconciliation import (
    actions,
    cards,
    cycles,
    mapping,
    metrics,
    removals,
    tenant_settings,
)
from trueup.reconciliation.recompute import start_due_cycle
from trueup.reconciliation.repository import READ_AHEAD_ROWS, Repository

log = get_logger(__name__)

ACTIONS_TOGETHER = 50
"""The most single-card actions of one tenant taken in one transaction."""

Answer = Callable[[AsyncSession, Envelope[Any]], Awaitable[Payload]]


def in_current_cycle(answer: Answer) -> Answer:
    """Start a due cycle before acting: an action belongs to the cycle of its day, and the
    cards of the cycle that ended must be kept as they stood."""

    async def answer_in_cycle(session: AsyncSession, query: Envelope[Any]) -> Payload:
        await start_due_cycle(session, query.tenant_id)
        return await answer(session, query)

    return answer_in_cycle


ANSWERS: dict[type[Payload], Answer] = {
    r.ListCardsQuery: lambda s, q: cards.list_cards(s, q.tenant_id, q.payload),
    r.GetCardQuery: lambda s, q: cards.card_details(s, q.tenant_id, q.payload.card_id),
    r.PreviewQuery: lambda s, q: cards.preview(s, q.tenant_id, q.payload),
    r.BulkActionQuery: in_current_cycle(lambda s, q: actions.bulk(s, q.tenant_id, q)),
    r.ListAccountMappings: lambda s, q: mapping.list_account_mappings(s, q.tenant_id, q.payload),
    r.ChangeAccountMappings: lambda s, q: mapping.change_account_mappings(s, q.tenant_id, q),
    r.ListServiceMappings: lambda s, q: mapping.list_service_mappings(s, q.tenant_id),
    r.SaveServiceMapping: lambda s, q: mapping.save_service_mapping(s, q.tenant_id, q),
    r.ListServiceLines: lambda s, q: mapping.list_service_lines(s, q.tenant_id),
    r.UpdateServiceLine: lambda s, q: mapping.update_service_line(s, q.tenant_id, q),
    r.ListUnmapped: lambda s, q: mapping.unmapped_queue(s, q.tenant_id),
    r.UpdateAccount: lambda s, q: mapping.update_account(s, q.tenant_id, q),
    r.ListAccountContracts: lambda s, q: mapping.account_contracts(
        s, q.tenant_id, q.payload.account_id
    ),
    r.GetSettings: lambda s, q: Repository(s, q.tenant_id).billing_settings(),
    r.SaveSettings: lambda s, q: tenant_settings.save_settings(s, q.tenant_id, q),
    r.GetMetrics: metrics.tenant_metrics,
    r.RemoveUsage: lambda s, q: removals.remove_usage(s, q.tenant_id, q),
    r.ListCyclesQuery: lambda s, q: cycles.list_cycles(s, q.tenant_id),
    r.CycleCardsQuery: lambda s, q: cycles.cycle_cards(s, q.tenant_id, q.payload),
}

# Queries that change state: the outbox relay is woken after their commit.
_WRITES = {
    r.BulkActionQuery,
    r.ChangeAccountMappings,
    r.SaveServiceMapping,
    r.UpdateServiceLine,
    r.UpdateAccount,
    r.SaveSettings,
    r.RemoveUsage,
}


async def answer_query(database: Database, query: Envelope[Any]) -> tuple[Payload, bool]:
    """Answer one query in one transaction; True with the answer when it wrote (the
    caller wakes the outbox relay after the commit).

    A write locks the tenant first and stages what it announces for one statement at the
    end: every other writer of the tenant waits while it holds the lock.
    """
    model = type(query.payload)
    if model is r.ActionQuery:
        (answer,) = await answer_actions(database, query.tenant_id, [query])
        if isinstance(answer, Exception):
            raise answer
        return answer, True
    writes = model in _WRITES
    async with database.transaction(query.tenant_id, readonly=not writes) as session:
        if not writes:
            return await ANSWERS[model](session, query), False
        async with staged_together(session):
            await Repository(session, query.tenant_id).lock_tenant()
            result = await ANSWERS[model](session, query)
    return result, True


async def answer_actions(
    database: Database, tenant_id: str, queries: Sequence[Envelope[r.ActionQuery]]
) -> list[r.ActionAccepted | Exception]:
    """Actions on single cards of one tenant, in one transaction (`actions.act_together`):
    each one's answer, or the refusal (`QueryFailedError`) or error that is its alone.

    Their cards, contracts and service lines are read before the tenant is locked (see
    `actions.read_ahead`). A transaction that fails for another reason than a refusal, a
    database outage or a conflict (both are every action's, and asked again) is not
    every action's fault: each action is then taken again alone, for its own answer.
    """
    try:
        async with database.transaction(tenant_id) as session:
            repo = Repository(session, tenant_id)
            read = await actions.read_ahead(session, tenant_id, [q.payload for q in queries])
            session.info[READ_AHEAD_ROWS] = read
            async with staged_together(session):
                await repo.lock_tenant()
                # Held, so that each action's look at the cycle finds it without a query.
                schedule = await cycles.cycle_schedule(repo)
                await start_due_cycle(session, tenant_id)
                answers: list[r.ActionAccepted | Exception] = [
                    *await actions.act_together(session, tenant_id, queries)
                ]
                del schedule
        return answers
    except Exception as exc:
        if len(queries) == 1 or database_unreachable(exc) or transaction_conflict(exc):
            raise
        log.exception("actions taken together failed; taking each alone", actions=len(queries))
    return [await _alone(database, tenant_id, query) for query in queries]


async def _alone(
    database: Database, tenant_id: str, query: Envelope[r.ActionQuery]
) -> r.ActionAccepted | Exception:
    try:
        (answer,) = await answer_actions(database, tenant_id, [query])
    except Exception as exc:
        return exc
    return answer


def register(runtime: ServiceRuntime) -> None:
    async def take_actions(
        tenant_id: str, queries: list[Envelope[r.ActionQuery]]
    ) -> list[r.ActionAccepted | Exception]:
        answers = await answer_actions(runtime.database, tenant_id, queries)
        runtime.relay.notify()
        return answers

    actions_of_tenants: GroupCommit[Envelope[r.ActionQuery], r.ActionAccepted] = GroupCommit(
        take_actions, most=ACTIONS_TOGETHER
    )

    async def act(query: Envelope[r.ActionQuery]) -> Payload:
        return await actions_of_tenants.submit(query.tenant_id, query)

    async def handle(query: Envelope[Any]) -> Payload:
        result, wrote = await answer_query(runtime.database, query)
        if wrote:
            runtime.relay.notify()
        return result

    query_responder(runtime.broker, service=runtime.name, model=r.ActionQuery, handler=act)
    for model in ANSWERS:
        query_responder(runtime.broker, service=runtime.name, model=model, handler=handle)
