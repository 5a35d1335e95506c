"""Reconciliation's queries and their answers: cards, details, actions, mapping, settings.

Actions are request-reply rather than fire-and-forget commands: reconciliation checks the
card and commits the action (and the writeback command in its outbox) before answering,
so "accepted" is only ever said after a commit, and a refusal (404, 409) reaches the
caller at once.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from trueup.contracts import subjects
from trueup.contracts.envelope import Payload
from trueup.contracts.messages import (
    ActivityEntry,
    Actor,
    MessageSpec,
    ProratedChange,
)
from trueup.contracts.types import Amount, BusinessDate, Quantity, UnitPrice

CardKindName = Literal["reconcile", "no_change", "new_revenue"]
CardStateName = Literal["pending", "approved", "applied", "conflict", "failed", "dismissed"]
CardActionName = Literal["approve", "dismiss", "add", "restore", "retry", "set_effective_date"]


class CardFilter(Payload):
    kind: CardKindName | None = None
    state: CardStateName | None = None
    vendor: str | None = None
    service_line_id: str | None = None
    account_id: str | None = None
    contract_id: str | None = None
    q: str | None = Field(default=None, max_length=200)
    include_hidden: bool = False


class ListCardsQuery(Payload):
    message_type: ClassVar[str] = "query.recon.cards.list.v1"

    filter: CardFilter = Field(default_factory=CardFilter)
    sort: Literal["service_line", "account", "contract", "delta", "revenue", "updated"] = (
        "service_line"
    )
    limit: int = Field(default=100, ge=1, le=5000)
    cursor: str | None = None


class CardItem(Payload):
    card_id: str
    kind: CardKindName
    state: CardStateName
    hidden: bool
    is_new: bool
    account_id: str
    account_name: str
    service_line_id: str | None
    service_line: str
    contract_id: str | None
    contract_name: str
    line_item_id: str | None
    vendors: list[str]
    psa_quantity: Amount
    vendor_quantity: Amount | None
    target_quantity: Amount | None
    delta: Amount
    unit_price: Amount | None
    unit_cost: Amount | None
    currency: str
    """Every money figure of the card is in this currency (its contract's)."""
    billing_cycle: str
    period_months: int = 1
    """Months in one billing period of the contract: 1, 3 (quarterly), 6 or 12 (annual)."""
    sales_unit: str | None = None
    """The unit quantities are counted in (the service line's); None when unknown."""
    period_change: Amount | None
    """Revenue change per billing period of the contract (a quarter on a quarterly one)."""
    period_cost_change: Amount | None
    period_profit_change: Amount | None
    mrr_change: Amount | None
    """Revenue change per month: `period_change` divided by `period_months`, rounded once."""
    mrr_cost_change: Amount | None
    mrr_profit_change: Amount | None
    stale: bool
    usage_as_of: datetime | None
    auto_approval: str | None
    error: str | None
    updated_at: datetime
    billed_elsewhere: Amount = Decimal(0)
    """Units other line items of this account and service line bill; the vendor quantity
    less this is `target_quantity` on the line item that carries the difference."""
    carries_difference: bool = True
    """False on the other line items of an account and service line: they keep their
    quantity, and the first (by contract, then line item) carries the difference."""
    large_change: str | None = None
    """Why approving this card is a large change (it then needs a confirmation), if it is."""
    actions: list[CardActionName] = Field(default_factory=list)
    """The actions the card accepts now, from its state and kind (none in a closed cycle):
    what a screen offers, so it never offers what the API would refuse."""


class CurrencyTotals(Payload):
    """Monthly money totals of the cards in one currency.

    Per-period figures are not totalled: a quarter's change and a month's change do not add
    up, and neither do two currencies.
    """

    currency: str
    cards: int
    """Priced cards in this currency."""
    mrr_change: Amount
    mrr_cost_change: Amount
    mrr_profit_change: Amount


class CardTotals(Payload):
    cards: int
    by_currency: list[CurrencyTotals] = Field(default_factory=list)
    """One row per currency, sorted by currency code."""


class CardList(Payload):
    items: list[CardItem]
    next_cursor: str | None = None
    totals: CardTotals


class GetCardQuery(Payload):
    message_type: ClassVar[str] = "query.recon.card.v2"

    card_id: str


class ContractFacts(Payload):
    contract_id: str
    name: str
    psa: str
    status: str
    start_date: date | None
    end_date: date | None
    billing_cycle: str
    bill_in_advance: bool
    proration_allowed: bool
    currency: str
    psa_url: str | None = None
    dated_changes: bool = True
    """False: the PSA cannot schedule a later change; changes take effect today."""


class VendorAccountName(Payload):
    vendor: str
    vendor_account_id: str
    name: str
    mapping: Literal["manual", "automatic"]


class CardNames(Payload):
    psa_account_name: str
    psa_contract_name: str
    vendor_accounts: list[VendorAccountName]
    psa_synced_at: datetime | None
    usage_as_of: datetime | None


class Contribution(Payload):
    vendor: str
    vendor_account_id: str
    sku: str
    vendor_quantity: Amount
    quantity: Amount
    stale: bool


class SharedLine(Payload):
    """Another line item of the same account and service line, which shares the usage."""

    card_id: str
    contract_name: str
    line_item_id: str | None
    psa_quantity: Amount


class ChangeFacts(Payload):
    vendor_quantity: Amount | None
    psa_quantity: Amount
    target_quantity: Amount | None
    """What approving writes by default: the same figure the card shows."""
    billed_elsewhere: Amount
    shared_with: list[SharedLine]
    unit_price: Amount | None
    unit_cost: Amount | None
    default_effective_date: date
    proration_allowed: bool
    contributions: list[Contribution]


class CardDetails(Payload):
    card: CardItem
    contract: ContractFacts | None
    past_actions: list[ActivityEntry] = Field(default_factory=list)
    names: CardNames
    change: ChangeFacts


class ChangeRequest(Payload):
    """What a person proposes for a card: a quantity from a date, or several dated steps."""

    quantity: Quantity | None = None
    effective_date: BusinessDate | None = None
    prorated_changes: list[ProratedChange] = Field(default_factory=list, max_length=50)


class PreviewQuery(Payload):
    message_type: ClassVar[str] = "query.recon.preview.v1"

    card_id: str
    change: ChangeRequest = Field(default_factory=ChangeRequest)
    unit_price: UnitPrice | None = None
    """For an add, the price it would write (`ActionQuery.unit_price`); default: the
    card's."""
    unit_cost: UnitPrice | None = None


class PreviewLine(Payload):
    effective_date: date
    quantity_before: Amount
    quantity_after: Amount
    period_start: date
    period_end: date
    days: int
    revenue: Amount
    cost: Amount
    profit: Amount


class PreviewStep(Payload):
    """One write approving makes: from `effective_date` the line item bills `quantity_after`."""

    effective_date: date
    quantity_before: Amount
    quantity_after: Amount


class ChangePreview(Payload):
    large_change: str | None = None
    """Why this change is large: approving it then needs `confirm`."""
    steps: list[PreviewStep]
    """What approving writes to the PSA, in order: the same steps the approval sends."""
    lines: list[PreviewLine]
    """What the steps bill: one line per step and period charged (a back-dated step
    catches up each period already invoiced)."""
    revenue_change: Amount
    cost_change: Amount
    profit_change: Amount
    mrr_change: Amount
    margin: Amount | None
    currency: str


class ActionQuery(Payload):
    """Approve, dismiss, add (New Revenue), restore (undo a dismiss) or retry a card."""

    message_type: ClassVar[str] = "query.recon.action.v1"

    card_id: str
    action: CardActionName
    actor: Actor
    idempotency_key: str = Field(min_length=1, max_length=200)
    change: ChangeRequest = Field(default_factory=ChangeRequest)
    reason: str | None = Field(default=None, max_length=1000)
    contract_id: str | None = None
    unit_price: UnitPrice | None = None
    unit_cost: UnitPrice | None = None
    prorate: bool = False
    confirm: bool = False
    """Approve or add a large change (see `CardItem.large_change`)."""
    cycle: date | None = None
    """Start of the cycle the caller saw the card in: refused unless it is the open one
    (a closed cycle is read-only)."""


class ActionAccepted(Payload):
    action_id: str
    card_id: str
    state: CardStateName


class BulkActionQuery(Payload):
    message_type: ClassVar[str] = "query.recon.bulk.v1"

    action: Literal["approve", "dismiss", "restore", "set_effective_date"]
    actor: Actor
    idempotency_key: str = Field(min_length=1, max_length=200)
    card_ids: list[str] = Field(default_factory=list, max_length=5000)
    filter: CardFilter | None = None
    effective_date: BusinessDate | None = None
    reason: str | None = Field(default=None, max_length=1000)
    confirm: bool = False
    cycle: date | None = None
    """As on `ActionQuery`: the whole request is refused when it names a closed cycle."""


class BulkRejection(Payload):
    card_id: str
    status: int
    detail: str


class BulkResult(Payload):
    accepted: list[ActionAccepted]
    rejected: list[BulkRejection]


# --- billing cycles ----------------------------------------------------------------


class CycleView(Payload):
    """One of the tenant's billing cycles: the open one, or a closed one kept read-only."""

    start: date
    last_day: date
    """The cycle's last day (inclusive); for the open cycle, the day before it closes."""
    closed: bool
    closed_at: datetime | None = None
    cards: int
    """Cards that showed a difference or were actioned (agreeing cards are not kept)."""
    approved: int
    """Approved or added (including those since written to the PSA, or that failed there)."""
    dismissed: int
    approved_by_currency: list[CurrencyTotals] = Field(
        default_factory=list,
        description="Monthly change (MRR: one month, whatever the contracts' billing "
        "cycles) of the cycle's approved or added cards, one row per currency, each in its "
        "row's `currency`; two currencies are never added together.",
    )


class ListCyclesQuery(Payload):
    message_type: ClassVar[str] = "query.recon.cycles.v1"


class CycleList(Payload):
    current: CycleView
    closed: list[CycleView]
    """Newest first."""


class CycleAction(Payload):
    """What was done with a card in its cycle, by whom and when."""

    action_id: str
    action: Literal["approve", "add", "dismiss"]
    actor: Actor
    at: datetime
    reason: str | None = None
    changes: list[ProratedChange] = Field(default_factory=list)
    """The quantity from each effective date, in date order (empty for a dismiss)."""
    large_change: str | None = None


class CycleCard(CardItem):
    """A card as it stood when its cycle closed, and the action taken on it in that cycle."""

    action: CycleAction | None = None


class CycleCardsQuery(Payload):
    """A page of a closed cycle's cards, ordered by service line and account."""

    message_type: ClassVar[str] = "query.recon.cycles.cards.v1"

    start: date
    state: CardStateName | None = None
    kind: CardKindName | None = None
    q: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=100, ge=1, le=5000)
    cursor: str | None = None


