"""Outbox, inbox, writeback jobs and their schedule.

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
        "jobs",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("command", sa.JSON, nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("causation_id", sa.String(64), nullable=False),
        sa.Column("psa", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("line_item_id", sa.String(64), nullable=True),
        sa.Column("written_ids", sa.JSON, nullable=False),
        sa.Column("quantity_before", DecimalType(), nullable=True),
        sa.Column("found_quantity", DecimalType(), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("psa_record_url", sa.String(1000), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_key"),
    )
    op.create_table(
        "job_schedule",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_job_schedule_due_at", "job_schedule", ["due_at"])
    enable_tenant_isolation("jobs")


def downgrade() -> None:
    op.drop_table("job_schedule")
    op.drop_table("jobs")
