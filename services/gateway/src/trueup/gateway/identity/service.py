"""Identity use cases; they run in the caller's transaction and never commit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import new_id
from trueup.gateway.identity.principal import Principal, Role
from trueup.gateway.models import ApiKey, Tenant, User

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
        email=email.strip().lower(),
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
    row = await session.scalar(
        sa.select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    )
    if row is None:
        return None
    return Principal(row.tenant_id, Role(row.role), "api_key", row.key_id, row.name)


async def authenticate_user(session: AsyncSession, email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same answer for both failures)."""
    user = await session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        # Spend the same time as a real check, so timing does not reveal which emails exist.
        _hasher.hash(password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


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
        existing = await session.scalar(sa.select(User).where(User.email == email.lower()))
        if existing is None:
            await create_user(session, tenant_id, email, password, Role.ADMIN, "Demo admin")
        elif existing.tenant_id == tenant_id:
            existing.password_hash = hash_password(password)
    if api_key and await principal_for_api_key(session, api_key) is None:
        await create_api_key(session, tenant_id, "bootstrap", Role.ADMIN, api_key)