class CycleCardList(Payload):
    cycle: CycleView
    items: list[CycleCard]
    next_cursor: str | None = None


# --- mapping ---------------------------------------------------------------------


class Suggestion(Payload):
    account_id: str
    account_name: str
    score: Amount
    reason: str
    preselect: bool = False
    """True only for the best suggestion, at or above the tenant's threshold: the UI may
    fill the choice in with it. Anything else waits for a person to pick it."""


class AccountMappingView(Payload):
    vendor: str
    vendor_account_id: str
    vendor_account_name: str
    account_id: str | None
    account_name: str | None
    status: Literal["unmapped", "mapped", "excluded"]
    automatic: bool
    usage_count: int
    sources: list[str]
    suggestions: list[Suggestion]


class ListAccountMappings(Payload):
    message_type: ClassVar[str] = "query.recon.mappings.accounts.v2"

    status: Literal["unmapped", "mapped", "excluded", "all"] = "all"


class AccountMappingList(Payload):
    items: list[AccountMappingView]
    threshold: Amount | None = None
    """The score from which suggestions are pre-selected: the tenant's
    `suggestion_threshold`, or the default (95) when it has none."""


class AccountMappingChange(Payload):
    vendor: str
    vendor_account_id: str
    action: Literal["map", "exclude", "unmap"]
    account_id: str | None = None


