"""Alembic, once for every service: each keeps its scripts in its own `migrations/`.

A service's `migrations/env.py` is two lines: import its metadata and call
`run_alembic_env(metadata)`. `upgrade(...)` runs them programmatically (used by
`python -m trueup.<service> migrate`, the embedded runtime and the tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from cryptography.fernet import InvalidToken
from sqlalchemy.engine import Connection

from trueup.platform.database import TENANT_SETTING, Database
from trueup.platform.secrets import CredentialSealer


def _config(
    script_location: Path, url: str, schema: str | None, attributes: Mapping[str, Any]
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes.update(attributes)
    config.attributes["schema"] = schema
    return config


def upgrade(
    script_location: Path,
    url: str,
    schema: str | None = None,
    *,
    revision: str = "head",
    attributes: Mapping[str, Any] | None = None,
) -> None:
    """Migrate one service's database to `revision` (creating its PostgreSQL schema first).

    `attributes` reach the migration scripts (`context.config.attributes`): the service's
    `credential_keys` settings, for a migration that seals existing rows.
    """
    command.upgrade(_config(script_location, url, schema, attributes or {}), revision)


def downgrade(script_location: Path, url: str, schema: str | None = None, *, revision: str) -> None:
    """Take one service's database back to `revision`, as a rollback of a release does."""
    command.downgrade(_config(script_location, url, schema, {}), revision)


def credential_sealer_for_migration() -> CredentialSealer:
    """The keyring a data migration seals with: the running service's settings, else the
    environment (`python -m trueup.<service> migrate`, a migration job)."""
    from trueup.platform.settings import CredentialKeySettings

    settings = context.config.attributes.get("credential_keys")
    if not isinstance(settings, CredentialKeySettings):
        settings = CredentialKeySettings()
    return settings.credential_sealer()


@contextlib.contextmanager
def every_tenant(table: str) -> Iterator[None]:
    """Let a data migration read and write every tenant's rows of a table.

    Row-level security is forced even for the table's owner; a migration that rewrites
    rows of all tenants lifts the force for its own transaction (DDL is transactional on
    PostgreSQL, so no other session ever sees the table unforced).
    """
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    yield
    if postgres:
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A column holding values sealed with the keyring: a token, or a JSON document
    holding the token under `json_field`."""

    table: str
    key_columns: tuple[str, ...]
    column: str
    json_field: str | None = None


def reseal(
    connection: Connection, columns: Sequence[SealedColumn], sealer: CredentialSealer
) -> int:
    """Re-seal, with the first key, every value still sealed with an older one; returns how
    many. Run after every migration, so a key rotation completes with `migrate`."""
    postgres = connection.dialect.name == "postgresql"
    changed = 0
    for spec in columns:
        value_type: sa.types.TypeEngine[Any] = sa.JSON() if spec.json_field else sa.Text()
        table = sa.table(
            spec.table,
            *(sa.column(name, sa.String) for name in spec.key_columns),
            sa.column(spec.column, value_type),
        )
        if postgres:
            # Row-level security binds the owner too: lift it inside this transaction only.
            connection.execute(sa.text(f'ALTER TABLE "{spec.table}" NO FORCE ROW LEVEL SECURITY'))
        keys = [table.c[name] for name in spec.key_columns]
        for row in connection.execute(sa.select(*keys, table.c[spec.column])).all():
            stored = row[-1]
            token = stored.get(spec.json_field) if spec.json_field else stored
            if not isinstance(token, str) or sealer.is_current(token):
                continue  # not sealed yet (a data migration's job) or already current
            try:
                rotated = sealer.rotate(token)
            except InvalidToken:
                continue  # sealed with a key no longer configured: left for a person
            new_value = {**stored, spec.json_field: rotated} if spec.json_field else rotated
            connection.execute(
                table.update()
                .where(*(column == value for column, value in zip(keys, row[:-1], strict=True)))
                .values({spec.column: new_value})
            )
            changed += 1
        if postgres:
            connection.execute(sa.text(f'ALTER TABLE "{spec.table}" FORCE ROW LEVEL SECURITY'))
    return changed


def _configured_sealer() -> CredentialSealer | None:
    try:
        return credential_sealer_for_migration()
    except RuntimeError:
        return None  # no keyring configured: nothing can be re-sealed


def run_alembic_env(
    target_metadata: sa.MetaData, sealed_columns: Sequence[SealedColumn] = ()
) -> None:
    """The body of every service's `env.py`: run migrations on an async engine, then
    re-seal the `sealed_columns` whose values an older key sealed (key rotation)."""
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
            # Alembic then begins the migrations' transaction itself, which a migration
            # that must run outside one (an index built concurrently) needs to commit.
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=database.schema,
            render_as_batch=not database.is_postgres,
        )
        with context.begin_transaction():
            context.run_migrations()
            sealer = _configured_sealer() if sealed_columns else None
            if sealer is not None:
                rotated = reseal(connection, sealed_columns, sealer)
                if rotated:
                    logging.getLogger(__name__).info(
                        "re-sealed %d values with the newest key", rotated
                    )

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


def index_unsent_outbox_rows() -> None:
    """The outbox's index of rows not yet published, for a service whose outbox was created
    without it (a service's first migration now creates it with the table).

    On PostgreSQL it is built concurrently, outside the migration's transaction: the outbox
    of a service that has run for long is large (published rows were kept for good), and a
    plain build would hold the running replicas' writes for as long as it took."""
    from trueup.platform.messaging import UNSENT_OUTBOX_INDEX

    create = (
        "CREATE INDEX {} IF NOT EXISTS "
        f"{UNSENT_OUTBOX_INDEX} ON outbox (id) WHERE published_at IS NULL"
    )
    if op.get_bind().dialect.name != "postgresql":
        op.execute(create.format(""))
        return
    with op.get_context().autocommit_block():
        # An interrupted concurrent build leaves an invalid index of that name behind,
        # which IF NOT EXISTS would take for done.
        invalid = op.get_bind().scalar(
            sa.text(
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace "
                "AND NOT i.indisvalid"
            ),
            {"name": UNSENT_OUTBOX_INDEX},
        )
        if invalid:
            op.execute(f"DROP INDEX CONCURRENTLY {UNSENT_OUTBOX_INDEX}")
        op.execute(create.format("CONCURRENTLY"))


def drop_unsent_outbox_index() -> None:
    from trueup.platform.messaging import UNSENT_OUTBOX_INDEX

    if op.get_bind().dialect.name != "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {UNSENT_OUTBOX_INDEX}")
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {UNSENT_OUTBOX_INDEX}")
