"""A starting service waits for a database that is briefly away instead of crashing.

A pod restarted during a PostgreSQL restart or failover met refused connections in its
start-up migration and exited with a traceback (found by the load suite, whose SIGKILLed
writeback came back while the database was restarting). The database is reached here
through the load suite's proxy, which refuses connections as a restarting server does.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import POSTGRES_URL, Databases
from tests.load.postgres_outage import PostgresOutage
from trueup.platform.service import ServiceRuntime
from trueup.psa_sync.main import MIGRATIONS
from trueup.psa_sync.settings import Settings

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="needs a PostgreSQL server that can be away (TRUEUP_TEST_POSTGRES_URL)"
)


def _runtime(url: str, schema: str | None, wait_seconds: float) -> ServiceRuntime:
    settings = Settings(
        database_url=url, database_schema=schema, database_wait_seconds=wait_seconds
    )
    return ServiceRuntime(settings, MIGRATIONS)


async def _tables(url: str, schema: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


@pytest.fixture
def database(tmp_path: Path) -> tuple[Databases, str, str]:
    databases = Databases("postgres", tmp_path)
    url, schema = asyncio.run(databases.for_service("psa_sync"))
    assert schema is not None
    return databases, url, schema


def test_a_starting_service_migrates_once_its_database_is_back(
    database: tuple[Databases, str, str],
) -> None:
    databases, url, schema = database
    try:
        with PostgresOutage(url) as outage:
            outage.restart(down_seconds=2.0)
            time.sleep(0.3)  # the proxy is down: connections are refused from here
            started = time.monotonic()
            _runtime(outage.through(url), schema, wait_seconds=30).migrate()
            waited = time.monotonic() - started
            outage.wait()
        assert "inbox" in asyncio.run(_tables(url, schema))
        # It did wait for the database (not merely find it up).
        assert waited >= 1.0
    finally:
        asyncio.run(databases.drop())


def test_it_gives_up_after_its_wait(database: tuple[Databases, str, str]) -> None:
    databases, url, schema = database
    try:
        with PostgresOutage(url) as outage:
            outage.restart(down_seconds=5.0)
            time.sleep(0.3)
            started = time.monotonic()
            with pytest.raises(OSError):
                _runtime(outage.through(url), schema, wait_seconds=1.0).migrate()
            assert time.monotonic() - started < 4.0
            outage.wait()
        assert "inbox" not in asyncio.run(_tables(url, schema))
    finally:
        asyncio.run(databases.drop())