class ChangeAccountMappings(Payload):
    message_type: ClassVar[str] = "query.recon.mappings.accounts.change.v2"

    items: list[AccountMappingChange] = Field(min_length=1, max_length=5000)
    actor: Actor


class MappingChangeResult(Payload):
    changed: int


class ServiceLineSuggestion(Payload):
    service_line_id: str
    service_line: str
    score: Amount
    reason: str
    preselect: bool = False
    """As for accounts: the best suggestion, at or above the tenant's threshold."""


class ServiceMappingView(Payload):
    vendor: str
    sku: str
    sku_name: str
    service_line_id: str | None
    service_line: str | None
    factor: Amount
    rounding: Literal["up", "down", "half_up", "exact"]
    excluded: bool
    usage_count: int
    suggestions: list[ServiceLineSuggestion] = Field(default_factory=list)
    """Scored service lines for an unmapped SKU (empty once it is mapped or excluded)."""


class ListServiceMappings(Payload):
    message_type: ClassVar[str] = "query.recon.mappings.services.v1"


class ServiceMappingList(Payload):
    items: list[ServiceMappingView]
    threshold: Amount | None = None
    """The score from which suggestions are pre-selected (as for accounts)."""


class SaveServiceMapping(Payload):
    message_type: ClassVar[str] = "query.recon.mappings.services.save.v1"

    vendor: str
    sku: str
    service_line_id: str | None = None
    factor: Quantity = Field(default=1, gt=0)  # type: ignore[assignment]
    rounding: Literal["up", "down", "half_up", "exact"] = "up"
    excluded: bool = False
    remove: bool = False
    actor: Actor


