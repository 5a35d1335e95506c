"""Request-reply: connection settings, status, and sealed credentials for writeback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.platform.broker import QueryFailedError, query_responder
from trueup.platform.logging import get_logger
from trueup.platform.outbound import OutboundPolicy, UnsafeDestinationError
from trueup.platform.secrets import CredentialSealer
from trueup.platform.service import ServiceRuntime
from trueup.psa.base import RetryPolicy
from trueup.psa.errors import PsaError
from trueup.psa_sync import service
from trueup.psa_sync.repository import ConnectionRepository

log = get_logger(__name__)


def test_retry_policy(budget: float) -> RetryPolicy:
    """Retries that fit in a "test connection" budget: two tries, short waits."""
    return RetryPolicy(
        max_attempts=2,
        max_elapsed=budget / 2,
        initial_backoff=0.2,
        max_backoff=budget / 4,
        max_retry_after=budget / 4,
    )


def register(
    runtime: ServiceRuntime,
    sealer: CredentialSealer,
    wake_scheduler: Callable[[], None],
    policy: OutboundPolicy,
    *,
    test_seconds: float,
) -> None:
    database = runtime.database

    async def get_connection(query: Envelope[m.GetPsaConnection]) -> m.PsaConnectionSealed:
        async with database.transaction(query.tenant_id) as session:
            connection = await ConnectionRepository(session, query.tenant_id).get(
                query.payload.connection_id
            )
        if connection is None:
            raise QueryFailedError(404, "Not Found", "No such PSA connection.")
        return m.PsaConnectionSealed(
            connection_id=connection.connection_id,
            psa=connection.psa,  # type: ignore[arg-type]
            sealed_credentials=connection.sealed_credentials,
        )

    async def save_connection(query: Envelope[m.SavePsaConnection]) -> m.PsaConnectionStatus:
        try:
            await service.check_destinations(policy, query.payload)
        except ValueError as exc:
            raise QueryFailedError(422, "Invalid PSA credentials", str(exc)) from exc
        except UnsafeDestinationError as exc:
            raise QueryFailedError(422, "PSA address not allowed", exc.reason) from exc
        try:
            async with database.transaction(query.tenant_id) as session:
                connection = await service.save_connection(
                    session, sealer, query.tenant_id, query.payload
                )
                status = await service.connection_status(session, query.tenant_id, connection)
        except ValueError as exc:
            raise QueryFailedError(422, "Invalid PSA credentials", str(exc)) from exc
        wake_scheduler()
        return status

    async def test_connection(query: Envelope[m.TestPsaConnection]) -> m.ConnectionTestResult:
        async with database.transaction(query.tenant_id) as session:
            connection = await ConnectionRepository(session, query.tenant_id).get(
                query.payload.connection_id
            )
        if connection is None:
            raise QueryFailedError(404, "Not Found", "No such PSA connection.")
        # The gateway waits `query_timeout` (5 s) for this answer: the whole test, retries
        # included, must fit in a smaller budget or the admin gets a 503 instead.
        try:
            async with (
                asyncio.timeout(test_seconds),
                service.open_client(
                    connection, sealer, policy, test_seconds, test_retry_policy(test_seconds)
                ) as client,
            ):
                await client.check_connection()
        except TimeoutError:
            return m.ConnectionTestResult(
                ok=False, detail=f"The PSA did not answer within {test_seconds:g} s."
            )
        except PsaError as exc:
            log.info(
                "connection test failed", connection_id=connection.connection_id, error=str(exc)
            )
            message = exc.public_message
            return m.ConnectionTestResult(ok=False, detail=f"{message[:1].upper()}{message[1:]}.")
        return m.ConnectionTestResult(ok=True, detail="Connected.")

    async def status(query: Envelope[m.GetSyncStatus]) -> m.SyncStatus:
        async with database.transaction(query.tenant_id) as session:
            return await service.sync_status(session, query.tenant_id)

    for model, handler in (
        (m.GetPsaConnection, get_connection),
        (m.SavePsaConnection, save_connection),
        (m.TestPsaConnection, test_connection),
        (m.GetSyncStatus, status),
    ):
        query_responder(
            runtime.broker,
            service=runtime.name,
            model=model,
            handler=handler,  # type: ignore[arg-type]
        )
