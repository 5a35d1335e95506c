"""The walking skeleton: usage from vendor_ingestion becomes a card that the gateway serves.

Three services in one process, but talking only through a real nats-server (JetStream
for the usage event, request-reply for the card query) and each on its own database.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from tests.conftest import Databases
from tests.support import eventually, running_service, settings_for
from trueup.gateway.main import build as build_gateway
from trueup.gateway.settings import Settings as GatewaySettings
from trueup.reconciliation.main import build as build_reconciliation
from trueup.reconciliation.settings import Settings as ReconciliationSettings
from trueup.vendor_ingestion.main import build as build_ingestion
from trueup.vendor_ingestion.settings import Settings as IngestionSettings

API_KEY = "tu_test_skeleton_key_0123456789"


class TestWalkingSkeleton:
    async def test_usage_becomes_a_card_served_by_the_gateway(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other_tenant = tenant_ids
        recon = await settings_for(ReconciliationSettings, databases, clean_nats)
        ingestion = await settings_for(
            IngestionSettings, databases, clean_nats, demo_tenant_id=tenant
        )
        gateway = await settings_for(
            GatewaySettings,
            databases,
            clean_nats,
            bootstrap_tenant_id=tenant,
            bootstrap_api_key=SecretStr(API_KEY),
        )
        async with (
            running_service(build_reconciliation, recon),
            running_service(build_ingestion, ingestion),
        ):
            gateway_runtime, app = build_gateway(gateway)
            import asyncio

            await asyncio.to_thread(gateway_runtime.migrate)
            async with (
                LifespanManager(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://gateway"
                ) as client,
            ):
                headers = {"Authorization": f"Bearer {API_KEY}"}

                async def card() -> dict[str, Any] | None:
                    response = await client.get("/api/v1/cards", headers=headers)
                    assert response.status_code == 200, response.text
                    items: list[dict[str, Any]] = response.json()["items"]
                    return items[0] if items else None

                found = await eventually(card, what="the skeleton card")
                assert found["account_name"] == "Acme, Inc."
                assert found["service_line"] == "Microsoft 365 Business Premium"
                assert Decimal(found["vendor_quantity"]) == Decimal(27)
                assert found["vendor"] == "pax8"

                # Another tenant's key sees none of this tenant's cards.
                async with gateway_runtime.database.transaction() as session:
                    from trueup.gateway.identity.principal import Role
                    from trueup.gateway.identity.service import create_api_key, ensure_tenant

                    await ensure_tenant(session, other_tenant, "Other MSP")
                    _row, other_key = await create_api_key(session, other_tenant, "k", Role.ADMIN)
                other = await client.get(
                    "/api/v1/cards", headers={"Authorization": f"Bearer {other_key}"}
                )
                assert other.status_code == 200
                assert other.json()["items"] == []

                unauthenticated = await client.get("/api/v1/cards")
                assert unauthenticated.status_code == 401
                assert unauthenticated.headers["content-type"] == "application/problem+json"

    async def test_a_redelivered_usage_event_changes_nothing(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        import sqlalchemy as sa

        from trueup.contracts import wrap
        from trueup.contracts.messages import UsageReported, UsageSource, subject_for
        from trueup.platform.broker import publish_envelope
        from trueup.reconciliation.models import Usage
        from trueup.vendor_ingestion.demo import demo_records

        tenant, _ = tenant_ids
        recon = await settings_for(ReconciliationSettings, databases, clean_nats)
        async with running_service(build_reconciliation, recon) as (runtime, _app):
            envelope = wrap(
                UsageReported(
                    vendor="pax8",
                    source=UsageSource.CONNECTOR,
                    batch_id="b1",
                    records=demo_records(),
                ),
                tenant_id=tenant,
            )
            body = envelope.model_dump_json().encode()
            subject = subject_for(UsageReported, tenant)
            # The stream's duplicate window drops the second publish; the inbox would drop
            # a redelivery that got past it. Either way: one effect.
            for _ in range(2):
                await publish_envelope(
                    runtime.broker, subject, body, envelope.event_id, envelope.correlation_id
                )

            async def stored() -> int | None:
                async with runtime.database.transaction(tenant) as session:
                    count = await session.scalar(
                        sa.select(sa.func.count())
                        .select_from(Usage)
                        .where(Usage.tenant_id == tenant)
                    )
                return count or None

            assert await eventually(stored, what="usage stored") == 1