class ServiceLineView(Payload):
    service_line_id: str
    name: str
    vendor_tag: str | None
    sales_unit: str
    cards: int


class ListServiceLines(Payload):
    message_type: ClassVar[str] = "query.recon.service_lines.v1"


class ServiceLineList(Payload):
    items: list[ServiceLineView]


class UpdateServiceLine(Payload):
    message_type: ClassVar[str] = "query.recon.service_lines.update.v1"

    service_line_id: str
    vendor_tag: str | None = None
    sales_unit: str | None = Field(default=None, min_length=1, max_length=50)
    clear_vendor_tag: bool = False
    actor: Actor


class UnmappedItem(Payload):
    vendor: str
    key: str
    name: str
    sources: list[str]
    usage_count: int
    psa_account_hint: str | None = None


class ListUnmapped(Payload):
    message_type: ClassVar[str] = "query.recon.unmapped.v1"


class UnmappedQueue(Payload):
    accounts: list[UnmappedItem]
    skus: list[UnmappedItem]
    count: int


class UpdateAccount(Payload):
    message_type: ClassVar[str] = "query.recon.accounts.update.v1"

    account_id: str
    suppress_new_revenue: bool
    actor: Actor


class ListAccountContracts(Payload):
    message_type: ClassVar[str] = "query.recon.accounts.contracts.v1"

    account_id: str


class ContractList(Payload):
    items: list[ContractFacts]


# --- settings and metrics ------------------------------------------------------


class AutoRuleView(Payload):
    name: str = Field(min_length=1, max_length=100)
    vendor: str | None = None
    service_line_id: str | None = None
    max_units: Quantity | None = None
    max_percent: Quantity | None = None
    direction: Literal["any", "increase", "decrease"] = "any"
    max_money: UnitPrice | None = Field(
        default=None,
        description="Largest revenue change the rule approves, per billing period of the "
        "card's contract (its `period_change`), in the card's own currency, never "
        "converted.",
    )


class LargeChangeSettings(Payload):
    """Past any of these a change asks for a confirmation and never approves by rule."""

    units: Quantity | None = Field(
        default=Decimal(100), description="Units added or removed by a step; null: no limit."
    )
    percent: Quantity | None = Field(
        default=None, description="Percent of the billed quantity; null: no limit."
    )
    money: UnitPrice | None = Field(
        default=Decimal(5000),
        description="Revenue change of a step for one billing period of its contract (a "
        "quarter on a quarterly contract), at the unit price written (an add's own), "
        "compared as a plain amount in the currency of the contract the change is written "
        "to: each card's own currency, never converted (5000 is USD 5,000 on a USD "
        "contract and EUR 5,000 on a EUR one); null: no limit.",
    )


