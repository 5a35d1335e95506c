from __future__ import annotations

from trueup.contracts import Envelope
from trueup.contracts.messages import CardPage, ListCards, spec_for
from trueup.platform.broker import query_responder
from trueup.platform.service import ServiceRuntime
from trueup.reconciliation import service


def register(runtime: ServiceRuntime) -> None:
    async def on_list_cards(query: Envelope[ListCards]) -> CardPage:
        async with runtime.database.transaction(query.tenant_id) as session:
            return await service.list_cards(session, query)

    query_responder(
        runtime.broker,
        service=runtime.name,
        subject=spec_for(ListCards).subject,
        model=ListCards,
        handler=on_list_cards,
    )
