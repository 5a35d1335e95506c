"""SQLAlchemy 2 async engines for SQLite (embedded) and PostgreSQL (distributed).

Each service owns its database: its own SQLite file, or its own PostgreSQL schema. On
PostgreSQL every transaction sets `app.tenant_id`, which the row-level-security policies
of tenant-owned tables compare against, so a query that forgets its tenant filter still
sees only that tenant's rows (and a transaction without a tenant sees none).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

TENANT_SETTING = "app.tenant_id"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 (before 3.12) begins a transaction only before the first write, so
    # a SAVEPOINT issued first (the inbox's) would open and, on release, commit on its
    # own: an inbox row could outlive the rolled-back effect it records. The driver stays
    # out of transaction control; `_sqlite_begin` starts every transaction itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; busy_timeout makes a second writer
    # wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A write transaction takes the write lock up front (IMMEDIATE): a deferred one that
    # read first could not upgrade once another writer committed (SQLITE_BUSY, which the
    # busy timeout does not wait out). Reads stay deferred and run beside the writer (WAL).
    if connection.get_execution_options().get(READONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


READONLY = "trueup_readonly"

POOL_RECYCLE_SECONDS = 900
"""A pooled PostgreSQL connection older than this is replaced at its next checkout."""
DEFAULT_POOL_SIZE = 5
"""PostgreSQL connections a process keeps open (SQLAlchemy's default)."""
DEFAULT_POOL_OVERFLOW = 10
"""Connections opened beyond the pool when every pooled one is in use, each closed again
when its transaction ends."""


def upsert_insert(dialect: str) -> Any:
    """`insert` of the dialect named (`session.get_bind().dialect.name`), whose statements
    take ON CONFLICT: the two databases TrueUp runs on each spell it in their own module."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


class Database:
    """One service's database: engine, sessions, tenant-scoped transactions."""

    def __init__(
        self,
        url: str,
        schema: str | None = None,
        *,
        echo: bool = False,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool_overflow: int = DEFAULT_POOL_OVERFLOW,
    ) -> None:
        self.url = make_url(url)
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        self.schema = schema if self.is_postgres else None
        if self.schema is not None and not _SCHEMA_NAME.match(self.schema):
            raise ValueError(f"invalid schema name {self.schema!r}")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_postgres:
            # No pre-ping: it costs three round trips (BEGIN, a ping, ROLLBACK) before
            # every transaction, which the load suite measured as the largest share of
            # small transactions. A connection the server dropped fails its first
            # statement instead; SQLAlchemy then sees the disconnect and discards every
            # connection pooled before it, and the caller's transaction is retried as any
            # database error is (redelivery, 503 with Retry-After, the next loop).
            # Recycling bounds how long a connection can sit idle behind a proxy that
            # drops it silently.
            kwargs["pool_recycle"] = POOL_RECYCLE_SECONDS
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_overflow
            if self.schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": self.schema}}
        else:
            database = self.url.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # One connection per checkout keeps SQLite's locking simple across tasks.
            kwargs["poolclass"] = NullPool
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if not self.is_postgres:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(**{READONLY: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time; handing the database from one transaction of
        # this process to the next directly beats SQLite's busy handler, which polls with
        # sleeps of up to 100 ms. (Transactions of one task must therefore not nest.)
        self._writer: asyncio.Lock | None = None if self.is_postgres else asyncio.Lock()

    @asynccontextmanager
    async def transaction(
        self, tenant_id: str | None = None, *, readonly: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed on success and rolled back on error.

        With `tenant_id`, PostgreSQL's row-level security scopes the transaction to it.
        `readonly` transactions run beside writers on SQLite instead of queueing for the
        write lock; they must not write.
        """
        if self._writer is not None and not readonly:
            async with self._writer, self._transaction(tenant_id, readonly) as session:
                yield session
            return
        async with self._transaction(tenant_id, readonly) as session:
            yield session

    @asynccontextmanager
    async def _transaction(
        self, tenant_id: str | None, readonly: bool
    ) -> AsyncIterator[AsyncSession]:
        maker = self.read_sessionmaker if readonly else self.sessionmaker
        async with maker() as session, session.begin():
            if tenant_id is not None:
                await self.act_for_tenant(session, tenant_id)
            yield session

    async def act_for_tenant(self, session: AsyncSession, tenant_id: str) -> None:
        """Scope the rest of this transaction to `tenant_id` (row-level security).

        For a batch that spans tenants: one commit for the batch, each tenant's part
        applied in turn. Every statement still sees and writes only the tenant in scope
        when it runs; the setting ends with the transaction.
        """
        if self.is_postgres:
            await session.execute(
                text("SELECT set_config(:name, :value, true)"),
                {"name": TENANT_SETTING, "value": tenant_id},
            )

    async def ping(self) -> None:
        """Raise if the database cannot answer `SELECT 1`."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


CANNOT_CONNECT_NOW = "57P03"
"""PostgreSQL's SQLSTATE while it starts up, shuts down or recovers."""


TRANSACTION_CONFLICTS = frozenset({"40P01", "40001"})
"""PostgreSQL's SQLSTATEs for a transaction it undid to break a deadlock, or for a
serialization failure."""


def transaction_conflict(error: BaseException) -> bool:
    """Whether `error` is the database undoing the transaction over a conflict with
    another (a deadlock): nothing it did stands, and the same work run again succeeds."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    return getattr(orig, "sqlstate", None) in TRANSACTION_CONFLICTS


def database_unreachable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached now but may be soon: a refused
    or reset connection, or a server still starting (what a restart or failover looks
    like to a client), as opposed to a wrong password or a bad statement."""
    if isinstance(error, OSError):
        return True
    if isinstance(error, DBAPIError):
        return (
            error.connection_invalidated
            or isinstance(error.orig, OSError)
            or getattr(error.orig, "sqlstate", None) == CANNOT_CONNECT_NOW
        )
    return getattr(error, "sqlstate", None) == CANNOT_CONNECT_NOW
