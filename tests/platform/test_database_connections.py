"""Pooled PostgreSQL connections: no ping before each transaction, and a dropped one is
replaced after one failed transaction.

The load suite's profiles showed each transaction of a service paying three extra round
trips before its first statement (SQLAlchemy's pre-ping: BEGIN, a ping, ROLLBACK). A
connection the server dropped now fails the one transaction that meets it; every caller
already retries a failed transaction (redelivery, 503 with Retry-After, the next loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, Databases
from trueup.platform.database import Database
from trueup.platform.service import ServiceRuntime
from trueup.writeback.settings import Settings as WritebackSettings

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="needs a PostgreSQL server (TRUEUP_TEST_POSTGRES_URL)"
)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    databases = Databases("postgres", tmp_path)
    url, schema = await databases.for_service("audit")
    database = Database(url, schema)
    try:
        yield database
    finally:
        await database.dispose()
        await databases.drop()


async def _backend_pid(database: Database) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(sa.text("SELECT pg_backend_pid()")) or 0)


async def test_a_transaction_sends_no_ping_first(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[Any] = []
    dialect = database.engine.sync_engine.dialect
    real_ping = dialect.do_ping

    def counted_ping(connection: Any) -> bool:
        pings.append(connection)
        return bool(real_ping(connection))

    monkeypatch.setattr(dialect, "do_ping", counted_ping)
    for _ in range(5):
        async with database.transaction("tenant-a") as session:
            assert await session.scalar(sa.text("SELECT 1")) == 1
    assert pings == []


async def test_a_dropped_connection_fails_one_transaction_then_the_pool_reconnects(
    database: Database,
) -> None:
    # Two pooled connections, both then dropped by the server (as a restart does).
    first, second = database.transaction(), database.transaction()
    async with first as a, second as b:
        pids = [
            int(await a.scalar(sa.text("SELECT pg_backend_pid()")) or 0),
            int(await b.scalar(sa.text("SELECT pg_backend_pid()")) or 0),
        ]
    assert pids[0] != pids[1]
    admin = Database(database.url.render_as_string(hide_password=False))
    try:
        async with admin.transaction() as session:
            for pid in pids:
                await session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    await asyncio.sleep(0.2)

    with pytest.raises(sa.exc.DBAPIError) as failed:
        await _backend_pid(database)
    assert failed.value.connection_invalidated
    # The other dropped connection was discarded with it: every later transaction works,
    # each on a new server process.
    later = [await _backend_pid(database) for _ in range(3)]
    assert not set(later) & set(pids)


async def test_as_many_transactions_as_the_pool_holds_reuse_its_connections(
    tmp_path: Path,
) -> None:
    """Sixteen transactions at once, on a pool of sixteen, open sixteen connections once;
    on the default pool of five, eleven of them opened a connection and closed it after
    (writeback drives sixteen jobs at once)."""
    databases = Databases("postgres", tmp_path)
    url, schema = await databases.for_service("writeback")
    settings = WritebackSettings(database_url=url, database_schema=schema)
    runtime = ServiceRuntime(settings, None)
    pids: list[int] = []
    try:
        assert runtime.database.engine.pool.size() == settings.database_pool_size == 16  # type: ignore[attr-defined]
        for _ in range(3):
            pids += await asyncio.gather(*(_held_backend_pid(runtime.database) for _ in range(16)))
    finally:
        await runtime.database.dispose()
        await databases.drop()
    assert len(set(pids)) == 16


async def _held_backend_pid(database: Database) -> int:
    async with database.transaction() as session:
        pid = int(await session.scalar(sa.text("SELECT pg_backend_pid()")) or 0)
        await asyncio.sleep(0.05)  # every transaction of the round is open at once
        return pid
