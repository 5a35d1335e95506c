"""Tenants the operator suspended, whose vendor webhooks are refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from trueup.platform.tenants import SUSPENDED_TENANTS, create_suspended_tenants

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Read only once a webhook's endpoint names its tenant: it can sit under row-level
    # security like the rest.
    create_suspended_tenants()


def downgrade() -> None:
    op.drop_table(SUSPENDED_TENANTS.name)
