"""What reconciliation tells the other services, through the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, Payload, caused_by, wrap
from trueup.contracts import messages as m
from trueup.platform.messaging import enqueue

SYSTEM = m.Actor(kind="system", id="reconciliation", name="TrueUp")


async def announce(
    session: AsyncSession, tenant_id: str, payload: Payload, cause: Envelope[Any] | None
) -> None:
    envelope = caused_by(cause, payload) if cause else wrap(payload, tenant_id=tenant_id)
    await enqueue(session, m.subject_for(type(payload), tenant_id), envelope)
