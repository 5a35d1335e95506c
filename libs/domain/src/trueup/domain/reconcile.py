"""Reconciliation: from PSA state, usage and mappings, compute the cards.

How it works, in the order the code does it:

1. **Usage is summed** per (vendor, vendor account, SKU). That sum is the vendor's
   current count; the oldest record per source decides whether it is stale.
2. **Account mappings** take each vendor account to a PSA account. Usage of a vendor
   account without a mapping goes to the unmapped-accounts queue; excluded ones are ignored.
3. **Service mappings** take each SKU to one or more service lines, converting vendor
   units to sales units (factor and rounding rule). Usage of an unmapped SKU goes to the
   unmapped-SKUs queue.
4. **Only active contracts take part**, and only accounts that have one. Their count is
   the tenant's *active accounts* figure.
5. For each current line item of an active contract, the **vendor quantity** is the sum of
   every contribution to its account and service line (several vendors add up).
   - When usage is mapped and the quantities differ: a **Reconcile** card;
   - when they agree, or no usage is mapped at all: a **No Change** card;
   - usage for a service line no line item of the account bills: a **New Revenue** card
     (unless the account suppresses New Revenue).

   When several line items of one account bill the same service line, the first (by
   contract id, then line item id) carries the difference: its target is the vendor
   quantity less what the others bill.
6. Each card keeps its **state** across recomputes (actioned cards stay hidden until the
   tenant's next cycle), gets its **money** figures, and, if a rule allows it, an
   **auto-approval** with the reason. The service acts on that; this module only computes.

`TenantIndex` holds the same data indexed so that one account can be re-reconciled in
milliseconds after a usage or mapping change.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from operator import attrgetter

from trueup.domain.cycles import CardStatus, card_status
from trueup.domain.model import (
    Account,
    AccountMapping,
    BillingCycle,
    Card,
    CardKind,
    CardRecord,
    CardState,
    Contract,
    LineItem,
    QuantityChange,
    ServiceLine,
    ServiceMapping,
    UsageContribution,
    VendorUsage,
)
from trueup.domain.money import DEFAULT_ROUNDING, RoundingPolicy
from trueup.domain.proration import ProrationConvention, ProrationPreview, preview_changes
from trueup.domain.rules import AutoRule, evaluate_rules

ZERO = Decimal(0)
DEFAULT_FRESHNESS = timedelta(days=35)


@dataclass(frozen=True, slots=True)
class TenantSettings:
    """A tenant's reconciliation settings."""

    rounding: RoundingPolicy = DEFAULT_ROUNDING
    proration: ProrationConvention = ProrationConvention.ACTUAL_DAYS
    cycle_start_day: int = 1
    # Freshness window per usage source; usage older than its window makes a stale card.
    freshness: Mapping[str, timedelta] = field(default_factory=dict)
    default_freshness: timedelta = DEFAULT_FRESHNESS
    rules: tuple[AutoRule, ...] = ()
    # Account suggestions scoring at least this apply themselves; None (the default): never.
    auto_map_threshold: Decimal | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.cycle_start_day <= 28:
            raise ValueError(f"cycle start day must be 1-28, got {self.cycle_start_day}")


@dataclass(frozen=True, slots=True)
class TenantState:
    """Everything reconciliation reads for one tenant."""

    tenant_id: str
    accounts: Sequence[Account] = ()
    contracts: Sequence[Contract] = ()
    line_items: Sequence[LineItem] = ()
    service_lines: Sequence[ServiceLine] = ()
    usage: Sequence[VendorUsage] = ()
    account_mappings: Sequence[AccountMapping] = ()
    service_mappings: Sequence[ServiceMapping] = ()
    card_records: Mapping[str, CardRecord] = field(default_factory=dict)
    settings: TenantSettings = field(default_factory=TenantSettings)


@dataclass(frozen=True, slots=True)
class UnmappedAccount:
    """A vendor account with usage and no account mapping."""

    vendor: str
    vendor_account: str
    name: str
    sources: tuple[str, ...]
    usage_count: int
    psa_account_hint: str | None


@dataclass(frozen=True, slots=True)
class UnmappedSku:
    """A vendor SKU with usage and no service mapping."""

    vendor: str
    sku: str
    name: str
    sources: tuple[str, ...]
    usage_count: int


