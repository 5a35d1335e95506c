"""Identity use cases; they run in the caller's transaction and never commit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import new_id
from trueup.gateway.identity.principal import Principal, Role
from trueup.gateway.models import ApiKey, Session, Tenant, User

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def hash_key(key: str) -> str:
    # API keys are long random secrets, so a fast hash is enough (no dictionary to
    # attack); passwords, which people choose, get argon2.
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A fresh API key; shown once, stored only as its hash."""
    return "tu_" + secrets.token_urlsafe(32)


async def ensure_tenant(session: AsyncSession, tenant_id: str, name: str) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        tenant = Tenant(tenant_id=tenant_id, name=name, created_at=datetime.now(UTC))
        session.add(tenant)
        await session.flush()
    return tenant


async def create_user(
    session: AsyncSession, tenant_id: str, email: str, password: str, role: Role, name: str = ""
) -> User:
    user = User(
        user_id=new_id(),
        tenant_id=tenant_id,
        email=normalized_email(email),
        name=name,
        password_hash=hash_password(password),
        role=role.value,
        active=True,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    await session.flush()
    return user


async def create_api_key(
    session: AsyncSession, tenant_id: str, name: str, role: Role, key: str | None = None
) -> tuple[ApiKey, str]:
    """Store a key's hash; returns the row and the key itself (shown once)."""
    key = key or new_api_key()
    row = ApiKey(
        key_id=new_id(),
        tenant_id=tenant_id,
        name=name,
        key_hash=hash_key(key),
        role=role.value,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    return row, key


async def principal_for_api_key(session: AsyncSession, key: str) -> Principal | None:
    found = (
        await session.execute(
            sa.select(ApiKey, Tenant.status)
            .join(Tenant, Tenant.tenant_id == ApiKey.tenant_id)
            .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
        )
    ).first()
    if found is None:
        return None
    row, status = found
    return Principal(
        row.tenant_id,
        Role(row.role),
        "api_key",
        row.key_id,
        row.name,
        tenant_active=status == ACTIVE_TENANT,
    )


ACTIVE_TENANT = "active"


async def tenant_is_active(session: AsyncSession, tenant_id: str) -> bool:
    """Whether the tenant exists and is neither suspended nor being deleted."""
    status = await session.scalar(sa.select(Tenant.status).where(Tenant.tenant_id == tenant_id))
    return status == ACTIVE_TENANT


@dataclass(frozen=True, slots=True)
class SignIn:
    """What a login found: the one user it signs in, or why none."""

    user: User | None
    ambiguous: bool = False


async def authenticate_user(
    session: AsyncSession, email: str, password: str, tenant_id: str | None = None
) -> SignIn:
    """The active user with these credentials (same answer for a wrong email or password).

    An email may exist in several tenants. Without `tenant_id`, every active user with the
    email is tried and the one whose password verifies signs in; if the password verifies
    for more than one, the login is ambiguous and the caller must name the tenant.
    """
    query = sa.select(User).where(User.email == normalized_email(email), User.active)
    if tenant_id is not None:
        query = query.where(User.tenant_id == tenant_id)
    candidates = list(await session.scalars(query.order_by(User.tenant_id)))
    if not candidates:
        # Spend the same time as a real check, so timing does not reveal which emails exist.
        _hasher.hash(password)
        return SignIn(None)
    matching = [user for user in candidates if _verifies(user.password_hash, password)]
    if len(matching) != 1:
        return SignIn(None, ambiguous=len(matching) > 1)
    user = matching[0]
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return SignIn(user)


def normalized_email(email: str) -> str:
    """The form emails are stored and compared in."""
    return email.strip().lower()


def _verifies(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def tenants_with_email(session: AsyncSession, email: str) -> list[str]:
    """The tenants that have a user with this email (for the lockout log line)."""
    rows = await session.scalars(
        sa.select(User.tenant_id).where(User.email == normalized_email(email)).distinct()
    )
    return sorted(rows)


async def change_password(
    session: AsyncSession, principal: Principal, current: str, new: str
) -> bool:
    """Set a new password if `current` is right, ending every session of the user."""
    user = await session.scalar(
        sa.select(User).where(
            User.user_id == principal.subject_id, User.tenant_id == principal.tenant_id
        )
    )
    if user is None or not _verifies(user.password_hash, current):
        return False
    user.password_hash = hash_password(new)
    await revoke_user_sessions(session, user.user_id)
    return True


# --- sessions -------------------------------------------------------------------------


async def start_session(
    session: AsyncSession,
    user_id: str,
    tenant_id: str,
    lifetime: timedelta,
    family_id: str | None = None,
) -> Session:
    """A new session row (a new family unless it continues one by a refresh)."""
    now = datetime.now(UTC)
    session_id = secrets.token_urlsafe(24)
    row = Session(
        session_id=session_id,
        family_id=family_id or session_id,
        user_id=user_id,
        tenant_id=tenant_id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    # Rows whose refresh token has expired are of no use; the user's own go at sign-in.
    await session.execute(
        sa.delete(Session).where(Session.user_id == user_id, Session.expires_at < now)
    )
    await session.flush()
    return row


async def session_principal(
    session: AsyncSession, session_id: str, user_id: str, tenant_id: str
) -> Principal | None:
    """The user of a live session: one lookup by the session's primary key."""
    found = (
        await session.execute(
            sa.select(User, Tenant.status)
            .join(Session, Session.user_id == User.user_id)
            .join(Tenant, Tenant.tenant_id == User.tenant_id)
            .where(
                Session.session_id == session_id,
                Session.revoked_at.is_(None),
                Session.user_id == user_id,
                Session.tenant_id == tenant_id,
                User.tenant_id == tenant_id,
                User.active,
            )
        )
    ).first()
    if found is None:
        return None
    user, status = found
    return Principal(
        user.tenant_id,
        Role(user.role),
        "user",
        user.user_id,
        user.name or user.email,
        via_cookie=True,
        session_id=session_id,
        tenant_active=status == ACTIVE_TENANT,
    )


async def use_refresh(
    session: AsyncSession, session_id: str, user_id: str, tenant_id: str
) -> Session | None:
    """Spend a session's refresh token: the session it was for, or None.

    A refresh token works once. Presented again, someone holds a copy: the whole family
    (every session that came from the same sign-in) is revoked, the rightful browser's
    newest session included, and the caller must sign in again.
    """
    now = datetime.now(UTC)
    spent = await session.execute(
        sa.update(Session)
        .where(
            Session.session_id == session_id,
            Session.user_id == user_id,
            Session.tenant_id == tenant_id,
            Session.refreshed_at.is_(None),
            Session.revoked_at.is_(None),
        )
        .values(refreshed_at=now)
    )
    row = await session.get(Session, session_id)
    if row is None:
        return None
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        if row.refreshed_at is not None:
            await revoke_family(session, row.family_id)
        return None
    return row


async def revoke_family(session: AsyncSession, family_id: str) -> None:
    """End every session of one sign-in."""
    await session.execute(
        sa.update(Session)
        .where(Session.family_id == family_id, Session.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def revoke_session_family(session: AsyncSession, session_id: str) -> None:
    """End the sign-in this session belongs to (signing out)."""
    row = await session.get(Session, session_id)
    if row is not None:
        await revoke_family(session, row.family_id)


async def revoke_user_sessions(session: AsyncSession, user_id: str) -> None:
    """End every session of a user (password change, deactivation)."""
    await session.execute(
        sa.update(Session)
        .where(Session.user_id == user_id, Session.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def user_principal(session: AsyncSession, user_id: str, tenant_id: str) -> Principal | None:
    user = await session.scalar(
        sa.select(User).where(User.user_id == user_id, User.tenant_id == tenant_id)
    )
    if user is None or not user.active:
        return None
    return Principal(user.tenant_id, Role(user.role), "user", user.user_id, user.name or user.email)


async def bootstrap(
    session: AsyncSession,
    *,
    tenant_id: str,
    tenant_name: str,
    email: str | None,
    password: str | None,
    api_key: str | None,
) -> None:
    """Create the demo tenant, its admin and API key if they do not exist yet."""
    await ensure_tenant(session, tenant_id, tenant_name)
    if email and password:
        existing = await session.scalar(
            sa.select(User).where(
                User.email == normalized_email(email), User.tenant_id == tenant_id
            )
        )
        if existing is None:
            await create_user(session, tenant_id, email, password, Role.ADMIN, "Demo admin")
        elif not _verifies(existing.password_hash, password):
            existing.password_hash = hash_password(password)
            await revoke_user_sessions(session, existing.user_id)
    if api_key and await principal_for_api_key(session, api_key) is None:
        await create_api_key(session, tenant_id, "bootstrap", Role.ADMIN, api_key)
