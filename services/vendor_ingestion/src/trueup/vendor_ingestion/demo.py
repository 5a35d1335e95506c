"""The demo tenant's starting usage, so a fresh `./task up` has something to show."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from trueup.contracts.messages import UsageRecord, UsageSource
from trueup.platform.service import ServiceRuntime
from trueup.vendor_ingestion.service import record_usage

DEMO_KEY = "demo-seed-v1"


def demo_records() -> list[UsageRecord]:
    now = datetime.now(UTC)
    return [
        UsageRecord(
            vendor_account_id="acme-inc",
            vendor_account_name="Acme, Inc.",
            sku="M365-BP",
            sku_name="Microsoft 365 Business Premium",
            quantity=Decimal(27),
            as_of=now,
        )
    ]


async def seed_demo_usage(runtime: ServiceRuntime, tenant_id: str) -> None:
    """Record the demo usage once (the idempotency key makes later starts a no-op)."""
    async with runtime.database.transaction(tenant_id) as session:
        await record_usage(
            session,
            tenant_id=tenant_id,
            vendor="pax8",
            source=UsageSource.CONNECTOR,
            records=demo_records(),
            idempotency_key=DEMO_KEY,
        )
    runtime.relay.notify()
