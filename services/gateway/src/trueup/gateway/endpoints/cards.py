"""Cards: the card view, the list view and their filters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from trueup.contracts.messages import CardPage, ListCards
from trueup.gateway import bus
from trueup.gateway.identity.dependencies import Viewer

router = APIRouter(prefix="/api/v1/cards", tags=["cards"])


@router.get("", response_model=CardPage, summary="List cards")
async def list_cards(
    request: Request,
    principal: Viewer,
    kind: Annotated[str | None, Query(description="reconcile, no_change or new_revenue")] = None,
    state: Annotated[str | None, Query(description="pending, approved, applied...")] = None,
    vendor: Annotated[str | None, Query(description="Only cards with this vendor tag")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> CardPage:
    """The tenant's cards, one page at a time (cursor pagination)."""
    return await bus.query(
        request.app.state.broker,
        principal,
        ListCards(kind=kind, state=state, vendor=vendor, limit=limit, cursor=cursor),
        CardPage,
        timeout=request.app.state.query_timeout,
        correlation_id=request.state.correlation_id,
    )
