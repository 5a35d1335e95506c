"""When each connection last synced in full: the next full sync is due by that age, not by
a count of syncs (every applied writeback asks for one).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.types import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("last_full_sync_at", UtcDateTime(), nullable=True))
    # Not known for a connection synced before: its last success stands in, so an upgrade
    # does not make every connection read its whole PSA at once.
    op.execute("UPDATE connections SET last_full_sync_at = last_success_at")


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("last_full_sync_at")
