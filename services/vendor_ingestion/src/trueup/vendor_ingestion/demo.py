"""The demo tenant's connectors, as the development stack configures them.

`./task up` runs the three vendor simulators (ports 8111-8113) with a demo MSP's
clients and hands their addresses and demo credentials over `TRUEUP_DEMO_CONNECTORS`;
the demo tenant gets one connector each, polled as soon as the service starts (in the
background, so a simulator still starting delays nothing) and then on their schedules,
so usage is what the vendors' APIs report rather than seeded rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trueup.vendor_ingestion.connector_admin import kind_name
from trueup.vendor_ingestion.connectors import ConnectorScheduler
from trueup.vendor_ingestion.models import ConnectorRow
from trueup.vendor_ingestion.settings import Settings

DEMO_POLL_SECONDS = 6 * 60 * 60


def demo_connectors(settings: Settings, tenant_id: str) -> list[ConnectorRow]:
    """One connector per vendor in `settings.demo_connectors`, due at once."""
    return [
        ConnectorRow(
            tenant_id=tenant_id,
            connector_id=f"demo-{kind}",
            name=f"{kind_name(kind)} (demo)",
            kind=kind,
            vendor=kind,
            config=config,
            every_seconds=DEMO_POLL_SECONDS,
            enabled=True,
            last_records=0,
            created_at=datetime.now(UTC),
        )
        for kind, config in settings.demo_connectors.items()
    ]


async def configure_demo_connectors(
    scheduler: ConnectorScheduler, settings: Settings, tenant_id: str
) -> None:
    """Save the demo connectors, due now: the scheduler's first tick polls them."""
    for connector in demo_connectors(settings, tenant_id):
        await scheduler.configure(connector)
