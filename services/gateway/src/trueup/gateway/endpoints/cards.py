"""Cards: the card view, the list view, details, preview, and actions (single and bulk)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from trueup.contracts import messages as m
from trueup.contracts import new_id
from trueup.contracts import recon as r
from trueup.contracts.types import BusinessDate, Quantity, UnitPrice
from trueup.gateway import bus
from trueup.gateway.endpoints.common import ask, serve_renamed_fields
from trueup.gateway.identity.dependencies import Billing, Viewer
from trueup.gateway.identity.principal import Principal
from trueup.gateway.problems import ProblemError

router = APIRouter(prefix="/api/v1/cards", tags=["cards"])

CycleStart = Annotated[
    date | None,
    Query(
        description=(
            "Start of the billing cycle the caller saw the card in (as `GET /api/v1/cycles` "
            "lists it). Refused with 409 when that cycle has closed: a closed cycle is "
            "read-only."
        ),
    ),
]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retrying with the same key returns the first answer and changes nothing.",
    ),
]

_CHANGE_EXAMPLE: dict[str, Any] = {
    "quantity": "27",
    "effective_date": "2026-12-01",
}
_PRORATED_EXAMPLE: dict[str, Any] = {
    "prorated_changes": [
        {"effective_date": "2026-11-10", "quantity": "26"},
        {"effective_date": "2026-11-20", "quantity": "27"},
    ]
}


class Body(BaseModel):
    """A request body: an unknown field is an error, never silently ignored (a typo such
    as `quantiy` would otherwise approve the vendor quantity instead)."""

    model_config = ConfigDict(extra="forbid")


class ProratedStep(Body):
    """From `effective_date` on, the line item bills `quantity`."""

    effective_date: BusinessDate
    quantity: Quantity


class ChangeBody(Body):
    """The main change (`quantity` from `effective_date`) and any further dated steps
    (`prorated_changes`); every step is written in date order. Empty: the card's target
    quantity from the default effective date."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [_CHANGE_EXAMPLE, _PRORATED_EXAMPLE]}
    )

    quantity: Quantity | None = None
    effective_date: BusinessDate | None = None
    prorated_changes: list[ProratedStep] = Field(default_factory=list, max_length=50)
    confirm: bool = Field(
        default=False,
        description="Approve a large change (one the card or preview marks `large_change`).",
    )

    def request(self) -> r.ChangeRequest:
        return r.ChangeRequest(
            quantity=self.quantity,
            effective_date=self.effective_date,
            prorated_changes=[
                m.ProratedChange(effective_date=step.effective_date, quantity=step.quantity)
                for step in self.prorated_changes
            ],
        )


class PreviewBody(ChangeBody):
    """A change to preview; for a New Revenue card, also the price and cost its add would
    write (as `POST .../add` takes them), so the preview and its large-change check weigh
    the add at that price."""

    unit_price: UnitPrice | None = Field(
        default=None,
        description="Add only: the unit price per billing period, in the contract's currency "
        "(default: the card's).",
    )
    unit_cost: UnitPrice | None = Field(
        default=None,
        description="Add only: the unit cost per billing period, in the contract's currency "
        "(default: the card's).",
    )


class DismissBody(Body):
    reason: str | None = Field(default=None, max_length=1000, examples=["Client asked to wait"])


class AddBody(Body):
    """Pair a New Revenue card with a contract and create its line item in the PSA."""

    contract_id: str | None = Field(default=None, description="Default: the suggested contract")
    quantity: Quantity | None = None
    unit_price: UnitPrice | None = None
    unit_cost: UnitPrice | None = None
    effective_date: BusinessDate | None = None
    prorate: bool = False
    confirm: bool = Field(default=False, description="Add a large change.")


class BulkBody(Body):
    action: Literal["approve", "dismiss", "restore", "set_effective_date"]
    card_ids: list[str] = Field(default_factory=list, max_length=5000)
    filter: r.CardFilter | None = None
    effective_date: BusinessDate | None = None
    reason: str | None = Field(default=None, max_length=1000)
    confirm: bool = Field(default=False, description="Approve large changes in the selection.")


def _key(principal: Principal, header: str | None) -> str:
    # Keys are scoped by caller, so two callers can never collide on one.
    return f"{principal.kind}:{principal.subject_id}:{header or new_id()}"


