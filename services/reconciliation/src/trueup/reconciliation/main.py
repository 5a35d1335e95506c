"""Builds the reconciliation service: consumers, query responders, probes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts.envelope import Envelope
from trueup.contracts.messages import TenantDeleted
from trueup.platform.service import ServiceRuntime
from trueup.platform.tenants import consume_tenant_deletions
from trueup.reconciliation import index_cache
from trueup.reconciliation.handlers import events, queries, schedule
from trueup.reconciliation.models import metadata
from trueup.reconciliation.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    index_cache.INDEXES.budget = settings.index_budget_rows
    events.register(runtime, settings.usage_lanes)
    queries.register(runtime)

    async def forget_index(_session: AsyncSession, envelope: Envelope[TenantDeleted]) -> None:
        # Its token is gone with its settings row, so the index would never be used again;
        # dropping it frees the memory now rather than when it ages out.
        index_cache.INDEXES.forget(envelope.tenant_id)

    consume_tenant_deletions(runtime, metadata, after=forget_index)
    schedule.register(runtime, settings.cycle_tick_seconds)
    return runtime, runtime.http_app()
