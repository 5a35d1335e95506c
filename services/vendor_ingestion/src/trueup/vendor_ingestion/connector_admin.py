"""Connector management, asked by the gateway: list, save, delete, test, run now.

Credentials arrive once, are sealed with the keyring before they are stored, and never
leave this service again: a view names which credential fields are stored, not their
values. Every address a connector will call is checked against the outbound policy when
it is saved (a clear 422 naming the field) and again when each connection is opened.
A test polls once within `test_seconds` (less than the gateway's query timeout, so the
admin hears the outcome instead of a 503) and records nothing; its detail is in our
words, never the vendor's response body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from trueup.contracts import new_id
from trueup.contracts.envelope import Envelope
from trueup.contracts.ingest import (
    CONNECTOR_CREDENTIALS,
    CONNECTOR_NAMES,
    CheckConnector,
    ConnectorDeleted,
    ConnectorList,
    ConnectorTestResult,
    ConnectorView,
    DeleteConnector,
    ListConnectors,
    RunConnector,
    SaveConnector,
)
from trueup.platform.broker import QueryFailedError
from trueup.platform.logging import get_logger
from trueup.platform.outbound import UnsafeDestinationError
from trueup.vendor_ingestion.announcements import announce_change
from trueup.vendor_ingestion.connectors import ConnectorScheduler, build_connector
from trueup.vendor_ingestion.models import ConnectorRow
from trueup.vendor_ingestion.repository import ConnectorRepository, ScheduleRepository
from trueup.vendor_ingestion.sealing import open_config, seal_config
from trueup.vendors.connectors import ConnectorError

log = get_logger(__name__)

DEFAULT_EVERY_SECONDS = 6 * 60 * 60
#: Addresses in a configuration; every other key is a credential.
ADDRESS_FIELDS = ("base_url", "token_url")
OPTIONAL_CREDENTIALS = {"pax8": ("token_url",)}


def _view(row: ConnectorRow, config: dict[str, Any], next_run_at: datetime | None) -> ConnectorView:
    return ConnectorView(
        connector_id=row.connector_id,
        name=row.name or row.connector_id,
        kind=row.kind,  # type: ignore[arg-type]
        vendor=row.vendor,
        base_url=str(config.get("base_url", "")),
        every_seconds=row.every_seconds,
        enabled=row.enabled,
        credential_fields=sorted(k for k in config if k not in ADDRESS_FIELDS),
        created_at=row.created_at,
        next_run_at=next_run_at if row.enabled else None,
        last_run_at=row.last_polled_at,
        last_status=row.last_status,  # type: ignore[arg-type]
        last_error=row.last_error,
        last_records=row.last_records,
    )


async def list_connectors(
    scheduler: ConnectorScheduler, envelope: Envelope[ListConnectors]
) -> ConnectorList:
    tenant_id = envelope.tenant_id
    async with scheduler.database.transaction(tenant_id) as session:
        rows = await ConnectorRepository(session, tenant_id).all()
        due = await ScheduleRepository(session).next_runs(tenant_id)
    return ConnectorList(
        items=[
            _view(row, open_config(scheduler.sealer, row.config), due.get(row.connector_id))
            for row in sorted(
                rows, key=lambda r: ((r.name or r.connector_id).lower(), r.connector_id)
            )
        ]
    )


async def _get_or_404(
    scheduler: ConnectorScheduler, tenant_id: str, connector_id: str
) -> ConnectorRow:
    async with scheduler.database.transaction(tenant_id) as session:
        row = await ConnectorRepository(session, tenant_id).get(connector_id)
    if row is None:
        raise QueryFailedError(404, "Not Found", "No such connector.")
    return row


def _credentials(kind: str, given: dict[str, str]) -> dict[str, str]:
    """The credentials a kind needs, trimmed; a 422 naming the first field that is wrong."""
    required = CONNECTOR_CREDENTIALS[kind]
    optional = OPTIONAL_CREDENTIALS.get(kind, ())
    for key in given:
        if key not in required and key not in optional:
            raise QueryFailedError(
                422,
                "Invalid connector credentials",
                f"credentials.{key}: not a {kind} credential (expected {', '.join(required)})",
            )
    cleaned = {key: value.strip() for key, value in given.items() if value.strip()}
    for key in required:
        if key not in cleaned:
            raise QueryFailedError(
                422, "Invalid connector credentials", f"credentials.{key}: required"
            )
    return cleaned


async def _check_addresses(scheduler: ConnectorScheduler, config: dict[str, Any]) -> None:
    for field in ADDRESS_FIELDS:
        url = config.get(field)
        if not url:
            continue
        field_name = field if field == "base_url" else f"credentials.{field}"
        try:
            await scheduler.policy.check_destination(str(url))
        except UnsafeDestinationError as exc:
            raise QueryFailedError(
                422, "Connector address not allowed", f"{field_name}: {exc.reason}"
            ) from exc


async def save_connector(
    scheduler: ConnectorScheduler, envelope: Envelope[SaveConnector]
) -> ConnectorView:
    """Create or change a connector; it is due at once, so a changed one polls soon."""
    tenant_id, command = envelope.tenant_id, envelope.payload
    if command.connector_id is None:
        missing = [
            field
            for field in ("name", "kind", "base_url", "credentials")
            if getattr(command, field) is None
        ]
        if missing:
            raise QueryFailedError(422, "Invalid connector", f"{missing[0]}: required")
        assert command.kind is not None
        row = ConnectorRow(
            tenant_id=tenant_id,
            connector_id=new_id(),
            name="",
            kind=command.kind,
            vendor=command.vendor or command.kind,
            config={},
            every_seconds=DEFAULT_EVERY_SECONDS,
            enabled=True,
            last_records=0,
            created_at=datetime.now(UTC),
        )
        config: dict[str, Any] = {}
    else:
        row = await _get_or_404(scheduler, tenant_id, command.connector_id)
        if command.kind is not None and command.kind != row.kind:
            raise QueryFailedError(
                422, "Invalid connector", "kind: a connector's kind cannot change"
            )
        config = open_config(scheduler.sealer, row.config)
    if command.credentials is not None:
        kept = {k: config[k] for k in ADDRESS_FIELDS if k in config}
        config = {**kept, **_credentials(row.kind, command.credentials)}
    if command.base_url is not None:
        config["base_url"] = command.base_url.strip().rstrip("/")
    await _check_addresses(scheduler, config)
    if command.name is not None:
        row.name = command.name.strip() or row.connector_id
    if command.vendor is not None:
        row.vendor = command.vendor
    if command.every_seconds is not None:
        row.every_seconds = command.every_seconds
    if command.enabled is not None:
        row.enabled = command.enabled
    saved = ConnectorRow(
        **{column.key: getattr(row, column.key) for column in ConnectorRow.__table__.columns}
    )
    saved.config = seal_config(scheduler.sealer, config)
    now = datetime.now(UTC)
    verb = "Added" if command.connector_id is None else "Changed"
    async with scheduler.database.transaction(tenant_id) as session:
        await ConnectorRepository(session, tenant_id).save(saved)
        schedules = ScheduleRepository(session)
        if saved.enabled:
            await schedules.set(tenant_id, saved.connector_id, now)
        else:
            await schedules.clear(tenant_id, saved.connector_id)
        await announce_change(
            session,
            envelope,
            command.actor,
            f"{verb} the {kind_name(saved.kind)} connector “{saved.name}”"
            + (" (credentials replaced)" if command.credentials and command.connector_id else ""),
        )
    scheduler.relay.notify()
    log.info("connector saved", connector_id=saved.connector_id, kind=saved.kind)
    return _view(saved, config, now)


def kind_name(kind: str) -> str:
    """A connector kind as a person knows it: "ninjaone" → "NinjaOne"."""
    return CONNECTOR_NAMES.get(kind, kind)


async def delete_connector(
    scheduler: ConnectorScheduler, envelope: Envelope[DeleteConnector]
) -> ConnectorDeleted:
    tenant_id, connector_id = envelope.tenant_id, envelope.payload.connector_id
    async with scheduler.database.transaction(tenant_id) as session:
        connectors = ConnectorRepository(session, tenant_id)
        row = await connectors.get(connector_id)
        if row is None:
            raise QueryFailedError(404, "Not Found", "No such connector.")
        await connectors.delete(connector_id)
        await announce_change(
            session,
            envelope,
            envelope.payload.actor,
            f"Deleted the {kind_name(row.kind)} connector “{row.name or connector_id}”",
        )
    scheduler.relay.notify()
    log.info("connector deleted", connector_id=connector_id)
    return ConnectorDeleted(connector_id=connector_id)


async def check_connector(
    scheduler: ConnectorScheduler, envelope: Envelope[CheckConnector], *, test_seconds: float
) -> ConnectorTestResult:
    """Poll once with the stored configuration; nothing is recorded."""
    row = await _get_or_404(scheduler, envelope.tenant_id, envelope.payload.connector_id)
    connector = build_connector(row, scheduler.sealer, scheduler.policy)
    try:
        async with asyncio.timeout(test_seconds):
            records = await connector.poll()
    except TimeoutError:
        return ConnectorTestResult(
            ok=False, detail=f"The vendor did not answer within {test_seconds:g} s."
        )
    except ConnectorError as exc:
        # The library's reasons are ours (a status, "not sent: <policy reason>"), never a body.
        return ConnectorTestResult(ok=False, detail=f"{exc.reason[:1].upper()}{exc.reason[1:]}.")
    except Exception:
        log.warning("connector test failed", connector_id=row.connector_id, exc_info=True)
        return ConnectorTestResult(ok=False, detail="The vendor's answer could not be used.")
    finally:
        await connector.aclose()
    return ConnectorTestResult(
        ok=True, detail=f"Connected: {len(records)} usage records.", records=len(records)
    )


async def run_connector(
    scheduler: ConnectorScheduler, envelope: Envelope[RunConnector], wake: Callable[[], None]
) -> ConnectorView:
    """Make the connector due now and wake the scheduler: it polls in the background."""
    tenant_id = envelope.tenant_id
    row = await _get_or_404(scheduler, tenant_id, envelope.payload.connector_id)
    if not row.enabled:
        raise QueryFailedError(409, "Connector disabled", "Enable the connector to run it.")
    now = datetime.now(UTC) - timedelta(microseconds=1)
    async with scheduler.database.transaction(tenant_id) as session:
        await ScheduleRepository(session).set(tenant_id, row.connector_id, now)
    wake()
    return _view(row, open_config(scheduler.sealer, row.config), now)
