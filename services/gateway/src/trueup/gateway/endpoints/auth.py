"""Sign-in with email and password: short-lived session cookie, refresh cookie, CSRF token."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from trueup.gateway.identity import service
from trueup.gateway.identity.dependencies import (
    CSRF_COOKIE,
    REFRESH_COOKIE,
    SESSION_COOKIE,
    Viewer,
    issue_token,
    read_token,
)
from trueup.gateway.problems import ProblemError

router = APIRouter(prefix="/api/v1/auth", tags=["identity"])


class Login(BaseModel):
    email: str = Field(min_length=3, max_length=320, examples=["admin@demo-msp.example"])
    password: str = Field(min_length=1, max_length=500)


class Me(BaseModel):
    tenant_id: str
    role: str
    kind: str
    name: str
    csrf_token: str | None = None


def _set_session(request: Request, response: Response, user_id: str, tenant_id: str) -> str:
    settings = request.app.state.settings
    secret = settings.jwt_secret.get_secret_value()
    access = issue_token(
        secret, user_id, tenant_id, "access", timedelta(minutes=settings.session_minutes)
    )
    refresh = issue_token(
        secret, user_id, tenant_id, "refresh", timedelta(days=settings.refresh_days)
    )
    csrf = secrets.token_urlsafe(24)
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


@router.post("/login", response_model=Me, summary="Sign in")
async def login(body: Login, request: Request, response: Response) -> Me:
    """Check the password (argon2) and start a session in HttpOnly cookies."""
    async with request.app.state.database.transaction() as session:
        user = await service.authenticate_user(session, body.email, body.password)
        if user is None:
            raise ProblemError(401, "Unauthorized", "Wrong email or password.")
        csrf = _set_session(request, response, user.user_id, user.tenant_id)
        return Me(
            tenant_id=user.tenant_id,
            role=user.role,
            kind="user",
            name=user.name or user.email,
            csrf_token=csrf,
        )


@router.post("/refresh", response_model=Me, summary="Renew the session")
async def refresh(request: Request, response: Response) -> Me:
    secret = request.app.state.settings.jwt_secret.get_secret_value()
    claims = read_token(secret, request.cookies.get(REFRESH_COOKIE, ""), "refresh")
    if claims is None:
        raise ProblemError(401, "Unauthorized", "Sign in again.")
    async with request.app.state.database.transaction() as session:
        principal = await service.user_principal(session, claims["sub"], claims["tid"])
    if principal is None:
        raise ProblemError(401, "Unauthorized", "Sign in again.")
    csrf = _set_session(request, response, principal.subject_id, principal.tenant_id)
    return Me(
        tenant_id=principal.tenant_id,
        role=principal.role.value,
        kind=principal.kind,
        name=principal.name,
        csrf_token=csrf,
    )


@router.post("/logout", status_code=204, summary="Sign out")
async def logout(response: Response) -> Response:
    for name, path in ((SESSION_COOKIE, "/"), (REFRESH_COOKIE, "/api/v1/auth"), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path)
    response.status_code = 204
    return response


@router.get("/me", response_model=Me, summary="Who am I")
async def me(principal: Viewer, request: Request) -> Me:
    return Me(
        tenant_id=principal.tenant_id,
        role=principal.role.value,
        kind=principal.kind,
        name=principal.name,
        csrf_token=request.cookies.get(CSRF_COOKIE),
    )
