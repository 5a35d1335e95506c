"""Alembic, once for every service: each keeps its scripts in its own `migrations/`.

A service's `migrations/env.py` is two lines: import its metadata and call
`run_alembic_env(metadata)`. `upgrade(...)` runs them programmatically (used by
`python -m trueup.<service> migrate`, the embedded runtime and the tests).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy.engine import Connection

from trueup.platform.database import TENANT_SETTING, Database


def _config(script_location: Path, url: str, schema: str | None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["schema"] = schema
    return config


def upgrade(script_location: Path, url: str, schema: str | None = None) -> None:
    """Migrate one service's database to head (creating its PostgreSQL schema first)."""
    command.upgrade(_config(script_location, url, schema), "head")


def run_alembic_env(target_metadata: sa.MetaData) -> None:
    """The body of every service's `env.py`: run migrations on an async engine."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url") or ""
    schema = config.attributes.get("schema")
    database = Database(url, schema)

    def do_run(connection: Connection) -> None:
        if database.is_postgres and database.schema:
            exists = connection.scalar(
                sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"),
                {"schema": database.schema},
            )
            # CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database, which a
            # service role given only its own schema does not have.
            if not exists:
                connection.execute(sa.text(f'CREATE SCHEMA "{database.schema}"'))
            connection.execute(sa.text(f'SET search_path TO "{database.schema}"'))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=database.schema,
            render_as_batch=not database.is_postgres,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        async with database.engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await database.dispose()

    asyncio.run(run())


def enable_tenant_isolation(table: str) -> None:
    """Force row-level security on a tenant-owned table (PostgreSQL only).

    FORCE makes the policy bind the table's owner too; only superusers and BYPASSRLS
    roles escape it, and services connect as neither.
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    check = f"tenant_id = current_setting('{TENANT_SETTING}', true)"
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(f'CREATE POLICY tenant_isolation ON "{table}" USING ({check}) WITH CHECK ({check})')


def create_outbox_and_inbox() -> None:
    """The platform's own tables (outbox, inbox), created by each service's first migration."""
    from trueup.platform.messaging import platform_metadata

    platform_metadata.create_all(bind=op.get_bind(), checkfirst=True)
