"""Tables owned by reconciliation: usage as reported, and cards."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trueup.platform.types import DecimalType, UtcDateTime


class Base(DeclarativeBase):
    pass


metadata = Base.metadata


class Usage(Base):
    """The latest quantity each vendor reported for (vendor account, SKU)."""

    __tablename__ = "usage"

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


class Card(Base):
    """One card as last computed, with its cycle state."""

    __tablename__ = "cards"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    card_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(sa.String(20))
    account_name: Mapped[str] = mapped_column(sa.String(500))
    service_line: Mapped[str] = mapped_column(sa.String(500))
    contract_name: Mapped[str] = mapped_column(sa.String(500), default="")
    vendor: Mapped[str] = mapped_column(sa.String(200), default="")
    psa_quantity: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    vendor_quantity: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    delta: Mapped[Decimal] = mapped_column(DecimalType())
    stale: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
