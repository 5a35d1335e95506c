"""Recording usage, whatever its source. Runs inside the caller's transaction, never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import new_id, wrap
from trueup.contracts.messages import (
    UsageRecord,
    UsageReported,
    UsageSource,
    subject_for,
    usage_event_model,
)
from trueup.platform.database import Database
from trueup.platform.logging import bound_context, get_logger
from trueup.platform.messaging import enqueue, enqueue_many
from trueup.vendor_ingestion.models import UsageBatchRow
from trueup.vendor_ingestion.repository import TenantDirectoryRepository, UsageRepository
from trueup.vendors.usage import ReportedUsage

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RecordedUsage:
    """What happened to a batch: new (with its batch id) or a repeat that changed nothing."""

    batch_id: str | None
    unchanged: bool
    records: int
    previous_batch_id: str | None = None


async def record_usage(
    session: AsyncSession,
    *,
    tenant_id: str,
    vendor: str,
    source: UsageSource,
    records: Sequence[UsageRecord],
    idempotency_key: str,
    replaces_accounts: Sequence[str] = (),
    batch_size: int = 1000,
    correlation_id: str | None = None,
) -> RecordedUsage:
    """Store a batch of usage and stage its `usage.reported` events, once per key.

    A repeated key (the same file bytes, the same webhook id) changes nothing. A batch
    that replaces accounts first forgets this vendor's earlier usage for them, so a newer
    file replaces the older one instead of adding to it.
    """
    usage = UsageRepository(session, tenant_id)
    now = datetime.now(UTC)
    # A write first: SQLite then takes its write lock at the start of the transaction,
    # waiting for it if need be, instead of refusing a read-then-write transaction
    # mid-way ("database is locked") when another writer got in between.
    await TenantDirectoryRepository(session).remember(tenant_id, now)
    previous = await usage.batch_seen(idempotency_key)
    if previous is not None:
        return RecordedUsage(None, True, len(records), previous_batch_id=previous)
    batch_id = new_id()
    await usage.add_batch(
        UsageBatchRow(
            tenant_id=tenant_id,
            idempotency_key=idempotency_key,
            batch_id=batch_id,
            vendor=vendor,
            source=source.value,
            records=len(records),
            received_at=now,
        )
    )
    await usage.replace_accounts(vendor, replaces_accounts)
    await usage.upsert_usage(
        {
            "tenant_id": tenant_id,
            "vendor": vendor,
            "vendor_account_id": record.vendor_account_id,
            "sku": record.sku,
            "vendor_account_name": record.vendor_account_name,
            "sku_name": record.sku_name,
            "quantity": record.quantity,
            "as_of": record.as_of,
            "source": source.value,
            "batch_id": batch_id,
        }
        for record in records
    )
    event_model = usage_event_model(source, len(records))
    subject = subject_for(event_model, tenant_id)
    # Events go out in batches; each carries its own id (Nats-Msg-Id), so a retried
    # publish of the same batch is dropped by the stream and never counted twice.
    for start in range(0, max(len(records), 1), batch_size):
        event = event_model(
            vendor=vendor,
            source=source,
            batch_id=batch_id,
            records=list(records[start : start + batch_size]),
            replaces_accounts=list(dict.fromkeys(replaces_accounts)) if start == 0 else [],
        )
        await enqueue(
            session, subject, wrap(event, tenant_id=tenant_id, correlation_id=correlation_id)
        )
    return RecordedUsage(batch_id=batch_id, unchanged=False, records=len(records))


def contract_record(record: ReportedUsage) -> UsageRecord:
    """What a source reported, as the usage event carries it."""
    return UsageRecord(
        vendor_account_id=record.vendor_account_id,
        vendor_account_name=record.vendor_account_name or "",
        sku=record.sku,
        sku_name=record.sku_name or "",
        quantity=record.quantity,
        as_of=record.as_of,
    )


async def purge_idempotency_keys(database: Database, *, retention_days: int) -> int:
    """Forget idempotency keys older than the retention (400 days by default), per tenant."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    async with database.transaction() as session:
        tenants = await TenantDirectoryRepository(session).all()
    purged = 0
    for tenant_id in tenants:
        with bound_context(tenant_id=tenant_id):
            try:
                async with database.transaction(tenant_id) as session:
                    purged += await UsageRepository(session, tenant_id).purge_batches_before(cutoff)
            except Exception:  # one tenant's failure must not stop the others
                log.exception("idempotency key purge failed")
    if purged:
        log.info("purged idempotency keys", purged=purged, older_than=cutoff.isoformat())
    return purged