class BillingSettings(Payload):
    cycle_start_day: int = Field(default=1, ge=1, le=28)
    proration_convention: Literal["actual_days", "thirty_day"] = "actual_days"
    rounding: Literal["half_up", "half_even"] = "half_up"
    # Two settings, not one: lowering what a person is offered must never map look-alikes
    # with nobody looking (a single `auto_map_threshold` did both until v2).
    suggestion_threshold: Amount | None = Field(
        default=None,
        ge=50,
        le=100,
        description="The score from which the best suggestion is pre-selected for a person "
        "to accept; null: 95. Nothing is mapped until a person accepts.",
    )
    auto_apply_threshold: Amount | None = Field(
        default=None,
        ge=90,
        le=100,
        description="The score from which the best account suggestion is mapped with no "
        "person involved; null (the default): never, only exact matches map themselves. "
        "At least 90: look-alikes of another business score 79 at most.",
    )
    rules: list[AutoRuleView] = Field(
        default_factory=list,
        description="Auto-reconcile rules; a rule's `max_money` is in each card's own "
        "currency, per billing period of its contract (the card's `period_change`).",
    )
    large_change: LargeChangeSettings = Field(
        default_factory=LargeChangeSettings,
        description="Limits past which a change needs `confirm` (see `money` for its "
        "currency and period).",
    )


class GetSettings(Payload):
    message_type: ClassVar[str] = "query.recon.settings.v2"


class SaveSettings(Payload):
    message_type: ClassVar[str] = "query.recon.settings.save.v2"

    settings: BillingSettings
    actor: Actor


class GetMetrics(Payload):
    message_type: ClassVar[str] = "query.recon.metrics.v1"


class TenantMetrics(Payload):
    active_accounts: int
    billing_tier: str
    cards_pending: int
    unmapped: int
    by_currency: list[CurrencyTotals] = Field(default_factory=list)
    """Monthly change of the pending cards, one row per currency."""


class RemoveUsage(Payload):
    """Remove a vendor's stored usage, or one usage batch of it (an import's), and
    recompute the cards it fed.

    A dry run only counts. A real run must name the record count it was shown
    (`expected_records`): if the usage changed since, it is refused (409), so a stale
    preview never removes more than a person confirmed.
    """

    message_type: ClassVar[str] = "query.recon.usage.remove.v1"

    vendor: str = Field(min_length=1, max_length=200)
    batch_id: str | None = Field(default=None, min_length=1, max_length=64)
    import_id: str | None = Field(default=None, max_length=64)
    label: str = Field(default="", max_length=500)
    dry_run: bool = True
    expected_records: int | None = Field(default=None, ge=0)
    actor: Actor


class UsageRemoval(Payload):
    """What a removal removes (a dry run) or removed."""

    dry_run: bool
    vendor: str
    batch_id: str | None = None
    import_id: str | None = None
    label: str = ""
    records: int
    vendor_accounts: int
    cards: int
    """Cards fed by the usage: recomputed without it."""
    removal_id: str | None = None


def _q(name: str) -> str:
    return subjects.query("recon", subjects.ANY_TENANT, name)


_QUERIES: tuple[tuple[type[Payload], str, type[Payload]], ...] = (
    (ListCardsQuery, "cards.list", CardList),
    (GetCardQuery, "card", CardDetails),
    (PreviewQuery, "preview", ChangePreview),
    (ActionQuery, "action", ActionAccepted),
    (BulkActionQuery, "bulk", BulkResult),
    (ListAccountMappings, "mappings.accounts", AccountMappingList),
    (ChangeAccountMappings, "mappings.accounts.change", MappingChangeResult),
    (ListServiceMappings, "mappings.services", ServiceMappingList),
    (SaveServiceMapping, "mappings.services.save", ServiceMappingView),
    (ListServiceLines, "service_lines", ServiceLineList),
    (UpdateServiceLine, "service_lines.update", ServiceLineView),
    (ListUnmapped, "unmapped", UnmappedQueue),
    (UpdateAccount, "accounts.update", MappingChangeResult),
    (ListAccountContracts, "accounts.contracts", ContractList),
    (GetSettings, "settings", BillingSettings),
    (SaveSettings, "settings.save", BillingSettings),
    (GetMetrics, "metrics", TenantMetrics),
    (RemoveUsage, "usage.remove", UsageRemoval),
    (ListCyclesQuery, "cycles", CycleList),
    (CycleCardsQuery, "cycles.cards", CycleCardList),
)

SPECS: tuple[MessageSpec, ...] = tuple(
    MessageSpec(model, _q(name), "query", "gateway", ("reconciliation",), reply=reply)
    for model, name, reply in _QUERIES
)