@dataclass(frozen=True, slots=True)
class AccountResult:
    """The cards of one account; `active` says whether it has an active contract."""

    account_id: str
    active: bool
    cards: tuple[Card, ...]


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """Cards of a tenant, its unmapped queue and its active-accounts figure."""

    cards: tuple[Card, ...]
    unmapped_accounts: tuple[UnmappedAccount, ...]
    unmapped_skus: tuple[UnmappedSku, ...]
    active_accounts: int


def line_item_card_id(tenant_id: str, line_item_id: str) -> str:
    """Stable id of the card of a line item."""
    return f"{tenant_id}:li:{line_item_id}"


def new_revenue_card_id(tenant_id: str, account_id: str, service_line_id: str) -> str:
    """Stable id of the New Revenue card of an account and service line."""
    return f"{tenant_id}:nr:{account_id}:{service_line_id}"


class _UsageGroup:
    """The summed usage records of one (vendor, vendor account, SKU)."""

    __slots__ = ("count", "oldest", "oldest_as_of", "quantity", "records", "sources")

    def __init__(self, records: list[VendorUsage]) -> None:
        first = records[0]
        self.records = records
        self.count = count = len(records)
        if count == 1:
            self.quantity: Decimal = first.quantity
            self.oldest_as_of = first.as_of
            self.sources: tuple[str, ...] = (first.source,)
            self.oldest: dict[str, datetime] | None = None
            return
        self.quantity = sum(map(_QUANTITY, records), ZERO)
        sources = set(map(_SOURCE, records))
        if len(sources) == 1:
            self.oldest_as_of = min(map(_AS_OF, records))
            self.sources = (first.source,)
            self.oldest = None
            return
        oldest: dict[str, datetime] = {}
        for record in records:
            seen = oldest.get(record.source)
            if seen is None or record.as_of < seen:
                oldest[record.source] = record.as_of
        self.oldest = oldest
        self.oldest_as_of = min(oldest.values())
        self.sources = tuple(sorted(oldest))

    # Names and hints only matter for the unmapped queue, so they are read on demand.
    @property
    def account_name(self) -> str:
        return next((r.vendor_account_name for r in self.records if r.vendor_account_name), "")

    @property
    def sku_name(self) -> str:
        return next((r.sku_name for r in self.records if r.sku_name), "")

    @property
    def hint(self) -> str | None:
        hints = {r.psa_account_hint for r in self.records if r.psa_account_hint is not None}
        return min(hints) if hints else None

    def is_stale(self, cutoff: Callable[[str], datetime]) -> bool:
        """True when any source's oldest record is older than that source's cutoff."""
        if self.oldest is None:
            return self.oldest_as_of < cutoff(self.sources[0])
        return any(as_of < cutoff(source) for source, as_of in self.oldest.items())


_KEY = attrgetter("vendor", "vendor_account", "sku")
_QUANTITY = attrgetter("quantity")
_SOURCE = attrgetter("source")
_AS_OF = attrgetter("as_of")
_HINT = attrgetter("psa_account_hint")
_ID = attrgetter("id")
_STALE = attrgetter("stale")
_NEW_CARD = CardStatus(CardState.PENDING, hidden=False, actioned_on=None)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while a full reconcile builds its objects.

    A full reconcile allocates about a million small objects, none of them in a reference
    cycle, and the collector would rescan the growing heap again and again (a third of the
    run time at 1,000,000 usage records). Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


VendorAccountKey = tuple[str, str]


def _group_usage(
    records: Sequence[VendorUsage],
) -> dict[VendorAccountKey, dict[str, _UsageGroup]]:
    # The hot loop of a full reconcile: one pass over every usage record, collecting runs
    # of equal keys (the service reads usage ordered by key, so runs are long; any order
    # gives the same result, only slower). Sums are then taken per group in C (map/sum).
    flat: dict[tuple[str, str, str], list[VendorUsage]] = {}
    get = flat.get
    for key, run in groupby(records, _KEY):
        bucket = get(key)
        if bucket is None:
            flat[key] = list(run)
        else:
            bucket.extend(run)
    nested: dict[VendorAccountKey, dict[str, _UsageGroup]] = {}
    for (vendor, vendor_account, sku), bucket in flat.items():
        nested.setdefault((vendor, vendor_account), {})[sku] = _UsageGroup(bucket)
    return nested


