"""PSA connections as the gateway asks about them: save (sealed), test, read back sealed
for writeback, and the sync status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.platform.broker import QueryFailedError
from trueup.platform.database import Database
from trueup.platform.logging import get_logger
from trueup.platform.outbound import OutboundPolicy, UnsafeDestinationError
from trueup.platform.secrets import CredentialSealer
from trueup.psa.base import RetryPolicy
from trueup.psa.errors import PsaError
from trueup.psa_sync import service
from trueup.psa_sync.models import Connection
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


@dataclass(frozen=True)
class Connections:
    database: Database
    sealer: CredentialSealer
    policy: OutboundPolicy
    wake_scheduler: Callable[[], None]
    test_seconds: float
    """A connection test's budget, under the gateway's query timeout."""

    async def _connection(self, tenant_id: str, connection_id: str) -> Connection:
        async with self.database.transaction(tenant_id) as session:
            connection = await ConnectionRepository(session, tenant_id).get(connection_id)
        if connection is None:
            raise QueryFailedError(404, "Not Found", "No such PSA connection.")
        return connection

    async def sealed(self, query: Envelope[m.GetPsaConnection]) -> m.PsaConnectionSealed:
        """A connection's sealed credentials, for writeback to open its own client."""
        connection = await self._connection(query.tenant_id, query.payload.connection_id)
        return m.PsaConnectionSealed(
            connection_id=connection.connection_id,
            psa=connection.psa,  # type: ignore[arg-type]
            sealed_credentials=connection.sealed_credentials,
        )

    async def save(self, query: Envelope[m.SavePsaConnection]) -> m.PsaConnectionStatus:
        """Check where the credentials point, seal and store them, and sync soon."""
        try:
            await service.check_destinations(self.policy, query.payload)
        except ValueError as exc:
            raise QueryFailedError(422, "Invalid PSA credentials", str(exc)) from exc
        except UnsafeDestinationError as exc:
            raise QueryFailedError(422, "PSA address not allowed", exc.reason) from exc
        try:
            async with self.database.transaction(query.tenant_id) as session:
                connection = await service.save_connection(
                    session, self.sealer, query.tenant_id, query.payload
                )
                status = await service.connection_status(session, query.tenant_id, connection)
        except ValueError as exc:
            raise QueryFailedError(422, "Invalid PSA credentials", str(exc)) from exc
        self.wake_scheduler()
        return status

    async def test(self, query: Envelope[m.TestPsaConnection]) -> m.ConnectionTestResult:
        """One call to the PSA within the test budget; the outcome as the admin reads it."""
        connection = await self._connection(query.tenant_id, query.payload.connection_id)
        # The gateway waits `query_timeout` (5 s) for this answer: the whole test, retries
        # included, must fit in a smaller budget or the admin gets a 503 instead.
        try:
            async with (
                asyncio.timeout(self.test_seconds),
                service.open_client(
                    connection,
                    self.sealer,
                    self.policy,
                    self.test_seconds,
                    test_retry_policy(self.test_seconds),
                ) as client,
            ):
                await client.check_connection()
        except TimeoutError:
            return m.ConnectionTestResult(
                ok=False, detail=f"The PSA did not answer within {self.test_seconds:g} s."
            )
        except PsaError as exc:
            log.info(
                "connection test failed", connection_id=connection.connection_id, error=str(exc)
            )
            message = exc.public_message
            return m.ConnectionTestResult(ok=False, detail=f"{message[:1].upper()}{message[1:]}.")
        return m.ConnectionTestResult(ok=True, detail="Connected.")

    async def sync_status(self, query: Envelope[m.GetSyncStatus]) -> m.SyncStatus:
        async with self.database.transaction(query.tenant_id) as session:
            return await service.sync_status(session, query.tenant_id)
