"""Request-reply: connection settings, status, and sealed credentials for writeback."""

from __future__ import annotations

from trueup.contracts import messages as m
from trueup.platform.broker import query_responder
from trueup.platform.service import ServiceRuntime
from trueup.psa_sync.connections import Connections


def register(runtime: ServiceRuntime, connections: Connections) -> None:
    for model, handler in (
        (m.GetPsaConnection, connections.sealed),
        (m.SavePsaConnection, connections.save),
        (m.TestPsaConnection, connections.test),
        (m.GetSyncStatus, connections.sync_status),
    ):
        query_responder(
            runtime.broker,
            service=runtime.name,
            model=model,
            handler=handler,  # type: ignore[arg-type]
        )
