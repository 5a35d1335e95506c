"""Tables owned by audit: the append-only activity log and each tenant's retention."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trueup.platform.types import DecimalType, UtcDateTime


class Base(DeclarativeBase):
    pass


metadata = Base.metadata

DEFAULT_RETENTION_DAYS = 14


class ActionType(StrEnum):
    """What an entry records; the `action_type` filter takes these values."""

    APPROVE = "approve"
    ADD = "add"
    DISMISS = "dismiss"
    RESTORE = "restore"
    RETRY = "retry"
    """A failed writeback sent again; the writeback's own entry says how it ended."""
    WRITEBACK = "writeback"
    IMPORT = "import"
    MAPPING = "mapping"
    PSA_SYNC = "psa_sync"
    SETTINGS = "settings"
    SECURITY = "security"
    USAGE_REMOVAL = "usage_removal"
    TENANT = "tenant"
    """An operator's decision about a whole tenant, kept in the operator scope."""


class Outcome(StrEnum):
    APPLIED = "applied"
    CONFLICT = "conflict"
    FAILED = "failed"


class Entry(Base):
    """One activity log entry. Rows are inserted once and never updated (a trigger
    refuses updates); only the retention purge deletes them."""

    __tablename__ = "activity_entries"
    __table_args__ = (
        sa.Index("ix_activity_entries_tenant_time", "tenant_id", "occurred_at", "entry_id"),
        sa.Index("ix_activity_entries_tenant_contract", "tenant_id", "contract_psa_id"),
        sa.Index("ix_activity_entries_tenant_card", "tenant_id", "card_id"),
        sa.Index("ix_activity_entries_tenant_action", "tenant_id", "action_id"),
        sa.Index("ix_activity_entries_tenant_account", "tenant_id", "account_id"),
    )

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    entry_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    """Derived from the event id, so a redelivered event can never add a second row."""
    event_type: Mapped[str] = mapped_column(sa.String(100))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_kind: Mapped[str] = mapped_column(sa.String(20))
    actor_id: Mapped[str] = mapped_column(sa.String(200))
    actor_name: Mapped[str] = mapped_column(sa.String(500), default="")
    action_type: Mapped[str] = mapped_column(sa.String(40))
    outcome: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    summary: Mapped[str] = mapped_column(sa.Text)
    action_id: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    card_id: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    account_name: Mapped[str] = mapped_column(sa.String(500), default="")
    account_id: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    """The PSA account's id; None in entries recorded before events carried it."""
    service_line: Mapped[str] = mapped_column(sa.String(500), default="")
    contract_psa_id: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    quantity_before: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    quantity_after: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    price_before: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    price_after: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    currency: Mapped[str | None] = mapped_column(sa.String(3), nullable=True)
    """ISO 4217 code of the prices; None in entries recorded before events carried it."""
    effective_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    prorated_lines: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    """[{"effective_date": "YYYY-MM-DD", "quantity": "<decimal string>"}]: strings, so
    JSON never turns a quantity into a float."""
    correlation_id: Mapped[str] = mapped_column(sa.String(64))
    psa_record_url: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)


class TenantSettingsRow(Base):
    """A tenant's own activity-log settings; no row means the defaults."""

    __tablename__ = "tenant_settings"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    retention_days: Mapped[int] = mapped_column(sa.Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(sa.String(200))


class KnownTenant(Base):
    """Which tenants have activity, so the purge job can visit each one.

    The one table without row-level security: the job must list tenants before it can
    set one, and a tenant id is all this table holds.
    """

    __tablename__ = "known_tenants"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
