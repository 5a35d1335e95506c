"""Saved import profiles (list, rename, delete) and the removal of usage reconciliation
decided on. Profile changes are recorded in the activity log as settings changes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import caused_by
from trueup.contracts.envelope import Envelope
from trueup.contracts.ingest import (
    DeleteProfile,
    ListProfiles,
    ProfileDeleted,
    ProfileList,
    ProfileView,
    RenameProfile,
)
from trueup.contracts.messages import SettingsChanged, UsageRemoved, subject_for
from trueup.platform.broker import QueryFailedError
from trueup.platform.database import Database
from trueup.platform.logging import get_logger
from trueup.platform.messaging import enqueue
from trueup.vendor_ingestion.imports import profile_view
from trueup.vendor_ingestion.models import ImportProfile
from trueup.vendor_ingestion.repository import ProfileRepository, UsageRepository

log = get_logger(__name__)

#: The activity log's section for profile changes ("Import profiles: ...").
SECTION = "import_profiles"


async def list_profiles(database: Database, envelope: Envelope[ListProfiles]) -> ProfileList:
    tenant_id = envelope.tenant_id
    async with database.transaction(tenant_id, readonly=True) as session:
        profiles = ProfileRepository(session, tenant_id)
        found = await profiles.all(envelope.payload.vendor)
        uses = await profiles.use_counts()
    return ProfileList(items=[profile_view(p, uses.get(p.profile_id, (0, None))) for p in found])


async def _profile_or_404(profiles: ProfileRepository, profile_id: str) -> ImportProfile:
    profile = await profiles.get(profile_id)
    if profile is None:
        raise QueryFailedError(404, "Profile not found", f"no import profile {profile_id}")
    return profile


async def rename_profile(database: Database, envelope: Envelope[RenameProfile]) -> ProfileView:
    """Rename a profile; a name another profile of the tenant has is refused (409)."""
    tenant_id, command = envelope.tenant_id, envelope.payload
    name = command.name.strip()
    if not name:
        raise QueryFailedError(422, "Name required", "a profile needs a name")
    async with database.transaction(tenant_id) as session:
        profiles = ProfileRepository(session, tenant_id)
        profile = await _profile_or_404(profiles, command.profile_id)
        if any(other.profile_id != profile.profile_id for other in await profiles.named(name)):
            raise QueryFailedError(
                409, "Name taken", f"another import profile is already named {name!r}"
            )
        previous = profile.name
        uses = (await profiles.use_counts()).get(profile.profile_id, (0, None))
        if previous != name:
            profile.name = name
            profile.updated_at = datetime.now(UTC)
            await session.flush()
            await _record(
                session,
                envelope,
                f"renamed {previous!r} ({profile.vendor}) to {name!r}",
            )
        return profile_view(profile, uses)


async def delete_profile(database: Database, envelope: Envelope[DeleteProfile]) -> ProfileDeleted:
    """Delete a profile: its files are no longer recognised; past imports are unchanged."""
    tenant_id, command = envelope.tenant_id, envelope.payload
    async with database.transaction(tenant_id) as session:
        profiles = ProfileRepository(session, tenant_id)
        profile = await _profile_or_404(profiles, command.profile_id)
        await profiles.delete(profile)
        await _record(session, envelope, f"deleted {profile.name!r} ({profile.vendor})")
    return ProfileDeleted(profile_id=command.profile_id)


async def _record(
    session: AsyncSession, envelope: Envelope[RenameProfile] | Envelope[DeleteProfile], what: str
) -> None:
    change = SettingsChanged(section=SECTION, actor=envelope.payload.actor, summary=what)
    await enqueue(
        session, subject_for(SettingsChanged, envelope.tenant_id), caused_by(envelope, change)
    )


async def apply_usage_removed(session: AsyncSession, envelope: Envelope[UsageRemoved]) -> None:
    """Drop the raw usage reconciliation removed, and forget its batches' keys, so the same
    file imported again is imported rather than found unchanged."""
    tenant_id, removed = envelope.tenant_id, envelope.payload
    usage = UsageRepository(session, tenant_id)
    rows = await usage.remove_usage(removed.vendor, removed.batch_id)
    await usage.forget_batches(removed.vendor, removed.batch_id)
    log.info(
        "usage removed",
        vendor=removed.vendor,
        batch_id=removed.batch_id,
        raw_rows=rows,
        removal_id=removed.removal_id,
    )


__all__ = ["apply_usage_removed", "delete_profile", "list_profiles", "rename_profile"]
