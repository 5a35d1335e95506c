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
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

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
from trueup.domain.rules import AutoRule, LargeChangeLimits, evaluate_rules

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
    # Not the pre-selection threshold, which only fills a person's choice in.
    auto_apply_threshold: Decimal | None = None
    # Changes past these ask a person for a confirmation and never approve by rule.
    large_change: LargeChangeLimits = field(default_factory=LargeChangeLimits)

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
    vendor_account_id: str
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


class _UsageGroup(NamedTuple):
    """The summed usage records of one (vendor, vendor account, SKU).

    `sources` are sorted, and `oldest` holds the oldest as-of time of each of them, in the
    same order: staleness is judged per source.
    """

    quantity: Decimal
    record_count: int
    sources: tuple[str, ...]
    oldest: tuple[datetime, ...]
    records: list[VendorUsage]

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

    def merged(self, other: _UsageGroup) -> _UsageGroup:
        """This group and another of the same key from other sources, as one."""
        by_source = dict(zip(self.sources, self.oldest, strict=True))
        for source, as_of in zip(other.sources, other.oldest, strict=True):
            seen = by_source.get(source)
            by_source[source] = as_of if seen is None else min(seen, as_of)
        sources = tuple(sorted(by_source))
        return _UsageGroup(
            self.quantity + other.quantity,
            self.record_count + other.record_count,
            sources,
            tuple(by_source[source] for source in sources),
            self.records + other.records,
        )


def _usage_fields(*names: str) -> itemgetter[Any]:
    """Read fields of a `VendorUsage` by position: the grouping loop does this a few
    million times, and an index is cheaper than an attribute lookup."""
    return itemgetter(*(VendorUsage._fields.index(name) for name in names))


# (vendor, vendor account, SKU, source) are the first four fields of a `VendorUsage`, so
# one slice is one key (a test holds the model to that).
USAGE_KEY_FIELDS = ("vendor", "vendor_account_id", "sku", "source")
_USAGE_KEY_AND_SOURCE = itemgetter(slice(0, len(USAGE_KEY_FIELDS)))
_USAGE_QUANTITY = _usage_fields("quantity")
_USAGE_AS_OF = _usage_fields("as_of")
_QUANTITY = attrgetter("quantity")
_ID = attrgetter("id")
# The records a full reconcile makes by the hundred thousand are built straight from a
# tuple of their fields, in field order, by `tuple.__new__`: that skips the generated
# keyword-aware `__new__` (and `_make`'s Python frame), which cost several times the tuple.
_new_contribution = partial(tuple.__new__, UsageContribution)
_new_card = partial(tuple.__new__, Card)
_new_usage_group = partial(tuple.__new__, _UsageGroup)
_STALE = attrgetter("stale")
_NEW_CARD = CardStatus(CardState.PENDING, hidden=False, actioned_on=None)
# Enum members as module constants: in Python 3.11 `CardKind.RECONCILE` is a class
# attribute lookup through the enum's metaclass, measurable once per card.
_RECONCILE = CardKind.RECONCILE
_NO_CHANGE = CardKind.NO_CHANGE


def _billed_quantities(items: Iterable[tuple[Contract, LineItem]]) -> Iterator[Decimal]:
    return (item.quantity for _, item in items)


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
    # The hot loop of a full reconcile: one pass over every usage record collects runs of
    # equal (vendor, vendor account, SKU, source); usage arrives report by report, so runs
    # are long, and any other order gives the same result, only slower. Sums and
    # oldest times are then taken per key in C (map, sum, min). The source is part of the
    # key so that staleness, judged per source, needs no further pass over the records.
    runs: dict[tuple[str, str, str, str], list[VendorUsage]] = {}
    get_run = runs.get
    for key, run in groupby(records, _USAGE_KEY_AND_SOURCE):
        bucket = get_run(key)
        if bucket is None:
            runs[key] = list(run)
        else:
            bucket.extend(run)
    nested: dict[VendorAccountKey, dict[str, _UsageGroup]] = {}
    get_skus = nested.get
    # One `(source,)` tuple per source, shared by every group: fewer objects to collect.
    single_sources: dict[str, tuple[str]] = {}
    for (vendor, vendor_account_id, sku, source), bucket in runs.items():
        sources = single_sources.get(source)
        if sources is None:
            sources = single_sources[source] = (source,)
        if len(bucket) == 1:
            first = bucket[0]
            group = _new_usage_group((first.quantity, 1, sources, (first.as_of,), bucket))
        else:
            group = _new_usage_group(
                (
                    sum(map(_USAGE_QUANTITY, bucket), ZERO),
                    len(bucket),
                    sources,
                    (min(map(_USAGE_AS_OF, bucket)),),
                    bucket,
                )
            )
        skus = get_skus((vendor, vendor_account_id))
        if skus is None:
            nested[(vendor, vendor_account_id)] = {sku: group}
        else:
            found = skus.get(sku)
            # Only when one key has usage from several sources.
            skus[sku] = group if found is None else found.merged(group)
    return nested


