"""Turns reconciliation's rows into the domain's `TenantState`, and back for cards."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from trueup import domain as d
from trueup.contracts import recon as r
from trueup.reconciliation.models import (
    AccountMappingRow,
    AccountRow,
    CardRow,
    ContractRow,
    LineItemRow,
    ServiceLineRow,
    ServiceMappingRow,
    Usage,
)
from trueup.reconciliation.repository import TenantData

_CONVENTIONS = {
    "actual_days": d.ProrationConvention.ACTUAL_DAYS,
    "thirty_day": d.ProrationConvention.THIRTY_DAY_MONTHS,
}
_ROUNDING = {"half_up": d.RoundingMode.HALF_UP, "half_even": d.RoundingMode.HALF_EVEN}


def domain_settings(settings: r.BillingSettings) -> d.TenantSettings:
    """The domain's view of a tenant's billing settings."""
    return d.TenantSettings(
        rounding=d.RoundingPolicy(_ROUNDING[settings.rounding]),
        proration=_CONVENTIONS[settings.proration_convention],
        cycle_start_day=settings.cycle_start_day,
        rules=tuple(
            d.AutoRule(
                name=rule.name,
                max_units=rule.max_units,
                max_percent=rule.max_percent,
                direction=d.Direction(rule.direction),
                max_money=rule.max_money,
                vendor=rule.vendor,
                service_line_id=rule.service_line_id,
            )
            for rule in settings.rules
        ),
        large_change=large_change_limits(settings),
    )


def large_change_limits(settings: r.BillingSettings) -> d.LargeChangeLimits:
    limits = settings.large_change
    return d.LargeChangeLimits(units=limits.units, percent=limits.percent, money=limits.money)


def account(row: AccountRow) -> d.Account:
    return d.Account(
        id=row.account_id, name=row.name, suppress_new_revenue=row.suppress_new_revenue
    )


def contract(row: ContractRow) -> d.Contract:
    return d.Contract(
        id=row.contract_id,
        account_id=row.account_id,
        name=row.name,
        # A PSA contract without a start date has always been in force.
        start=row.start_date or date(2000, 1, 1),
        end=row.end_date,
        status=d.ContractStatus(row.status)
        if row.status in _STATUSES
        else d.ContractStatus.INACTIVE,
        billing_cycle=d.BillingCycle(row.billing_cycle),
        timing=d.BillingTiming.ADVANCE if row.bill_in_advance else d.BillingTiming.ARREARS,
        proration_allowed=row.proration_allowed,
        currency=row.currency,
        dated_changes=row.dated_changes,
    )


def contract_facts(row: ContractRow) -> r.ContractFacts:
    return r.ContractFacts(
        contract_id=row.contract_id,
        name=row.name,
        psa=row.psa,
        status=row.status,
        start_date=row.start_date,
        end_date=row.end_date,
        billing_cycle=row.billing_cycle,
        bill_in_advance=row.bill_in_advance,
        proration_allowed=row.proration_allowed,
        currency=row.currency,
        dated_changes=row.dated_changes,
    )


_STATUSES = {s.value for s in d.ContractStatus}


def line_item(row: LineItemRow) -> d.LineItem:
    return d.LineItem(
        id=row.line_item_id,
        contract_id=row.contract_id,
        product_id=row.product_id,
        quantity=row.quantity,
        unit_price=row.unit_price,
        unit_cost=row.unit_cost,
        description=row.product_name,
        effective=row.effective_date,
        cancelled=row.cancelled_date,
    )


def service_line(row: ServiceLineRow) -> d.ServiceLine:
    return d.ServiceLine(
        id=row.service_line_id,
        name=row.name,
        product_id=row.product_id,
        vendor_tag=row.vendor_tag,
        sales_unit=row.sales_unit,
        catalogue_unit_price=row.catalogue_unit_price,
        catalogue_unit_cost=row.catalogue_unit_cost,
    )


def usage(row: Usage) -> d.VendorUsage:
    return d.VendorUsage(
        vendor=row.vendor,
        vendor_account_id=row.vendor_account_id,
        sku=row.sku,
        quantity=row.quantity,
        as_of=row.as_of,
        source=row.source,
        vendor_account_name=row.vendor_account_name,
        sku_name=row.sku_name,
        psa_account_hint=row.psa_account_hint,
    )


def usage_from_values(values: Mapping[str, Any]) -> d.VendorUsage:
    """`usage` of a row's column values, as written rather than read back."""
    return d.VendorUsage(
        vendor=values["vendor"],
        vendor_account_id=values["vendor_account_id"],
        sku=values["sku"],
        quantity=values["quantity"],
        as_of=values["as_of"],
        source=values["source"],
        vendor_account_name=values["vendor_account_name"],
        sku_name=values["sku_name"],
        psa_account_hint=values["psa_account_hint"],
    )


