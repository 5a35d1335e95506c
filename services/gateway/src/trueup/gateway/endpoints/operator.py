"""The operator API: TrueUp's own staff create, suspend, resume and delete tenants, and
read the log of those decisions.

It answers only `Authorization: Bearer <TRUEUP_OPERATOR_TOKEN>`; without that setting it
does not exist (404). No tenant credential reaches it: an admin's API key or session is
refused like any wrong token. The token is shared, so a change names its operator in
`X-Operator`; without it the audit log can say only that the token's holder acted.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field

from trueup.contracts.messages import ActivityPage, Actor, ListActivity
from trueup.gateway.endpoints.common import ask
from trueup.gateway.identity.dependencies import bearer_credential
from trueup.gateway.identity.principal import Principal, Role
from trueup.gateway.identity.text import SafeText
from trueup.gateway.problems import ProblemError
from trueup.gateway.tenants import service
from trueup.gateway.tenants.service import (
    OPERATOR_NAME_MAX,
    TenantConflictError,
    TenantNotFoundError,
    operator_actor,
)
from trueup.platform.logging import get_logger
from trueup.platform.tenants import OPERATOR_SCOPE

log = get_logger(__name__)


async def operator(request: Request) -> None:
    """Admit the operator's token only, compared in constant time."""
    expected: str | None = request.app.state.operator_key
    if expected is None:
        raise ProblemError(404, "Not Found", f"No such endpoint: {request.url.path}")
    offered = bearer_credential(request.headers.get("authorization", "")) or ""
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        raise ProblemError(
            401,
            "Unauthorized",
            "The operator API needs 'Authorization: Bearer <operator token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )


UNNAMED_OPERATOR = "operator token"
"""Who the audit log says acted when a change through the API names no operator."""


async def acting_operator(
    x_operator: Annotated[
        SafeText | None,
        Header(
            min_length=1,
            max_length=OPERATOR_NAME_MAX,
            description="Who acts, as the audit log names them (e.g. an email or login); "
            "printable ASCII, as HTTP headers are. Without it: the operator token's holder.",
            examples=["ada@trueup.example"],
        ),
    ] = None,
) -> Actor:
    try:
        return operator_actor(x_operator or UNNAMED_OPERATOR)
    except ValueError as exc:
        raise ProblemError(422, "Unprocessable Content", f"X-Operator: {exc}") from exc


Operator = Annotated[Actor, Depends(acting_operator)]

router = APIRouter(
    prefix="/api/v1/operator/tenants", tags=["operator"], dependencies=[Depends(operator)]
)
activity_router = APIRouter(
    prefix="/api/v1/operator", tags=["operator"], dependencies=[Depends(operator)]
)

# The audit log answers for a scope as it does for a tenant: the operator's records sit
# under a scope no tenant can have, so no tenant credential can ever name it.
_OPERATOR = Principal(
    tenant_id=OPERATOR_SCOPE, role=Role.VIEWER, kind="operator", subject_id="operator", name=""
)


class TenantView(BaseModel):
    tenant_id: str
    name: str
    status: Literal["active", "suspended", "deleting"]
    created_at: datetime
    users: int = 0


class NewTenant(BaseModel):
    name: SafeText = Field(min_length=1, max_length=200, examples=["Acme Managed Services"])
    tenant_id: str | None = Field(
        default=None,
        pattern=service.TENANT_ID.pattern,
        description="Chosen from the name when left out.",
    )


class InviteView(BaseModel):
    tenant_id: str
    invite_url: str = Field(description="Works once, until `expires_at`; shown only now.")
    expires_at: datetime


class CreatedTenant(TenantView):
    invite: InviteView


def _view(tenant: service.TenantSummary) -> TenantView:
    return TenantView(
        tenant_id=tenant.tenant_id,
        name=tenant.name,
        status=tenant.status,  # type: ignore[arg-type]
        created_at=tenant.created_at,
        users=tenant.users,
    )


def _invite(request: Request, invite: service.IssuedInvite) -> InviteView:
    return InviteView(
        tenant_id=invite.tenant_id,
        invite_url=invite.link(request.app.state.settings.public_url),
        expires_at=invite.expires_at,
    )


def _problem(exc: Exception) -> ProblemError:
    if isinstance(exc, TenantNotFoundError):
        return ProblemError(404, "Not Found", str(exc))
    return ProblemError(409, "Conflict", str(exc))


async def _summary(request: Request, tenant_id: str) -> TenantView:
    async with request.app.state.database.transaction(readonly=True) as session:
        for tenant in await service.list_tenants(session):
            if tenant.tenant_id == tenant_id:
                return _view(tenant)
    raise ProblemError(404, "Not Found", f"No tenant {tenant_id}.")


def _published(request: Request, tenant_id: str) -> None:
    request.app.state.credentials.forget_tenant(tenant_id)
    request.app.state.relay.notify()


@router.get("", response_model=list[TenantView], summary="Every tenant")
async def list_tenants(request: Request) -> list[TenantView]:
    async with request.app.state.database.transaction(readonly=True) as session:
        return [_view(tenant) for tenant in await service.list_tenants(session)]


@router.post("", response_model=CreatedTenant, status_code=201, summary="Create a tenant")
async def create_tenant(body: NewTenant, request: Request, actor: Operator) -> CreatedTenant:
    """A new tenant and a one-time link for its first admin (72 hours by default)."""
    try:
        async with request.app.state.database.transaction() as session:
            tenant, invite = await service.create_tenant(
                session,
                body.name,
                tenant_id=body.tenant_id,
                invite_hours=request.app.state.settings.invite_hours,
                actor=actor,
            )
    except TenantConflictError as exc:
        raise _problem(exc) from exc
    request.app.state.relay.notify()
    log.info("tenant created", tenant_id=tenant.tenant_id, operator=actor.name)
    summary = service.TenantSummary(
        tenant.tenant_id, tenant.name, tenant.status, tenant.created_at, 0
    )
    return CreatedTenant(**_view(summary).model_dump(), invite=_invite(request, invite))


@router.post("/{tenant_id}/invites", response_model=InviteView, status_code=201)
async def invite(tenant_id: str, request: Request, actor: Operator) -> InviteView:
    """Another one-time admin invite (the first expired, or a second admin is wanted)."""
    try:
        async with request.app.state.database.transaction() as session:
            issued = await service.issue_invite(
                session, tenant_id, hours=request.app.state.settings.invite_hours, actor=actor
            )
    except (TenantNotFoundError, TenantConflictError) as exc:
        raise _problem(exc) from exc
    request.app.state.relay.notify()
    log.info("tenant invite issued", tenant_id=tenant_id, operator=actor.name)
    return _invite(request, issued)


async def _set_status(
    request: Request, tenant_id: str, status: Literal["active", "suspended"], actor: Actor
) -> TenantView:
    try:
        async with request.app.state.database.transaction() as session:
            await service.set_status(session, tenant_id, status, actor=actor)
    except (TenantNotFoundError, TenantConflictError) as exc:
        raise _problem(exc) from exc
    _published(request, tenant_id)
    log.info("tenant status changed", tenant_id=tenant_id, status=status, operator=actor.name)
    return await _summary(request, tenant_id)


@router.post("/{tenant_id}/suspend", response_model=TenantView, summary="Suspend a tenant")
async def suspend(tenant_id: str, request: Request, actor: Operator) -> TenantView:
    """Its users and API keys are refused (403) and its vendor webhooks too, until resumed."""
    return await _set_status(request, tenant_id, "suspended", actor)


@router.post("/{tenant_id}/resume", response_model=TenantView, summary="Resume a tenant")
async def resume(tenant_id: str, request: Request, actor: Operator) -> TenantView:
    return await _set_status(request, tenant_id, "active", actor)


@router.delete("/{tenant_id}", status_code=202, summary="Delete a tenant and all its data")
async def delete(tenant_id: str, request: Request, actor: Operator) -> Response:
    """Refused from now on; every service deletes the tenant's data when it receives
    `tenant.<id>.deleted.v1`, and the gateway, when it does, removes the tenant's messages
    from NATS and its uploads never imported. The audit log keeps an operator record."""
    try:
        async with request.app.state.database.transaction() as session:
            await service.request_deletion(session, tenant_id, actor=actor)
    except TenantNotFoundError as exc:
        raise _problem(exc) from exc
    _published(request, tenant_id)
    log.info("tenant deletion requested", tenant_id=tenant_id, operator=actor.name)
    return Response(status_code=202)


@activity_router.get(
    "/activity", response_model=ActivityPage, summary="The operator's decisions about tenants"
)
async def operator_activity(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> ActivityPage:
    """Creations, invites issued, suspensions, resumptions and deletions, newest first, each
    with the operator who acted: what stays of a deleted tenant in the log (its own entries
    go with the rest of its data)."""
    return await ask(request, _OPERATOR, ListActivity(limit=limit, cursor=cursor), ActivityPage)
