"""The demo tenant's connectors: Pax8, NinjaOne and Huntress against their simulators.

`./task up` runs the three vendor simulators (ports 8111-8113) with a demo MSP's
clients; the demo tenant gets one connector each, polled as soon as the service starts
(in the background, so a simulator still starting delays nothing) and then on their
schedules, so usage is what the vendors' APIs report rather than seeded rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from trueup.contracts.messages import UsageRecord
from trueup.vendor_ingestion.connectors import ConnectorScheduler
from trueup.vendor_ingestion.models import Connector
from trueup.vendor_ingestion.settings import Settings
from trueup.vendors.simulators import huntress, ninjaone, pax8

DEMO_POLL_SECONDS = 6 * 60 * 60
NAMES = {"pax8": "Pax8", "ninjaone": "NinjaOne", "huntress": "Huntress"}


def demo_connectors(settings: Settings, tenant_id: str) -> list[Connector]:
    """The three demo connectors, with the simulators' public demo credentials."""
    configs = {
        "pax8": {
            "base_url": settings.simulator_url("pax8"),
            "client_id": pax8.DEFAULT_CLIENT_ID,
            "client_secret": pax8.DEFAULT_CLIENT_SECRET,
        },
        "ninjaone": {
            "base_url": settings.simulator_url("ninjaone"),
            "client_id": ninjaone.DEFAULT_CLIENT_ID,
            "client_secret": ninjaone.DEFAULT_CLIENT_SECRET,
        },
        "huntress": {
            "base_url": settings.simulator_url("huntress"),
            "api_key": huntress.DEFAULT_API_KEY,
            "api_secret": huntress.DEFAULT_API_SECRET,
        },
    }
    return [
        Connector(
            tenant_id=tenant_id,
            connector_id=f"demo-{kind}",
            name=f"{NAMES[kind]} (demo)",
            kind=kind,
            vendor=kind,
            config=config,
            every_seconds=DEMO_POLL_SECONDS,
            enabled=True,
            last_records=0,
            created_at=datetime.now(UTC),
        )
        for kind, config in configs.items()
    ]


async def configure_demo_connectors(
    scheduler: ConnectorScheduler, settings: Settings, tenant_id: str
) -> None:
    """Save the demo connectors, due now: the scheduler's first tick polls them."""
    for connector in demo_connectors(settings, tenant_id):
        await scheduler.configure(connector)


def demo_records() -> list[UsageRecord]:
    """A small, fixed usage sample (one Microsoft 365 subscription) for tests."""
    return [
        UsageRecord(
            vendor_account_id="acme-inc",
            vendor_account_name="Acme, Inc.",
            sku="M365-BP",
            sku_name="Microsoft 365 Business Premium",
            quantity=Decimal(27),
            as_of=datetime.now(UTC),
        )
    ]
