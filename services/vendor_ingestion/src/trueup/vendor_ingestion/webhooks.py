"""Signed usage webhooks: `POST /webhooks/{endpoint_id}`, and endpoint management.

The endpoint id carries its tenant (`<tenant>.<random>`), so a request is routed to its
tenant before anything is read, and every lookup stays tenant-scoped (row-level security
holds on PostgreSQL). Checks run cheapest first: size, endpoint, signature and timestamp
(the library's Standard Webhooks verifier, 5-minute tolerance, every unexpired secret of
the endpoint so a rotation never drops a delivery), body schema, then replay by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets as random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from trueup.contracts import new_id
from trueup.contracts.envelope import Envelope
from trueup.contracts.ingest import (
    CreateWebhookEndpoint,
    DeleteWebhookEndpoint,
    ListWebhookEndpoints,
    RotateWebhookSecret,
    WebhookEndpointDeleted,
    WebhookEndpointList,
    WebhookEndpointView,
    WebhookSecretIssued,
    WebhookSecretView,
)
from trueup.contracts.messages import UsageRecord, UsageSource
from trueup.platform.broker import QueryFailedError
from trueup.platform.database import Database
from trueup.platform.logging import get_logger
from trueup.platform.messaging import OutboxRelay
from trueup.platform.secrets import CredentialSealer
from trueup.platform.tenants import SuspensionRepository
from trueup.vendor_ingestion.announcements import announce_change
from trueup.vendor_ingestion.models import WebhookEndpoint, WebhookSecret
from trueup.vendor_ingestion.repository import WebhookRepository
from trueup.vendor_ingestion.sealing import open_secret, seal_secret
from trueup.vendor_ingestion.service import (
    Delivery,
    RecordedUsage,
    contract_record,
    record_deliveries,
)
from trueup.vendors.webhooks import (
    SetUnitCounts,
    UsageBatch,
    WebhookFailure,
    WebhookVerificationError,
    WebhookVerifier,
    generate_secret,
)

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
_STATUS = {
    WebhookFailure.BODY_TOO_LARGE: 413,
    WebhookFailure.INVALID_WEBHOOK_ID: 400,
    WebhookFailure.INVALID_BODY: 422,
}
# Secrets are read per request from a short cache: at 1,000 requests a second the
# database would otherwise answer the same question a thousand times. A rotation done
# here clears the cache at once; another replica sees it within this many seconds.
SECRET_CACHE_SECONDS = 5.0
RELAY_WAKE_SECONDS = 0.1


def webhook_path(endpoint_id: str) -> str:
    return f"/webhooks/{endpoint_id}"


def tenant_of_endpoint(endpoint_id: str) -> str | None:
    tenant, dot, token = endpoint_id.partition(".")
    return tenant if dot and tenant and token else None


@dataclass(frozen=True, slots=True)
class _Known:
    vendor: str
    secrets: tuple[str, ...]
    loaded_at: float
    suspended: bool = False


class WebhookReceiver:
    """Verifies, validates and records webhook deliveries for every tenant."""

    def __init__(
        self,
        database: Database,
        relay: OutboxRelay,
        *,
        sealer: CredentialSealer,
        max_body_bytes: int,
        tolerance: timedelta,
        batch_size: int = 1000,
    ) -> None:
        self.database = database
        self.relay = relay
        self.sealer = sealer
        self.max_body_bytes = max_body_bytes
        self.tolerance = tolerance
        self.batch_size = batch_size
        self._cache: dict[str, _Known | None] = {}
        self._writer = _GroupWriter(database, batch_size)
        self._load_lock = asyncio.Lock()
        self._last_wake = 0.0

    def start(self) -> None:
        self._writer.start()

    def _wake_relay(self) -> None:
        # At most ten wake-ups a second: each relay run is a transaction of its own that
        # would otherwise contend with the writer for SQLite's lock on every round. The
        # relay's own poll publishes whatever a skipped wake-up left.
        now = time.monotonic()
        if now - self._last_wake >= RELAY_WAKE_SECONDS:
            self._last_wake = now
            self.relay.notify()

    async def stop(self) -> None:
        await self._writer.stop()

    def forget(self, endpoint_id: str) -> None:
        self._cache.pop(endpoint_id, None)

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop a tenant's endpoints, so its suspension or resumption applies now."""
        for endpoint_id in list(self._cache):
            if tenant_of_endpoint(endpoint_id) == tenant_id:
                self._cache.pop(endpoint_id, None)

    async def _endpoint(self, tenant_id: str, endpoint_id: str) -> _Known | None:
        cached = self._cache.get(endpoint_id)
        if cached is not None and time.monotonic() - cached.loaded_at < SECRET_CACHE_SECONDS:
            return cached
        # One load at a time: a burst on a cold cache would otherwise open a database
        # connection per request, all asking the same thing.
        async with self._load_lock:
            cached = self._cache.get(endpoint_id)
            if cached is not None and time.monotonic() - cached.loaded_at < SECRET_CACHE_SECONDS:
                return cached
            return await self._load(tenant_id, endpoint_id)

    async def _load(self, tenant_id: str, endpoint_id: str) -> _Known | None:
        async with self.database.transaction(tenant_id) as session:
            webhooks = WebhookRepository(session, tenant_id)
            endpoint = await webhooks.endpoint(endpoint_id)
            if endpoint is None:
                return None
            valid = await webhooks.secrets(endpoint_id, valid_at=datetime.now(UTC))
            suspended = await SuspensionRepository(session, tenant_id).is_suspended()
        secrets = tuple(open_secret(self.sealer, s.secret) for s in valid)
        known = _Known(endpoint.vendor, secrets, time.monotonic(), suspended)
        self._cache[endpoint_id] = known
        return known

    def router(self) -> APIRouter:
        router = APIRouter(tags=["webhooks"])

        @router.post(
            "/webhooks/{endpoint_id}",
            status_code=202,
            summary="Receive signed usage (Standard Webhooks)",
            openapi_extra={
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    UsageBatch.model_json_schema(),
                                    SetUnitCounts.model_json_schema(),
                                ]
                            }
                        }
                    }
                }
            },
        )
        async def receive(endpoint_id: str, request: Request) -> JSONResponse:
            return await self.receive(endpoint_id, request)

        return router

    async def receive(self, endpoint_id: str, request: Request) -> JSONResponse:
        declared = request.headers.get("content-length", "")
        # ASCII digits only, compared by length first: int() of a 5,000-digit header raises.
        digits, limit = declared.lstrip("0"), str(self.max_body_bytes)
        too_long = (len(digits), digits) > (len(limit), limit)
        if declared.isascii() and declared.isdigit() and too_long:
            return _problem(413, "Body too large", f"the limit is {self.max_body_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > self.max_body_bytes:
                return _problem(413, "Body too large", f"the limit is {self.max_body_bytes} bytes")
        tenant_id = tenant_of_endpoint(endpoint_id)
        try:
            known = await self._endpoint(tenant_id, endpoint_id) if tenant_id else None
        except Exception:
            # The database is away (a restart, a failover): nothing was read or stored, and
            # a sender that hears 503 delivers again, as Standard Webhooks senders do.
            log.exception("webhook endpoint not readable")
            return _try_again("the endpoint could not be read; nothing was stored")
        if tenant_id is None or known is None or not known.secrets:
            return _problem(404, "Unknown webhook endpoint", endpoint_id)
        verifier = WebhookVerifier(
            known.secrets, tolerance=self.tolerance, max_body_bytes=self.max_body_bytes
        )
        try:
            verified = verifier.verify(bytes(body), request.headers)
        except WebhookVerificationError as error:
            status = _STATUS.get(error.failure, 401)
            return _problem(status, "Webhook refused", error.reason, code=error.failure.value)
        if known.suspended:
            # Said only to a sender that signed correctly: others learn nothing of the tenant.
            return _problem(
                403,
                "Tenant suspended",
                "this TrueUp account is suspended; nothing was recorded",
                code="tenant_suspended",
            )
        received_at = datetime.now(UTC)
        try:
            if b'"unit_counts"' in body:
                push = SetUnitCounts.model_validate_json(bytes(body))
                records = push.to_reported_usage(vendor=known.vendor, received_at=received_at)
                key = f"push:{endpoint_id}:{push.idempotency_key}"
                source = UsageSource.PUSH
            else:
                batch = UsageBatch.model_validate_json(bytes(body))
                records = batch.to_reported_usage(
                    vendor=known.vendor, webhook_id=verified.webhook_id, received_at=received_at
                )
                key = f"webhook:{endpoint_id}:{verified.webhook_id}"
                source = UsageSource.WEBHOOK
        except ValidationError as error:
            return _problem(
                422,
                "Invalid webhook body",
                "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                    for e in error.errors()[:20]
                ),
                code=WebhookFailure.INVALID_BODY.value,
            )
        try:
            recorded = await self._writer.submit(
                _Delivery(
                    tenant_id, known.vendor, source, [contract_record(r) for r in records], key
                )
            )
        except Exception:
            log.exception("webhook delivery not recorded")
            return _try_again("the delivery could not be recorded; nothing was stored")
        if recorded.unchanged:
            # Standard Webhooks senders retry until they get a 2xx: a replay is answered
            # as accepted, and changes nothing.
            return JSONResponse({"status": "duplicate", "records": 0}, status_code=202)
        self._wake_relay()
        return JSONResponse(
            {"status": "accepted", "records": recorded.records, "batch_id": recorded.batch_id},
            status_code=202,
        )