@dataclass(frozen=True, slots=True)
class Delivery:
    """One small batch of usage from a push source (a webhook, a push API call)."""

    vendor: str
    source: UsageSource
    records: Sequence[UsageRecord]
    idempotency_key: str


async def record_deliveries(
    session: AsyncSession,
    *,
    tenant_id: str,
    deliveries: Sequence[Delivery],
    batch_size: int = 1000,
    correlation_id: str | None = None,
) -> list[RecordedUsage]:
    """`record_usage` for many small deliveries at once, in a handful of statements.

    Same effect as recording each in turn (a repeated key, even within `deliveries`,
    changes nothing; each new delivery is remembered under its key),
    but with one statement per table instead of five per delivery (webhooks arrive by
    the thousand per second, one record each), and one `usage.reported` event per vendor
    and source, whose batch id the deliveries' own batch ids start with.
    """
    usage = UsageRepository(session, tenant_id)
    now = datetime.now(UTC)
    await TenantDirectoryRepository(session).remember(tenant_id, now)  # write lock first
    seen = await usage.batches_seen([d.idempotency_key for d in deliveries])
    results: list[RecordedUsage] = []
    batches: list[dict[str, object]] = []
    rows: dict[tuple[str, str, str], dict[str, object]] = {}
    # One event per vendor, source and lane for the whole round rather than one per
    # delivery: the relay then publishes a few events a second instead of a thousand. A
    # delivery's own size picks its lane, so a round of webhooks stays live however many.
    groups: dict[tuple[str, UsageSource, type[UsageReported]], tuple[str, list[UsageRecord]]] = {}
    for delivery in deliveries:
        previous = seen.get(delivery.idempotency_key)
        if previous is not None:
            results.append(
                RecordedUsage(None, True, len(delivery.records), previous_batch_id=previous)
            )
            continue
        lane = usage_event_model(delivery.source, len(delivery.records))
        group_id, grouped = groups.setdefault(
            (delivery.vendor, delivery.source, lane), (new_id(), [])
        )
        batch_id = f"{group_id}.{len(batches)}"
        seen[delivery.idempotency_key] = batch_id
        batches.append(
            {
                "tenant_id": tenant_id,
                "idempotency_key": delivery.idempotency_key,
                "batch_id": batch_id,
                "vendor": delivery.vendor,
                "source": delivery.source.value,
                "records": len(delivery.records),
                "received_at": now,
            }
        )
        grouped.extend(delivery.records)
        for record in delivery.records:
            # A later delivery of the same pair in this round wins, as it would in turn.
            rows[(delivery.vendor, record.vendor_account_id, record.sku)] = {
                "tenant_id": tenant_id,
                "vendor": delivery.vendor,
                "vendor_account_id": record.vendor_account_id,
                "sku": record.sku,
                "vendor_account_name": record.vendor_account_name,
                "sku_name": record.sku_name,
                "quantity": record.quantity,
                "as_of": record.as_of,
                "source": delivery.source.value,
                "batch_id": group_id,
            }
        results.append(RecordedUsage(batch_id, False, len(delivery.records)))
    if batches:
        events = [
            (
                subject_for(lane, tenant_id),
                wrap(
                    lane(
                        vendor=vendor,
                        source=source,
                        batch_id=group_id,
                        records=records[start : start + batch_size],
                    ),
                    tenant_id=tenant_id,
                    correlation_id=correlation_id,
                ),
            )
            for (vendor, source, lane), (group_id, records) in groups.items()
            for start in range(0, len(records), batch_size)
        ]
        await usage.add_batches(batches)
        await usage.upsert_usage(rows.values())
        await enqueue_many(session, events)
    return results
