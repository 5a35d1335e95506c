"""Vendor ingestion use cases. They run inside the caller's transaction and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import new_id, wrap
from trueup.contracts.messages import UsageRecord, UsageReported, UsageSource, subject_for
from trueup.platform.messaging import enqueue
from trueup.vendor_ingestion.models import RawUsage, UsageBatch
from trueup.vendor_ingestion.repository import UsageRepository


@dataclass(frozen=True, slots=True)
class RecordedUsage:
    """What happened to a batch: new (with its batch id) or a repeat that changed nothing."""

    batch_id: str | None
    unchanged: bool
    records: int


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
    that replaces accounts first forgets this vendor's earlier usage for them.
    """
    usage = UsageRepository(session, tenant_id)
    if await usage.batch_seen(idempotency_key):
        return RecordedUsage(batch_id=None, unchanged=True, records=len(records))
    batch_id = new_id()
    await usage.add_batch(
        UsageBatch(
            tenant_id=tenant_id,
            idempotency_key=idempotency_key,
            batch_id=batch_id,
            vendor=vendor,
            source=source.value,
            records=len(records),
            received_at=datetime.now(UTC),
        )
    )
    await usage.replace_accounts(vendor, replaces_accounts)
    for record in records:
        await usage.upsert_usage(
            RawUsage(
                tenant_id=tenant_id,
                vendor=vendor,
                vendor_account_id=record.vendor_account_id,
                sku=record.sku,
                vendor_account_name=record.vendor_account_name,
                sku_name=record.sku_name,
                quantity=record.quantity,
                as_of=record.as_of,
                source=source.value,
                batch_id=batch_id,
            )
        )
    subject = subject_for(UsageReported, tenant_id)
    # Events go out in batches; each carries its own id (Nats-Msg-Id), so a retried
    # publish of the same batch is dropped by the stream and never counted twice.
    for start in range(0, max(len(records), 1), batch_size):
        chunk = list(records[start : start + batch_size])
        event = UsageReported(
            vendor=vendor,
            source=source,
            batch_id=batch_id,
            records=chunk,
            replaces_accounts=list(replaces_accounts) if start == 0 else [],
        )
        await enqueue(
            session, subject, wrap(event, tenant_id=tenant_id, correlation_id=correlation_id)
        )
    return RecordedUsage(batch_id=batch_id, unchanged=False, records=len(records))
