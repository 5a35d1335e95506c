"""Builds the audit service: one consumer per recorded event, queries, the purge job."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from trueup.audit.handlers import events, queries
from trueup.audit.retention import RetentionPurger
from trueup.audit.settings import Settings
from trueup.platform.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


class AuditRuntime(ServiceRuntime):
    """The runtime plus the retention purge, which must stop before the database closes."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, MIGRATIONS)
        self.purger = RetentionPurger(
            self.database,
            default_days=settings.activity_retention_days,
            batch_size=settings.purge_batch_size,
            interval_seconds=settings.purge_interval_seconds,
        )
        self.on_start(self.purger.start)

    async def stop(self) -> None:
        await self.purger.stop()
        await super().stop()


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = AuditRuntime(settings)
    events.register(runtime)
    queries.register(runtime, settings)
    return runtime, runtime.http_app()
