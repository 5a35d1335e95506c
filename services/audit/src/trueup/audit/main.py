"""Builds the audit service: one consumer per recorded event, queries, the purge job."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from trueup.audit.handlers import events, queries, tenants
from trueup.audit.retention import purge_expired
from trueup.audit.settings import Settings
from trueup.contracts.envelope import utcnow
from trueup.platform.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    events.register(runtime)
    queries.register(runtime, settings)
    tenants.register(runtime)

    async def purge() -> None:
        await purge_expired(
            runtime.database,
            now=utcnow(),
            default_days=settings.activity_retention_days,
            batch_size=settings.purge_batch_size,
        )

    runtime.every("retention-purge", settings.purge_interval_seconds, purge)
    return runtime, runtime.http_app()