class _StaleCutoffs(dict[str, datetime]):
    """Per source, the time before which its usage is stale, computed on first use."""

    def __init__(self, settings: TenantSettings, now: datetime) -> None:
        super().__init__()
        self.settings = settings
        self.now = now

    def __missing__(self, source: str) -> datetime:
        window = self.settings.freshness.get(source, self.settings.default_freshness)
        cutoff = self[source] = self.now - window
        return cutoff


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
        # The last mapping of a vendor account wins, as if each had been set in turn.
        self.account_mappings: dict[VendorAccountKey, AccountMapping] = {
            (m.vendor, m.vendor_account_id): m for m in state.account_mappings
        }
        self.vendor_accounts_by_account: dict[str, set[VendorAccountKey]] = {}
        for key, mapping in self.account_mappings.items():
            if not mapping.excluded and mapping.account_id is not None:
                self.vendor_accounts_by_account.setdefault(mapping.account_id, set()).add(key)
        self.service_mappings: dict[tuple[str, str], tuple[ServiceMapping, ...]] = {}
        for service_mapping in state.service_mappings:
            key = (service_mapping.vendor, service_mapping.sku)
            self.service_mappings[key] = (*self.service_mappings.get(key, ()), service_mapping)
        self.usage = _group_usage(state.usage)
        self._cutoff_cache: _StaleCutoffs | None = None

    # -- incremental changes ------------------------------------------------------------

    def _put_account_mapping(self, mapping: AccountMapping) -> None:
        key = (mapping.vendor, mapping.vendor_account_id)
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
        self, vendor: str, vendor_account_id: str, records: Iterable[VendorUsage]
    ) -> frozenset[str]:
        """Replace a vendor account's usage with a new report; return the affected accounts."""
        key = (vendor, vendor_account_id)
        wanted = [r for r in records if (r.vendor, r.vendor_account_id) == key]
        grouped = _group_usage(wanted).get(key)
        if grouped:
            self.usage[key] = grouped
        else:
            self.usage.pop(key, None)
        account_id = self._mapped_account(key)
        return frozenset() if account_id is None else frozenset({account_id})

    def usage_of(self, vendor: str, vendor_account_id: str) -> list[VendorUsage]:
        """The usage records a vendor account holds now, one per SKU and source."""
        groups = self.usage.get((vendor, vendor_account_id), {})
        return [record for group in groups.values() for record in group.records]

    def set_account_mapping(self, mapping: AccountMapping) -> frozenset[str]:
        """Add or change an account mapping (or exclusion); return the affected accounts."""
        key = (mapping.vendor, mapping.vendor_account_id)
        before = self._mapped_account(key)
        self._put_account_mapping(mapping)
        after = self._mapped_account(key)
        return frozenset(a for a in (before, after) if a is not None)

    def remove_account_mapping(self, vendor: str, vendor_account_id: str) -> frozenset[str]:
        """Unmap a vendor account; return the affected accounts."""
        key = (vendor, vendor_account_id)
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
        """Replace one account's PSA state (after a sync): `line_items` are every line item
        of `contracts`. Return the affected accounts.

        A contract that moved here from another account, whose state was replaced first,
        stays: only what still is this account's old state goes."""
        for old in self.contracts_by_account.pop(account.id, []):
            if self.contracts.get(old.id) is old:
                del self.contracts[old.id]
                self.line_items_by_contract.pop(old.id, None)
        self.accounts[account.id] = account
        for contract in contracts:
            self.contracts[contract.id] = contract
            self.contracts_by_account.setdefault(account.id, []).append(contract)
            # Line items the index held for a contract it did not know are replaced too.
            self.line_items_by_contract[contract.id] = []
        for item in line_items:
            self.line_items_by_contract.setdefault(item.contract_id, []).append(item)
        for contract in contracts:
            self.line_items_by_contract[contract.id].sort(key=_ID)
        return frozenset({account.id})

    def set_card_record(self, card_id: str, record: CardRecord | None) -> None:
        """Remember (or forget) what happened to a card."""
        if record is None:
            self.card_records.pop(card_id, None)
        else:
            self.card_records[card_id] = record

    # -- reconciliation -----------------------------------------------------------------

    def is_active_account(self, account_id: str, today: date) -> bool:
        """Whether the account counts towards the active-accounts figure (it has cards)."""
        return account_id in self.accounts and any(
            c.is_active(today) for c in self.contracts_by_account.get(account_id, ())
        )

    def line_item_count(self, account_id: str) -> int:
        """Line items on the account's contracts."""
        return sum(
            len(self.line_items_by_contract.get(c.id, ()))
            for c in self.contracts_by_account.get(account_id, ())
        )

    def accounts_of_contracts(self, contract_ids: Iterable[str]) -> set[str]:
        """The accounts these contracts belong to, of those the index holds."""
        return {
            contract.account_id
            for contract_id in contract_ids
            if (contract := self.contracts.get(contract_id)) is not None
        }

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
        # Per vendor, the SKUs that have mappings (excluded ones included): a set
        # difference per vendor account then finds the unmapped ones without a lookup per SKU.
        mapped_skus: dict[str, set[str]] = {}
        for vendor, sku in self.service_mappings:
            mapped_skus.setdefault(vendor, set()).add(sku)
        none_mapped: set[str] = set()
        for (vendor, vendor_account_id), groups in self.usage.items():
            mapping = self.account_mappings.get((vendor, vendor_account_id))
            if mapping is not None and mapping.excluded:
                continue
            if mapping is None:
                first = groups[min(groups)]
                accounts.append(
                    UnmappedAccount(
                        vendor=vendor,
                        vendor_account_id=vendor_account_id,
                        name=first.account_name,
                        sources=tuple(sorted({s for g in groups.values() for s in g.sources})),
                        usage_count=sum(g.record_count for g in groups.values()),
                        psa_account_hint=next(
                            (g.hint for g in groups.values() if g.hint is not None), None
                        ),
                    )
                )
            mapped = mapped_skus.get(vendor, none_mapped)
            if groups.keys() <= mapped:
                continue
            for sku in groups.keys() - mapped:
                group = groups[sku]
                name, sources, count = skus.get((vendor, sku), (group.sku_name, set(), 0))
                sources.update(group.sources)
                skus[(vendor, sku)] = (name or group.sku_name, sources, count + group.record_count)
        accounts.sort(key=lambda a: (a.vendor, a.vendor_account_id))
        unmapped_skus = tuple(
            UnmappedSku(vendor, sku, name, tuple(sorted(sources)), count)
            for (vendor, sku), (name, sources, count) in sorted(skus.items())
        )
        return tuple(accounts), unmapped_skus

    def _cutoffs(self, now: datetime) -> _StaleCutoffs:
        """Per source, the time before which its usage is stale (kept while `now` holds)."""
        cutoffs = self._cutoff_cache
        if cutoffs is None or cutoffs.now != now:
            cutoffs = self._cutoff_cache = _StaleCutoffs(self.settings, now)
        return cutoffs

    def _contributions(
        self, account_id: str, now: datetime
    ) -> dict[str, tuple[UsageContribution, ...]]:
        """What the account's mapped usage contributes to each service line."""
        cutoffs = self._cutoffs(now)
        usage = self.usage
        feeds = self.service_mappings.get
        # Tuples, not lists: they become the cards' contributions as they are.
        by_service_line: dict[str, tuple[UsageContribution, ...]] = {}
        for key in sorted(self.vendor_accounts_by_account.get(account_id, ())):
            groups = usage.get(key)
            if not groups:
                continue
            vendor, vendor_account_id = key
            for sku in sorted(groups):
                mappings = feeds((vendor, sku))
                if not mappings:
                    continue
                group = groups[sku]
                sources, oldest = group.sources, group.oldest
                if len(sources) == 1:
                    oldest_as_of = oldest[0]
                    stale = oldest_as_of < cutoffs[sources[0]]
                else:
                    oldest_as_of = min(oldest)
                    stale = any(map(operator.lt, oldest, map(cutoffs.__getitem__, sources)))
                quantity = group.quantity
                for mapping in mappings:
                    service_line_id = mapping.service_line_id
                    if mapping.excluded or service_line_id is None:
                        continue
                    contribution = _new_contribution(
                        (
                            vendor,
                            vendor_account_id,
                            sku,
                            quantity,
                            mapping.to_sales_units(quantity),
                            group.record_count,
                            oldest_as_of,
                            sources,
                            stale,
                        )
                    )
                    found = by_service_line.get(service_line_id)
                    if found is None:
                        by_service_line[service_line_id] = (contribution,)
                    else:
                        by_service_line[service_line_id] = (*found, contribution)
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
        cards = self._line_item_cards(account_id, billed, contributions, today)
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
        decision = evaluate_rules(card, self.settings.rules, self.settings.large_change)
        return card if decision is None else card._replace(auto_approval=decision)

    def _line_item_cards(
        self,
        account_id: str,
        billed: dict[str | None, list[tuple[Contract, LineItem]]],
        contributions: dict[str, tuple[UsageContribution, ...]],
        today: date,
    ) -> list[Card]:
        """The cards of an account's line items, per service line they bill.

        Takes the contributions of those service lines out of `contributions`: what is
        left there is usage no line item bills (New Revenue).
        """
        # The innermost loop of a full reconcile, run once per line item: the common case
        # (one contribution, one line item) takes no generator and no Decimal arithmetic.
        tenant_id = self.tenant_id
        rounding = self.settings.rounding
        with_rules = self._with_rules if self.settings.rules else None
        records = self.card_records
        start_day = self.settings.cycle_start_day
        cards: list[Card] = []
        for service_line_id, items in billed.items():
            contribs = contributions.pop(service_line_id, ()) if service_line_id else ()
            if not contribs:
                vendor_quantity: Decimal | None = None
                stale = False
            elif len(contribs) == 1:
                vendor_quantity = contribs[0].quantity
                stale = contribs[0].stale
            else:
                vendor_quantity = sum(map(_QUANTITY, contribs), ZERO)
                stale = any(map(_STALE, contribs))
            single = len(items) == 1
            total_billed = items[0][1].quantity if single else sum(_billed_quantities(items), ZERO)
            for position, (contract, item) in enumerate(items):
                psa_quantity = item.quantity
                elsewhere = ZERO if single else total_billed - psa_quantity
                if vendor_quantity is None:
                    target = None
                elif position == 0:
                    target = vendor_quantity if single else vendor_quantity - elsewhere
                    if target < ZERO:
                        target = ZERO
                else:
                    target = psa_quantity
                card_id = line_item_card_id(tenant_id, item.id)
                record = records.get(card_id)
                status = _NEW_CARD if record is None else card_status(record, today, start_day)
                card = _new_card(
                    (
                        card_id,
                        tenant_id,
                        _NO_CHANGE if target is None or target == psa_quantity else _RECONCILE,
                        account_id,
                        service_line_id,
                        contract.id,
                        item.id,
                        psa_quantity,
                        vendor_quantity,
                        target,
                        elsewhere,
                        item.unit_price,
                        item.unit_cost,
                        contract.currency,
                        contract.billing_cycle,
                        contribs,
                        stale,
                        status.state,
                        status.hidden,
                        status.actioned_on,
                        None,  # auto_approval: rules come next
                        rounding,
                        position == 0,  # primary
                    )
                )
                cards.append(card if with_rules is None else with_rules(card))
        return cards

    def _new_revenue_card(
        self,
        account_id: str,
        service_line_id: str,
        contracts: list[Contract],
        contribs: tuple[UsageContribution, ...],
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
            contributions=contribs,
            stale=any(c.stale for c in contribs),
            state=status.state,
            hidden=status.hidden,
            actioned_on=status.actioned_on,
            rounding=self.settings.rounding,
        )
        return self._with_rules(card)


def reconcile(source: TenantState | TenantIndex, *, today: date, now: datetime) -> ReconcileResult:
    """Compute every card of a tenant, its unmapped queue and active-accounts figure."""
    with _cyclic_gc_paused():
        index = source if isinstance(source, TenantIndex) else TenantIndex(source)
        return index.reconcile(today=today, now=now)


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
