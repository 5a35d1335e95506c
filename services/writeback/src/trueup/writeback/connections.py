"""PSA clients for jobs, built from credentials that psa_sync hands over sealed.

writeback owns no credentials: it asks psa_sync (`GetPsaConnection`) and opens the
sealed document with the shared credential key. Clients are kept for a while so a burst
of jobs on one connection reuses its HTTP pool (and its codebase or zone discovery).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

from faststream.nats import NatsBroker

from trueup.contracts import wrap
from trueup.contracts.messages import GetPsaConnection, PsaConnectionSealed, subject_for
from trueup.platform.broker import ask
from trueup.platform.metrics import MeteredTransport
from trueup.platform.outbound import GuardedTransport, OutboundPolicy
from trueup.platform.secrets import CredentialSealer, CredentialsSealError
from trueup.psa import PsaClient, PsaCredentials, RetryPolicy, create_client
from trueup.psa.factory import credentials_from_dict


class ConnectionUnavailableError(Exception):
    """psa_sync did not answer (or is not running): worth retrying later."""


class ConnectionRejectedError(Exception):
    """The connection does not exist, or its credentials cannot be opened: a person must act."""


def credentials_from(psa: str, document: dict[str, Any]) -> PsaCredentials:
    """The client credentials of one PSA from an opened credentials document."""
    try:
        return credentials_from_dict(psa, {k: str(v) for k, v in document.items()})
    except ValueError as exc:
        raise ConnectionRejectedError(str(exc)) from exc


class PsaClients:
    """One client per (tenant, connection), re-asked after `ttl_seconds`."""

    def __init__(
        self,
        broker: NatsBroker,
        sealer: CredentialSealer,
        *,
        retry: RetryPolicy,
        timeout: float,
        ask_timeout: float,
        ttl_seconds: float,
        policy: OutboundPolicy,
    ) -> None:
        self._broker = broker
        self._policy = policy
        self._sealer = sealer
        self._retry = retry
        self._timeout = timeout
        self._ask_timeout = ask_timeout
        self._ttl = ttl_seconds
        self._clients: dict[tuple[str, str], tuple[float, str, PsaClient]] = {}
        self._retired: list[PsaClient] = []
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def client_for(self, tenant_id: str, connection_id: str) -> PsaClient:
        """A client for the connection, asking psa_sync when none is cached or it expired."""
        key = (tenant_id, connection_id)
        cached = self._fresh(key)
        if cached is not None:
            return cached
        # One question per connection at a time: a burst of jobs shares one client.
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._fresh(key)
            if cached is not None:
                return cached
            sealed = await self._ask(tenant_id, connection_id)
            try:
                document = self._sealer.open(sealed.sealed_credentials)
            except CredentialsSealError as exc:
                raise ConnectionRejectedError(str(exc)) from exc
            fingerprint = hashlib.sha256(
                json.dumps([sealed.psa, document], sort_keys=True).encode()
            ).hexdigest()
            previous = self._clients.get(key)
            if previous is not None and previous[1] == fingerprint:
                self._clients[key] = (time.monotonic(), fingerprint, previous[2])
                return previous[2]
            client = create_client(
                credentials_from(sealed.psa, document),
                timeout=self._timeout,
                retry=self._retry,
                transport=MeteredTransport(sealed.psa, GuardedTransport(self._policy)),
            )
            if previous is not None:
                # Credentials changed: jobs still using the old client keep it until they
                # end (closing it now could cut a write in half); it is closed with the rest.
                self._retired.append(previous[2])
            self._clients[key] = (time.monotonic(), fingerprint, client)
            return client

    def _fresh(self, key: tuple[str, str]) -> PsaClient | None:
        cached = self._clients.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[2]
        return None

    def forget(self, tenant_id: str, connection_id: str) -> None:
        """Drop a cached client (its credentials were refused): the next job asks again."""
        cached = self._clients.pop((tenant_id, connection_id), None)
        if cached is not None:
            self._retired.append(cached[2])

    async def _ask(self, tenant_id: str, connection_id: str) -> PsaConnectionSealed:
        query = wrap(GetPsaConnection(connection_id=connection_id), tenant_id=tenant_id)
        try:
            reply = await ask(
                self._broker,
                subject_for(GetPsaConnection, tenant_id),
                query,
                PsaConnectionSealed,
                timeout=self._ask_timeout,
            )
        except TimeoutError as exc:
            raise ConnectionUnavailableError(str(exc)) from exc
        if reply.error is not None:
            message = f"PSA connection {connection_id}: {reply.error.title} {reply.error.detail}"
            if reply.error.status >= 500:
                raise ConnectionUnavailableError(message.strip())
            raise ConnectionRejectedError(message.strip())
        if reply.result is None:
            raise ConnectionUnavailableError(f"PSA connection {connection_id}: empty reply")
        return reply.result

    async def aclose(self) -> None:
        """Close every cached client."""
        clients = [entry[2] for entry in self._clients.values()] + self._retired
        self._clients.clear()
        self._retired = []
        for client in clients:
            await client.aclose()
