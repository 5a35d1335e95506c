"""Tables owned by the gateway: tenants, users, API keys, sessions, preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trueup.platform.types import UtcDateTime


class Base(DeclarativeBase):
    pass


metadata = Base.metadata


class Tenant(Base):
    """One MSP using TrueUp."""

    __tablename__ = "tenants"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(sa.String(20), default="active")
    """`active`, `suspended` (every call refused), or `deleting` (refused too, until every
    service has removed its data and the gateway its own rows, this one last)."""
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class User(Base):
    __tablename__ = "users"
    # An email is unique within its tenant only: a global constraint would tell one tenant
    # that an address is registered with another.
    __table_args__ = (sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),)

    user_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("tenants.tenant_id"))
    email: Mapped[str] = mapped_column(sa.String(320), index=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(20))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Invite(Base):
    """A one-time link that lets its holder become a user of a tenant (its first admin).

    Only the token's hash is stored; accepting it marks it used in the same statement that
    checks it is unused and unexpired, so it works once even when clicked twice at once.
    """

    __tablename__ = "invites"

    invite_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("tenants.tenant_id"))
    token_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


class ApiKey(Base):
    """A per-tenant key for automation; only its hash is stored."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("tenants.tenant_id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    key_hash: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Session(Base):
    """One signed-in browser session; its id is in the session and refresh cookies.

    A refresh starts a new row of the same family and marks the old one refreshed; a
    refresh token presented again after that means it was copied, and the whole family
    is revoked. Signing out, a password change and deactivation revoke rows too, and
    every authenticated request looks its row up by primary key.
    """

    __tablename__ = "sessions"

    session_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Preference(Base):
    """One saved view of one caller (a user, or an API key), by name: a small JSON document.

    Kept by the server rather than in the browser, so a view follows its user to another
    browser or device.
    """

    __tablename__ = "preferences"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
