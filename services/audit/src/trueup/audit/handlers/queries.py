"""Request-reply queries: the activity log and its retention."""

from __future__ import annotations

from trueup.audit import service
from trueup.audit.settings import Settings
from trueup.contracts import Envelope
from trueup.contracts.envelope import utcnow
from trueup.contracts.messages import (
    ActivityPage,
    ActivityRetention,
    ListActivity,
    SetActivityRetention,
)
from trueup.platform.broker import query_responder
from trueup.platform.service import ServiceRuntime


def register(runtime: ServiceRuntime, settings: Settings) -> None:
    default_days = settings.activity_retention_days

    async def on_list_activity(query: Envelope[ListActivity]) -> ActivityPage:
        async with runtime.database.transaction(query.tenant_id) as session:
            return await service.list_activity(
                session, query, now=utcnow(), default_days=default_days
            )

    async def on_set_retention(command: Envelope[SetActivityRetention]) -> ActivityRetention:
        async with runtime.database.transaction(command.tenant_id) as session:
            return await service.set_retention(
                session, command, now=utcnow(), default_days=default_days
            )

    query_responder(
        runtime.broker,
        service=runtime.name,
        model=ListActivity,
        handler=on_list_activity,
    )
    query_responder(
        runtime.broker,
        service=runtime.name,
        model=SetActivityRetention,
        handler=on_set_retention,
    )
