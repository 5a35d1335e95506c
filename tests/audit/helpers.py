"""Building events, publishing them, and reading the activity log straight from its table."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import nats
import sqlalchemy as sa

from trueup.audit.models import Entry
from trueup.contracts import Envelope, Payload, wrap
from trueup.contracts.messages import (
    ActionRecorded,
    Actor,
    ImportFinished,
    ImportStatus,
    MappingChanged,
    ProratedChange,
    PsaSyncCompleted,
    SettingsChanged,
    WritebackApplied,
    WritebackConflict,
    WritebackFailed,
    subject_for,
)
from trueup.platform.broker import publish_envelope
from trueup.platform.service import ServiceRuntime

JANE = Actor(kind="user", id="user-jane", name="Jane Biller")
RULE = Actor(kind="rule", id="rule-m365", name="Auto-approve M365 up to 5 seats")
CW_TRAIL = "https://cw.example/v4_6_release/services/system_io/router/openrecord.rails?recordType=AgreementFV&recid=4711#audit"

CHANGES = [
    ProratedChange(effective_date=date(2026, 11, 16), quantity=Decimal(30)),
    ProratedChange(effective_date=date(2026, 11, 1), quantity=Decimal("27.5")),
]


def approve(action_id: str = "act-1", card_id: str = "card-1", **extra: Any) -> ActionRecorded:
    fields: dict[str, Any] = {
        "action_id": action_id,
        "card_id": card_id,
        "action": "approve",
        "actor": JANE,
        "account_name": "Acme, Inc.",
        "service_line": "Microsoft 365 Business Premium",
        "contract_psa_id": "4711",
        "account_id": "company-17",
        "contract_name": "Managed Services",
        "quantity_before": Decimal(25),
        "quantity_after": Decimal(30),
        "unit_price_before": Decimal("20.00"),
        "unit_price": Decimal("22.00"),
        "effective_date": date(2026, 11, 1),
        "changes": CHANGES,
        **extra,
    }
    return ActionRecorded(**fields)


def outcome_fields(action_id: str = "act-1", card_id: str = "card-1") -> dict[str, Any]:
    """The fields of an outcome as writeback sent them before it passed names on."""
    return {
        "job_id": f"job-{action_id}",
        "actor": JANE,
        "idempotency_key": f"key-{action_id}",
        "card_id": card_id,
        "action_id": action_id,
        "psa": "connectwise",
        "contract_psa_id": "4711",
        "line_item_psa_id": "li-9",
        "quantity_before": Decimal(25),
        "quantity_after": Decimal(30),
        "effective_date": date(2026, 11, 1),
        "psa_record_url": CW_TRAIL,
    }


def applied(action_id: str = "act-1", card_id: str = "card-1") -> WritebackApplied:
    return WritebackApplied(**outcome_fields(action_id, card_id), written_ids=["adj-1"])


def conflict(action_id: str = "act-1", card_id: str = "card-1") -> WritebackConflict:
    return WritebackConflict(
        **outcome_fields(action_id, card_id),
        expected_quantity=Decimal(25),
        found_quantity=Decimal(26),
    )


def failed(action_id: str = "act-1", card_id: str = "card-1") -> WritebackFailed:
    return WritebackFailed(
        **outcome_fields(action_id, card_id),
        error="PSA answered 503",
        attempts=8,
        dead_lettered=True,
    )


def one_of_each() -> list[Payload]:
    """One event of every type the activity log records."""
    return [
        approve(),
        applied(),
        conflict("act-2", "card-2"),
        failed("act-3", "card-3"),
        account_mapped(),
        ImportFinished(
            import_id="imp-1",
            vendor="pax8",
            file_name="november.csv",
            status=ImportStatus.COMPLETED,
            rows_read=40,
            rows_imported=38,
            rows_skipped=2,
            actor=JANE,
        ),
        PsaSyncCompleted(
            connection_id="cw",
            sync_id="s1",
            full=True,
            batches=2,
            accounts=12,
            contracts=15,
            line_items=80,
            active_accounts=11,
        ),
        SettingsChanged(section="billing_cycle", actor=JANE, summary="cycle starts on day 1"),
    ]


def at(envelope: Envelope[Any], occurred_at: datetime) -> Envelope[Any]:
    """The same envelope, as if it had occurred at `occurred_at`."""
    return envelope.model_copy(update={"occurred_at": occurred_at})


async def publish(
    runtime: ServiceRuntime, envelope: Envelope[Any], *, msg_id: str | None = None
) -> None:
    """Publish an envelope on its subject; `msg_id` overrides the stream's dedup id."""
    subject = subject_for(type(envelope.payload), envelope.tenant_id)
    await publish_envelope(
        runtime.broker,
        subject,
        envelope.model_dump_json().encode(),
        msg_id or envelope.event_id,
        envelope.correlation_id,
    )


def event(payload: Payload, tenant_id: str, **kwargs: Any) -> Envelope[Any]:
    return wrap(payload, tenant_id=tenant_id, **kwargs)


async def stored(runtime: ServiceRuntime, tenant_id: str) -> list[Entry]:
    """Every entry of a tenant, oldest first, read directly from the table."""
    async with runtime.database.transaction(tenant_id) as session:
        rows = await session.scalars(
            sa.select(Entry)
            .where(Entry.tenant_id == tenant_id)
            .order_by(Entry.occurred_at, Entry.entry_id)
        )
        return list(rows.all())


async def consumers_drained(nats_url: str, durable_prefix: str = "audit-") -> None:
    """Wait until every audit consumer has delivered and acked all it has been sent."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        for _ in range(150):
            busy = False
            for stream in ("RECON", "WRITEBACK", "INGEST", "PSA", "TENANT"):
                for info in await js.consumers_info(stream):
                    if not info.name.startswith(durable_prefix):
                        continue
                    if (info.num_pending or 0) or (info.num_ack_pending or 0):
                        busy = True
            if not busy:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("audit consumers did not drain")
    finally:
        await connection.close()


def mapping_changed() -> MappingChanged:
    return MappingChanged(
        kind="service",
        change="mapped",
        vendor="pax8",
        vendor_key="M365-BP",
        target_id="sl-m365bp",
        actor=JANE,
        vendor_key_name="Microsoft 365 Business Premium (monthly)",
        target_name="Microsoft 365 Business Premium",
    )


def account_mapped(**extra: Any) -> MappingChanged:
    fields: dict[str, Any] = {
        "kind": "account",
        "change": "mapped",
        "vendor": "pax8",
        "vendor_key": "acme-tenant",
        "target_id": "company-17",
        "actor": JANE,
        "vendor_key_name": "ACME Incorporated",
        "target_name": "Acme, Inc.",
        **extra,
    }
    return MappingChanged(**fields)
