"""Live and bulk usage travel in lanes of their own: a webhook never waits behind an import.

A replica that runs only the live lane applies another tenant's webhook while an import
sits untouched in the bulk lane; a replica that runs the bulk lane then applies it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tests.bench.benchkit import psa_sync, usage_report
from tests.conftest import Databases
from tests.support import eventually, running_service, settings_for
from trueup.contracts import Payload, wrap
from trueup.contracts import messages as m
from trueup.platform.broker import publish_envelope
from trueup.platform.service import ServiceRuntime
from trueup.reconciliation.main import build
from trueup.reconciliation.models import Usage
from trueup.reconciliation.repository import Repository
from trueup.reconciliation.settings import Settings


class TestWhichLane:
    @pytest.mark.parametrize("source", [m.UsageSource.CSV, m.UsageSource.CONNECTOR])
    def test_imports_and_connector_polls_are_bulk(self, source: m.UsageSource) -> None:
        assert m.usage_event_model(source, 1) is m.UsageImported

    @pytest.mark.parametrize("source", [m.UsageSource.WEBHOOK, m.UsageSource.PUSH])
    def test_webhooks_and_pushes_are_live_up_to_one_event(self, source: m.UsageSource) -> None:
        assert m.usage_event_model(source, m.LIVE_USAGE_MAX_RECORDS) is m.UsageReported
        assert m.usage_event_model(source, m.LIVE_USAGE_MAX_RECORDS + 1) is m.UsageImported

    def test_the_lanes_have_their_own_subjects(self) -> None:
        assert m.subject_for(m.UsageReported, "t1") == "usage.t1.reported.v1"
        assert m.subject_for(m.UsageImported, "t1") == "usage.t1.imported.v1"


async def _publish(runtime: ServiceRuntime, tenant: str, payload: Payload) -> None:
    envelope = wrap(payload, tenant_id=tenant)
    await publish_envelope(
        runtime.broker,
        m.subject_for(type(payload), tenant),
        envelope.model_dump_json().encode(),
        envelope.event_id,
        envelope.correlation_id,
    )


async def _usage_of(runtime: ServiceRuntime, tenant: str) -> dict[str, Decimal]:
    async with runtime.database.transaction(tenant, readonly=True) as session:
        rows = await Repository(session, tenant).all_of(Usage)
    return {f"{row.vendor_account_id}/{row.sku}": row.quantity for row in rows}


class TestLanes:
    async def test_a_webhook_is_applied_while_an_import_waits_in_the_bulk_lane(
        self, databases: Databases, nats_url: str
    ) -> None:
        importer, webhooks = (f"lane{uuid.uuid4().hex[:8]}" for _ in range(2))
        live_only = await settings_for(Settings, databases, nats_url, usage_lanes=["live"])
        async with running_service(build, live_only) as (live, _):
            for tenant in (importer, webhooks):
                for payload in psa_sync(2, 2, sync_id=f"s-{tenant}"):
                    await _publish(live, tenant, payload)
            imported = usage_report({0: {0: 7, 1: 8}, 1: {0: 9}}, "imp", replace=True)
            await _publish(live, importer, m.UsageImported.model_validate(imported.model_dump()))
            webhook = usage_report({0: {0: 31}}, "wh", replace=False, source=m.UsageSource.WEBHOOK)
            await _publish(live, webhooks, webhook)

            async def webhook_applied() -> dict[str, Decimal] | None:
                return await _usage_of(live, webhooks) or None

            assert await eventually(webhook_applied, what="the webhook's usage") == {
                "px-0/SKU-0": Decimal(31)
            }
            # Nothing consumes the bulk lane here: the import has not been applied.
            assert await _usage_of(live, importer) == {}

        # The same database, now a replica that runs the bulk lane only.
        bulk_only = live_only.model_copy(update={"usage_lanes": ["bulk"]})
        async with running_service(build, bulk_only) as (bulk, _):

            async def import_applied() -> dict[str, Decimal] | None:
                return await _usage_of(bulk, importer) or None

            assert await eventually(import_applied, what="the import's usage") == {
                "px-0/SKU-0": Decimal(7),
                "px-0/SKU-1": Decimal(8),
                "px-1/SKU-0": Decimal(9),
            }
