"""Mapping: vendor accounts and SKUs to PSA accounts and service lines, the unmapped
queue, service lines, and the per-account New Revenue switch."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from trueup.contracts import recon as r
from trueup.contracts.types import Quantity
from trueup.gateway.endpoints.common import accept_renamed_fields, ask, serve_renamed_fields
from trueup.gateway.identity.dependencies import Billing, Viewer

router = APIRouter(prefix="/api/v1", tags=["mapping"])


class AccountMappingsBody(BaseModel):
    """Map, exclude or unmap vendor accounts, one or many at once."""

    items: list[r.AccountMappingChange] = Field(
        min_length=1,
        max_length=5000,
        examples=[
            [
                {
                    "vendor": "pax8",
                    "vendor_account_id": "c0ffee",
                    "action": "map",
                    "account_id": "250",
                },
                {"vendor": "huntress", "vendor_account_id": "17", "action": "exclude"},
            ]
        ],
    )

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, body: object) -> object:
        return accept_renamed_fields(body)


class ServiceMappingBody(BaseModel):
    """Map a vendor SKU to a service line, with the sales-unit factor and rounding
    (e.g. factor 100 when the vendor reports GB and you bill per 100 GB)."""

    vendor: str = Field(min_length=1, max_length=200, examples=["pax8"])
    sku: str = Field(min_length=1, max_length=500, examples=["MST-365-BP"])
    service_line_id: str | None = Field(default=None, examples=["3301"])
    factor: Quantity = Field(default=Decimal(1), gt=0)
    rounding: Literal["up", "down", "half_up", "exact"] = "up"
    excluded: bool = False
    remove: bool = Field(default=False, description="Remove this SKU -> service line mapping")


class ServiceLineBody(BaseModel):
    vendor_tag: str | None = Field(default=None, max_length=200, examples=["pax8"])
    clear_vendor_tag: bool = False
    sales_unit: str | None = Field(default=None, min_length=1, max_length=50, examples=["seat"])


class AccountBody(BaseModel):
    suppress_new_revenue: bool = Field(description="Hide New Revenue cards for this account")


@router.get("/mappings/accounts", response_model=r.AccountMappingList)
async def account_mappings(
    request: Request,
    principal: Viewer,
    status: Annotated[Literal["unmapped", "mapped", "excluded", "all"], Query()] = "all",
) -> JSONResponse:
    """Vendor accounts with usage, their mapping, and scored suggestions with reasons."""
    query = r.ListAccountMappings(status=status)
    return serve_renamed_fields(await ask(request, principal, query, r.AccountMappingList))


@router.post("/mappings/accounts", response_model=r.MappingChangeResult)
async def change_account_mappings(
    body: AccountMappingsBody, request: Request, principal: Billing
) -> r.MappingChangeResult:
    """Apply mapping actions; the affected cards are recomputed at once."""
    query = r.ChangeAccountMappings(items=body.items, actor=principal.actor())
    return await ask(request, principal, query, r.MappingChangeResult)


@router.get("/mappings/services", response_model=r.ServiceMappingList)
async def service_mappings(request: Request, principal: Viewer) -> r.ServiceMappingList:
    """Every vendor SKU with usage and the service lines it feeds."""
    return await ask(request, principal, r.ListServiceMappings(), r.ServiceMappingList)


@router.put("/mappings/services", response_model=r.ServiceMappingView)
async def save_service_mapping(
    body: ServiceMappingBody, request: Request, principal: Billing
) -> r.ServiceMappingView:
    query = r.SaveServiceMapping(**body.model_dump(), actor=principal.actor())
    return await ask(request, principal, query, r.ServiceMappingView)


@router.get("/unmapped", response_model=r.UnmappedQueue)
async def unmapped(request: Request, principal: Viewer) -> r.UnmappedQueue:
    """Every vendor account and SKU with usage and no mapping, so "clear to zero" is one
    screen."""
    return await ask(request, principal, r.ListUnmapped(), r.UnmappedQueue)


@router.get("/service-lines", response_model=r.ServiceLineList)
async def service_lines(request: Request, principal: Viewer) -> r.ServiceLineList:
    return await ask(request, principal, r.ListServiceLines(), r.ServiceLineList)


@router.patch("/service-lines/{service_line_id}", response_model=r.ServiceLineView)
async def update_service_line(
    service_line_id: str, body: ServiceLineBody, request: Request, principal: Billing
) -> r.ServiceLineView:
    """Change a service line's vendor tag (its vendor association) or sales unit."""
    query = r.UpdateServiceLine(
        service_line_id=service_line_id, **body.model_dump(), actor=principal.actor()
    )
    return await ask(request, principal, query, r.ServiceLineView)


@router.patch("/accounts/{account_id}", status_code=204)
async def update_account(
    account_id: str, body: AccountBody, request: Request, principal: Billing
) -> Response:
    query = r.UpdateAccount(
        account_id=account_id,
        suppress_new_revenue=body.suppress_new_revenue,
        actor=principal.actor(),
    )
    await ask(request, principal, query, r.MappingChangeResult)
    return Response(status_code=204)


@router.get("/accounts/{account_id}/contracts", response_model=r.ContractList)
async def account_contracts(account_id: str, request: Request, principal: Viewer) -> r.ContractList:
    """The account's active contracts, to pair a New Revenue card with one."""
    return await ask(
        request, principal, r.ListAccountContracts(account_id=account_id), r.ContractList
    )
