"""FastAPI dependencies that establish the caller and check its role."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.applications import Starlette
from starlette.types import Scope

from trueup.gateway.identity import service
from trueup.gateway.identity.principal import Principal, Role
from trueup.gateway.identity.tokens import SessionKeys
from trueup.gateway.problems import ProblemError
from trueup.platform.database import Database

SESSION_COOKIE = "trueup_session"
REFRESH_COOKIE = "trueup_refresh"
CSRF_COOKIE = "trueup_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_credential(header: str) -> str | None:
    """The credential of `Authorization: Bearer <credential>`, however it is spaced or cased.

    The one parser of that header, so the rate limiter and authentication agree on who
    is calling.
    """
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


async def principal_for_api_key(app: Starlette, key: str) -> Principal | None:
    """The principal of an API key: from the short-lived cache, else the database."""
    state = app.state
    credentials = state.credentials
    key_hash = service.hash_key(key)
    principal: Principal | None = credentials.get(key_hash)
    if principal is None:
        database: Database = state.database
        async with database.transaction(readonly=True) as session:
            principal = await service.principal_for_api_key(session, key)
        if principal is not None:
            credentials.put(key_hash, principal)
    return principal


def client_address(scope: Scope) -> str:
    client = scope.get("client") or ("unknown", 0)
    return str(client[0])


async def rate_limit_key(scope: Scope) -> str:
    """Whose budget a request spends: the principal it authenticates as, else its address.

    A session is attributed to its user from the signed token alone (no database); an API
    key by its cached principal. A credential that does not authenticate counts against
    the client address, so inventing credentials does not buy fresh budgets.
    """
    app = scope["app"]
    headers = dict(scope.get("headers") or [])
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization:
        key = bearer_credential(authorization)
        principal = await principal_for_api_key(app, key) if key else None
        if principal is not None:
            return f"api_key:{principal.subject_id}"
        return f"address:{client_address(scope)}"
    keys: SessionKeys = app.state.session_keys
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            claims = keys.read(value, "access")
            if claims is not None:
                return f"user:{claims['sub']}"
    return f"address:{client_address(scope)}"


async def current_principal(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer <api key>` or the session cookie."""
    database: Database = request.app.state.database
    keys: SessionKeys = request.app.state.session_keys
    header = request.headers.get("authorization", "")
    if header:
        credential = bearer_credential(header)
        if credential is None:
            raise _unauthorized("Use 'Authorization: Bearer <API key>'.")
        principal = await principal_for_api_key(request.app, credential)
        if principal is None:
            raise _unauthorized("The API key is not valid or was revoked.")
        return _admitted(request, principal)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise _unauthorized("Sign in, or send an API key.")
    claims = keys.read(token, "access")
    if claims is None:
        raise _unauthorized("The session has expired; sign in again.")
    # The token is an HMAC of this session's id: a cross-site form cannot read it, and a
    # cookie/header pair planted by someone else does not match the session.
    if request.method not in _SAFE_METHODS and not keys.csrf_matches(
        claims["sid"], request.headers.get(CSRF_HEADER, "")
    ):
        raise ProblemError(403, "Forbidden", "Missing or wrong X-CSRF-Token header.")
    async with database.transaction(readonly=True) as session:
        principal = await service.session_principal(
            session, claims["sid"], claims["sub"], claims["tid"]
        )
    if principal is None:
        raise _unauthorized("The session has ended; sign in again.")
    return _admitted(request, principal)


TENANT_SUSPENDED = "https://trueup.dev/problems/tenant-suspended"


def tenant_suspended() -> ProblemError:
    """The answer to every call of a suspended tenant (or one being deleted)."""
    return ProblemError(
        403,
        "Forbidden",
        "This TrueUp account is suspended; ask TrueUp's operator.",
        type_=TENANT_SUSPENDED,
    )


def _admitted(request: Request, principal: Principal) -> Principal:
    if not principal.tenant_active:
        raise tenant_suspended()
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


def too_many_requests(detail: str, retry_after: float) -> ProblemError:
    """A 429 problem with a whole-second `Retry-After` of at least one."""
    return ProblemError(
        429,
        "Too Many Requests",
        detail,
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Billing = Annotated[Principal, Depends(require(Role.BILLING))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
