"""Tenant lifecycle: suspension (webhooks refused, connectors not polled) and deletion."""

from __future__ import annotations

from trueup.platform.service import ServiceRuntime
from trueup.platform.tenants import consume_tenant_deletions, consume_tenant_status
from trueup.vendor_ingestion.models import metadata
from trueup.vendor_ingestion.webhooks import WebhookReceiver


def register(runtime: ServiceRuntime, receiver: WebhookReceiver) -> None:
    # This replica refuses at once; another one within its endpoint cache's lifetime.
    consume_tenant_status(runtime, after=receiver.forget_tenant)
    consume_tenant_deletions(runtime, metadata)
