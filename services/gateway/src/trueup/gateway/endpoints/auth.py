"""Sign-in with email and password: short-lived session cookie, refresh cookie, CSRF token.

Every sign-in is a row in `sessions`; the cookies carry its id, and signing out, a
password change, a deactivation or a reused refresh token revoke it on the server.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from trueup.contracts import messages as m
from trueup.gateway import bus
from trueup.gateway.identity import service
from trueup.gateway.identity.dependencies import (
    CSRF_COOKIE,
    REFRESH_COOKIE,
    SESSION_COOKIE,
    Viewer,
    client_address,
    tenant_suspended,
    too_many_requests,
)
from trueup.gateway.identity.principal import Principal, Role
from trueup.gateway.identity.text import SafeText
from trueup.gateway.identity.throttle import LoginThrottle
from trueup.gateway.identity.tokens import SessionKeys
from trueup.gateway.problems import ProblemError
from trueup.gateway.settings import Settings
from trueup.gateway.tenants import service as tenants
from trueup.platform.logging import get_logger

router = APIRouter(prefix="/api/v1/auth", tags=["identity"])
log = get_logger(__name__)


class Login(BaseModel):
    email: SafeText = Field(min_length=3, max_length=320, examples=["admin@demo-msp.example"])
    password: str = Field(min_length=1, max_length=500)
    tenant_id: SafeText | None = Field(
        default=None,
        max_length=64,
        description="Only needed when the same email and password exist in several tenants.",
    )


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=500)
    new_password: str = Field(min_length=12, max_length=500)


class InviteInfo(BaseModel):
    tenant_name: str
    role: str
    expires_at: datetime


class InviteAcceptance(BaseModel):
    name: SafeText = Field(min_length=1, max_length=200)
    email: SafeText = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=12, max_length=500)


class Me(BaseModel):
    tenant_id: str
    role: str
    kind: str
    name: str
    csrf_token: str | None = None


def _set_session(request: Request, response: Response, row_id: str, principal: Principal) -> str:
    settings: Settings = request.app.state.settings
    keys: SessionKeys = request.app.state.session_keys
    ids = {"user_id": principal.subject_id, "tenant_id": principal.tenant_id, "session_id": row_id}
    access = keys.issue(**ids, kind="access", lifetime=timedelta(minutes=settings.session_minutes))
    refresh = keys.issue(**ids, kind="refresh", lifetime=timedelta(days=settings.refresh_days))
    csrf = keys.csrf_token(row_id)
    common = {"secure": True, "samesite": "strict"}
    response.set_cookie(SESSION_COOKIE, access, httponly=True, path="/", **common)  # type: ignore[arg-type]
    response.set_cookie(
        REFRESH_COOKIE,
        refresh,
        httponly=True,
        path="/api/v1/auth",
        **common,  # type: ignore[arg-type]
    )
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, path="/", **common)  # type: ignore[arg-type]
    return csrf


def _me(principal: Principal, csrf: str | None) -> Me:
    return Me(
        tenant_id=principal.tenant_id,
        role=principal.role.value,
        kind=principal.kind,
        name=principal.name,
        csrf_token=csrf,
    )


def _refresh_lifetime(request: Request) -> timedelta:
    return timedelta(days=request.app.state.settings.refresh_days)


@router.post(
    "/login",
    response_model=Me,
    summary="Sign in",
    responses={429: {"description": "Too many wrong passwords; see `Retry-After`."}},
)
async def login(body: Login, request: Request, response: Response) -> Me:
    """Check the password (argon2) and start a session in HttpOnly cookies.

    Wrong passwords are throttled per account and per client address: past a few, each
    one locks for a time that doubles, answered with 429 and `Retry-After`.
    """
    throttle: LoginThrottle = request.app.state.login_throttle
    account = service.normalized_email(body.email)
    address = client_address(request.scope)
    wait, locks = throttle.attempt(account, address)
    if wait > 0:
        raise too_many_requests("Too many wrong passwords; try again later.", wait)
    async with request.app.state.database.transaction() as session:
        found = await service.authenticate_user(session, body.email, body.password, body.tenant_id)
        user = found.user
        if user is None and locks and not found.ambiguous:
            # Each tenant with a user of that email sees the lockout in its activity log;
            # the service log never holds the email or password typed.
            tenants = await service.tenants_with_email(session, account)
            seconds = max(lock.seconds for lock in locks)
            log.warning(
                "login locked",
                scopes=[lock.scope for lock in locks],
                seconds=seconds,
                tenant_ids=tenants,
                client=address,
            )
            for tenant_id in tenants:
                await bus.publish_event(
                    request.app.state.broker,
                    tenant_id,
                    m.LoginLocked(
                        email=account,
                        seconds=math.ceil(seconds),
                        scopes=[lock.scope for lock in locks],  # type: ignore[misc]
                        client_address=address,
                    ),
                    request.state.correlation_id,
                )
        if user is not None or found.ambiguous:
            throttle.succeeded(account, address)
        if found.ambiguous:
            raise ProblemError(
                409,
                "Conflict",
                "This email and password belong to more than one tenant; send tenant_id as well.",
            )
        if user is not None:
            if not await service.tenant_is_active(session, user.tenant_id):
                raise tenant_suspended()
            row = await service.start_session(
                session, user.user_id, user.tenant_id, _refresh_lifetime(request)
            )
            principal = Principal(
                user.tenant_id,
                Role(user.role),
                "user",
                user.user_id,
                user.name or user.email,
            )
    if user is None:
        raise ProblemError(401, "Unauthorized", "Wrong email or password.")
    return _me(principal, _set_session(request, response, row.session_id, principal))


@router.post("/refresh", response_model=Me, summary="Renew the session")
async def refresh(request: Request, response: Response) -> Me:
    """A new session from the refresh cookie, which works once.

    Presenting a refresh token a second time ends every session of that sign-in.
    """
    keys: SessionKeys = request.app.state.session_keys
    claims = keys.read(request.cookies.get(REFRESH_COOKIE, ""), "refresh")
    if claims is None:
        raise ProblemError(401, "Unauthorized", "Sign in again.")
    principal = None
    async with request.app.state.database.transaction() as session:
        spent = await service.use_refresh(session, claims["sid"], claims["sub"], claims["tid"])
        if spent is not None:
            principal = await service.user_principal(session, claims["sub"], claims["tid"])
        if principal is not None and spent is not None:
            row = await service.start_session(
                session,
                principal.subject_id,
                principal.tenant_id,
                _refresh_lifetime(request),
                family_id=spent.family_id,
            )
    # Outside the transaction: a detected reuse has revoked the family and must commit.
    if principal is None:
        raise ProblemError(401, "Unauthorized", "Sign in again.")
    return _me(principal, _set_session(request, response, row.session_id, principal))


@router.post("/logout", status_code=204, summary="Sign out")
async def logout(request: Request, response: Response) -> Response:
    """End this sign-in on the server (its session and refresh tokens stop working)."""
    keys: SessionKeys = request.app.state.session_keys
    claims = keys.read(request.cookies.get(SESSION_COOKIE, ""), "access") or keys.read(
        request.cookies.get(REFRESH_COOKIE, ""), "refresh"
    )
    if claims is not None:
        async with request.app.state.database.transaction() as session:
            await service.revoke_session_family(session, claims["sid"])
    for name, path in ((SESSION_COOKIE, "/"), (REFRESH_COOKIE, "/api/v1/auth"), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path)
    response.status_code = 204
    return response


@router.post(
    "/password",
    response_model=Me,
    summary="Change my password",
    responses={403: {"description": "The current password is wrong, or the caller is a key."}},
)
async def change_password(
    body: PasswordChange, principal: Viewer, request: Request, response: Response
) -> Me:
    """Set a new password. Every session of the user ends; this browser gets a new one."""
    if principal.kind != "user":
        raise ProblemError(403, "Forbidden", "API keys have no password.")
    async with request.app.state.database.transaction() as session:
        changed = await service.change_password(
            session, principal, body.current_password, body.new_password
        )
        if changed:
            row = await service.start_session(
                session, principal.subject_id, principal.tenant_id, _refresh_lifetime(request)
            )
    if not changed:
        raise ProblemError(403, "Forbidden", "The current password is wrong.")
    return _me(principal, _set_session(request, response, row.session_id, principal))


@router.get("/me", response_model=Me, summary="Who am I")
async def me(principal: Viewer, request: Request) -> Me:
    keys: SessionKeys = request.app.state.session_keys
    csrf = keys.csrf_token(principal.session_id) if principal.session_id else None
    return _me(principal, csrf)


_INVITE_GONE = "This invite link does not work: it was used already, it expired, or it is wrong."


@router.get("/invites/{token}", response_model=InviteInfo, summary="What an invite is for")
async def invite(token: str, request: Request) -> InviteInfo:
    """The tenant an invite link joins, while it still works (404 once used or expired)."""
    async with request.app.state.database.transaction(readonly=True) as session:
        opened = await tenants.open_invite(session, token)
    if opened is None:
        raise ProblemError(404, "Not Found", _INVITE_GONE)
    found, tenant = opened
    return InviteInfo(tenant_name=tenant.name, role=found.role, expires_at=found.expires_at)


@router.post(
    "/invites/{token}",
    response_model=Me,
    status_code=201,
    summary="Accept an invite",
    responses={404: {"description": "The link was used, expired, or never existed."}},
)
async def accept_invite(
    token: str, body: InviteAcceptance, request: Request, response: Response
) -> Me:
    """Become a user of the invite's tenant, signed in at once. The link works once."""
    try:
        async with request.app.state.database.transaction() as session:
            user = await tenants.accept_invite(
                session, token, email=body.email, name=body.name, password=body.password
            )
            if user is not None:
                row = await service.start_session(
                    session, user.user_id, user.tenant_id, _refresh_lifetime(request)
                )
    except IntegrityError as exc:
        raise ProblemError(
            409, "Conflict", "A user with this email already exists in this tenant."
        ) from exc
    if user is None:
        raise ProblemError(404, "Not Found", _INVITE_GONE)
    principal = Principal(
        user.tenant_id, Role(user.role), "user", user.user_id, user.name or user.email
    )
    response.status_code = 201
    return _me(principal, _set_session(request, response, row.session_id, principal))