@router.get(
    "",
    response_model=r.CardList,
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
    summary="List cards (card view and list view)",
)
async def list_cards(
    request: Request,
    principal: Viewer,
    kind: Annotated[r.CardKindName | None, Query()] = None,
    state: Annotated[r.CardStateName | None, Query()] = None,
    vendor: Annotated[str | None, Query(max_length=200, description="Vendor tag")] = None,
    service_line_id: Annotated[str | None, Query(max_length=200)] = None,
    account_id: Annotated[str | None, Query(max_length=200)] = None,
    contract_id: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Search names")] = None,
    include_hidden: Annotated[bool, Query(description="Include actioned cards")] = False,
    sort: Annotated[
        Literal["service_line", "account", "contract", "delta", "revenue", "updated"], Query()
    ] = "service_line",
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d*$")] = None,
) -> Response:
    """Cards with their figures and page totals; grouped by service line by default."""
    query = r.ListCardsQuery(
        filter=r.CardFilter(
            kind=kind,
            state=state,
            vendor=vendor,
            service_line_id=service_line_id,
            account_id=account_id,
            contract_id=contract_id,
            q=q,
            include_hidden=include_hidden,
        ),
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    pages = request.app.state.pages
    key = query.model_dump_json()
    page = pages.get(principal.tenant_id, key)
    if page is None:
        generation = pages.generation(principal.tenant_id)
        page = await bus.query_raw(
            request.app.state.broker,
            principal,
            query,
            r.CardList,
            timeout=request.app.state.query_timeout,
            correlation_id=request.state.correlation_id,
        )
        pages.put(principal.tenant_id, key, page, generation)
    return Response(content=page, media_type="application/json")


@router.post("/bulk", response_model=r.BulkResult, summary="Action many cards")
async def bulk(
    body: BulkBody,
    request: Request,
    principal: Billing,
    idempotency_key: IdempotencyKey = None,
    cycle: CycleStart = None,
) -> r.BulkResult:
    """Approve, dismiss, restore (undo a dismiss) or set the effective date over a selection
    or a filter."""
    if not body.card_ids and body.filter is None:
        raise ProblemError(422, "Invalid request", "Give card_ids or a filter.")
    query = r.BulkActionQuery(
        action=body.action,
        actor=principal.actor(),
        idempotency_key=_key(principal, idempotency_key),
        card_ids=body.card_ids,
        filter=body.filter,
        effective_date=body.effective_date,
        reason=body.reason,
        confirm=body.confirm,
        cycle=cycle,
    )
    return await ask(request, principal, query, r.BulkResult)


@router.get("/{card_id}", response_model=r.CardDetails, summary="Card details (four quadrants)")
async def card_details(card_id: str, request: Request, principal: Viewer) -> JSONResponse:
    """The contract, past actions, names with mapping and freshness, and the change facts."""
    details = await ask(request, principal, r.GetCardQuery(card_id=card_id), r.CardDetails)
    try:
        activity = await ask(
            request, principal, m.ListActivity(card_id=card_id, limit=50), m.ActivityPage
        )
    except ProblemError:
        # Past actions are a nicety here; the card stays usable while audit is away.
        return serve_renamed_fields(details)
    return serve_renamed_fields(details.model_copy(update={"past_actions": activity.items}))


@router.post("/{card_id}/preview", response_model=r.ChangePreview, summary="Preview a change")
async def preview(
    card_id: str, body: PreviewBody, request: Request, principal: Viewer
) -> r.ChangePreview:
    """Exactly the PSA lines approving (or adding) would write, with revenue and profit;
    writes nothing."""
    query = r.PreviewQuery(
        card_id=card_id,
        change=body.request(),
        unit_price=body.unit_price,
        unit_cost=body.unit_cost,
    )
    return await ask(request, principal, query, r.ChangePreview)


async def _act(
    request: Request,
    principal: Principal,
    card_id: str,
    action: Literal["approve", "dismiss", "add", "restore", "retry"],
    key: str | None,
    **fields: object,
) -> r.ActionAccepted:
    query = r.ActionQuery(
        card_id=card_id,
        action=action,
        actor=principal.actor(),
        idempotency_key=_key(principal, key),
        **fields,  # type: ignore[arg-type]
    )
    return await ask(request, principal, query, r.ActionAccepted)


@router.post("/{card_id}/approve", status_code=202, response_model=r.ActionAccepted)
async def approve(
    card_id: str,
    body: ChangeBody,
    request: Request,
    principal: Billing,
    idempotency_key: IdempotencyKey = None,
    cycle: CycleStart = None,
) -> r.ActionAccepted:
    """Write the vendor quantity (or a custom one, or several prorated steps) to the PSA."""
    return await _act(
        request,
        principal,
        card_id,
        "approve",
        idempotency_key,
        cycle=cycle,
        change=body.request(),
        confirm=body.confirm,
    )


@router.post("/{card_id}/dismiss", status_code=202, response_model=r.ActionAccepted)
async def dismiss(
    card_id: str,
    request: Request,
    principal: Billing,
    body: DismissBody | None = None,
    idempotency_key: IdempotencyKey = None,
    cycle: CycleStart = None,
) -> r.ActionAccepted:
    """Make no change this cycle; the card comes back next cycle if still different."""
    return await _act(
        request,
        principal,
        card_id,
        "dismiss",
        idempotency_key,
        cycle=cycle,
        reason=body.reason if body else None,
    )


@router.post("/{card_id}/add", status_code=202, response_model=r.ActionAccepted)
async def add(
    card_id: str,
    body: AddBody,
    request: Request,
    principal: Billing,
    idempotency_key: IdempotencyKey = None,
    cycle: CycleStart = None,
) -> r.ActionAccepted:
    """Create the New Revenue card's line item on a contract in the PSA."""
    return await _act(
        request,
        principal,
        card_id,
        "add",
        idempotency_key,
        cycle=cycle,
        change=r.ChangeRequest(quantity=body.quantity, effective_date=body.effective_date),
        contract_id=body.contract_id,
        unit_price=body.unit_price,
        unit_cost=body.unit_cost,
        prorate=body.prorate,
        confirm=body.confirm,
    )


@router.post("/{card_id}/restore", status_code=202, response_model=r.ActionAccepted)
async def restore(
    card_id: str,
    request: Request,
    principal: Billing,
    idempotency_key: IdempotencyKey = None,
    cycle: CycleStart = None,
) -> r.ActionAccepted:
    """Undo a dismiss."""
    return await _act(request, principal, card_id, "restore", idempotency_key, cycle=cycle)


@router.post("/{card_id}/retry", status_code=202, response_model=r.ActionAccepted)
async def retry(
    card_id: str,
    request: Request,
    principal: Billing,
    idempotency_key: IdempotencyKey = None,
    cycle: CycleStart = None,
) -> r.ActionAccepted:
    """Retry a writeback that failed (the card shows the PSA's error)."""
    return await _act(request, principal, card_id, "retry", idempotency_key, cycle=cycle)
