"""Tenant use cases for the operator (CLI and API); they run in the caller's transaction.

Every change and the event that announces it commit together (outbox): the CLI needs
only the gateway's database, and the running gateway's relay publishes. Each event names
the operator who acted (`operator_actor`); audit keeps them in the operator scope.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import messages as m
from trueup.contracts import new_id, wrap
from trueup.gateway.identity import service as identity
from trueup.gateway.identity.principal import Role
from trueup.gateway.identity.text import SafeText
from trueup.gateway.models import Invite, Tenant, User
from trueup.platform.messaging import enqueue

OPERATOR_NAME_MAX = 100
_SAFE_TEXT: TypeAdapter[str] = TypeAdapter(SafeText)

# A tenant id is a NATS subject token and a database value: letters, digits, `-` and `_`,
# beginning with a letter or digit (so `_operator` can never be a tenant).
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")

ACTIVE, SUSPENDED, DELETING = "active", "suspended", "deleting"


class TenantNotFoundError(LookupError):
    """No tenant has this id."""


class TenantConflictError(ValueError):
    """The tenant exists already, or its state does not allow the change."""


def operator_actor(name: str) -> m.Actor:
    """The operator who acts, as the operator's log names them: the name the command line
    was given (`--actor`, else the OS user) or the API was (`X-Operator`, else its token's
    holder). A system actor with an id of its own, so one operator's decisions can be
    told from another's and filtered by `actor_id`.

    Raises `ValueError` for an empty or over-long name, or one with control characters
    (a name is shown on one line, as it was given).
    """
    name = name.strip()
    if not name or len(name) > OPERATOR_NAME_MAX:
        raise ValueError(f"An operator's name is 1 to {OPERATOR_NAME_MAX} characters.")
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in name):
        raise ValueError("An operator's name must not contain control characters.")
    try:
        _SAFE_TEXT.validate_python(name)
    except ValidationError as exc:
        raise ValueError(
            "An operator's name must not contain bidirectional control characters."
        ) from exc
    return m.Actor(kind="system", id=f"operator:{name}", name=name)


@dataclass(frozen=True, slots=True)
class TenantSummary:
    tenant_id: str
    name: str
    status: str
    created_at: datetime
    users: int


@dataclass(frozen=True, slots=True)
class IssuedInvite:
    """An invite just made: its token is shown once, only its hash is kept."""

    tenant_id: str
    token: str
    expires_at: datetime

    def link(self, public_url: str) -> str:
        return f"{public_url.rstrip('/')}/invite/{self.token}"


def hash_token(token: str) -> str:
    # A long random token, like an API key: a fast hash is enough.
    return hashlib.sha256(token.encode()).hexdigest()


def tenant_id_from_name(name: str) -> str:
    """A readable, unique-enough id: the name's slug and a random suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return f"{slug or 'tenant'}-{secrets.token_hex(3)}"


async def create_tenant(
    session: AsyncSession,
    name: str,
    *,
    tenant_id: str | None,
    invite_hours: int,
    actor: m.Actor,
) -> tuple[Tenant, IssuedInvite]:
    """A new active tenant and a one-time invite for its first admin, both announced."""
    tenant_id = tenant_id or tenant_id_from_name(name)
    if not TENANT_ID.match(tenant_id):
        raise TenantConflictError(
            "A tenant id is 2 to 64 lowercase letters, digits, '-' or '_', "
            "beginning with a letter or digit."
        )
    if await session.get(Tenant, tenant_id) is not None:
        raise TenantConflictError(f"Tenant {tenant_id} exists already.")
    tenant = await identity.ensure_tenant(session, tenant_id, name)
    created = m.TenantCreated(tenant_name=tenant.name, actor=actor)
    await enqueue(
        session, m.subject_for(m.TenantCreated, tenant_id), wrap(created, tenant_id=tenant_id)
    )
    invite = await issue_invite(session, tenant_id, hours=invite_hours, actor=actor)
    return tenant, invite


async def list_tenants(session: AsyncSession) -> list[TenantSummary]:
    users = (
        sa.select(sa.func.count())
        .where(User.tenant_id == Tenant.tenant_id)
        .correlate(Tenant)
        .scalar_subquery()
    )
    rows = await session.execute(sa.select(Tenant, users).order_by(Tenant.created_at))
    return [
        TenantSummary(tenant.tenant_id, tenant.name, tenant.status, tenant.created_at, count)
        for tenant, count in rows.all()
    ]


