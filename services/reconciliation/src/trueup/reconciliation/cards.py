"""Card queries: a filtered, sorted page of cards with totals, one card's details, and the
preview of what approving it would write."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trueup import domain as d
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.platform.paging import within_page_bytes
from trueup.reconciliation import state as st
from trueup.reconciliation.changes import check_date, large_change, requested_changes
from trueup.reconciliation.models import (
    AccountMappingRow,
    AccountRow,
    CardRow,
    ContractRow,
    Usage,
)
from trueup.reconciliation.repository import Repository


def _now() -> datetime:
    return datetime.now(UTC)


def card_conditions(f: r.CardFilter) -> list[Any]:
    where: list[Any] = []
    if not f.include_hidden:
        where.append(CardRow.hidden.is_(False))
    if f.kind:
        where.append(CardRow.kind == f.kind)
    if f.state:
        where.append(CardRow.state == f.state)
    if f.vendor:
        where.append(CardRow.vendors.contains(f.vendor))
    if f.service_line_id:
        where.append(CardRow.service_line_id == f.service_line_id)
    if f.account_id:
        where.append(CardRow.account_id == f.account_id)
    if f.contract_id:
        where.append(CardRow.contract_id == f.contract_id)
    if f.q:
        where.append(names_contain(CardRow, f.q))
    return where


def names_contain(model: Any, text: str) -> Any:
    """Cards (live or kept by a closed cycle) whose account, service line or contract name
    contains `text`, in any case."""
    like = f"%{text.lower()}%"
    return sa.or_(
        sa.func.lower(model.account_name).like(like),
        sa.func.lower(model.service_line).like(like),
        sa.func.lower(model.contract_name).like(like),
    )


_SORTS: dict[str, Sequence[Any]] = {
    "service_line": (CardRow.service_line, CardRow.account_name, CardRow.card_id),
    "account": (CardRow.account_name, CardRow.service_line, CardRow.card_id),
    "contract": (CardRow.contract_name, CardRow.service_line, CardRow.card_id),
    "updated": (CardRow.updated_at.desc(), CardRow.card_id),
}


# Totals per filter, kept against the tenant's cards version (and rounding rule), so that
# paging a large list does not add them up again until a card changes.
_TOTALS: dict[tuple[str, str, str], tuple[int, r.CardTotals]] = {}


def _where_key(where: Sequence[Any]) -> str:
    return " AND ".join(
        str(clause.compile(compile_kwargs={"literal_binds": True})) for clause in where
    )


async def card_totals(
    repo: Repository, where: Sequence[Any], policy: d.RoundingPolicy
) -> r.CardTotals:
    """Count of the matching cards and their monthly money, one row per currency.

    Summed in Python by the domain's `summarise_money`: on SQLite the amounts are text, and
    SQL's SUM would go through floats; and no total may add two currencies or two periods.
    """
    key = (repo.tenant_id, _where_key(where), policy.mode.value)
    version = await repo.cards_version()
    cached = _TOTALS.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    rows = await repo.card_prices(where)
    totals = r.CardTotals(
        cards=len(rows),
        by_currency=st.currency_totals(rows, policy),
    )
    if len(_TOTALS) > 1024:
        _TOTALS.clear()
    _TOTALS[key] = (version, totals)
    return totals


async def pending_totals(session: AsyncSession, tenant_id: str) -> r.CardTotals:
    """Totals of the pending work: cards that differ or are new (agreeing ones need nothing)."""
    repo = Repository(session, tenant_id)
    where = [
        *card_conditions(r.CardFilter(state="pending")),
        CardRow.kind.in_((d.CardKind.RECONCILE.value, d.CardKind.NEW_REVENUE.value)),
    ]
    policy = st.domain_settings(await repo.billing_settings()).rounding
    return await card_totals(repo, where, policy)


async def list_cards(session: AsyncSession, tenant_id: str, query: r.ListCardsQuery) -> r.CardList:
    """A page of cards; the cursor is an offset into a stable order (ties broken by id)."""
    repo = Repository(session, tenant_id)
    where = card_conditions(query.filter)
    offset = int(query.cursor) if query.cursor and query.cursor.isdigit() else 0
    policy = st.domain_settings(await repo.billing_settings()).rounding
    if query.sort in ("delta", "revenue"):
        # Decimal columns are text on SQLite, so numeric order is taken in Python.
        rows = list(await repo.cards(where, [CardRow.card_id]))
        if query.sort == "delta":
            rows.sort(key=lambda c: abs(c.delta), reverse=True)
        else:
            # By monthly revenue: a quarter's change is not three times as large a change.
            def mrr(row: CardRow) -> Decimal:
                money = st.card_figures(row, policy)
                return abs(money.mrr_change.amount) if money else Decimal(0)

            rows.sort(key=mrr, reverse=True)
        page = rows[offset : offset + query.limit + 1]
    else:
        statement = (
            sa.select(CardRow)
            .where(CardRow.tenant_id == tenant_id, *where)
            .order_by(*_SORTS[query.sort])
            .offset(offset)
            .limit(query.limit + 1)
        )
        page = list((await session.scalars(statement)).all())
    units = await repo.sales_units()
    items = within_page_bytes(
        [
            st.card_item(row, policy=policy, sales_unit=units.get(row.service_line_id or ""))
            for row in page[: query.limit]
        ]
    )
    return r.CardList(
        items=items,
        # `page` holds one row past the limit when more follow; a cut page leaves more too.
        next_cursor=str(offset + len(items)) if len(page) > len(items) else None,
        totals=await card_totals(repo, where, policy),
    )


async def card_details(session: AsyncSession, tenant_id: str, card_id: str) -> r.CardDetails:
    repo = Repository(session, tenant_id)
    card = await repo.card(card_id)
    if card is None:
        raise QueryFailedError(404, "Not Found", f"No card {card_id}.")
    contract_row = await repo.get(ContractRow, card.contract_id) if card.contract_id else None
    today = _now().date()
    facts = None
    default_date = today
    if contract_row is not None:
        facts = st.contract_facts(contract_row)
        default_date = card.planned_effective_date or d.default_effective_date(
            st.contract(contract_row), today
        )
    account = await repo.get(AccountRow, card.account_id)
    mappings = await repo.all_of(AccountMappingRow, AccountMappingRow.account_id == card.account_id)
    usage_names = {
        (u.vendor, u.vendor_account_id): u.vendor_account_name for u in await repo.all_of(Usage)
    }
    settings_row = await repo.settings_row()
    policy = st.domain_settings(await repo.billing_settings()).rounding
    units = await repo.sales_units()
    return r.CardDetails(
        card=st.card_item(card, policy=policy, sales_unit=units.get(card.service_line_id or "")),
        contract=facts,
        names=r.CardNames(
            psa_account_name=account.name if account else card.account_name,
            psa_contract_name=card.contract_name,
            vendor_accounts=[
                r.VendorAccountName(
                    vendor=row.vendor,
                    vendor_account_id=row.vendor_account_id,
                    name=usage_names.get(
                        (row.vendor, row.vendor_account_id), row.vendor_account_id
                    ),
                    mapping="automatic" if row.automatic else "manual",
                )
                for row in mappings
                if not row.excluded
            ],
            psa_synced_at=settings_row.last_sync_at if settings_row else None,
            usage_as_of=card.usage_as_of,
        ),
        change=r.ChangeFacts(
            vendor_quantity=card.vendor_quantity,
            psa_quantity=card.psa_quantity,
            target_quantity=card.target_quantity,
            billed_elsewhere=card.billed_elsewhere,
            shared_with=[
                r.SharedLine(
                    card_id=other.card_id,
                    contract_name=other.contract_name,
                    line_item_id=other.line_item_id,
                    psa_quantity=other.psa_quantity,
                )
                for other in await _shared_lines(repo, card)
            ],
            unit_price=card.unit_price,
            unit_cost=card.unit_cost,
            default_effective_date=default_date,
            proration_allowed=contract_row.proration_allowed if contract_row else False,
            contributions=[r.Contribution.model_validate(c) for c in card.contributions],
        ),
    )


async def _shared_lines(repo: Repository, card: CardRow) -> Sequence[CardRow]:
    """The other line items of the card's account that bill its service line."""
    if card.line_item_id is None or card.service_line_id is None:
        return []
    return await repo.cards(
        [
            CardRow.account_id == card.account_id,
            CardRow.service_line_id == card.service_line_id,
            CardRow.line_item_id.is_not(None),
            CardRow.card_id != card.card_id,
        ],
        [CardRow.contract_name, CardRow.line_item_id],
    )


