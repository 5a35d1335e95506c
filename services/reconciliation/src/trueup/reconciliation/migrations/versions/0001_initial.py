"""Usage and cards.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.migrations import create_outbox_and_inbox, enable_tenant_isolation
from trueup.platform.types import DecimalType, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table(
        "usage",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("vendor", sa.String(200), primary_key=True),
        sa.Column("vendor_account_id", sa.String(500), primary_key=True),
        sa.Column("sku", sa.String(500), primary_key=True),
        sa.Column("vendor_account_name", sa.String(500), nullable=False),
        sa.Column("sku_name", sa.String(500), nullable=False),
        sa.Column("quantity", DecimalType(), nullable=False),
        sa.Column("as_of", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "cards",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("card_id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("account_name", sa.String(500), nullable=False),
        sa.Column("service_line", sa.String(500), nullable=False),
        sa.Column("contract_name", sa.String(500), nullable=False),
        sa.Column("vendor", sa.String(200), nullable=False),
        sa.Column("psa_quantity", DecimalType(), nullable=True),
        sa.Column("vendor_quantity", DecimalType(), nullable=True),
        sa.Column("delta", DecimalType(), nullable=False),
        sa.Column("stale", sa.Boolean, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    for table in ("usage", "cards"):
        enable_tenant_isolation(table)


def downgrade() -> None:
    op.drop_table("cards")
    op.drop_table("usage")
