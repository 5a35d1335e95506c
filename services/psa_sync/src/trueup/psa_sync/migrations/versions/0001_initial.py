"""Connections, schedule, and the PSA projection.

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


def _keys() -> list[sa.Column[str]]:
    return [
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("connection_id", sa.String(64), primary_key=True),
    ]


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table(
        "connections",
        *_keys(),
        sa.Column("psa", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sealed_credentials", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("watermark", UtcDateTime(), nullable=True),
        sa.Column("last_success_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("last_error_at", UtcDateTime(), nullable=True),
        sa.Column("syncs_done", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "sync_schedule",
        *_keys(),
        sa.Column("next_run_at", UtcDateTime(), nullable=False),
        sa.Column("full_requested", sa.Boolean, nullable=False),
    )
    op.create_table(
        "psa_accounts",
        *_keys(),
        sa.Column("psa_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("identifier", sa.String(200), nullable=False),
        sa.Column("seen_sync_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "psa_contracts",
        *_keys(),
        sa.Column("psa_id", sa.String(100), primary_key=True),
        sa.Column("account_psa_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("billing_cycle", sa.String(20), nullable=False),
        sa.Column("bill_in_advance", sa.Boolean, nullable=False),
        sa.Column("proration_allowed", sa.Boolean, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("seen_sync_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "psa_line_items",
        *_keys(),
        sa.Column("psa_id", sa.String(100), primary_key=True),
        sa.Column("contract_psa_id", sa.String(100), nullable=False),
        sa.Column("product_id", sa.String(200), nullable=False),
        sa.Column("product_name", sa.String(500), nullable=False),
        sa.Column("quantity", DecimalType(), nullable=False),
        sa.Column("unit_price", DecimalType(), nullable=False),
        sa.Column("unit_cost", DecimalType(), nullable=False),
        sa.Column("effective_date", sa.Date, nullable=True),
        sa.Column("cancelled_date", sa.Date, nullable=True),
        sa.Column("seen_sync_id", sa.String(64), nullable=False),
    )
    # sync_schedule holds only ids and times, read across tenants by the scheduler.
    for table in ("connections", "psa_accounts", "psa_contracts", "psa_line_items"):
        enable_tenant_isolation(table)


def downgrade() -> None:
    for table in ("psa_line_items", "psa_contracts", "psa_accounts", "sync_schedule", "connections"):
        op.drop_table(table)
