"""Billing cycles: the open one and the closed ones, whose cards are kept read-only with
what was decided on each."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from trueup.contracts import recon as r
from trueup.gateway.endpoints.common import ask
from trueup.gateway.identity.dependencies import Viewer

router = APIRouter(prefix="/api/v1/cycles", tags=["cycles"])


@router.get("", response_model=r.CycleList, summary="List billing cycles")
async def list_cycles(request: Request, principal: Viewer) -> r.CycleList:
    """The open cycle with its figures so far, and every closed cycle (newest first) with
    its counts and the monthly money approved in it."""
    return await ask(request, principal, r.ListCyclesQuery(), r.CycleList)


@router.get(
    "/{start}/cards", response_model=r.CycleCardList, summary="Cards of a closed billing cycle"
)
async def cycle_cards(
    start: date,
    request: Request,
    principal: Viewer,
    state: Annotated[r.CardStateName | None, Query()] = None,
    kind: Annotated[r.CardKindName | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200, description="Search names")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d*$")] = None,
) -> r.CycleCardList:
    """The cards of a closed cycle as they stood when it closed, each with the action taken
    on it in that cycle (who, when, the quantity from each effective date). Read-only; 404
    for a cycle that is not closed (the open cycle's cards are `GET /api/v1/cards`)."""
    query = r.CycleCardsQuery(start=start, state=state, kind=kind, q=q, limit=limit, cursor=cursor)
    return await ask(request, principal, query, r.CycleCardList)
