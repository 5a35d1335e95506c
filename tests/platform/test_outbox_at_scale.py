"""The outbox over a long life: the relay finds the rows still to send through an index
of them alone, and published rows go once they are past their retention.

The relay asks for the oldest unsent rows on every wake. Without the index that query
walked every row ever published: the load suite's samples of PostgreSQL showed the live
usage lane's relay spending a sixth of its time there after a few minutes of traffic, more
the longer a service had run. Published rows were also kept forever.
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, Databases, _asyncpg_url
from tests.support import settings_for
from trueup.audit.settings import Settings as AuditSettings
from trueup.platform.database import Database
from trueup.platform.messaging import UNSENT_OUTBOX_INDEX, OutboxRelay, outbox_table
from trueup.platform.migrations import downgrade, upgrade
from trueup.platform.service import OUTBOX_PRUNE_SECONDS, ServiceRuntime

AUDIT_SUBJECT = "audit.tenant-a.entry.recorded.v1"
SERVICES = ("audit", "gateway", "psa_sync", "reconciliation", "vendor_ingestion", "writeback")


def migrations_of(service: str) -> Path:
    return importlib.import_module(f"trueup.{service}.main").MIGRATIONS  # type: ignore[no-any-return]


def outbox_row(
    event_id: str, created: datetime, published: datetime | None, *, subject: str
) -> dict[str, object]:
    """An outbox row as a service stages it, created and (if not None) published then."""
    return {
        "event_id": event_id,
        "tenant_id": "tenant-a",
        "subject": subject,
        "body": b"{}",
        "headers": {},
        "created_at": created,
        "published_at": published,
    }


async def migrated(databases: Databases, service: str) -> Database:
    url, schema = await databases.for_service(service)
    await asyncio.to_thread(upgrade, migrations_of(service), url, schema, revision="head")
    return Database(url, schema)


async def outbox_indexes(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {
                str(index["name"])
                for index in sa.inspect(sync).get_indexes("outbox", schema=database.schema)
            }
        )


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_migrates_its_outbox_to_the_index(
    databases: Databases, service: str
) -> None:
    database = await migrated(databases, service)
    try:
        assert UNSENT_OUTBOX_INDEX in await outbox_indexes(database)
    finally:
        await database.dispose()


async def test_the_migration_that_adds_the_index_goes_down_and_up(databases: Databases) -> None:
    database = await migrated(databases, "writeback")
    url = database.url.render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(
            downgrade, migrations_of("writeback"), url, database.schema, revision="0001"
        )
        # The first migration creates the outbox from the current table definition, which
        # has the index; the step down drops it all the same, and the step up restores it.
        assert UNSENT_OUTBOX_INDEX not in await outbox_indexes(database)
        await asyncio.to_thread(
            upgrade, migrations_of("writeback"), url, database.schema, revision="head"
        )
        assert UNSENT_OUTBOX_INDEX in await outbox_indexes(database)
    finally:
        await database.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="concurrent index builds are PostgreSQL's")
async def test_an_interrupted_concurrent_build_is_built_again(tmp_path: Path) -> None:
    # A concurrent build that fails midway leaves an invalid index of the same name, which
    # `IF NOT EXISTS` alone would take for done.
    databases = Databases("postgres", tmp_path)
    database = await migrated(databases, "writeback")
    url = database.url.render_as_string(hide_password=False)
    admin = Database(_asyncpg_url(POSTGRES_URL).render_as_string(hide_password=False))
    try:
        await asyncio.to_thread(
            downgrade, migrations_of("writeback"), url, database.schema, revision="0001"
        )
        async with admin.transaction() as session:
            await session.execute(
                sa.text(
                    f'CREATE INDEX {UNSENT_OUTBOX_INDEX} ON "{database.schema}".outbox (id) '
                    "WHERE published_at IS NULL"
                )
            )
            await session.execute(
                sa.text(
                    "UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
                    "CAST(:name AS regclass)"
                ),
                {"name": f'"{database.schema}".{UNSENT_OUTBOX_INDEX}'},
            )

        async def valid() -> bool | None:
            async with admin.transaction() as session:
                return await session.scalar(
                    sa.text(
                        "SELECT indisvalid FROM pg_index WHERE indexrelid = CAST(:n AS regclass)"
                    ),
                    {"n": f'"{database.schema}".{UNSENT_OUTBOX_INDEX}'},
                )

        assert await valid() is False
        await asyncio.to_thread(
            upgrade, migrations_of("writeback"), url, database.schema, revision="head"
        )
        assert await valid() is True
    finally:
        await admin.dispose()
        await database.dispose()
        await databases.drop()


async def test_the_relay_reads_the_unsent_rows_through_the_index(databases: Databases) -> None:
    database = await migrated(databases, "reconciliation")
    now = datetime.now(UTC)
    rows = [
        outbox_row(
            f"e{n}", now, None if n >= 2_000 else now, subject="recon.tenant-a.cards.changed.v1"
        )
        for n in range(2_003)
    ]
    relay = OutboxRelay(database, broker=None, service="reconciliation")  # type: ignore[arg-type]
    try:
        async with database.transaction() as session:
            await session.execute(outbox_table.insert(), rows)
        async with database.transaction() as session:
            await session.execute(sa.text("ANALYZE outbox"))
        async with database.transaction() as session:
            query = relay.pending()
            if database.is_postgres:
                compiled = query.with_for_update(skip_locked=True).compile(
                    dialect=session.bind.dialect, compile_kwargs={"literal_binds": True}
                )
                plan = "\n".join(await session.scalars(sa.text(f"EXPLAIN {compiled}")))
            else:
                compiled = query.compile(
                    dialect=session.bind.dialect, compile_kwargs={"literal_binds": True}
                )
                result = await session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))
                plan = "\n".join(str(row[-1]) for row in result)
            unsent = (await session.execute(query)).mappings().all()
        assert UNSENT_OUTBOX_INDEX in plan, plan
        assert [row["event_id"] for row in unsent] == ["e2000", "e2001", "e2002"]
    finally:
        await database.dispose()


async def test_published_rows_past_their_retention_are_pruned_and_unsent_ones_kept(
    databases: Databases,
) -> None:
    database = await migrated(databases, "audit")
    now = datetime.now(UTC)
    old, recent = now - timedelta(hours=30), now - timedelta(hours=1)
    ages = {
        **{f"old-published-{n}": (old, old) for n in range(5)},
        "old-unsent": (old, None),
        "recent-published": (recent, recent),
        "recent-unsent": (recent, None),
    }
    relay = OutboxRelay(database, broker=None, service="audit")  # type: ignore[arg-type]
    try:
        async with database.transaction() as session:
            await session.execute(
                outbox_table.insert(),
                [
                    outbox_row(event_id, created, published, subject=AUDIT_SUBJECT)
                    for event_id, (created, published) in ages.items()
                ],
            )
        # Batches of two: the five old published rows take three transactions.
        assert await relay.prune_published(timedelta(hours=24), batch_size=2) == 5
        async with database.transaction() as session:
            left = set(await session.scalars(sa.select(outbox_table.c.event_id)))
        assert left == {"old-unsent", "recent-published", "recent-unsent"}
        assert await relay.prune_published(timedelta(hours=24)) == 0
    finally:
        await database.dispose()


async def test_a_quiet_service_prunes_its_old_rows_too(databases: Databases) -> None:
    # Nothing created since the cutoff: the search for the first young row finds none.
    database = await migrated(databases, "writeback")
    old = datetime.now(UTC) - timedelta(days=9)
    relay = OutboxRelay(database, broker=None, service="writeback")  # type: ignore[arg-type]
    try:
        async with database.transaction() as session:
            await session.execute(
                outbox_table.insert(),
                [
                    outbox_row(f"e{n}", old, old, subject="writeback.tenant-a.applied.v1")
                    for n in range(3)
                ],
            )
        assert await relay.prune_published(timedelta(days=7)) == 3
    finally:
        await database.dispose()


async def test_every_service_prunes_on_a_schedule_by_its_retention_setting(
    databases: Databases,
) -> None:
    settings = await settings_for(
        AuditSettings, databases, "nats://127.0.0.1:1", outbox_retention_hours=1
    )
    runtime = ServiceRuntime(settings, migrations_of("audit"))
    await asyncio.to_thread(runtime.migrate)
    now = datetime.now(UTC)
    try:
        async with runtime.database.transaction() as session:
            await session.execute(
                outbox_table.insert(),
                [
                    outbox_row(event_id, now - age, now - age, subject=AUDIT_SUBJECT)
                    for event_id, age in (
                        ("two-hours-old", timedelta(hours=2)),
                        ("ten-minutes-old", timedelta(minutes=10)),
                    )
                ],
            )
        prune = next(t for t in runtime._periodic if t.name == "audit-outbox-prune")
        assert prune.interval_seconds == OUTBOX_PRUNE_SECONDS
        await prune.tick()
        async with runtime.database.transaction() as session:
            left = set(await session.scalars(sa.select(outbox_table.c.event_id)))
        assert left == {"ten-minutes-old"}
    finally:
        await runtime.database.dispose()
