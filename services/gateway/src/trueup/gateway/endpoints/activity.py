"""Activity log: filtered pages, a CSV export, and the tenant's retention.

The audit service owns the log and answers `ListActivity`; the gateway only shapes HTTP.
Entries are append-only: there is deliberately no endpoint that edits or deletes one.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from trueup.contracts.messages import (
    ActivityEntry,
    ActivityPage,
    ActivityRetention,
    ListActivity,
    SetActivityRetention,
)
from trueup.gateway.endpoints.common import ask
from trueup.gateway.identity.dependencies import Admin, Viewer
from trueup.gateway.identity.principal import Principal
from trueup.gateway.problems import ProblemError

router = APIRouter(tags=["activity"])

EXPORT_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ActivityFilters:
    since: datetime | None
    until: datetime | None
    actor_id: str | None
    account: str | None
    service_line: str | None
    contract_psa_id: str | None
    card_id: str | None
    action_type: str | None
    outcome: str | None

    def query(self, *, limit: int, cursor: str | None) -> ListActivity:
        return ListActivity(
            since=self.since,
            until=self.until,
            actor_id=self.actor_id,
            account=self.account,
            service_line=self.service_line,
            contract_psa_id=self.contract_psa_id,
            card_id=self.card_id,
            action_type=self.action_type,
            outcome=self.outcome,
            limit=limit,
            cursor=cursor,
        )


def activity_filters(
    since: Annotated[
        datetime | None, Query(description="Entries at or after this time (ISO 8601)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Entries strictly before this time (ISO 8601)")
    ] = None,
    actor_id: Annotated[
        str | None, Query(description="Only entries by this user, API key or rule id")
    ] = None,
    account: Annotated[
        str | None,
        Query(
            description="Part of the account's name in any case (`acme` finds `Acme, Inc.`), "
            "or its exact id"
        ),
    ] = None,
    service_line: Annotated[str | None, Query(description="Service line, exactly")] = None,
    contract_psa_id: Annotated[
        str | None, Query(description="The contract's id in the PSA (past actions)")
    ] = None,
    card_id: Annotated[str | None, Query(description="One card's past actions")] = None,
    action_type: Annotated[
        str | None,
        Query(
            description="approve, add, dismiss, restore, retry, writeback, import, mapping, "
            "psa_sync, settings, security, usage_removal"
        ),
    ] = None,
    outcome: Annotated[
        Literal["applied", "conflict", "failed"] | None,
        Query(description="How the change ended"),
    ] = None,
) -> ActivityFilters:
    if since is not None and until is not None and _utc(since) >= _utc(until):
        raise ProblemError(
            422,
            "Invalid request",
            "`since` must be earlier than `until`.",
            type_="https://trueup.dev/problems/validation",
            errors=[{"field": "since", "location": "query", "message": "not before until"}],
        )
    return ActivityFilters(
        since=since,
        until=until,
        actor_id=actor_id,
        account=account,
        service_line=service_line,
        contract_psa_id=contract_psa_id,
        card_id=card_id,
        action_type=action_type,
        outcome=outcome,
    )


Filters = Annotated[ActivityFilters, Depends(activity_filters)]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _page(request: Request, principal: Principal, payload: ListActivity) -> ActivityPage:
    return await ask(
        request,
        principal,
        payload,
        ActivityPage,
    )


@router.get("/api/v1/activity", response_model=ActivityPage, summary="List activity")
async def list_activity(
    request: Request,
    principal: Viewer,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> ActivityPage:
    """The activity log, newest first, one page at a time (cursor pagination).

    Filter by `contract_psa_id` or `card_id` for the past actions of one contract or card.
    """
    return await _page(request, principal, filters.query(limit=limit, cursor=cursor))


# --- CSV export ----------------------------------------------------------------------

CSV_COLUMNS = (
    "occurred_at_utc",
    "actor_kind",
    "actor_id",
    "actor_name",
    "action_type",
    "outcome",
    "summary",
    "account",
    "service_line",
    "contract_psa_id",
    "card_id",
    "quantity_before",
    "quantity_after",
    "price_before",
    "price_after",
    "currency",
    "effective_date",
    "prorated_lines",
    "psa_record_url",
    "correlation_id",
    "entry_id",
)

# A spreadsheet runs a cell that starts with one of these as a formula (tab, CR and LF are
# stripped by some importers, exposing what follows).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# A plain ASCII number cannot run anything, and prefixing it would turn -3 into text.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def neutralise(cell: str) -> str:
    """The cell as a spreadsheet will show it but never evaluate it (OWASP CSV injection)."""
    if not cell or _PLAIN_NUMBER.fullmatch(cell):
        return cell
    # Spreadsheets with East Asian input fold full-width and compatibility forms
    # (U+FF1D, U+FE66, U+FF0B...) to ASCII before parsing: check the lead as NFKC folds it.
    lead = unicodedata.normalize("NFKC", cell[0])
    if lead.startswith(_FORMULA_STARTS) or cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def _number(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def csv_row(entry: ActivityEntry) -> list[str]:
    cells = [
        entry.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        entry.actor.kind,
        entry.actor.id,
        entry.actor.name,
        entry.action_type,
        entry.outcome or "",
        entry.summary,
        entry.account_name,
        entry.service_line,
        entry.contract_psa_id or "",
        entry.card_id or "",
        _number(entry.quantity_before),
        _number(entry.quantity_after),
        _number(entry.price_before),
        _number(entry.price_after),
        entry.currency or "",
        entry.effective_date.isoformat() if entry.effective_date else "",
        "; ".join(
            f"{line.effective_date.isoformat()}: {_number(line.quantity)}"
            for line in entry.prorated_lines
        ),
        entry.psa_record_url or "",
        entry.correlation_id,
        entry.entry_id,
    ]
    return [neutralise(cell) for cell in cells]


def _csv_line(cells: list[str] | tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


@router.get(
    "/api/v1/activity/export",
    summary="Export activity as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_activity(
    request: Request, principal: Viewer, filters: Filters
) -> StreamingResponse:
    """Every entry matching the filters, newest first, as CSV (UTF-8 with a BOM so that
    spreadsheets detect the encoding). Cells that a spreadsheet would run as a formula
    are prefixed with an apostrophe."""
    # The first page is fetched before answering, so an unavailable audit service is a
    # 503 problem rather than a 200 with an empty file.
    first = await _page(request, principal, filters.query(limit=EXPORT_PAGE_SIZE, cursor=None))

    async def lines() -> AsyncIterator[str]:
        yield "\ufeff" + _csv_line(CSV_COLUMNS)
        page = first
        while True:
            for entry in page.items:
                yield _csv_line(csv_row(entry))
            if page.next_cursor is None:
                return
            # A failure here ends the stream without its final chunk, so the client sees
            # a broken download instead of a silently truncated file.
            page = await _page(
                request,
                principal,
                filters.query(limit=EXPORT_PAGE_SIZE, cursor=page.next_cursor),
            )

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="activity-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- retention -----------------------------------------------------------------------


class RetentionChange(BaseModel):
    days: int = Field(ge=1, le=3650, description="Keep activity entries this many days")


@router.put(
    "/api/v1/settings/activity-retention",
    response_model=ActivityRetention,
    summary="Set the activity log retention",
)
async def set_activity_retention(
    request: Request, principal: Admin, change: RetentionChange
) -> ActivityRetention:
    """How many days the activity log keeps entries (14 unless changed). Shortening it
    hides older entries at once and the purge job deletes them; the change is itself
    recorded in the log."""
    return await ask(
        request,
        principal,
        SetActivityRetention(days=change.days, actor=principal.actor()),
        ActivityRetention,
    )
