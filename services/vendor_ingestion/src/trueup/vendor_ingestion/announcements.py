"""What vendor_ingestion tells the activity log: a person's change to an integration."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import caused_by
from trueup.contracts.envelope import Envelope
from trueup.contracts.messages import Actor, SettingsChanged, subject_for
from trueup.platform.messaging import enqueue

INTEGRATIONS = "integrations"


async def announce_change(
    session: AsyncSession, cause: Envelope[Any], actor: Actor | None, summary: str
) -> None:
    """Stage the activity log's entry for a change of a connector or webhook endpoint,
    in the change's own transaction (published after commit by the outbox).

    A change without an actor (the demo's connectors saved at start) is nobody's act and
    is not logged.
    """
    if actor is None:
        return
    event = SettingsChanged(section=INTEGRATIONS, actor=actor, summary=summary)
    await enqueue(session, subject_for(SettingsChanged, cause.tenant_id), caused_by(cause, event))
