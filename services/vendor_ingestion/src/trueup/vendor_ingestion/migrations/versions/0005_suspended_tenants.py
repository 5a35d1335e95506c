"""Tenants the operator suspended, whose vendor webhooks are refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.migrations import enable_tenant_isolation
from trueup.platform.types import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suspended_tenants",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("suspended_at", UtcDateTime(), nullable=False),
    )
    # Read only once a webhook's endpoint names its tenant: it can sit under row-level
    # security like the rest.
    enable_tenant_isolation("suspended_tenants")


def downgrade() -> None:
    op.drop_table("suspended_tenants")
