"""What every service process is made of: database, broker, outbox relay, HTTP probes.

A service's `main.py` builds a `ServiceRuntime`, registers its consumers and query
responders on `runtime.broker`, and exposes `runtime.http_app(...)`. `run_service` is
the `python -m trueup.<service>` entry point: `serve` (default) or `migrate`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import tenacity
import uvicorn
from fastapi import APIRouter, FastAPI, Response, params
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, Payload
from trueup.contracts.messages import spec_for
from trueup.platform.broker import (
    BatchedConsumer,
    create_broker,
    ordered_consumer,
    provision_streams,
)
from trueup.platform.database import Database, database_unreachable
from trueup.platform.logging import configure_logging, get_logger
from trueup.platform.messaging import OutboxRelay, first_delivery
from trueup.platform.metrics import CONSUMER_LAG
from trueup.platform.migrations import upgrade
from trueup.platform.periodic import PeriodicTask
from trueup.platform.settings import ServiceSettings

log = get_logger(__name__)
# What a step of stopping gets beyond the graceful timeout before it is left behind.
STOP_STEP_MARGIN_SECONDS = 5.0
OUTBOX_PRUNE_SECONDS = 600.0
"""How often a service deletes the outbox rows past their retention."""

S = TypeVar("S", bound=ServiceSettings)

ApplyOnce = Callable[[AsyncSession, Envelope[Any]], Awaitable[Any]]
"""Applies one event inside the transaction that records it in the inbox."""


def freeze_long_lived() -> None:
    """Collect, then move every object alive now out of the cyclic collector's sight.

    For large structures kept for a long time (a big tenant's index in memory): otherwise
    each full collection walks all of their objects, and a request that triggers one pays
    for the whole heap. Frozen objects are still freed by reference counting when dropped;
    only reference cycles among them would outlive their use.
    """
    gc.collect()
    gc.freeze()


class ServiceRuntime:
    """The long-lived parts of one service process."""

    def __init__(self, settings: ServiceSettings, migrations: Path | None = None) -> None:
        self.settings = settings
        self.name = settings.service_name
        self.migrations = migrations
        self.database = Database(
            settings.resolved_database_url(),
            settings.resolved_schema(),
            pool_size=settings.database_pool_size,
            pool_overflow=settings.database_pool_overflow,
        )
        self.broker = create_broker(
            settings.nats_url, self.name, graceful_timeout=settings.graceful_timeout_seconds
        )
        self.relay = OutboxRelay(
            self.database, self.broker, self.name, poll_seconds=settings.outbox_poll_seconds
        )
        self._periodic: list[PeriodicTask] = [
            PeriodicTask(f"{self.name}-lag", self._report_lag, 15.0, first_delay_seconds=15.0),
            PeriodicTask(
                f"{self.name}-outbox-prune",
                self._prune_outbox,
                OUTBOX_PRUNE_SECONDS,
                first_delay_seconds=60.0,
            ),
        ]
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._batched: list[BatchedConsumer] = []
        self.started = False

    def every(
        self,
        name: str,
        interval_seconds: float,
        tick: Callable[[], Awaitable[object]],
        *,
        first_delay_seconds: float = 0.0,
    ) -> PeriodicTask:
        """Run `tick` every `interval_seconds` while the service runs (see `PeriodicTask`):
        started once the service has started, stopped first when it stops."""
        task = PeriodicTask(
            f"{self.name}-{name}", tick, interval_seconds, first_delay_seconds=first_delay_seconds
        )
        self._periodic.append(task)
        return task

    def consume_once(
        self,
        name: str,
        handlers: Mapping[type[Payload], ApplyOnce],
        *,
        subject: str | None = None,
        scope: str | None = None,
        after: Callable[[Any], object] | None = None,
        batch_size: int = 1,
    ) -> None:
        """Consume events exactly once in effect: the durable consumer `<service>-<name>`
        applies each event in one transaction with its inbox entry (under the same name),
        so a redelivery changes nothing; then the outbox relay is woken for what the
        event announced.

        `handlers` maps each message type to its effect; several types on one consumer
        are applied in stream order (`subject` defaults to the one type's subject).
        The transaction is the event's tenant's unless `scope` names another (records
        about tenants rather than of one). `after` gets the effect's result once it has
        committed (wake a scheduler); it is not called for a redelivery.
        """
        inbox = f"{self.name}-{name}"

        async def handle(envelope: Envelope[Any]) -> None:
            apply = handlers[type(envelope.payload)]
            async with self.database.transaction(scope or envelope.tenant_id) as session:
                if not await first_delivery(session, inbox, envelope):
                    return
                result = await apply(session, envelope)
            self.relay.notify()
            if after is not None:
                after(result)

        if subject is None:
            if len(handlers) != 1:
                raise ValueError(f"{inbox}: several message types need the subject they share")
            subject = spec_for(next(iter(handlers))).subject
        ordered_consumer(
            self.broker,
            service=self.name,
            name=name,
            subject=subject,
            handlers=dict.fromkeys(handlers, handle),
            max_deliver=self.settings.max_deliver,
            batch_size=batch_size,
        )

    def add_batched_consumer(self, consumer: BatchedConsumer) -> None:
        """Run `consumer` with the service: started with the broker, stopped before it
        (all together), its lag reported like every other consumer's."""
        self._batched.append(consumer)

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` first when stopping (before the broker drains)."""
        self._on_stop.append(hook)

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` once the broker and relay are up (seeding, schedulers...)."""
        self._on_start.append(hook)

    def migrate(self) -> None:
        """Bring this service's database to the latest migration, first waiting up to
        `database_wait_seconds` for a database that refuses connections (restarting)."""
        if self.migrations is None:
            return
        migrations = self.migrations
        wait = self.settings.database_wait_seconds

        def note_waiting(state: tenacity.RetryCallState) -> None:
            if state.attempt_number == 1:
                error = state.outcome.exception() if state.outcome else None
                log.info(
                    "database not reachable yet; waiting for it",
                    wait_seconds=wait,
                    error=type(error).__name__,
                )

        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception(database_unreachable),
            stop=tenacity.stop_after_delay(wait),
            wait=tenacity.wait_exponential(multiplier=0.2, max=2.0),
            before_sleep=note_waiting,
            reraise=True,
        ):
            with attempt:
                upgrade(
                    migrations,
                    self.settings.resolved_database_url(),
                    self.database.schema,
                    attributes={"credential_keys": self.settings},
                )

    async def start(self) -> None:
        """Provision streams, start consuming, start the outbox relay."""
        if self.settings.provision_streams:
            await provision_streams(self.settings.nats_url, replicas=self.settings.stream_replicas)
        await self.broker.start()
        for consumer in self._batched:
            await consumer.start()
        self.relay.start()
        self.started = True
        for hook in self._on_start:
            await hook()
        for task in self._periodic:
            task.start()
        # Everything allocated while starting lives as long as the process: moving it out
        # of the collector's sight keeps full collections (and the latency tail) short.
        gc.freeze()
        log.info("service started", nats_url=self.settings.nats_url)

    async def stop(self) -> None:
        """Drain in-flight messages (up to the graceful timeout), then close everything.

        Each step is bounded: a step that hangs or fails (a hook, the broker's drain when
        NATS went first, as on Ctrl-C of the whole stack) is logged and left behind, so a
        stopping process always gets to close its database and exit.
        """
        self.started = False
        await self._bounded("periodic tasks", asyncio.gather(*(t.stop() for t in self._periodic)))
        for hook in self._on_stop:
            try:
                await self._bounded("stop hook", hook())
            except Exception:
                log.exception("stop hook failed")
        # Together: each first finishes the fetch in hand, so one by one would add waits.
        await asyncio.gather(*(consumer.stop() for consumer in self._batched))
        await self._bounded("broker", self.broker.stop())
        await self._bounded("outbox relay", self.relay.stop())
        await self._bounded("database", self.database.dispose())
        log.info("service stopped")

    async def _bounded(self, step: str, work: Awaitable[Any]) -> None:
        seconds = self.settings.graceful_timeout_seconds + STOP_STEP_MARGIN_SECONDS
        try:
            await asyncio.wait_for(work, timeout=seconds)
        except TimeoutError:
            log.warning("stop step did not finish in time; going on", step=step, seconds=seconds)
        except Exception as error:
            log.warning("stop step failed; going on", step=step, error=repr(error))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ServiceRuntime]:
        """Start for the duration of a block (tests, scripts)."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def readiness(self) -> dict[str, bool]:
        """Whether the broker and the database answer."""
        checks = {"broker": False, "database": False}
        with contextlib.suppress(Exception):
            checks["broker"] = self.started and bool(await self.broker.ping(timeout=1.0))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.database.ping(), timeout=2.0)
            checks["database"] = True
        return checks

    async def _prune_outbox(self) -> None:
        await self.relay.prune_published(timedelta(hours=self.settings.outbox_retention_hours))

    async def _report_lag(self) -> None:
        # Consumer lag drives KEDA scaling of ingestion; read it from JetStream itself. A
        # broker that is reconnecting gives no reading this time, and no log line.
        with contextlib.suppress(Exception):
            await self._read_lag()

    async def _read_lag(self) -> None:
        js = self.broker.config.connection_state.stream
        consumers: list[tuple[str | None, str | None]] = [
            (getattr(getattr(sub, "stream", None), "name", None), getattr(sub, "durable", None))
            for sub in self.broker.subscribers
        ]
        consumers += [(consumer.stream, consumer.durable) for consumer in self._batched]
        for stream, durable in consumers:
            if durable and stream:
                info = await js.consumer_info(stream, durable)
                CONSUMER_LAG.labels(stream=stream, consumer=durable).set(info.num_pending or 0)

    def http_app(
        self,
        *routers: APIRouter,
        title: str | None = None,
        configure: Callable[[FastAPI], None] | None = None,
        dependencies: Sequence[params.Depends] = (),
    ) -> FastAPI:
        """A FastAPI app with `/healthz`, `/readyz`, `/metrics`, and the given routers.

        `dependencies` run before every route's own (the probes' included).

        Its lifespan starts and stops the runtime, so uvicorn's SIGTERM handling drains
        in-flight messages before the process exits.
        """

        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=title or f"TrueUp {self.name}", lifespan=lifespan, dependencies=dependencies
        )
        app.include_router(self.probes())
        for router in routers:
            app.include_router(router)
        if configure is not None:
            configure(app)
        return app

    def probes(self) -> APIRouter:
        """Kubernetes probes and Prometheus metrics."""
        router = APIRouter(include_in_schema=False)

        @router.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok", "service": self.name}

        @router.get("/readyz")
        async def readyz() -> JSONResponse:
            checks = await self.readiness()
            ok = all(checks.values())
            return JSONResponse(
                {"status": "ready" if ok else "not ready", "checks": checks},
                status_code=200 if ok else 503,
            )

        @router.get("/metrics")
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        return router


def run_service(
    settings_class: type[S],
    build_app: Callable[[S], tuple[ServiceRuntime, FastAPI]],
    migrations: Path,
    argv: Sequence[str] | None = None,
) -> None:
    """`python -m trueup.<service> [serve|migrate]`.

    `migrate` builds nothing but the database connection, so it runs without the
    service's other settings (a migration job needs no credential keys).
    """
    parser = argparse.ArgumentParser(prog=f"python -m trueup.{settings_class().service_name}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings = settings_class()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    if args.command == "migrate":
        ServiceRuntime(settings, migrations).migrate()
        log.info("migrated", database=_safe_url(settings.resolved_database_url()))
        return
    runtime, app = build_app(settings)
    if settings.migrate_on_start:
        runtime.migrate()
    config: dict[str, Any] = {
        "host": settings.http_host,
        "port": settings.http_port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": int(settings.graceful_timeout_seconds) + 5,
    }
    uvicorn.run(app, **config)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
