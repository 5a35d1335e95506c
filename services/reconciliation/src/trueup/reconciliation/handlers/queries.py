"""Request-reply: every query and action the gateway sends to reconciliation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, Payload
from trueup.contracts import recon as r
from trueup.platform.broker import query_responder
from trueup.platform.database import Database
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
    r.ActionQuery: in_current_cycle(
        lambda s, q: actions.act(s, q.tenant_id, q.payload, cause=q, card_read_ahead=True)
    ),
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

ReadAhead = Callable[[AsyncSession, Envelope[Any]], Awaitable[list[Any]]]

# Reads done before the tenant is locked (see `actions.read_ahead`).
_READ_AHEAD: dict[type[Payload], ReadAhead] = {
    r.ActionQuery: lambda s, q: actions.read_ahead(s, q.tenant_id, q.payload),
}

# Queries that change state: the outbox relay is woken after their commit.
_WRITES = {
    r.ActionQuery,
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

    A write locks the tenant first, after the reads it may do without the lock (see
    `actions.read_ahead`), and stages what it announces for one statement at the end:
    every other writer of the tenant waits while it holds the lock.
    """
    model = type(query.payload)
    answer = ANSWERS[model]
    writes = model in _WRITES
    async with database.transaction(query.tenant_id, readonly=not writes) as session:
        if not writes:
            return await answer(session, query), False
        read_ahead = _READ_AHEAD.get(model)
        if read_ahead:
            session.info[READ_AHEAD_ROWS] = await read_ahead(session, query)
        async with staged_together(session):
            await Repository(session, query.tenant_id).lock_tenant()
            result = await answer(session, query)
    return result, True


def register(runtime: ServiceRuntime) -> None:
    async def handle(query: Envelope[Any]) -> Payload:
        result, wrote = await answer_query(runtime.database, query)
        if wrote:
            runtime.relay.notify()
        return result

    for model in ANSWERS:
        query_responder(runtime.broker, service=runtime.name, model=model, handler=handle)
