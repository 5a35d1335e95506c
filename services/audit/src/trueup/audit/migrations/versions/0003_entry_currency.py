"""The currency of an entry's prices, so that a price is never read without it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and never back-filled: entries are append-only (a trigger refuses UPDATE),
    # and the events of older entries did not say which currency their prices were in.
    op.add_column("activity_entries", sa.Column("currency", sa.String(3), nullable=True))


def downgrade() -> None:
    op.drop_column("activity_entries", "currency")