@dataclass(frozen=True, slots=True)
class _Delivery:
    tenant_id: str
    vendor: str
    source: UsageSource
    records: list[UsageRecord]
    key: str


class _GroupWriter:
    """Commits concurrent deliveries together: one transaction per tenant per round.

    A database takes one writer at a time (SQLite always, PostgreSQL per row), and a
    commit costs a disk flush; a thousand webhooks a second each committing alone queue
    behind each other's flushes. Deliveries that arrive while a round commits wait for
    the next round, so each caller still hears 202 only after its own usage is committed.
    """

    def __init__(self, database: Database, batch_size: int, max_round: int = 500) -> None:
        self.database = database
        self.batch_size = batch_size
        self.max_round = max_round
        self._queue: asyncio.Queue[tuple[_Delivery, asyncio.Future[RecordedUsage]]] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None
        self._connection: AsyncConnection | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="vendor_ingestion-webhook-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    @contextlib.asynccontextmanager
    async def _transaction(self, tenant_id: str) -> AsyncIterator[AsyncSession]:
        if self.database.is_postgres:
            async with self.database.transaction(tenant_id) as session:
                yield session
            return
        # SQLite: the writer keeps one connection open. Opening one per round (the
        # platform's pool does, to keep SQLite's locking simple) costs milliseconds of
        # setup that every waiting webhook would pay; this is the only writer here.
        if self._connection is None:
            self._connection = await self.database.engine.connect()
        async with (
            AsyncSession(bind=self._connection, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    async def submit(self, delivery: _Delivery) -> RecordedUsage:
        if self._task is None:
            self.start()
        future: asyncio.Future[RecordedUsage] = asyncio.get_running_loop().create_future()
        await self._queue.put((delivery, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            round_ = [first]
            while len(round_) < self.max_round and not self._queue.empty():
                round_.append(self._queue.get_nowait())
            by_tenant: dict[str, list[tuple[_Delivery, asyncio.Future[RecordedUsage]]]] = {}
            for item in round_:
                by_tenant.setdefault(item[0].tenant_id, []).append(item)
            for tenant_id, items in by_tenant.items():
                await self._commit(tenant_id, items)

    async def _commit(
        self, tenant_id: str, items: list[tuple[_Delivery, asyncio.Future[RecordedUsage]]]
    ) -> None:
        deliveries = [Delivery(d.vendor, d.source, d.records, d.key) for d, _future in items]
        outcomes: list[RecordedUsage] | BaseException
        try:
            async with self._transaction(tenant_id) as session:
                outcomes = await record_deliveries(
                    session, tenant_id=tenant_id, deliveries=deliveries, batch_size=self.batch_size
                )
        except Exception as error:
            # The whole round failed (the database went away): each caller hears 503 and
            # its sender retries; nothing was committed.
            outcomes = error
        for position, (_delivery, future) in enumerate(items):
            if future.done():
                continue
            if isinstance(outcomes, BaseException):
                future.set_exception(outcomes)
            else:
                future.set_result(outcomes[position])


RETRY_AFTER_SECONDS = 1
"""What a 503 asks a sender to wait: a database restart or failover is over in seconds."""


def _try_again(detail: str) -> JSONResponse:
    response = _problem(503, "Try again", detail)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _problem(status: int, title: str, detail: str, *, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if code is not None:
        body["code"] = code
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


# --- endpoint management (queries from the gateway, admins only) ----------------------


def _endpoint_view(endpoint: WebhookEndpoint, secrets: list[WebhookSecret]) -> WebhookEndpointView:
    return WebhookEndpointView(
        endpoint_id=endpoint.endpoint_id,
        vendor=endpoint.vendor,
        name=endpoint.name,
        path=webhook_path(endpoint.endpoint_id),
        created_at=endpoint.created_at,
        secrets=[
            WebhookSecretView(
                secret_id=s.secret_id, created_at=s.created_at, expires_at=s.expires_at
            )
            for s in secrets
        ],
    )


async def list_endpoints(
    database: Database, envelope: Envelope[ListWebhookEndpoints]
) -> WebhookEndpointList:
    tenant_id = envelope.tenant_id
    now = datetime.now(UTC)
    async with database.transaction(tenant_id) as session:
        webhooks = WebhookRepository(session, tenant_id)
        items = [
            _endpoint_view(
                endpoint, list(await webhooks.secrets(endpoint.endpoint_id, valid_at=now))
            )
            for endpoint in await webhooks.endpoints()
        ]
    return WebhookEndpointList(items=items)


async def create_endpoint(
    database: Database, receiver: WebhookReceiver, envelope: Envelope[CreateWebhookEndpoint]
) -> WebhookSecretIssued:
    tenant_id, command = envelope.tenant_id, envelope.payload
    now = datetime.now(UTC)
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id,
        endpoint_id=f"{tenant_id}.{random.token_urlsafe(18)}",
        vendor=command.vendor,
        name=command.name,
        created_at=now,
    )
    issued = generate_secret()
    secret = WebhookSecret(
        tenant_id=tenant_id,
        secret_id=new_id(),
        endpoint_id=endpoint.endpoint_id,
        secret=seal_secret(receiver.sealer, issued),
        created_at=now,
        expires_at=None,
    )
    async with database.transaction(tenant_id) as session:
        webhooks = WebhookRepository(session, tenant_id)
        await webhooks.add(endpoint)
        await webhooks.add(secret)
        await announce_change(
            session, envelope, command.actor, f"Added a webhook endpoint for {command.vendor}"
        )
    receiver.relay.notify()
    return WebhookSecretIssued(endpoint=_endpoint_view(endpoint, [secret]), secret=issued)


async def rotate_secret(
    database: Database, receiver: WebhookReceiver, envelope: Envelope[RotateWebhookSecret]
) -> WebhookSecretIssued:
    """A new secret; the current ones stay valid for the grace period, then expire."""
    tenant_id, command = envelope.tenant_id, envelope.payload
    now = datetime.now(UTC)
    async with database.transaction(tenant_id) as session:
        webhooks = WebhookRepository(session, tenant_id)
        endpoint = await webhooks.endpoint(command.endpoint_id)
        if endpoint is None:
            raise QueryFailedError(404, "Webhook endpoint not found", command.endpoint_id)
        await webhooks.expire_secrets(
            endpoint.endpoint_id, now + timedelta(seconds=command.grace_seconds)
        )
        issued = generate_secret()
        secret = WebhookSecret(
            tenant_id=tenant_id,
            secret_id=new_id(),
            endpoint_id=endpoint.endpoint_id,
            secret=seal_secret(receiver.sealer, issued),
            created_at=now,
            expires_at=None,
        )
        await webhooks.add(secret)
        current = list(await webhooks.secrets(endpoint.endpoint_id, valid_at=now))
        grace = (
            "the previous one stops working now"
            if command.grace_seconds == 0
            else f"the previous one stays valid for {_duration(command.grace_seconds)}"
        )
        await announce_change(
            session,
            envelope,
            command.actor,
            f"Rotated the signing secret of the {endpoint.vendor} webhook endpoint; {grace}",
        )
    receiver.forget(endpoint.endpoint_id)
    receiver.relay.notify()
    return WebhookSecretIssued(endpoint=_endpoint_view(endpoint, current), secret=issued)


async def delete_endpoint(
    database: Database, receiver: WebhookReceiver, envelope: Envelope[DeleteWebhookEndpoint]
) -> WebhookEndpointDeleted:
    """Forget an endpoint and its secrets: its deliveries are refused (404) from now on."""
    tenant_id, endpoint_id = envelope.tenant_id, envelope.payload.endpoint_id
    async with database.transaction(tenant_id) as session:
        webhooks = WebhookRepository(session, tenant_id)
        endpoint = await webhooks.endpoint(endpoint_id)
        if endpoint is None:
            raise QueryFailedError(404, "Webhook endpoint not found", endpoint_id)
        await webhooks.delete_endpoint(endpoint_id)
        await announce_change(
            session,
            envelope,
            envelope.payload.actor,
            f"Deleted the {endpoint.vendor} webhook endpoint",
        )
    receiver.forget(endpoint_id)
    receiver.relay.notify()
    return WebhookEndpointDeleted(endpoint_id=endpoint_id)


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds} s"