class TenantIndex:
    """One tenant's state, indexed for full and per-account reconciliation.

    Mutable on purpose: the incremental methods (`replace_usage`, `set_account_mapping`,
    ...) change one piece and return the ids of the accounts whose cards must be recomputed.
    """

    def __init__(self, state: TenantState) -> None:
        self.tenant_id = state.tenant_id
        self.settings = state.settings
        self.card_records: dict[str, CardRecord] = dict(state.card_records)
        self.accounts: dict[str, Account] = {a.id: a for a in state.accounts}
        self.contracts: dict[str, Contract] = {}
        self.contracts_by_account: dict[str, list[Contract]] = {}
        for contract in state.contracts:
            self.contracts[contract.id] = contract
            self.contracts_by_account.setdefault(contract.account_id, []).append(contract)
        self.line_items_by_contract: dict[str, list[LineItem]] = {}
        for item in state.line_items:
            self.line_items_by_contract.setdefault(item.contract_id, []).append(item)
        for items in self.line_items_by_contract.values():
            items.sort(key=_ID)
        self.service_lines: dict[str, ServiceLine] = {s.id: s for s in state.service_lines}
        self.service_line_id_by_product: dict[str, str] = {
            s.product_id: s.id for s in state.service_lines
        }
        self.account_mappings: dict[VendorAccountKey, AccountMapping] = {}
        self.vendor_accounts_by_account: dict[str, set[VendorAccountKey]] = {}
        for mapping in state.account_mappings:
            self._put_account_mapping(mapping)
        self.service_mappings: dict[tuple[str, str], tuple[ServiceMapping, ...]] = {}
        for service_mapping in state.service_mappings:
            key = (service_mapping.vendor, service_mapping.sku)
            self.service_mappings[key] = (*self.service_mappings.get(key, ()), service_mapping)
        self.usage = _group_usage(state.usage)
        self._cutoff_cache: tuple[datetime, dict[str, datetime]] | None = None

    # -- incremental changes ------------------------------------------------------------

    def _put_account_mapping(self, mapping: AccountMapping) -> None:
        key = (mapping.vendor, mapping.vendor_account)
        self._drop_account_mapping(key)
        self.account_mappings[key] = mapping
        if not mapping.excluded and mapping.account_id is not None:
            self.vendor_accounts_by_account.setdefault(mapping.account_id, set()).add(key)

    def _drop_account_mapping(self, key: VendorAccountKey) -> str | None:
        old = self.account_mappings.pop(key, None)
        if old is None or old.account_id is None:
            return None
        keys = self.vendor_accounts_by_account.get(old.account_id)
        if keys is not None:
            keys.discard(key)
        return old.account_id

    def _mapped_account(self, key: VendorAccountKey) -> str | None:
        mapping = self.account_mappings.get(key)
        if mapping is None or mapping.excluded:
            return None
        return mapping.account_id

    def replace_usage(
        self, vendor: str, vendor_account: str, records: Iterable[VendorUsage]
    ) -> frozenset[str]:
        """Replace a vendor account's usage with a new report; return the affected accounts."""
        key = (vendor, vendor_account)
        wanted = [r for r in records if (r.vendor, r.vendor_account) == key]
        grouped = _group_usage(wanted).get(key)
        if grouped:
            self.usage[key] = grouped
        else:
            self.usage.pop(key, None)
        account_id = self._mapped_account(key)
        return frozenset() if account_id is None else frozenset({account_id})

    def set_account_mapping(self, mapping: AccountMapping) -> frozenset[str]:
        """Add or change an account mapping (or exclusion); return the affected accounts."""
        key = (mapping.vendor, mapping.vendor_account)
        before = self._mapped_account(key)
        self._put_account_mapping(mapping)
        after = self._mapped_account(key)
        return frozenset(a for a in (before, after) if a is not None)

    def remove_account_mapping(self, vendor: str, vendor_account: str) -> frozenset[str]:
        """Unmap a vendor account; return the affected accounts."""
        key = (vendor, vendor_account)
        before = self._mapped_account(key)
        self._drop_account_mapping(key)
        return frozenset() if before is None else frozenset({before})

    def set_service_mappings(
        self, vendor: str, sku: str, mappings: Sequence[ServiceMapping]
    ) -> frozenset[str]:
        """Replace every mapping of one SKU (empty to unmap); return the affected accounts."""
        key = (vendor, sku)
        if any((m.vendor, m.sku) != key for m in mappings):
            raise ValueError(f"every mapping must be for {vendor}/{sku}")
        if mappings:
            self.service_mappings[key] = tuple(mappings)
        else:
            self.service_mappings.pop(key, None)
        affected: set[str] = set()
        for account_key, skus in self.usage.items():
            if account_key[0] == vendor and sku in skus:
                account_id = self._mapped_account(account_key)
                if account_id is not None:
                    affected.add(account_id)
        return frozenset(affected)

    def replace_account(
        self, account: Account, contracts: Sequence[Contract], line_items: Sequence[LineItem]
    ) -> frozenset[str]:
        """Replace one account's PSA state (after a sync); return the affected accounts."""
        for old in self.contracts_by_account.pop(account.id, []):
            self.contracts.pop(old.id, None)
            self.line_items_by_contract.pop(old.id, None)
        self.accounts[account.id] = account
        for contract in contracts:
            self.contracts[contract.id] = contract
            self.contracts_by_account.setdefault(account.id, []).append(contract)
        for item in line_items:
            self.line_items_by_contract.setdefault(item.contract_id, []).append(item)
        for contract in contracts:
            self.line_items_by_contract.get(contract.id, []).sort(key=_ID)
        return frozenset({account.id})

    def set_card_record(self, card_id: str, record: CardRecord | None) -> None:
        """Remember (or forget) what happened to a card."""
        if record is None:
            self.card_records.pop(card_id, None)
        else:
            self.card_records[card_id] = record

    # -- reconciliation -----------------------------------------------------------------

    def active_contracts(self, account_id: str, today: date) -> list[Contract]:
        """The account's active contracts, by id."""
        contracts = self.contracts_by_account.get(account_id, ())
        return sorted((c for c in contracts if c.is_active(today)), key=_ID)

    def reconcile_account(self, account_id: str, *, today: date, now: datetime) -> AccountResult:
        """The cards of one account."""
        contracts = self.active_contracts(account_id, today)
        if not contracts or account_id not in self.accounts:
            return AccountResult(account_id, active=False, cards=())
        return AccountResult(
            account_id, active=True, cards=tuple(self._cards(account_id, contracts, today, now))
        )

    def reconcile(self, *, today: date, now: datetime) -> ReconcileResult:
        """Cards of every active account, the unmapped queue and the active-accounts figure."""
        cards: list[Card] = []
        active = 0
        for account_id in sorted(self.accounts):
            contracts = self.active_contracts(account_id, today)
            if not contracts:
                continue
            active += 1
            cards.extend(self._cards(account_id, contracts, today, now))
        accounts, skus = self.unmapped()
        return ReconcileResult(tuple(cards), accounts, skus, active)

    def unmapped(self) -> tuple[tuple[UnmappedAccount, ...], tuple[UnmappedSku, ...]]:
        """Vendor accounts and SKUs with usage and no mapping, sorted."""
        accounts: list[UnmappedAccount] = []
        skus: dict[tuple[str, str], tuple[str, set[str], int]] = {}
        for (vendor, vendor_account), groups in self.usage.items():
            mapping = self.account_mappings.get((vendor, vendor_account))
            if mapping is not None and mapping.excluded:
                continue
            if mapping is None:
                first = groups[min(groups)]
                accounts.append(
                    UnmappedAccount(
                        vendor=vendor,
                        vendor_account=vendor_account,
                        name=first.account_name,
                        sources=tuple(sorted({s for g in groups.values() for s in g.sources})),
                        usage_count=sum(g.count for g in groups.values()),
                        psa_account_hint=next(
                            (g.hint for g in groups.values() if g.hint is not None), None
                        ),
                    )
                )
            for sku, group in groups.items():
                if (vendor, sku) in self.service_mappings:
                    continue
                name, sources, count = skus.get((vendor, sku), (group.sku_name, set(), 0))
                sources.update(group.sources)
                skus[(vendor, sku)] = (name or group.sku_name, sources, count + group.count)
        accounts.sort(key=lambda a: (a.vendor, a.vendor_account))
        unmapped_skus = tuple(
            UnmappedSku(vendor, sku, name, tuple(sorted(sources)), count)
            for (vendor, sku), (name, sources, count) in sorted(skus.items())
        )
        return tuple(accounts), unmapped_skus

    def _stale_cutoffs(self, now: datetime) -> Callable[[str], datetime]:
        """Per source, the time before which its usage is stale (memoised per `now`)."""
        cached = self._cutoff_cache
        if cached is None or cached[0] != now:
            cached = self._cutoff_cache = (now, {})
        cutoffs = cached[1]
        settings = self.settings

        def cutoff(source: str) -> datetime:
            found = cutoffs.get(source)
            if found is None:
                window = settings.freshness.get(source, settings.default_freshness)
                found = cutoffs[source] = now - window
            return found

        return cutoff

    def _contributions(self, account_id: str, now: datetime) -> dict[str, list[UsageContribution]]:
        cutoff = self._stale_cutoffs(now)
        usage = self.usage
        feeds = self.service_mappings.get
        by_service_line: dict[str, list[UsageContribution]] = {}
        for key in sorted(self.vendor_accounts_by_account.get(account_id, ())):
            groups = usage.get(key)
            if not groups:
                continue
            vendor, vendor_account = key
            for sku in sorted(groups):
                mappings = feeds((vendor, sku))
                if not mappings:
                    continue
                group = groups[sku]
                stale = group.is_stale(cutoff)
                quantity = group.quantity
                for mapping in mappings:
                    service_line_id = mapping.service_line_id
                    if mapping.excluded or service_line_id is None:
                        continue
                    contribution = UsageContribution(
                        vendor,
                        vendor_account,
                        sku,
                        quantity,
                        mapping.to_sales_units(quantity),
                        group.count,
                        group.oldest_as_of,
                        group.sources,
                        stale,
                    )
                    found = by_service_line.get(service_line_id)
                    if found is None:
                        by_service_line[service_line_id] = [contribution]
                    else:
                        found.append(contribution)
        return by_service_line

    def _cards(
        self, account_id: str, contracts: list[Contract], today: date, now: datetime
    ) -> list[Card]:
        contributions = self._contributions(account_id, now)
        billed: dict[str | None, list[tuple[Contract, LineItem]]] = {}
        service_line_of = self.service_line_id_by_product.get
        for contract in contracts:
            for item in self.line_items_by_contract.get(contract.id, ()):
                if not item.is_current(today):
                    continue
                key = service_line_of(item.product_id)
                bucket = billed.get(key)
                if bucket is None:
                    billed[key] = [(contract, item)]
                else:
                    bucket.append((contract, item))
        cards: list[Card] = []
        for service_line_id, billed_items in billed.items():
            contribs = contributions.pop(service_line_id, []) if service_line_id else []
            cards.extend(
                self._line_item_cards(account_id, service_line_id, billed_items, contribs, today)
            )
        account = self.accounts[account_id]
        if not account.suppress_new_revenue:
            for service_line_id in sorted(contributions):
                card = self._new_revenue_card(
                    account_id, service_line_id, contracts, contributions[service_line_id], today
                )
                if card is not None:
                    cards.append(card)
        return cards

    def _status(self, card_id: str, today: date) -> CardStatus:
        record = self.card_records.get(card_id)
        if record is None:
            return _NEW_CARD
        return card_status(record, today, self.settings.cycle_start_day)

    def _with_rules(self, card: Card) -> Card:
        if not self.settings.rules:
            return card
        decision = evaluate_rules(card, self.settings.rules)
        return card if decision is None else replace(card, auto_approval=decision)

    def _line_item_cards(
        self,
        account_id: str,
        service_line_id: str | None,
        items: list[tuple[Contract, LineItem]],
        contribs: list[UsageContribution],
        today: date,
    ) -> list[Card]:
        # Single contribution and single line item are the common case: no generators there.
        if not contribs:
            vendor_quantity: Decimal | None = None
            stale = False
        elif len(contribs) == 1:
            vendor_quantity = contribs[0].quantity
            stale = contribs[0].stale
        else:
            vendor_quantity = sum(map(_QUANTITY, contribs), ZERO)
            stale = any(map(_STALE, contribs))
        if len(items) == 1:
            total_billed = items[0][1].quantity
        else:
            total_billed = sum((item.quantity for _, item in items), ZERO)
        contributions = tuple(contribs)
        cards: list[Card] = []
        for position, (contract, item) in enumerate(items):
            elsewhere = total_billed - item.quantity
            if vendor_quantity is None:
                target = None
            elif position == 0:
                target = max(ZERO, vendor_quantity - elsewhere)
            else:
                target = item.quantity
            kind = (
                CardKind.RECONCILE
                if target is not None and target != item.quantity
                else CardKind.NO_CHANGE
            )
            card_id = line_item_card_id(self.tenant_id, item.id)
            status = self._status(card_id, today)
            card = Card(
                id=card_id,
                tenant_id=self.tenant_id,
                kind=kind,
                account_id=account_id,
                service_line_id=service_line_id,
                contract_id=contract.id,
                line_item_id=item.id,
                psa_quantity=item.quantity,
                vendor_quantity=vendor_quantity,
                target_quantity=target,
                billed_elsewhere=elsewhere,
                unit_price=item.unit_price,
                unit_cost=item.unit_cost,
                currency=contract.currency,
                billing_cycle=contract.billing_cycle,
                contributions=contributions,
                stale=stale,
                state=status.state,
                hidden=status.hidden,
                actioned_on=status.actioned_on,
                rounding=self.settings.rounding,
                primary=position == 0,
            )
            cards.append(self._with_rules(card))
        return cards

    def _new_revenue_card(
        self,
        account_id: str,
        service_line_id: str,
        contracts: list[Contract],
        contribs: list[UsageContribution],
        today: date,
    ) -> Card | None:
        vendor_quantity = sum((c.quantity for c in contribs), ZERO)
        if vendor_quantity <= ZERO:
            return None
        # Suggest the contract that already bills the most line items for this account.
        contract = min(
            contracts,
            key=lambda c: (-len(self.line_items_by_contract.get(c.id, ())), c.id),
        )
        service_line = self.service_lines.get(service_line_id)
        price = None if service_line is None else service_line.catalogue_unit_price
        cost = None if service_line is None else service_line.catalogue_unit_cost
        card_id = new_revenue_card_id(self.tenant_id, account_id, service_line_id)
        status = self._status(card_id, today)
        card = Card(
            id=card_id,
            tenant_id=self.tenant_id,
            kind=CardKind.NEW_REVENUE,
            account_id=account_id,
            service_line_id=service_line_id,
            contract_id=contract.id,
            line_item_id=None,
            psa_quantity=ZERO,
            vendor_quantity=vendor_quantity,
            target_quantity=vendor_quantity,
            billed_elsewhere=ZERO,
            unit_price=price,
            unit_cost=cost,
            currency=contract.currency,
            billing_cycle=BillingCycle.MONTHLY,
            contributions=tuple(contribs),
            stale=any(c.stale for c in contribs),
            state=status.state,
            hidden=status.hidden,
            actioned_on=status.actioned_on,
            rounding=self.settings.rounding,
        )
        return self._with_rules(card)


def reconcile(state: TenantState, *, today: date, now: datetime) -> ReconcileResult:
    """Compute every card of a tenant, its unmapped queue and active-accounts figure."""
    with _cyclic_gc_paused():
        return TenantIndex(state).reconcile(today=today, now=now)


def reconcile_account(
    source: TenantState | TenantIndex, account_id: str, *, today: date, now: datetime
) -> AccountResult:
    """Compute the cards of one account, from a full state, an account's slice, or an index."""
    index = source if isinstance(source, TenantIndex) else TenantIndex(source)
    return index.reconcile_account(account_id, today=today, now=now)


def preview_card_changes(
    card: Card,
    contract: Contract,
    changes: Sequence[QuantityChange],
    *,
    today: date,
    settings: TenantSettings,
) -> ProrationPreview:
    """The prorated lines approving `card` with `changes` would write, with amounts."""
    if card.unit_price is None:
        raise ValueError(f"card {card.id} has no unit price; enter one before previewing")
    return preview_changes(
        contract,
        quantity_before=card.psa_quantity,
        unit_price=card.unit_price,
        changes=changes,
        today=today,
        convention=settings.proration,
        policy=settings.rounding,
    )
