"""Saving the tenant's billing settings: checked by the domain, stored, announced, and every
card recomputed under them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.reconciliation import state as st
from trueup.reconciliation.announcements import announce
from trueup.reconciliation.recompute import recompute
from trueup.reconciliation.repository import Repository


async def save_settings(
    session: AsyncSession, tenant_id: str, query: Envelope[r.SaveSettings]
) -> r.BillingSettings:
    repo = Repository(session, tenant_id)
    settings = query.payload.settings
    try:
        st.domain_settings(settings)  # the domain refuses a rule without a size limit
    except ValueError as exc:
        raise QueryFailedError(422, "Invalid settings", str(exc)) from exc
    (await repo.writable_settings_row()).settings = settings.model_dump(mode="json")
    await announce(
        session,
        tenant_id,
        m.SettingsChanged(
            section="billing",
            actor=query.payload.actor,
            summary=(
                f"cycle starts day {settings.cycle_start_day}, "
                f"{settings.proration_convention.replace('_', '-')} proration, "
                f"{len(settings.rules)} rule(s)"
            ),
        ),
        query,
    )
    await recompute(session, tenant_id, reason="settings", cause=query)
    return settings
