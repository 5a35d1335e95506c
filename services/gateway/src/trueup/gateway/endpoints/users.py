"""Users, roles and API keys of the caller's tenant (admins only)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import messages as m
from trueup.gateway import bus
from trueup.gateway.identity import service
from trueup.gateway.identity.dependencies import Admin
from trueup.gateway.identity.principal import Role
from trueup.gateway.identity.text import SafeText
from trueup.gateway.models import ApiKey, User
from trueup.gateway.problems import ProblemError

router = APIRouter(prefix="/api/v1", tags=["identity"])


class UserView(BaseModel):
    user_id: str
    email: str
    name: str
    role: Role
    active: bool


class NewUser(BaseModel):
    email: SafeText = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: SafeText = Field(default="", max_length=200)
    password: str = Field(min_length=12, max_length=500)
    role: Role = Role.VIEWER


class UserChange(BaseModel):
    name: SafeText | None = Field(default=None, max_length=200)
    role: Role | None = None
    active: bool | None = None


class ApiKeyView(BaseModel):
    key_id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


class NewApiKey(BaseModel):
    name: SafeText = Field(min_length=1, max_length=200, examples=["nightly export"])
    role: Role = Role.VIEWER


class CreatedApiKey(ApiKeyView):
    key: str = Field(description="Shown once; only its hash is stored.")


def _user(row: User) -> UserView:
    return UserView(
        user_id=row.user_id, email=row.email, name=row.name, role=Role(row.role), active=row.active
    )


def _key(row: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        key_id=row.key_id,
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


@router.get("/users", response_model=list[UserView])
async def users(request: Request, principal: Admin) -> list[UserView]:
    async with request.app.state.database.transaction() as session:
        rows = await session.scalars(
            sa.select(User).where(User.tenant_id == principal.tenant_id).order_by(User.email)
        )
        return [_user(row) for row in rows]


@router.post("/users", response_model=UserView, status_code=201)
async def create_user(body: NewUser, request: Request, principal: Admin) -> UserView:
    try:
        async with request.app.state.database.transaction() as session:
            row = await service.create_user(
                session, principal.tenant_id, body.email, body.password, body.role, body.name
            )
            return _user(row)
    except IntegrityError as exc:
        # Unique per tenant: this says nothing about other tenants' users.
        raise ProblemError(
            409, "Conflict", "A user with this email already exists in your tenant."
        ) from exc


@router.patch("/users/{user_id}", response_model=UserView)
async def change_user(
    user_id: str, body: UserChange, request: Request, principal: Admin
) -> UserView:
    async with request.app.state.database.transaction() as session:
        row = await session.scalar(
            sa.select(User).where(User.user_id == user_id, User.tenant_id == principal.tenant_id)
        )
        if row is None:
            raise ProblemError(404, "Not Found", "No such user.")
        if user_id == principal.subject_id and (
            body.active is False or body.role not in (None, Role.ADMIN)
        ):
            raise ProblemError(409, "Conflict", "You cannot demote or deactivate yourself.")
        if body.name is not None:
            row.name = body.name
        if body.role is not None:
            row.role = body.role.value
        if body.active is not None:
            row.active = body.active
        if body.active is False:
            # Sessions end now, and stay ended if the user is reactivated.
            await service.revoke_user_sessions(session, row.user_id)
        return _user(row)


@router.get("/api-keys", response_model=list[ApiKeyView])
async def api_keys(request: Request, principal: Admin) -> list[ApiKeyView]:
    async with request.app.state.database.transaction() as session:
        rows = await session.scalars(
            sa.select(ApiKey)
            .where(ApiKey.tenant_id == principal.tenant_id)
            .order_by(ApiKey.created_at)
        )
        return [_key(row) for row in rows]


@router.post("/api-keys", response_model=CreatedApiKey, status_code=201)
async def create_api_key(body: NewApiKey, request: Request, principal: Admin) -> CreatedApiKey:
    """A new key for automation: `Authorization: Bearer <key>`. The key is shown only now."""
    async with request.app.state.database.transaction() as session:
        row, key = await service.create_api_key(session, principal.tenant_id, body.name, body.role)
        return CreatedApiKey(**_key(row).model_dump(), key=key)


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: str, request: Request, principal: Admin) -> Response:
    async with request.app.state.database.transaction() as session:
        row = await session.scalar(
            sa.select(ApiKey).where(
                ApiKey.key_id == key_id, ApiKey.tenant_id == principal.tenant_id
            )
        )
        if row is None:
            raise ProblemError(404, "Not Found", "No such API key.")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
    request.app.state.credentials.forget_subject(key_id)
    return Response(status_code=204)


PUSH_KEY_NAME = "Push API"


class PushKeyStatus(BaseModel):
    exists: bool
    key_id: str | None = None
    created_at: datetime | None = None


class IssuedPushKey(PushKeyStatus):
    key: str = Field(description="Shown once; only its hash is stored.")


async def _push_keys(session: AsyncSession, tenant_id: str) -> list[ApiKey]:
    rows = await session.scalars(
        sa.select(ApiKey)
        .where(
            ApiKey.tenant_id == tenant_id,
            ApiKey.name == PUSH_KEY_NAME,
            ApiKey.revoked_at.is_(None),
        )
        .order_by(ApiKey.created_at.desc())
    )
    return list(rows)


@router.get("/push-key", response_model=PushKeyStatus, tags=["connectors"])
async def push_key(request: Request, principal: Admin) -> PushKeyStatus:
    """Whether the tenant has a push API key (never the key itself)."""
    async with request.app.state.database.transaction() as session:
        keys = await _push_keys(session, principal.tenant_id)
    if not keys:
        return PushKeyStatus(exists=False)
    return PushKeyStatus(exists=True, key_id=keys[0].key_id, created_at=keys[0].created_at)


@router.post("/push-key/rotate", response_model=IssuedPushKey, tags=["connectors"])
async def rotate_push_key(request: Request, principal: Admin) -> IssuedPushKey:
    """A new push API key (billing role: scripts push usage files to `/api/v1/imports`);
    the previous one stops working at once. The key is shown only now."""
    async with request.app.state.database.transaction() as session:
        previous = await _push_keys(session, principal.tenant_id)
        now = datetime.now(UTC)
        for row in previous:
            row.revoked_at = now
        created, key = await service.create_api_key(
            session, principal.tenant_id, PUSH_KEY_NAME, Role.BILLING
        )
    for row in previous:
        request.app.state.credentials.forget_subject(row.key_id)
    await bus.publish_event(
        request.app.state.broker,
        principal.tenant_id,
        m.SettingsChanged(
            section="integrations",
            actor=principal.actor(),
            summary="Rotated the push API key; the previous one stopped working"
            if previous
            else "Created the push API key",
        ),
        request.state.correlation_id,
    )
    return IssuedPushKey(exists=True, key_id=created.key_id, created_at=created.created_at, key=key)
