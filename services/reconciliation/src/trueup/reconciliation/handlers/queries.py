"""Request-reply: every query and action the gateway sends to reconciliation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, Payload
from trueup.contracts import recon as r
from trueup.platform.broker import query_responder
from trueup.platform.service import ServiceRuntime
from trueup.reconciliation import mapping, service
from trueup.reconciliation.repository import Repository

Answer = Callable[[AsyncSession, Envelope[Any]], Awaitable[Payload]]


async def _metrics(session: AsyncSession, query: Envelope[r.GetMetrics]) -> r.TenantMetrics:
    repo = Repository(session, query.tenant_id)
    row = await repo.settings_row()
    active = row.active_accounts if row else 0
    totals = await service.pending_totals(session, query.tenant_id)
    unmapped = await mapping.unmapped_queue(session, query.tenant_id)
    return r.TenantMetrics(
        active_accounts=active,
        billing_tier=_tier(active),
        cards_pending=totals.cards,
        unmapped=unmapped.count,
        by_currency=totals.by_currency,
    )


def _tier(active_accounts: int) -> str:
    """The billing tier the active-accounts figure puts the tenant in."""
    for limit, name in (
        (25, "Starter (up to 25)"),
        (100, "Growth (up to 100)"),
        (500, "Scale (up to 500)"),
    ):
        if active_accounts <= limit:
            return name
    return "Enterprise (500+)"


ANSWERS: dict[type[Payload], Answer] = {
    r.ListCardsQuery: lambda s, q: service.list_cards(s, q.tenant_id, q.payload),
    r.GetCardQuery: lambda s, q: service.card_details(s, q.tenant_id, q.payload.card_id),
    r.PreviewQuery: lambda s, q: service.preview(s, q.tenant_id, q.payload),
    r.ActionQuery: lambda s, q: service.act(s, q.tenant_id, q.payload, cause=q),
    r.BulkActionQuery: lambda s, q: service.bulk(s, q.tenant_id, q),
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
    r.GetSettings: lambda s, q: service.billing_settings(Repository(s, q.tenant_id)),
    r.SaveSettings: lambda s, q: service.save_settings(s, q.tenant_id, q),
    r.GetMetrics: _metrics,
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
}


def register(runtime: ServiceRuntime) -> None:
    for model, answer in ANSWERS.items():

        def handler(answer: Answer = answer, writes: bool = model in _WRITES) -> Any:
            async def handle(query: Envelope[Any]) -> Payload:
                async with runtime.database.transaction(
                    query.tenant_id, readonly=not writes
                ) as session:
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
