"""Tables owned by vendor_ingestion."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trueup.platform.types import DecimalType, UtcDateTime


class Base(DeclarativeBase):
    pass


metadata = Base.metadata


class UsageBatch(Base):
    """One received batch of usage, keyed by its idempotency key (file hash, webhook id).

    Kept for at least 400 days, far beyond the stream's duplicate window, so a vendor that
    re-sends last month's file or webhook changes nothing.
    """

    __tablename__ = "usage_batches"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    batch_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    vendor: Mapped[str] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(20))
    records: Mapped[int] = mapped_column(sa.Integer)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


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
    batch_id: Mapped[str] = mapped_column(sa.String(64))