async def preview(session: AsyncSession, tenant_id: str, query: r.PreviewQuery) -> r.ChangePreview:
    """Exactly the lines approving would write, with their revenue and profit effect."""
    repo = Repository(session, tenant_id)
    row = await repo.card(query.card_id)
    if row is None:
        raise QueryFailedError(404, "Not Found", f"No card {query.card_id}.")
    contract_row = await repo.get(ContractRow, row.contract_id) if row.contract_id else None
    if contract_row is None:
        raise QueryFailedError(409, "Conflict", "The card's contract is no longer in the PSA.")
    settings = await repo.billing_settings()
    today = _now().date()
    contract = st.contract(contract_row)
    default_date = row.planned_effective_date or d.default_effective_date(contract, today)
    changes = requested_changes(query.change, row, default_date)
    for change in changes:
        check_date(contract_row, change.effective_date, today)
    if (query.unit_price, query.unit_cost) != (None, None) and row.kind != d.CardKind.NEW_REVENUE:
        # Approving keeps the line item's price: a preview at another would not be what
        # approving writes.
        raise QueryFailedError(
            422, "Invalid request", "Only an add sets a unit price or cost; approving keeps them."
        )
    # An add is previewed at the price and cost it would write, as `actions.act` writes it.
    unit_price = query.unit_price if query.unit_price is not None else row.unit_price
    if unit_price is None:
        raise QueryFailedError(422, "No price", "Enter a unit price to preview this change.")
    unit_cost = (query.unit_cost if query.unit_cost is not None else row.unit_cost) or Decimal(0)
    domain_settings = st.domain_settings(settings)
    steps = [d.QuantityChange(c.effective_date, c.quantity) for c in changes]
    try:
        preview_, cost_preview = (
            d.preview_changes(
                contract,
                quantity_before=row.psa_quantity,
                unit_price=price,
                changes=steps,
                today=today,
                convention=domain_settings.proration,
                policy=domain_settings.rounding,
            )
            for price in (unit_price, unit_cost)
        )
    except d.DomainError as exc:
        raise QueryFailedError(422, "Invalid change", str(exc)) from exc
    lines = []
    for line, cost_line in zip(preview_.lines, cost_preview.lines, strict=True):
        lines.append(
            r.PreviewLine(
                effective_date=line.effective,
                quantity_before=line.quantity_before,
                quantity_after=line.quantity_after,
                period_start=line.period.start,
                period_end=line.period.end,
                days=line.days_charged,
                revenue=line.amount.amount,
                cost=cost_line.amount.amount,
                profit=line.amount.amount - cost_line.amount.amount,
            )
        )
    revenue = preview_.total.amount
    cost = cost_preview.total.amount
    delta = preview_.final_quantity - row.psa_quantity
    months = Decimal(d.BillingCycle(contract_row.billing_cycle).months)
    mrr = d.round_amount(delta * unit_price / months, contract_row.currency)
    after = preview_.final_quantity * unit_price
    margin = (
        # A percentage with two decimals, not money: no currency rounding applies.
        ((after - preview_.final_quantity * unit_cost) / after * 100).quantize(Decimal("0.01"))
        if after
        else None
    )
    before = row.psa_quantity
    preview_steps = []
    for change in changes:
        preview_steps.append(
            r.PreviewStep(
                effective_date=change.effective_date,
                quantity_before=before,
                quantity_after=change.quantity,
            )
        )
        before = change.quantity
    return r.ChangePreview(
        large_change=large_change(row, changes, settings, unit_price),
        steps=preview_steps,
        lines=lines,
        revenue_change=revenue,
        cost_change=cost,
        profit_change=revenue - cost,
        mrr_change=mrr,
        margin=margin,
        currency=contract_row.currency,
    )
