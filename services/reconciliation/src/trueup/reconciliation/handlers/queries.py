"""Request-reply: every query and action the gateway sends to reconciliation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, Payload
from trueup.contracts import recon as r
from trueup.platform.broker import query_responder
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
from trueup.reconciliation.repository import Repository

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
    r.ActionQuery: in_current_cycle(lambda s, q: actions.act(s, q.tenant_id, q.payload, cause=q)),
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
    r.ActionQuery,
    r.BulkActionQuery,
    r.ChangeAccountMappings,
    r.SaveServiceMapping,
    r.UpdateServiceLine,
    r.UpdateAccount,
    r.SaveSettings,
    r.RemoveUsage,
}


def register(runtime: ServiceRuntime) -> None:
    for model, answer in ANSWERS.items():

        def handler(answer: Answer = answer, writes: bool = model in _WRITES) -> Any:
            async def handle(query: Envelope[Any]) -> Payload:
                async with runtime.database.transaction(
                    query.tenant_id, readonly=not writes
                ) as session:
                    if writes:
                        await Repository(session, query.tenant_id).lock_tenant()
                    result = await answer(session, query)
                if writes:
                    runtime.relay.notify()
                return result

            return handle

        query_responder(
            runtime.broker,
            service=runtime.name,
            model=model,
            handler=handler(),
        )
