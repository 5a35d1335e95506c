"""Current usage per vendor, vendor account and SKU, as vendor_ingestion holds it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from trueup.contracts.ingest import ListUsage, UsagePage
from trueup.gateway.endpoints.common import ask
from trueup.gateway.identity.dependencies import Viewer

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])


@router.get("", response_model=UsagePage, summary="Current usage")
async def list_usage(
    request: Request,
    principal: Viewer,
    vendor: Annotated[str | None, Query(max_length=100)] = None,
    vendor_account_id: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> UsagePage:
    """The latest quantity per (vendor, vendor account, SKU), one page at a time."""
    return await ask(
        request,
        principal,
        ListUsage(vendor=vendor, vendor_account_id=vendor_account_id, limit=limit, cursor=cursor),
        UsagePage,
    )
