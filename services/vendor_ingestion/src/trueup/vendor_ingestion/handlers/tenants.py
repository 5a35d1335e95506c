"""The operator's decisions about a tenant: suspension (webhooks refused) and deletion."""

from __future__ import annotations

from datetime import UTC, datetime

from trueup.contracts.envelope import Envelope
from trueup.contracts.messages import TenantStatusChanged, spec_for
from trueup.platform.broker import durable_consumer
from trueup.platform.messaging import first_delivery
from trueup.platform.service import ServiceRuntime
from trueup.platform.tenants import consume_tenant_deletions
from trueup.vendor_ingestion.models import metadata
from trueup.vendor_ingestion.repository import SuspensionRepository
from trueup.vendor_ingestion.webhooks import WebhookReceiver


def register(runtime: ServiceRuntime, receiver: WebhookReceiver) -> None:
    async def on_status(envelope: Envelope[TenantStatusChanged]) -> None:
        tenant_id = envelope.tenant_id
        async with runtime.database.transaction(tenant_id) as session:
            if not await first_delivery(session, "vendor_ingestion-tenant-status", envelope):
                return
            suspended = envelope.payload.status == "suspended"
            await SuspensionRepository(session, tenant_id).set(suspended, datetime.now(UTC))
        # This replica refuses at once; another one within its endpoint cache's lifetime.
        receiver.forget_tenant(tenant_id)

    # One consumer in stream order: a suspend and the resume after it are never swapped.
    durable_consumer(
        runtime.broker,
        service=runtime.name,
        name="tenant-status",
        subject=spec_for(TenantStatusChanged).subject,
        model=TenantStatusChanged,
        handler=on_status,
        max_deliver=runtime.settings.max_deliver,
    )
    consume_tenant_deletions(runtime, metadata)
