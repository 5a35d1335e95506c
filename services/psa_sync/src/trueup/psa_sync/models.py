"""Tables owned by psa_sync: connections, their schedule, and the PSA as last read."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trueup.platform.tenants import keep_suspensions
from trueup.platform.types import DecimalType, UtcDateTime


class Base(DeclarativeBase):
    pass


metadata = Base.metadata

# psa_sync's copy of which tenants are suspended: their scheduled syncs are skipped.
suspended_tenants = keep_suspensions(metadata)


class Connection(Base):
    """A tenant's PSA connection. Credentials are sealed (Fernet) and never leave sealed."""

    __tablename__ = "connections"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    psa: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(200))
    sealed_credentials: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="never_synced")
    watermark: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """Start of the last successful sync: the next incremental sync reads changes since."""
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    syncs_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_full_sync_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """Start of the last successful full sync: the next is due a set time after."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SyncSchedule(Base):
    """When each connection syncs next. Ids and times only, so the scheduler can read it
    across tenants without lifting row-level security on tenant data."""

    __tablename__ = "sync_schedule"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime())
    full_requested: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    refresh_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """When the contracts in `contract_refreshes` are to be read again; None when none are."""


class ContractRefresh(Base):
    """A contract a writeback changed, to be read again from the PSA on its own: after a
    writeback only that contract differs, and a sync would read every contract's line
    items (ConnectWise lists additions per agreement: one request each)."""

    __tablename__ = "contract_refreshes"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    contract_psa_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)


class PsaAccountRow(Base):
    __tablename__ = "psa_accounts"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    psa_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(500))
    identifier: Mapped[str] = mapped_column(sa.String(200), default="")
    seen_sync_id: Mapped[str] = mapped_column(sa.String(64))


class PsaContractRow(Base):
    __tablename__ = "psa_contracts"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    psa_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    account_psa_id: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(20))
    start_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    end_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    billing_cycle: Mapped[str] = mapped_column(sa.String(20))
    bill_in_advance: Mapped[bool] = mapped_column(sa.Boolean)
    proration_allowed: Mapped[bool] = mapped_column(sa.Boolean)
    currency: Mapped[str] = mapped_column(sa.String(3))
    active: Mapped[bool] = mapped_column(sa.Boolean)
    seen_sync_id: Mapped[str] = mapped_column(sa.String(64))


class PsaLineItemRow(Base):
    __tablename__ = "psa_line_items"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    psa_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    contract_psa_id: Mapped[str] = mapped_column(sa.String(100))
    product_id: Mapped[str] = mapped_column(sa.String(200))
    product_name: Mapped[str] = mapped_column(sa.String(500))
    quantity: Mapped[Decimal] = mapped_column(DecimalType())
    unit_price: Mapped[Decimal] = mapped_column(DecimalType())
    unit_cost: Mapped[Decimal] = mapped_column(DecimalType())
    effective_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    cancelled_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    seen_sync_id: Mapped[str] = mapped_column(sa.String(64))
