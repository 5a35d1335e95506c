"""Builds the vendor_ingestion service: queries, the import consumer, webhooks, connectors."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from trueup.contracts.ingest import IMPORTS_TTL_SECONDS
from trueup.platform.logging import get_logger
from trueup.platform.service import ServiceRuntime
from trueup.vendor_ingestion import files
from trueup.vendor_ingestion.connectors import ConnectorScheduler
from trueup.vendor_ingestion.demo import configure_demo_connectors
from trueup.vendor_ingestion.handlers import commands, queries, tenants
from trueup.vendor_ingestion.imports import ImportContext
from trueup.vendor_ingestion.service import purge_idempotency_keys
from trueup.vendor_ingestion.settings import Settings
from trueup.vendor_ingestion.webhooks import WebhookReceiver

MIGRATIONS = Path(__file__).parent / "migrations"

log = get_logger(__name__)


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    sealer = settings.credential_sealer()
    context = ImportContext(
        database=runtime.database,
        broker=runtime.broker,
        relay=runtime.relay,
        scratch_dir=settings.resolved_scratch_dir(),
        usage_batch_size=settings.usage_batch_size,
    )
    receiver = WebhookReceiver(
        runtime.database,
        runtime.relay,
        sealer=sealer,
        max_body_bytes=settings.webhook_max_body_bytes,
        tolerance=timedelta(seconds=settings.webhook_tolerance_seconds),
        batch_size=settings.usage_batch_size,
    )
    scheduler = ConnectorScheduler(
        runtime.database,
        runtime.relay,
        retry_seconds=settings.connector_retry_seconds,
        sealer=sealer,
        policy=settings.outbound_policy(),
        batch_size=settings.usage_batch_size,
    )
    polls = runtime.every("connectors", settings.connector_tick_seconds, scheduler.run_due)
    queries.register(
        runtime,
        context,
        receiver,
        scheduler,
        test_seconds=settings.connector_test_seconds,
        wake_scheduler=polls.wake,
    )
    commands.register(runtime, context)
    tenants.register(runtime, receiver)

    async def purge() -> None:
        try:
            await purge_idempotency_keys(
                runtime.database, retention_days=settings.idempotency_retention_days
            )
        finally:
            # The object store's TTL drops uploads nobody committed; drop their copies too.
            await asyncio.to_thread(
                files.sweep_scratch, settings.resolved_scratch_dir(), IMPORTS_TTL_SECONDS
            )

    runtime.every("purge", settings.purge_interval_seconds, purge)

    async def start() -> None:
        demo_tenant = settings.demo_tenant_id
        if demo_tenant:
            await configure_demo_connectors(scheduler, settings, demo_tenant)
        receiver.start()

    runtime.on_start(start)
    runtime.on_stop(receiver.stop)
    app = runtime.http_app(receiver.router(), title="TrueUp vendor ingestion")
    app.state.runtime = runtime
    app.state.scheduler = scheduler
    app.state.receiver = receiver
    return runtime, app
