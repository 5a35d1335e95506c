"""An email is unique per tenant, not across tenants.

A global unique constraint answered "already exists" to an admin of one tenant for an
address registered with another, which told them the address is a TrueUp user elsewhere.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.types import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _users(*constraints: sa.Constraint) -> sa.Table:
    return sa.Table(
        "users",
        sa.MetaData(),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id"), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        *constraints,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop the unnamed constraint of 0001: copy the table without it.
        with op.batch_alter_table("users", copy_from=_users(), recreate="always") as batch:
            batch.create_unique_constraint("uq_users_tenant_email", ["tenant_id", "email"])
    else:
        op.drop_constraint("users_email_key", "users", type_="unique")
        op.create_unique_constraint("uq_users_tenant_email", "users", ["tenant_id", "email"])
    # Login looks a user up by email alone, before the tenant is known.
    op.create_index("ix_users_email", "users", ["email"])


def downgrade() -> None:
    op.drop_index("ix_users_email", "users")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "users", copy_from=_users(sa.UniqueConstraint("tenant_id", "email",
            name="uq_users_tenant_email")), recreate="always"
        ) as batch:
            batch.drop_constraint("uq_users_tenant_email", type_="unique")
            batch.create_unique_constraint("users_email_key", ["email"])
    else:
        op.drop_constraint("uq_users_tenant_email", "users", type_="unique")
        op.create_unique_constraint("users_email_key", "users", ["email"])
