"""Tables owned by writeback: jobs (one per approved change) and the work schedule."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trueup.platform.types import DecimalType, UtcDateTime


class Base(DeclarativeBase):
    pass


metadata = Base.metadata


class Phase(enum.StrEnum):
    """How far a job got; each value is committed before the next step starts.

    `checked` means "ready to send step `step`, nothing of it sent" (the first step goes
    from `recorded` straight to `sending`: the check commits with it); `sending` means
    "step `step` may have reached the PSA": the only phase whose resume must first
    find out from the PSA whether the write happened. `verified` is committed only
    when a note follows; the note and the report commit together as `reported`.
    """

    RECORDED = "recorded"
    CHECKED = "checked"
    SENDING = "sending"
    SENT = "sent"
    VERIFIED = "verified"
    REPORTED = "reported"


class Status(enum.StrEnum):
    """Where a job stands for the card: in flight, or one of the final outcomes."""

    ACTIVE = "active"
    APPLIED = "applied"
    CONFLICT = "conflict"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"


FINAL_STATUSES = frozenset({Status.APPLIED, Status.CONFLICT, Status.FAILED, Status.DEAD_LETTERED})


class Job(Base):
    """One approved change to write to a PSA, keyed by the action's idempotency key."""

    __tablename__ = "jobs"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_key"),)

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    command: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    """The ApplyWriteback payload as received (JSON mode: decimals as strings)."""
    correlation_id: Mapped[str] = mapped_column(sa.String(64))
    causation_id: Mapped[str] = mapped_column(sa.String(64))
    psa: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20))
    phase: Mapped[str] = mapped_column(sa.String(20))
    step: Mapped[int] = mapped_column(sa.Integer, default=0)
    """Index of the change (in date order) being written or next to write."""
    line_item_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    """The line item the next step changes; ConnectWise's cancel-and-add moves it."""
    written_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    quantity_before: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    found_quantity: Mapped[Decimal | None] = mapped_column(DecimalType(), nullable=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    psa_record_url: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ScheduledJob(Base):
    """A job that still has work to do, and when.

    Not tenant-scoped on purpose (like the outbox): the worker must find due jobs of
    every tenant before it knows which tenant to open a transaction for. It holds ids
    and times only; everything about the change stays in `jobs`, under row-level security.
    The lease keeps two processes from driving one job at once.
    """

    __tablename__ = "job_schedule"

    job_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
