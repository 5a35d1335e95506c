"""Closed billing cycles: each tenant's open cycle, and the cards of every closed cycle
as they stood, with the action taken on each.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
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
    op.create_table(
        "cycle_schedule",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("open_start", sa.Date, nullable=False),
        sa.Column("closes_on", sa.Date, nullable=False),
    )
    op.create_index("ix_cycle_schedule_closes_on", "cycle_schedule", ["closes_on"])
    op.create_table(
        "closed_cycles",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("cycle_start", sa.Date, primary_key=True),
        sa.Column("cycle_end", sa.Date, nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_table(
        "cycle_cards",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("cycle_start", sa.Date, primary_key=True),
        sa.Column("card_id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("account_name", sa.String(500), nullable=False),
        sa.Column("service_line", sa.String(500), nullable=False),
        sa.Column("contract_name", sa.String(500), nullable=False),
        sa.Column("card", sa.JSON, nullable=False),
        sa.Column("action", sa.JSON, nullable=True),
    )
    op.create_index(
        "ix_cycle_cards_list",
        "cycle_cards",
        ["tenant_id", "cycle_start", "service_line", "account_name"],
    )
    # cycle_schedule stays without row-level security: the job that closes idle tenants'
    # cycles lists it before it can set a tenant, and it holds nothing but ids and dates.
    for table in ("closed_cycles", "cycle_cards"):
        enable_tenant_isolation(table)


def downgrade() -> None:
    op.drop_table("cycle_cards")
    op.drop_table("closed_cycles")
    op.drop_index("ix_cycle_schedule_closes_on", table_name="cycle_schedule")
    op.drop_table("cycle_schedule")
