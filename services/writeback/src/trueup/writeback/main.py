"""Builds the writeback service: command consumers, the job worker, probes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from trueup.platform.service import ServiceRuntime
from trueup.platform.tenants import consume_tenant_deletions
from trueup.psa import RetryPolicy
from trueup.writeback.connections import PsaClients
from trueup.writeback.handlers import commands
from trueup.writeback.models import metadata
from trueup.writeback.service import JobDriver
from trueup.writeback.settings import Settings
from trueup.writeback.worker import JobWorker

MIGRATIONS = Path(__file__).parent / "migrations"


class WritebackRuntime(ServiceRuntime):
    """The service runtime plus the job worker and the PSA clients it uses."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, MIGRATIONS)
        self.clients = PsaClients(
            self.broker,
            settings.credential_sealer(),
            retry=RetryPolicy(
                max_attempts=settings.psa_max_attempts,
                max_elapsed=max(settings.psa_timeout_seconds * 2, 60.0),
                initial_backoff=settings.psa_initial_backoff_seconds,
                max_backoff=settings.psa_max_backoff_seconds,
                jitter=settings.psa_initial_backoff_seconds,
                max_retry_after=settings.psa_max_backoff_seconds * 6,
            ),
            timeout=settings.psa_timeout_seconds,
            ask_timeout=settings.request_timeout_seconds,
            ttl_seconds=settings.psa_client_ttl_seconds,
            policy=settings.outbound_policy(),
        )
        self.driver = JobDriver(
            self.database, self.relay, self.clients, settings, JobWorker.new_owner()
        )
        self.worker = JobWorker(
            self.database,
            self.driver,
            concurrency=settings.writeback_concurrency,
            lease_seconds=settings.writeback_lease_seconds,
            poll_seconds=settings.writeback_poll_seconds,
        )

        # Started once the broker is up: a job's first step asks psa_sync for credentials.
        self.on_start(self._start_worker)
        # Stopped before the broker drains and the database closes.
        self.on_stop(self._stop_worker)

    async def _start_worker(self) -> None:
        self.worker.start()

    async def _stop_worker(self) -> None:
        await self.worker.stop()
        await self.clients.aclose()


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = WritebackRuntime(settings)
    commands.register(runtime, runtime.worker.wake)
    consume_tenant_deletions(runtime, metadata)
    return runtime, runtime.http_app()
