"""Ingestion puts each batch of usage in its lane: imports and polls bulk, webhooks live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.conftest import Databases
from trueup.contracts import messages as m
from trueup.platform.database import Database
from trueup.platform.messaging import outbox_table
from trueup.platform.migrations import upgrade
from trueup.vendor_ingestion.main import MIGRATIONS
from trueup.vendor_ingestion.service import Delivery, record_deliveries, record_usage

TENANT = "lanes"


def _records(count: int) -> list[m.UsageRecord]:
    return [
        m.UsageRecord(
            vendor_account_id=f"acct-{n}",
            sku="EDR",
            quantity=Decimal(n),
            as_of=datetime.now(UTC),
        )
        for n in range(count)
    ]


@pytest.fixture
async def database(databases: Databases) -> AsyncIterator[Database]:
    url, schema = await databases.for_service("vendor_ingestion")
    await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
    database = Database(url, schema)
    try:
        yield database
    finally:
        await database.dispose()


async def _staged_subjects(database: Database) -> list[str]:
    async with database.transaction(TENANT) as session:
        rows = await session.execute(sa.select(outbox_table.c.subject).order_by(outbox_table.c.id))
        return [subject for (subject,) in rows]


class TestUsageLanes:
    async def test_an_import_goes_to_the_bulk_lane(self, database: Database) -> None:
        async with database.transaction(TENANT) as session:
            await record_usage(
                session,
                tenant_id=TENANT,
                vendor="huntress",
                source=m.UsageSource.CSV,
                records=_records(3),
                idempotency_key="file-1",
            )
        assert await _staged_subjects(database) == [f"usage.{TENANT}.imported.v1"]

    async def test_webhooks_stay_live_however_many_arrive_in_one_round(
        self, database: Database
    ) -> None:
        # 1,200 one-record webhooks make one round larger than a live event may be; each
        # delivery is small, so the round stays in the live lane. One large push goes bulk.
        deliveries = [
            Delivery("huntress", m.UsageSource.WEBHOOK, _records(1), f"wh-{n}") for n in range(1200)
        ]
        deliveries.append(
            Delivery("huntress", m.UsageSource.PUSH, _records(m.LIVE_USAGE_MAX_RECORDS + 1), "big")
        )
        async with database.transaction(TENANT) as session:
            await record_deliveries(session, tenant_id=TENANT, deliveries=deliveries)
        subjects = await _staged_subjects(database)
        assert subjects.count(f"usage.{TENANT}.reported.v1") == 2  # 1,200 records, 1,000 each
        assert subjects.count(f"usage.{TENANT}.imported.v1") == 2  # 1,001 records
        assert len(subjects) == 4
