"""Connector scheduling: when each tenant's connectors poll, and what a poll records.

The library gives the connectors (`Pax8Connector`, ...), their `Schedule` and `poll_once`.
This module keeps the due times in the database, so restarts do not re-poll and several
replicas agree (each due poll is claimed by one of them with a compare-and-set), and
records each poll as usage that replaces the vendor's earlier usage for the accounts it
covers (a poll is the vendor's full current view).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from trueup.contracts.messages import UsageSource
from trueup.platform.database import Database
from trueup.platform.logging import bound_context, get_logger
from trueup.platform.messaging import OutboxRelay
from trueup.platform.outbound import GuardedTransport, OutboundPolicy
from trueup.platform.secrets import CredentialSealer
from trueup.platform.tenants import SuspensionRepository
from trueup.vendor_ingestion.models import ConnectorRow
from trueup.vendor_ingestion.repository import (
    ConnectorRepository,
    ScheduleRepository,
)
from trueup.vendor_ingestion.sealing import open_config, seal_config
from trueup.vendor_ingestion.service import contract_record, record_usage
from trueup.vendors.connectors import (
    Connector,
    HuntressConnector,
    NinjaOneConnector,
    Pax8Connector,
    PollResult,
    Schedule,
    poll_once,
)

log = get_logger(__name__)


def build_connector(
    row: ConnectorRow, sealer: CredentialSealer, policy: OutboundPolicy
) -> Connector:
    """The library connector a stored (sealed) configuration describes; its calls go
    through the outbound policy (a configured base URL may point anywhere)."""
    config: dict[str, Any] = open_config(sealer, row.config)
    schedule = Schedule(every=timedelta(seconds=row.every_seconds))
    transport = GuardedTransport(policy)
    if row.kind == "pax8":
        return Pax8Connector(
            client_id=config["client_id"],
            client_secret=config["client_secret"],
            base_url=config["base_url"],
            token_url=config.get("token_url") or config["base_url"] + "/oauth/token",
            vendor=row.vendor,
            schedule=schedule,
            transport=transport,
        )
    if row.kind == "ninjaone":
        return NinjaOneConnector(
            client_id=config["client_id"],
            client_secret=config["client_secret"],
            base_url=config["base_url"],
            vendor=row.vendor,
            schedule=schedule,
            transport=transport,
        )
    if row.kind == "huntress":
        return HuntressConnector(
            api_key=config["api_key"],
            api_secret=config["api_secret"],
            base_url=config["base_url"],
            vendor=row.vendor,
            schedule=schedule,
            transport=transport,
        )
    raise ValueError(f"unknown connector kind {row.kind!r}")


class ConnectorScheduler:
    """Polls due connectors of every tenant; one vendor's failure never stops the others.
    The service runs `run_due` every connector tick."""

    def __init__(
        self,
        database: Database,
        relay: OutboxRelay,
        *,
        retry_seconds: int,
        sealer: CredentialSealer,
        policy: OutboundPolicy,
        batch_size: int = 1000,
    ) -> None:
        self.database = database
        self.sealer = sealer
        self.policy = policy
        self.relay = relay
        self.retry_seconds = retry_seconds
        self.batch_size = batch_size

    async def configure(self, row: ConnectorRow, *, first_run: datetime | None = None) -> None:
        """Save a connector, its configuration sealed, and schedule it (now, unless
        `first_run` says otherwise)."""
        row.config = seal_config(self.sealer, row.config)
        async with self.database.transaction(row.tenant_id) as session:
            await ConnectorRepository(session, row.tenant_id).save(row)
            await ScheduleRepository(session).set(
                row.tenant_id, row.connector_id, first_run or datetime.now(UTC)
            )

    async def run_due(self, now: datetime | None = None) -> list[PollResult]:
        """Poll every connector due at `now`, concurrently; returns what each poll gave."""
        now = now or datetime.now(UTC)
        async with self.database.transaction() as session:
            due = [
                (s.tenant_id, s.connector_id, s.next_run_at)
                for s in await ScheduleRepository(session).due(now)
            ]
        results = await asyncio.gather(*(self._run_one(t, c, seen, now) for t, c, seen in due))
        return [result for result in results if result is not None]

    async def _run_one(
        self, tenant_id: str, connector_id: str, seen: datetime, now: datetime
    ) -> PollResult | None:
        with bound_context(tenant_id=tenant_id):
            async with self.database.transaction(tenant_id) as session:
                row = await ConnectorRepository(session, tenant_id).get(connector_id)
                if row is None or not row.enabled:
                    return None
                schedule = Schedule(every=timedelta(seconds=row.every_seconds))
                if not await ScheduleRepository(session).claim(
                    tenant_id, connector_id, seen, schedule.next_run(now)
                ):
                    return None  # another replica took this slot
                if await SuspensionRepository(session, tenant_id).is_suspended():
                    # The slot is spent unpolled: a suspended tenant's vendors are not
                    # read, and its connectors resume at their next slot once resumed.
                    return None
            connector = build_connector(row, self.sealer, self.policy)
            try:
                result = await poll_once(connector)
            finally:
                await connector.aclose()
            await self._record(row, result)
            return result

    async def _record(self, row: ConnectorRow, result: PollResult) -> None:
        tenant_id = row.tenant_id
        async with self.database.transaction(tenant_id) as session:
            stored = await ConnectorRepository(session, tenant_id).get(row.connector_id)
            assert stored is not None
            stored.last_polled_at = result.finished_at
            stored.last_status = "ok" if result.ok else "failed"
            stored.last_error = result.error
            stored.last_records = len(result.records)
            if not result.ok:
                # Retry soon (a simulator still starting, a vendor blip), not in six hours.
                await ScheduleRepository(session).set(
                    tenant_id,
                    row.connector_id,
                    result.finished_at + timedelta(seconds=self.retry_seconds),
                )
                return
            records = [contract_record(record) for record in result.records]
            await record_usage(
                session,
                tenant_id=tenant_id,
                vendor=row.vendor,
                source=UsageSource.CONNECTOR,
                records=records,
                idempotency_key=f"poll:{row.connector_id}:{result.started_at.isoformat()}",
                replaces_accounts=[r.vendor_account_id for r in records],
                batch_size=self.batch_size,
            )
        self.relay.notify()
