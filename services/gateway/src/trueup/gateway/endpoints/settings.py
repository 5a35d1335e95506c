"""Settings (billing cycle, rules, PSA connection) and tenant metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field

from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.gateway import bus
from trueup.gateway.endpoints.common import accept_renamed_fields, ask, serve_renamed_fields
from trueup.gateway.identity.dependencies import Admin, Billing, Viewer
from trueup.gateway.identity.text import SafeText

router = APIRouter(prefix="/api/v1", tags=["settings"])


class PsaConnectionBody(BaseModel):
    """Credentials go to psa_sync once, are sealed there, and are never returned."""

    psa: m.PsaKindName
    name: SafeText = Field(min_length=1, max_length=200, examples=["ConnectWise production"])
    credentials: dict[str, str] = Field(
        examples=[
            {
                "site": "https://api-na.myconnectwise.net",
                "company_id": "acme_msp",
                "public_key": "...",
                "private_key": "...",
                "client_id": "...",
            }
        ]
    )
    connection_id: str | None = None


class SyncBody(BaseModel):
    full: bool = Field(default=False, description="Re-read everything, noticing deletions")
    connection_id: str | None = None


class Accepted(BaseModel):
    status: str = "accepted"


# `auto_map_threshold`, the one mapping threshold before it was split in two, is still read,
# as `suggestion_threshold`: of the two, the one that never maps anything without a person
# (docs/api.md, "Renamed fields").
BillingSettingsBody = Annotated[r.BillingSettings, BeforeValidator(accept_renamed_fields)]


@router.get("/settings/billing", response_model=r.BillingSettings)
async def billing_settings(request: Request, principal: Viewer) -> JSONResponse:
    """Billing cycle, proration convention, rounding, mapping thresholds and rules."""
    return serve_renamed_fields(await ask(request, principal, r.GetSettings(), r.BillingSettings))


@router.put("/settings/billing", response_model=r.BillingSettings)
async def save_billing_settings(
    body: BillingSettingsBody, request: Request, principal: Admin
) -> JSONResponse:
    query = r.SaveSettings(settings=body, actor=principal.actor())
    return serve_renamed_fields(await ask(request, principal, query, r.BillingSettings))


@router.get("/settings/rules", response_model=list[r.AutoRuleView])
async def rules(request: Request, principal: Viewer) -> list[r.AutoRuleView]:
    settings = await ask(request, principal, r.GetSettings(), r.BillingSettings)
    return settings.rules


@router.put("/settings/rules", response_model=list[r.AutoRuleView])
async def save_rules(
    body: list[r.AutoRuleView], request: Request, principal: Admin
) -> list[r.AutoRuleView]:
    """Replace the auto-reconcile rules (each needs max_units or max_percent)."""
    current = await ask(request, principal, r.GetSettings(), r.BillingSettings)
    updated = current.model_copy(update={"rules": body})
    query = r.SaveSettings(settings=updated, actor=principal.actor())
    return (await ask(request, principal, query, r.BillingSettings)).rules


@router.get("/settings/psa", response_model=m.SyncStatus)
async def psa_status(request: Request, principal: Viewer) -> m.SyncStatus:
    """Each PSA connection's status and freshness, and the active-accounts figure."""
    return await ask(request, principal, m.GetSyncStatus(), m.SyncStatus)


@router.post("/settings/psa", response_model=m.PsaConnectionStatus)
async def save_psa_connection(
    body: PsaConnectionBody, request: Request, principal: Admin
) -> m.PsaConnectionStatus:
    query = m.SavePsaConnection(**body.model_dump(), actor=principal.actor())
    return await ask(request, principal, query, m.PsaConnectionStatus)


@router.post("/settings/psa/{connection_id}/test", response_model=m.ConnectionTestResult)
async def test_psa_connection(
    connection_id: str, request: Request, principal: Admin
) -> m.ConnectionTestResult:
    """Try the stored credentials against the PSA."""
    query = m.TestPsaConnection(connection_id=connection_id)
    return await ask(request, principal, query, m.ConnectionTestResult)


@router.post("/settings/psa/sync", status_code=202, response_model=Accepted)
async def sync_psa(body: SyncBody, request: Request, principal: Billing) -> Accepted:
    """Sync now; the command is stored in JetStream before this answers."""
    await bus.publish_event(
        request.app.state.broker,
        principal.tenant_id,
        m.SyncPsa(connection_id=body.connection_id, full=body.full),
        request.state.correlation_id,
    )
    return Accepted()


@router.get("/metrics", response_model=r.TenantMetrics, tags=["metrics"])
async def metrics(request: Request, principal: Viewer) -> r.TenantMetrics:
    """Active accounts (the billing-tier figure), pending cards, unmapped count, totals."""
    return await ask(request, principal, r.GetMetrics(), r.TenantMetrics)