def account_mapping(row: AccountMappingRow) -> d.AccountMapping:
    return d.AccountMapping(
        vendor=row.vendor,
        vendor_account_id=row.vendor_account_id,
        account_id=row.account_id,
        excluded=row.excluded,
    )


def service_mapping(row: ServiceMappingRow) -> d.ServiceMapping:
    return d.ServiceMapping(
        vendor=row.vendor,
        sku=row.sku,
        service_line_id=row.service_line_id or None,
        factor=row.factor,
        rounding=d.RoundingRule(row.rounding),
        excluded=row.excluded,
    )


def tenant_state(data: TenantData, settings: r.BillingSettings) -> d.TenantState:
    """Everything the domain needs to compute the tenant's cards."""
    return d.TenantState(
        tenant_id=data.tenant_id,
        accounts=[account(a) for a in data.accounts],
        contracts=[contract(c) for c in data.contracts],
        line_items=[line_item(li) for li in data.line_items],
        service_lines=[service_line(s) for s in data.service_lines],
        usage=[usage(u) for u in data.usage],
        account_mappings=[account_mapping(m) for m in data.account_mappings],
        service_mappings=[service_mapping(m) for m in data.service_mappings],
        card_records={
            c.card_id: record for c in data.cards if (record := card_record(c)) is not None
        },
        settings=domain_settings(settings),
    )


def card_record(row: CardRow) -> d.CardRecord | None:
    """What happened to a card, for the domain (nothing while it is pending)."""
    if row.state == d.CardState.PENDING.value:
        return None
    return d.CardRecord(state=d.CardState(row.state), actioned_on=row.actioned_on)


def _text(value: Decimal | None) -> str | None:
    # Normalised: usage read back from PostgreSQL has its column's scale (27.000000), usage
    # just received has none (27); the card must not change with where it came from.
    return None if value is None else format(value.normalize(), "f")


def card_values(
    card: d.Card,
    *,
    account_name: str,
    service_line_name: str,
    contract_name: str,
    now: datetime,
    large_change: d.LargeChangeLimits,
) -> dict[str, Any]:
    """The stored form of a computed card (figures flattened for filtering and sorting),
    as column values with its fingerprint.

    Plain values rather than a `CardRow`: a recompute computes every card of the accounts
    it touches and most are unchanged; building an ORM instance for each cost a quarter
    of a millisecond, most of a large import's time."""
    money = card.money
    contributions: list[dict[str, Any]] = [
        {
            "vendor": c.vendor,
            "vendor_account_id": c.vendor_account_id,
            "sku": c.sku,
            "vendor_quantity": _text(c.vendor_quantity),
            "quantity": _text(c.quantity),
            "stale": c.stale,
        }
        for c in card.contributions
    ]
    values: dict[str, Any] = dict(
        tenant_id=card.tenant_id,
        card_id=card.id,
        kind=card.kind.value,
        state=card.state.value,
        hidden=card.hidden,
        actioned_on=card.actioned_on,
        account_id=card.account_id,
        account_name=account_name,
        service_line_id=card.service_line_id,
        service_line=service_line_name,
        contract_id=card.contract_id,
        contract_name=contract_name,
        line_item_id=card.line_item_id,
        vendors=",".join(card.vendors),
        psa_quantity=card.psa_quantity,
        vendor_quantity=card.vendor_quantity,
        target_quantity=card.target_quantity,
        delta=card.delta,
        unit_price=card.unit_price,
        unit_cost=card.unit_cost,
        currency=card.currency,
        billing_cycle=card.billing_cycle.value,
        revenue_change=money.revenue_change.amount if money else None,
        cost_change=money.cost_change.amount if money else None,
        profit_change=money.profit_change.amount if money else None,
        mrr_change=money.mrr_change.amount if money else None,
        stale=card.stale,
        usage_as_of=card.usage_as_of,
        auto_approval=card.auto_approval.explanation if card.auto_approval else None,
        error=None,
        contributions=contributions,
        billed_elsewhere=card.billed_elsewhere,
        carries_difference=card.primary,
        large_change=d.card_large_change(card, large_change),
        updated_at=now,
    )
    values["fingerprint"] = fingerprint_of(values)
    return values


_FINGERPRINTED = (
    "kind",
    "state",
    "hidden",
    "actioned_on",
    "account_id",
    "account_name",
    "service_line_id",
    "service_line",
    "contract_id",
    "contract_name",
    "line_item_id",
    "vendors",
    "psa_quantity",
    "vendor_quantity",
    "target_quantity",
    "unit_price",
    "unit_cost",
    "currency",
    "stale",
    "auto_approval",
    "contributions",
    "billed_elsewhere",
    "carries_difference",
    "large_change",
)


def fingerprint(row: CardRow) -> str:
    """A digest of what a person sees on the card, to skip writes that change nothing."""
    return fingerprint_of({name: getattr(row, name) for name in _FINGERPRINTED})


