"""FastAPI dependencies that establish the caller and check its role."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from trueup.gateway.identity import service
from trueup.gateway.identity.principal import Principal, Role
from trueup.gateway.problems import ProblemError
from trueup.platform.database import Database

SESSION_COOKIE = "trueup_session"
REFRESH_COOKIE = "trueup_refresh"
CSRF_COOKIE = "trueup_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def issue_token(secret: str, user_id: str, tenant_id: str, kind: str, lifetime: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {"sub": user_id, "tid": tenant_id, "typ": kind, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, secret, algorithm="HS256")


def read_token(secret: str, token: str, kind: str) -> dict[str, Any] | None:
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == kind else None


async def current_principal(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer <api key>` or the session cookie."""
    database: Database = request.app.state.database
    secret: str = request.app.state.jwt_secret
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _unauthorized("Use 'Authorization: Bearer <API key>'.")
        credentials = request.app.state.credentials
        key_hash = service.hash_key(credential.strip())
        principal = credentials.get(key_hash)
        if principal is None:
            async with database.transaction(readonly=True) as session:
                principal = await service.principal_for_api_key(session, credential.strip())
            if principal is not None:
                credentials.put(key_hash, principal)
        if principal is None:
            raise _unauthorized("The API key is not valid or was revoked.")
        request.state.principal = principal
        return principal
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise _unauthorized("Sign in, or send an API key.")
    claims = read_token(secret, token, "access")
    if claims is None:
        raise _unauthorized("The session has expired; sign in again.")
    if request.method not in _SAFE_METHODS:
        # Double-submit CSRF check: a cross-site form cannot read our cookie to echo it.
        sent = request.headers.get(CSRF_HEADER, "")
        expected = request.cookies.get(CSRF_COOKIE, "")
        if not sent or not hmac.compare_digest(sent, expected):
            raise ProblemError(403, "Forbidden", "Missing or wrong X-CSRF-Token header.")
    async with database.transaction(readonly=True) as session:
        principal = await service.user_principal(session, claims["sub"], claims["tid"])
    if principal is None:
        raise _unauthorized("The user no longer exists or was deactivated.")
    principal = Principal(
        principal.tenant_id,
        principal.role,
        principal.kind,
        principal.subject_id,
        principal.name,
        via_cookie=True,
    )
    request.state.principal = principal
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency allowing callers with at least `role`."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.allows(role):
            raise ProblemError(
                403,
                "Forbidden",
                f"This needs the {role.value} role; you are {principal.role.value}.",
            )
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Billing = Annotated[Principal, Depends(require(Role.BILLING))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
