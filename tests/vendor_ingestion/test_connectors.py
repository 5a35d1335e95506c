"""The three demo connectors poll their simulators over HTTP and feed usage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import uvicorn

from tests.conftest import Databases
from tests.support import eventually, running_service, settings_for
from trueup.devstack.vendor_simulators import demo_connectors, huntress, ninjaone, pax8
from trueup.platform.tenants import SuspensionRepository
from trueup.vendor_ingestion.main import build
from trueup.vendor_ingestion.repository import (
    ConnectorRepository,
    ScheduleRepository,
    UsageRepository,
)
from trueup.vendor_ingestion.settings import Settings


@contextlib.asynccontextmanager
async def simulators() -> AsyncIterator[dict[str, str]]:
    # Port 0: the OS picks the port as it binds, so no other process can take it between
    # a free-port probe and the bind.
    servers: dict[str, uvicorn.Server] = {
        name: uvicorn.Server(
            uvicorn.Config(module.create_app(), host="127.0.0.1", port=0, log_level="warning")
        )
        for name, module in (("pax8", pax8), ("ninjaone", ninjaone), ("huntress", huntress))
    }
    tasks = [asyncio.create_task(server.serve()) for server in servers.values()]
    try:
        await eventually(
            lambda: asyncio.sleep(0, all(s.started for s in servers.values())),
            what="simulators",
        )
        yield {
            name: f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
            for name, server in servers.items()
        }
    finally:
        for server in servers.values():
            server.should_exit = True
        await asyncio.gather(*tasks)


class TestConnectors:
    async def test_demo_connectors_feed_usage_from_their_simulators(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str], tmp_path: Path
    ) -> None:
        tenant, _ = tenant_ids
        async with simulators() as urls:
            settings = await settings_for(
                Settings,
                databases,
                clean_nats,
                demo_tenant_id=tenant,
                demo_connectors=demo_connectors(urls),
                scratch_dir=tmp_path,
                connector_tick_seconds=3600.0,
            )
            async with running_service(build, settings) as (runtime, _app):

                async def polled() -> bool:
                    async with runtime.database.transaction(tenant) as session:
                        found = await ConnectorRepository(session, tenant).all()
                    return len(found) == 3 and all(c.last_status for c in found)

                await eventually(polled, what="the first poll of the demo connectors")
                async with runtime.database.transaction(tenant) as session:
                    usage = await UsageRepository(session, tenant).current_usage()
                    connectors = await ConnectorRepository(session, tenant).all()
                assert {c.connector_id: c.last_status for c in connectors} == {
                    "demo-huntress": "ok",
                    "demo-ninjaone": "ok",
                    "demo-pax8": "ok",
                }
                by_vendor = {row.vendor for row in usage}
                assert by_vendor == {"pax8", "ninjaone", "huntress"}
                assert all(row.quantity > Decimal(0) for row in usage)
                assert all(row.source == "connector" for row in usage)
                # Not due again yet: another tick polls nothing.
                assert await runtime_scheduler_tick(_app) == 0

                # A suspended tenant's connectors are not polled: their slot passes.
                async def due_now() -> None:
                    async with runtime.database.transaction(tenant) as session:
                        await ScheduleRepository(session).set(
                            tenant, "demo-pax8", datetime.now(UTC) - timedelta(seconds=1)
                        )

                async def suspend(suspended: bool) -> None:
                    async with runtime.database.transaction(tenant) as session:
                        await SuspensionRepository(session, tenant).set(
                            suspended, datetime.now(UTC)
                        )

                await suspend(True)
                await due_now()
                assert await runtime_scheduler_tick(_app) == 0
                assert await runtime_scheduler_tick(_app) == 0  # the slot was spent, not kept
                await suspend(False)
                await due_now()
                assert await runtime_scheduler_tick(_app) == 1


async def runtime_scheduler_tick(app: object) -> int:
    scheduler = app.state.scheduler  # type: ignore[attr-defined]
    return len(await scheduler.run_due())
