"""Tenants the operator suspended, whose scheduled syncs are skipped.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from trueup.platform.tenants import SUSPENDED_TENANTS, create_suspended_tenants

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_suspended_tenants()


def downgrade() -> None:
    op.drop_table(SUSPENDED_TENANTS.name)
