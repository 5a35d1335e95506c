"""Contracts a writeback changed, read again on their own instead of by a whole sync.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.migrations import enable_tenant_isolation
from trueup.platform.types import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_schedule") as batch:
        batch.add_column(sa.Column("refresh_at", UtcDateTime(), nullable=True))
    op.create_table(
        "contract_refreshes",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("connection_id", sa.String(64), primary_key=True),
        sa.Column("contract_psa_id", sa.String(100), primary_key=True),
    )
    enable_tenant_isolation("contract_refreshes")


def downgrade() -> None:
    op.drop_table("contract_refreshes")
    with op.batch_alter_table("sync_schedule") as batch:
        batch.drop_column("refresh_at")
