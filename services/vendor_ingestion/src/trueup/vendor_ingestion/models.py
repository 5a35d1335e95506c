"""Tables owned by vendor_ingestion.

Every tenant-owned table has `tenant_id` first in its key and row-level security on
PostgreSQL. Two small tables are deliberately not tenant-scoped, because jobs that run
for every tenant must find them before a tenant is known: `tenant_directory` (which
tenants have ingestion data, for the idempotency-key purge) and `connector_schedules`
(when each connector is due; no credentials, only ids and times).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trueup.platform.tenants import keep_suspensions
from trueup.platform.types import DecimalType, UtcDateTime


class Base(DeclarativeBase):
    pass


metadata = Base.metadata


class UsageBatchRow(Base):
    """One received batch of usage, keyed by its idempotency key (file hash, webhook id).

    Kept for at least 400 days, far beyond the stream's duplicate window, so a vendor that
    re-sends last month's file or webhook changes nothing.
    """

    __tablename__ = "usage_batches"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    batch_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    vendor: Mapped[str] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(20))
    records: Mapped[int] = mapped_column(sa.Integer)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class RawUsage(Base):
    """Usage as the vendor reported it, latest per (vendor, vendor account, SKU)."""

    __tablename__ = "raw_usage"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    vendor_account_id: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    vendor_account_name: Mapped[str] = mapped_column(sa.String(500), default="")
    sku_name: Mapped[str] = mapped_column(sa.String(500), default="")
    quantity: Mapped[Decimal] = mapped_column(DecimalType())
    as_of: Mapped[datetime] = mapped_column(UtcDateTime())
    source: Mapped[str] = mapped_column(sa.String(20))
    batch_id: Mapped[str] = mapped_column(sa.String(64), index=True)


class ImportJob(Base):
    """One uploaded file: what was detected, how it was committed, how the import went."""

    __tablename__ = "import_jobs"
    # The profiles screen counts each profile's imports.
    __table_args__ = (sa.Index("ix_import_jobs_profile", "tenant_id", "profile_id"),)

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    import_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    file_name: Mapped[str] = mapped_column(sa.String(500))
    object_name: Mapped[str] = mapped_column(sa.String(300))
    vendor: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    progress_percent: Mapped[int] = mapped_column(sa.Integer, default=0)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    content_sha256: Mapped[str] = mapped_column(sa.String(64), default="")
    detection: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    preview: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    suggestion: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    profile_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    mapping: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    skip_invalid_rows: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    save_profile_as: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    counts: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    error_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    unchanged_from: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    batch_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    actor: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ImportProfile(Base):
    """A vendor's saved mapping, recognised by the header fingerprint of its files."""

    __tablename__ = "import_profiles"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "vendor", "name"),)

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    profile_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(200))
    header_fingerprint: Mapped[str] = mapped_column(sa.String(64), index=True)
    header_columns: Mapped[list[str]] = mapped_column(
        sa.JSON, default=list, server_default=sa.text("'[]'")
    )
    mapping: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebhookEndpoint(Base):
    """Where one vendor posts signed usage for one tenant."""

    __tablename__ = "webhook_endpoints"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebhookSecret(Base):
    """A signing secret of an endpoint; during a rotation the old one has `expires_at`."""

    __tablename__ = "webhook_secrets"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    secret_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(sa.String(120), index=True)
    secret: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ConnectorRow(Base):
    """A vendor API connector of a tenant: kind, where, credentials, and its last poll."""

    __tablename__ = "connectors"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    connector_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    kind: Mapped[str] = mapped_column(sa.String(40))
    vendor: Mapped[str] = mapped_column(sa.String(100))
    config: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    every_seconds: Mapped[int] = mapped_column(sa.Integer)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    last_polled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_status: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_records: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ConnectorSchedule(Base):
    """When a connector is next due (not tenant-scoped: the scheduler reads every tenant)."""

    __tablename__ = "connector_schedules"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    connector_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class TenantDirectory(Base):
    """Tenants with ingestion data, so the purge can visit each under its own tenant."""

    __tablename__ = "tenant_directory"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


# Ingestion's copy of which tenants are suspended: their vendor webhooks are refused and
# their connectors not polled until resumed.
suspended_tenants = keep_suspensions(metadata)
