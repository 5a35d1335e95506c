"""Usage, import jobs, profiles, webhook endpoints, connectors.

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

TENANT_TABLES = (
    "usage_batches",
    "raw_usage",
    "import_jobs",
    "import_profiles",
    "webhook_endpoints",
    "webhook_secrets",
    "connectors",
)


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table(
        "usage_batches",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(400), primary_key=True),
        sa.Column("batch_id", sa.String(64), nullable=False, unique=True),
        sa.Column("vendor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False, index=True),
    )
    op.create_table(
        "raw_usage",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("vendor", sa.String(200), primary_key=True),
        sa.Column("vendor_account_id", sa.String(500), primary_key=True),
        sa.Column("sku", sa.String(500), primary_key=True),
        sa.Column("vendor_account_name", sa.String(500), nullable=False),
        sa.Column("sku_name", sa.String(500), nullable=False),
        sa.Column("quantity", DecimalType(), nullable=False),
        sa.Column("as_of", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False, index=True),
    )
    op.create_table(
        "import_jobs",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("import_id", sa.String(64), primary_key=True),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("object_name", sa.String(300), nullable=False),
        sa.Column("vendor", sa.String(100), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("progress_percent", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("detection", sa.JSON, nullable=True),
        sa.Column("preview", sa.JSON, nullable=True),
        sa.Column("suggestion", sa.JSON, nullable=True),
        sa.Column("profile_id", sa.String(64), nullable=True),
        sa.Column("mapping", sa.JSON, nullable=True),
        sa.Column("skip_invalid_rows", sa.Boolean, nullable=False),
        sa.Column("save_profile_as", sa.String(200), nullable=True),
        sa.Column("counts", sa.JSON, nullable=True),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("errors", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("unchanged_from", sa.String(64), nullable=True),
        sa.Column("batch_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.JSON, nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "import_profiles",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("header_fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("mapping", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "vendor", "name"),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("endpoint_id", sa.String(120), primary_key=True),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "webhook_secrets",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("secret_id", sa.String(64), primary_key=True),
        sa.Column("endpoint_id", sa.String(120), nullable=False, index=True),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "connectors",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("connector_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("every_seconds", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("last_polled_at", UtcDateTime(), nullable=True),
        sa.Column("last_status", sa.String(20), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("last_records", sa.Integer, nullable=False),
    )
    # Not tenant-scoped on purpose (see models.py): ids and times only.
    op.create_table(
        "connector_schedules",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("connector_id", sa.String(64), primary_key=True),
        sa.Column("next_run_at", UtcDateTime(), nullable=False, index=True),
    )
    op.create_table(
        "tenant_directory",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
    )
    for table in TENANT_TABLES:
        enable_tenant_isolation(table)


def downgrade() -> None:
    for table in ("tenant_directory", "connector_schedules", *reversed(TENANT_TABLES)):
        op.drop_table(table)
