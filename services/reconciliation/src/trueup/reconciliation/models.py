"""Tables owned by reconciliation: the PSA projection, usage, mappings, service lines,
cards and their cycle state, actions, and billing settings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trueup.platform.types import DecimalType, UtcDateTime


class Base(DeclarativeBase):
    pass


metadata = Base.metadata

_T = sa.String(64)
_ID = sa.String(200)


class AccountRow(Base):
    __tablename__ = "accounts"

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    account_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(500))
    identifier: Mapped[str] = mapped_column(sa.String(200), default="")
    connection_id: Mapped[str] = mapped_column(sa.String(64))
    suppress_new_revenue: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class ContractRow(Base):
    __tablename__ = "contracts"

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    contract_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(_ID)
    name: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(20))
    start_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    end_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    billing_cycle: Mapped[str] = mapped_column(sa.String(20))
    bill_in_advance: Mapped[bool] = mapped_column(sa.Boolean)
    proration_allowed: Mapped[bool] = mapped_column(sa.Boolean)
    currency: Mapped[str] = mapped_column(sa.String(3))
    connection_id: Mapped[str] = mapped_column(sa.String(64))
    psa: Mapped[str] = mapped_column(sa.String(20), default="")
    dated_changes: Mapped[bool] = mapped_column(sa.Boolean, default=True)


class LineItemRow(Base):
    __tablename__ = "line_items"

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    line_item_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    contract_id: Mapped[str] = mapped_column(_ID)
    product_id: Mapped[str] = mapped_column(_ID)
    product_name: Mapped[str] = mapped_column(sa.String(500))
    quantity: Mapped[Decimal] = mapped_column(DecimalType())
    unit_price: Mapped[Decimal] = mapped_column(DecimalType())
    unit_cost: Mapped[Decimal] = mapped_column(DecimalType())
    effective_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    cancelled_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)


class ServiceLineRow(Base):
    """One product across all accounts, with its vendor tag and sales unit."""

    __tablename__ = "service_lines"

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    service_line_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(500))
    product_id: Mapped[str] = mapped_column(_ID)
    vendor_tag: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    sales_unit: Mapped[str] = mapped_column(sa.String(50), default="each")
    catalogue_unit_price: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    catalogue_unit_cost: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)


class Usage(Base):
    """The latest quantity each vendor reported for (vendor account, SKU)."""

    __tablename__ = "usage"

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    vendor_account_id: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    vendor_account_name: Mapped[str] = mapped_column(sa.String(500), default="")
    sku_name: Mapped[str] = mapped_column(sa.String(500), default="")
    quantity: Mapped[Decimal] = mapped_column(DecimalType())
    as_of: Mapped[datetime] = mapped_column(UtcDateTime())
    source: Mapped[str] = mapped_column(sa.String(20))
    batch_id: Mapped[str] = mapped_column(sa.String(64))
    psa_account_hint: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)


class AccountMappingRow(Base):
    __tablename__ = "account_mappings"

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    vendor_account_id: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    excluded: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    automatic: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(sa.String(200))


class ServiceMappingRow(Base):
    """Vendor SKU -> service line; one SKU may feed several lines ('' when excluded)."""

    __tablename__ = "service_mappings"

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    service_line_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    factor: Mapped[Decimal] = mapped_column(DecimalType())
    rounding: Mapped[str] = mapped_column(sa.String(10))
    excluded: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    automatic: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class CardRow(Base):
    """A card as last computed, with its cycle state and the figures lists filter on."""

    __tablename__ = "cards"
    # The list view's default order (visible cards by service line), read page by page.
    __table_args__ = (
        sa.Index("ix_cards_list", "tenant_id", "hidden", "service_line", "account_name", "card_id"),
        # An incremental recompute replaces the cards of the accounts an input touched.
        sa.Index("ix_cards_account", "tenant_id", "account_id"),
    )

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    card_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(sa.String(20))
    hidden: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    actioned_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    account_id: Mapped[str] = mapped_column(_ID)
    account_name: Mapped[str] = mapped_column(sa.String(500))
    service_line_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    service_line: Mapped[str] = mapped_column(sa.String(500))
    contract_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    contract_name: Mapped[str] = mapped_column(sa.String(500))
    line_item_id: Mapped[str | None] = mapped_column(_ID, nullable=True)
    vendors: Mapped[str] = mapped_column(sa.String(500))
    psa_quantity: Mapped[Decimal] = mapped_column(DecimalType())
    vendor_quantity: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    target_quantity: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    delta: Mapped[Decimal] = mapped_column(DecimalType())
    unit_price: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    unit_cost: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    billing_cycle: Mapped[str] = mapped_column(sa.String(20))
    revenue_change: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    cost_change: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    profit_change: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    mrr_change: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    stale: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    usage_as_of: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    auto_approval: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_job_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    planned_effective_date: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    contributions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    billed_elsewhere: Mapped[Decimal] = mapped_column(DecimalType(), default=Decimal(0))
    carries_difference: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    large_change: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ActionRow(Base):
    __tablename__ = "actions"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "idempotency_key"),)

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    action_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    card_id: Mapped[str] = mapped_column(_ID)
    kind: Mapped[str] = mapped_column(sa.String(30))
    actor: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    result_state: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TenantSettingsRow(Base):
    __tablename__ = "tenant_settings"

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    last_sync_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    active_accounts: Mapped[int] = mapped_column(sa.Integer, default=0)
    cards_version: Mapped[int] = mapped_column(sa.Integer, default=0)
    """Incremented whenever a card changes: list totals are cached against it."""
    inputs_token: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    """New on every write to the tenant's inputs or card states (see `index_cache`)."""


class CycleScheduleRow(Base):
    """Each tenant's open cycle and the day it is due to close.

    Read across tenants by the job that closes idle tenants' cycles, so it holds nothing
    but a tenant id and dates (and has no row-level security: see migration 0004).
    """

    __tablename__ = "cycle_schedule"
    __table_args__ = (sa.Index("ix_cycle_schedule_closes_on", "closes_on"),)

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    open_start: Mapped[date] = mapped_column(sa.Date)
    closes_on: Mapped[date] = mapped_column(sa.Date)


class ClosedCycleRow(Base):
    """A closed billing cycle and what was decided in it (see `cycles.close_cycle`)."""

    __tablename__ = "closed_cycles"

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    cycle_start: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    cycle_end: Mapped[date] = mapped_column(sa.Date)
    """First day of the next cycle (exclusive)."""
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    summary: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    """Counts and approved money per currency (`CycleView` without its dates)."""


class CycleCardRow(Base):
    """A card as it stood when its cycle closed: the card as served, and its action."""

    __tablename__ = "cycle_cards"
    __table_args__ = (
        sa.Index("ix_cycle_cards_list", "tenant_id", "cycle_start", "service_line", "account_name"),
    )

    tenant_id: Mapped[str] = mapped_column(_T, primary_key=True)
    cycle_start: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    card_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(sa.String(20))
    account_name: Mapped[str] = mapped_column(sa.String(500))
    service_line: Mapped[str] = mapped_column(sa.String(500))
    contract_name: Mapped[str] = mapped_column(sa.String(500))
    card: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    """`CardItem` as the card view served it when the cycle closed."""
    action: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    """`CycleAction` taken on the card in the cycle, if any."""
