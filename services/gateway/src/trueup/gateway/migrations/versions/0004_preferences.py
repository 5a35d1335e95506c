"""Saved views per user: the list view's columns, grouping, sort and filters.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
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
        "preferences",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    # Unlike the identity tables, preferences are only read once the caller (and so the
    # tenant) is known: they can sit under row-level security.
    enable_tenant_isolation("preferences")


def downgrade() -> None:
    op.drop_table("preferences")
