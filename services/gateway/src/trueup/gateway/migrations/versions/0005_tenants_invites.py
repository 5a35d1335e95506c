"""Tenant status (suspended, deleting) and one-time invite links.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.types import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("status", sa.String(20), nullable=False, server_default="active")
        )
        batch.add_column(sa.Column("status_changed_at", UtcDateTime(), nullable=True))
    # Like the other identity tables, not under row-level security: an invite is looked
    # up by its token before anyone knows which tenant it is for.
    op.create_table(
        "invites",
        sa.Column("invite_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id"), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.Column("user_id", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("invites")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("status_changed_at")
        batch.drop_column("status")
