"""Activity log, tenant settings, known tenants; outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.migrations import create_outbox_and_inbox, enable_tenant_isolation
from trueup.platform.types import DecimalType, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "activity entries are append-only"


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table(
        "activity_entries",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("actor_kind", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("actor_name", sa.String(500), nullable=False),
        sa.Column("action_type", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("action_id", sa.String(200), nullable=True),
        sa.Column("card_id", sa.String(200), nullable=True),
        sa.Column("account_name", sa.String(500), nullable=False),
        sa.Column("service_line", sa.String(500), nullable=False),
        sa.Column("contract_psa_id", sa.String(200), nullable=True),
        sa.Column("quantity_before", DecimalType(), nullable=True),
        sa.Column("quantity_after", DecimalType(), nullable=True),
        sa.Column("price_before", DecimalType(), nullable=True),
        sa.Column("price_after", DecimalType(), nullable=True),
        sa.Column("effective_date", sa.Date, nullable=True),
        sa.Column("prorated_lines", sa.JSON, nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("psa_record_url", sa.String(2000), nullable=True),
    )
    op.create_index(
        "ix_activity_entries_tenant_time",
        "activity_entries",
        ["tenant_id", "occurred_at", "entry_id"],
    )
    op.create_index(
        "ix_activity_entries_tenant_contract", "activity_entries", ["tenant_id", "contract_psa_id"]
    )
    op.create_index("ix_activity_entries_tenant_card", "activity_entries", ["tenant_id", "card_id"])
    op.create_index(
        "ix_activity_entries_tenant_action", "activity_entries", ["tenant_id", "action_id"]
    )
    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("retention_days", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "known_tenants",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
    )
    # known_tenants stays without row-level security: the purge job lists it before it
    # can set a tenant, and it holds nothing but tenant ids.
    for table in ("activity_entries", "tenant_settings"):
        enable_tenant_isolation(table)
    _refuse_updates()


def _refuse_updates() -> None:
    # No code path updates an entry; the database refuses it too, so a bug or a manual
    # session cannot rewrite history. Deleting stays possible for the retention purge.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION activity_entries_append_only() RETURNS trigger"
            f" LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER activity_entries_append_only BEFORE UPDATE ON activity_entries"
            " FOR EACH ROW EXECUTE FUNCTION activity_entries_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER activity_entries_append_only BEFORE UPDATE ON activity_entries"
            f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )


def downgrade() -> None:
    op.drop_table("known_tenants")
    op.drop_table("tenant_settings")
    op.drop_table("activity_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS activity_entries_append_only()")
