"""Request-reply: connection settings, status, and sealed credentials for writeback."""

from __future__ import annotations

from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.platform.broker import QueryFailedError, query_responder
from trueup.platform.secrets import CredentialSealer
from trueup.platform.service import ServiceRuntime
from trueup.psa.errors import PsaAuthError, PsaError
from trueup.psa_sync import service
from trueup.psa_sync.repository import ConnectionRepository
from trueup.psa_sync.scheduler import SyncScheduler


def register(
    runtime: ServiceRuntime, sealer: CredentialSealer, scheduler: SyncScheduler, timeout: float
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
            async with database.transaction(query.tenant_id) as session:
                connection = await service.save_connection(
                    session, sealer, query.tenant_id, query.payload
                )
                status = await service.connection_status(session, query.tenant_id, connection)
        except ValueError as exc:
            raise QueryFailedError(422, "Invalid PSA credentials", str(exc)) from exc
        scheduler.wake()
        return status

    async def test_connection(query: Envelope[m.TestPsaConnection]) -> m.ConnectionTestResult:
        async with database.transaction(query.tenant_id) as session:
            connection = await ConnectionRepository(session, query.tenant_id).get(
                query.payload.connection_id
            )
        if connection is None:
            raise QueryFailedError(404, "Not Found", "No such PSA connection.")
        try:
            async with service.open_client(connection, sealer, timeout) as client:
                await client.check_connection()
        except PsaAuthError as exc:
            return m.ConnectionTestResult(
                ok=False, detail=f"The PSA refused the credentials: {exc}"
            )
        except PsaError as exc:
            return m.ConnectionTestResult(ok=False, detail=f"The PSA could not be reached: {exc}")
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
