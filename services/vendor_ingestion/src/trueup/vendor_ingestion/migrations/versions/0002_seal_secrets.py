"""Seal connector credentials and webhook signing secrets stored in plain text.

Rows written before sealing existed are sealed in place with the service's keyring
(`TRUEUP_CREDENTIAL_KEYS`); rows already sealed are left alone, so the migration can run
again. A database holding plain secrets cannot be migrated without a key: it stops with
that reason rather than leave secrets in clear.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.migrations import credential_sealer_for_migration, every_tenant
from trueup.platform.secrets import CredentialSealer
from trueup.vendor_ingestion.sealing import (
    is_sealed_config,
    is_sealed_secret,
    seal_config,
    seal_secret,
)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_secrets = sa.table(
    "webhook_secrets",
    sa.column("tenant_id", sa.String),
    sa.column("secret_id", sa.String),
    sa.column("secret", sa.String),
)
_connectors = sa.table(
    "connectors",
    sa.column("tenant_id", sa.String),
    sa.column("connector_id", sa.String),
    sa.column("config", sa.JSON),
)


def upgrade() -> None:
    bind = op.get_bind()
    sealer: CredentialSealer | None = None

    def keyring() -> CredentialSealer:
        nonlocal sealer
        if sealer is None:
            sealer = credential_sealer_for_migration()
        return sealer

    with every_tenant("webhook_secrets"):
        for tenant_id, secret_id, secret in bind.execute(
            sa.select(_secrets.c.tenant_id, _secrets.c.secret_id, _secrets.c.secret)
        ).all():
            if is_sealed_secret(secret):
                continue
            bind.execute(
                _secrets.update()
                .where(_secrets.c.tenant_id == tenant_id, _secrets.c.secret_id == secret_id)
                .values(secret=seal_secret(keyring(), secret))
            )
    with every_tenant("connectors"):
        for tenant_id, connector_id, config in bind.execute(
            sa.select(_connectors.c.tenant_id, _connectors.c.connector_id, _connectors.c.config)
        ).all():
            if is_sealed_config(config):
                continue
            bind.execute(
                _connectors.update()
                .where(
                    _connectors.c.tenant_id == tenant_id,
                    _connectors.c.connector_id == connector_id,
                )
                .values(config=seal_config(keyring(), config))
            )


def downgrade() -> None:
    # Unsealing would write secrets back in clear: not offered. Restore a backup instead.
    raise NotImplementedError("sealed secrets are not unsealed by a downgrade")