def fingerprint_of(values: Mapping[str, Any]) -> str:
    """`fingerprint` of a card's column values."""
    shown = {name: values[name] for name in _FINGERPRINTED}
    text = json.dumps(shown, sort_keys=True, default=_fingerprint_text)
    return hashlib.sha256(text.encode()).hexdigest()


def _fingerprint_text(value: Any) -> str:
    # A card read back from PostgreSQL carries its column's scale (10.000000) where the
    # computed one has 10: the same amount must give the same digest.
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


class PricedCard(Protocol):
    """What a card's money is computed from: a `CardRow`, or those columns of it."""

    @property
    def currency(self) -> str: ...
    @property
    def billing_cycle(self) -> str: ...
    @property
    def psa_quantity(self) -> Decimal: ...
    @property
    def target_quantity(self) -> Decimal | None: ...
    @property
    def unit_price(self) -> Decimal | None: ...
    @property
    def unit_cost(self) -> Decimal | None: ...


def card_figures(
    row: PricedCard, policy: d.RoundingPolicy = d.DEFAULT_ROUNDING
) -> d.CardMoney | None:
    """The domain's money figures of a stored card, from its quantities and prices.

    Derived rather than read from the flattened columns, so that a card's figures and any
    total of them come from one computation (`d.summarise_money` adds these). Unbilled
    revenue needs what other line items bill, which is not stored, so it is left out.
    """
    if row.unit_price is None:
        return None
    return d.card_money(
        psa_quantity=row.psa_quantity,
        target_quantity=row.psa_quantity if row.target_quantity is None else row.target_quantity,
        vendor_quantity=None,
        unit_price=row.unit_price,
        unit_cost=row.unit_cost,
        billing_cycle=d.BillingCycle(row.billing_cycle),
        currency=row.currency,
        policy=policy,
    )


def card_status(row: CardRow) -> d.CardStatus:
    """Where a stored card is in its lifecycle."""
    return d.CardStatus(d.CardState(row.state), hidden=row.hidden, actioned_on=row.actioned_on)


def card_item(
    row: CardRow,
    *,
    policy: d.RoundingPolicy = d.DEFAULT_ROUNDING,
    sales_unit: str | None = None,
    open_cycle: bool = True,
) -> r.CardItem:
    """A stored card as the API shows it; `open_cycle=False` for a closed cycle's copy,
    which accepts no action."""
    money = card_figures(row, policy)
    actions = (
        d.allowed_actions(card_status(row), d.CardKind(row.kind), failed_job=row.last_job_id)
        if open_cycle
        else frozenset()
    )

    def amount(name: str) -> Decimal | None:
        figure: d.Money | None = getattr(money, name) if money else None
        return figure.amount if figure else None

    return r.CardItem(
        card_id=row.card_id,
        kind=row.kind,  # type: ignore[arg-type]
        state=row.state,  # type: ignore[arg-type]
        hidden=row.hidden,
        is_new=row.kind == d.CardKind.NEW_REVENUE.value,
        account_id=row.account_id,
        account_name=row.account_name,
        service_line_id=row.service_line_id,
        service_line=row.service_line,
        contract_id=row.contract_id,
        contract_name=row.contract_name,
        line_item_id=row.line_item_id,
        vendors=[v for v in row.vendors.split(",") if v],
        psa_quantity=row.psa_quantity,
        vendor_quantity=row.vendor_quantity,
        target_quantity=row.target_quantity,
        delta=row.delta,
        unit_price=row.unit_price,
        unit_cost=row.unit_cost,
        currency=row.currency,
        billing_cycle=row.billing_cycle,
        period_months=d.BillingCycle(row.billing_cycle).months,
        sales_unit=sales_unit,
        period_change=amount("revenue_change"),
        period_cost_change=amount("cost_change"),
        period_profit_change=amount("profit_change"),
        mrr_change=amount("mrr_change"),
        mrr_cost_change=amount("mrr_cost_change"),
        mrr_profit_change=amount("mrr_profit_change"),
        stale=row.stale,
        usage_as_of=row.usage_as_of,
        auto_approval=row.auto_approval,
        error=row.error,
        updated_at=row.updated_at,
        billed_elsewhere=row.billed_elsewhere,
        carries_difference=row.carries_difference,
        large_change=row.large_change,
        actions=sorted(action.value for action in actions),  # type: ignore[misc]
    )


def currency_totals(rows: Sequence[PricedCard], policy: d.RoundingPolicy) -> list[r.CurrencyTotals]:
    """The monthly money of some cards, one row per currency (never summed across)."""
    summaries = d.summarise_money(card_figures(row, policy) for row in rows)
    return [
        r.CurrencyTotals(
            currency=currency,
            cards=summary.card_count,
            mrr_change=summary.mrr_change.amount,
            mrr_cost_change=summary.mrr_cost_change.amount,
            mrr_profit_change=summary.mrr_profit_change.amount,
        )
        for currency, summary in summaries.items()
    ]
