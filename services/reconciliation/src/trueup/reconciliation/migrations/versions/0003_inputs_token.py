"""A token of each tenant's reconciliation inputs, so a replica knows when the tenant
index it keeps in memory is still the stored state; cards found by account.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenant_settings") as batch:
        batch.add_column(sa.Column("inputs_token", sa.String(32), nullable=True))
    op.create_index("ix_cards_account", "cards", ["tenant_id", "account_id"])


def downgrade() -> None:
    op.drop_index("ix_cards_account", table_name="cards")
    with op.batch_alter_table("tenant_settings") as batch:
        batch.drop_column("inputs_token")