async def get_tenant_or_raise(session: AsyncSession, tenant_id: str) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFoundError(f"No tenant {tenant_id}.")
    return tenant


async def set_status(
    session: AsyncSession,
    tenant_id: str,
    status: Literal["active", "suspended"],
    *,
    actor: m.Actor,
) -> Tenant:
    """Suspend or resume a tenant and announce it; no event if nothing changes."""
    tenant = await get_tenant_or_raise(session, tenant_id)
    if tenant.status == DELETING:
        raise TenantConflictError(f"Tenant {tenant_id} is being deleted.")
    if tenant.status != status:
        tenant.status = status
        tenant.status_changed_at = datetime.now(UTC)
        payload = m.TenantStatusChanged(status=status, actor=actor)
        await enqueue(
            session,
            m.subject_for(m.TenantStatusChanged, tenant_id),
            wrap(payload, tenant_id=tenant_id),
        )
    return tenant


async def request_deletion(session: AsyncSession, tenant_id: str, *, actor: m.Actor) -> Tenant:
    """Refuse the tenant from now on and ask every service to delete its data.

    The gateway's own rows go last, when its consumer receives the same event. Asking
    again announces the deletion again (a service that lost it gets a second chance).
    """
    tenant = await get_tenant_or_raise(session, tenant_id)
    tenant.status = DELETING
    tenant.status_changed_at = datetime.now(UTC)
    payload = m.TenantDeleted(tenant_name=tenant.name, actor=actor)
    await enqueue(
        session, m.subject_for(m.TenantDeleted, tenant_id), wrap(payload, tenant_id=tenant_id)
    )
    return tenant


async def issue_invite(
    session: AsyncSession,
    tenant_id: str,
    *,
    hours: int,
    actor: m.Actor,
    role: Role = Role.ADMIN,
) -> IssuedInvite:
    """A one-time invite link into the tenant, announced without its token (the audit log
    records that a link exists and until when, never the link)."""
    tenant = await get_tenant_or_raise(session, tenant_id)
    if tenant.status == DELETING:
        raise TenantConflictError(f"Tenant {tenant_id} is being deleted.")
    token = "inv_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    invite = Invite(
        invite_id=new_id(),
        tenant_id=tenant_id,
        token_hash=hash_token(token),
        role=role.value,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(invite)
    await session.flush()
    issued = m.TenantInviteIssued(role=role.value, expires_at=invite.expires_at, actor=actor)
    await enqueue(
        session,
        m.subject_for(m.TenantInviteIssued, tenant_id),
        wrap(issued, tenant_id=tenant_id),
    )
    return IssuedInvite(tenant_id, token, invite.expires_at)


async def open_invite(session: AsyncSession, token: str) -> tuple[Invite, Tenant] | None:
    """The invite and its tenant while the link still works: unused, unexpired, and the
    tenant active."""
    row = await session.execute(
        sa.select(Invite, Tenant)
        .join(Tenant, Tenant.tenant_id == Invite.tenant_id)
        .where(
            Invite.token_hash == hash_token(token),
            Invite.used_at.is_(None),
            Invite.expires_at > datetime.now(UTC),
            Tenant.status == ACTIVE,
        )
    )
    found = row.first()
    return (found[0], found[1]) if found is not None else None


async def accept_invite(
    session: AsyncSession, token: str, *, email: str, name: str, password: str
) -> User | None:
    """Spend the invite and create its user; None if the link no longer works.

    The invite is marked used by a conditional update, so two clicks at once create one
    user (the second finds it spent).
    """
    opened = await open_invite(session, token)
    if opened is None:
        return None
    invite, tenant = opened
    now = datetime.now(UTC)
    spent = await session.execute(
        sa.update(Invite)
        .where(
            Invite.invite_id == invite.invite_id,
            Invite.used_at.is_(None),
            Invite.expires_at > now,
        )
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        return None
    user = await identity.create_user(
        session, tenant.tenant_id, email, password, Role(invite.role), name
    )
    invite.user_id = user.user_id
    return user
