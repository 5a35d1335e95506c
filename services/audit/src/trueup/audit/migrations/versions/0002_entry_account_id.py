"""The PSA account id of an entry, so the account filter can match it exactly.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and never back-filled: entries are append-only (a trigger refuses UPDATE),
    # and older entries are still found by their account's name.
    op.add_column("activity_entries", sa.Column("account_id", sa.String(200), nullable=True))
    op.create_index(
        "ix_activity_entries_tenant_account", "activity_entries", ["tenant_id", "account_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_activity_entries_tenant_account", table_name="activity_entries")
    op.drop_column("activity_entries", "account_id")
