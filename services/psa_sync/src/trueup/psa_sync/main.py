"""Builds the psa_sync service: sync scheduler, command consumers, queries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from trueup.platform.service import ServiceRuntime
from trueup.platform.tenants import consume_tenant_deletions, consume_tenant_status
from trueup.psa_sync.connections import Connections
from trueup.psa_sync.demo import connect_demo_tenant
from trueup.psa_sync.handlers import commands, queries
from trueup.psa_sync.models import metadata
from trueup.psa_sync.scheduler import SyncScheduler
from trueup.psa_sync.service import Syncer
from trueup.psa_sync.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    sealer = settings.credential_sealer()
    policy = settings.outbound_policy()
    syncer = Syncer(
        runtime.database,
        sealer,
        policy=policy,
        batch_size=settings.snapshot_batch_size,
        full_sync_after=settings.full_sync_after(),
        timeout=settings.psa_timeout_seconds,
        retry_seconds=settings.psa_retry_seconds,
    )
    scheduler = SyncScheduler(
        runtime.database,
        syncer,
        interval=timedelta(seconds=settings.sync_interval_seconds),
    )
    syncs = runtime.every("sync-scheduler", settings.scheduler_tick_seconds, scheduler.run_due)
    commands.register(
        runtime, syncs.wake, refresh_delay=timedelta(seconds=settings.refresh_delay_seconds)
    )
    consume_tenant_status(runtime)
    consume_tenant_deletions(runtime, metadata)
    queries.register(
        runtime,
        Connections(
            runtime.database,
            sealer,
            policy,
            wake_scheduler=syncs.wake,
            test_seconds=settings.psa_test_seconds,
        ),
    )

    async def start() -> None:
        if settings.demo_tenant_id:
            await connect_demo_tenant(
                runtime.database, sealer, settings.demo_tenant_id, settings.demo_connectwise_url
            )

    runtime.on_start(start)
    return runtime, runtime.http_app()
