"""Connectors get a name people chose and the time they were created.

Existing connectors are named after their id (the demo's `demo-pax8`...), so the list in
Settings → Integrations never shows a blank name; their creation time stays unknown.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.migrations import every_tenant
from trueup.platform.types import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "connectors", sa.Column("name", sa.String(200), nullable=False, server_default="")
    )
    op.add_column("connectors", sa.Column("created_at", UtcDateTime(), nullable=True))
    connectors = sa.table(
        "connectors", sa.column("connector_id", sa.String), sa.column("name", sa.String)
    )
    with every_tenant("connectors"):
        op.execute(
            connectors.update()
            .where(connectors.c.name == "")
            .values(name=connectors.c.connector_id)
        )


def downgrade() -> None:
    with op.batch_alter_table("connectors") as batch:
        batch.drop_column("created_at")
        batch.drop_column("name")
