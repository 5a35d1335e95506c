"""Cards say how usage is split over line items and whether a change is large; contracts
say whether their PSA can schedule a dated change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.types import DecimalType

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(
            sa.Column("dated_changes", sa.Boolean, nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("cards") as batch:
        batch.add_column(
            sa.Column("billed_elsewhere", DecimalType(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("carries_difference", sa.Boolean, nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("large_change", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("dated_changes")
    with op.batch_alter_table("cards") as batch:
        batch.drop_column("large_change")
        batch.drop_column("carries_difference")
        batch.drop_column("billed_elsewhere")
