"""Active tenants' reconciliation state, kept in memory between inputs.

Recomputing a tenant from the database costs a full load (about 150 ms for 500 line
items) while the domain's part for one vendor account's update is well under a
millisecond. So each replica keeps the domain's `TenantIndex` of the tenants it served
recently and applies a usage update to it, writing only the cards that changed.

The database stays the system of record. Every write to a tenant's inputs or card states
stores a new random `inputs_token` on its settings row, in the same transaction; an index
is used only while its token is the stored one. Anything the replica did not do itself —
another replica's write, a rolled-back transaction, a restart — shows as a different token,
and the next input rebuilds the index from the database.

An index is checked out while one transaction works on it, so two coroutines of one
replica never change it at the same time; under PostgreSQL the settings row is locked
first, so a second replica's write to the same tenant waits for the first to commit.

An index serves the day it was built on only: which contracts are active and which usage
is stale depend on the date, and a whole-tenant recompute is what brings every account's
cards to a new day.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

from trueup import domain as d


def new_token() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class StoredCard:
    """The columns of a stored card a recompute compares a computed one with."""

    fingerprint: str
    error: str | None
    last_job_id: str | None
    planned_effective_date: date | None


@dataclass
class CachedIndex:
    """A tenant's index as of the stored state `token`, on the day it was built."""

    token: str
    index: d.TenantIndex
    built_on: date
    weight: int
    """Rows (line items, usage records and cards) it holds: what the budget counts."""
    stored_cards: dict[str, dict[str, StoredCard]] = field(default_factory=dict)
    """Per account, its cards as stored (by card id): the same state as the index, kept
    with it by whatever writes cards, so a usage update need not read them back."""

    def stored_cards_of(self, account_ids: set[str]) -> dict[str, StoredCard]:
        return {
            card_id: stored
            for account_id in account_ids
            for card_id, stored in self.stored_cards.get(account_id, {}).items()
        }


class TenantIndexCache:
    """Least recently used tenants' indexes, within a budget of rows held in memory."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[str, CachedIndex] = OrderedDict()
        self._weight = 0
        self.hits = 0
        self.misses = 0

    @property
    def weight(self) -> int:
        """Rows (line items, usage records and cards) held across all tenants."""
        return self._weight

    def __len__(self) -> int:
        return len(self._entries)

    def check_out(self, tenant_id: str, token: str | None, today: date) -> CachedIndex | None:
        """The tenant's index if it is the stored state (`token`) and was built `today`;
        removed from the cache until `put` back."""
        entry = self._entries.pop(tenant_id, None)
        if entry is not None:
            self._weight -= entry.weight
        if entry is None or token is None or entry.token != token or entry.built_on != today:
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def put(self, tenant_id: str, entry: CachedIndex) -> None:
        """Keep `entry` as the tenant's state; evict the least recently used beyond budget."""
        self.forget(tenant_id)
        if entry.weight > self.budget:
            return
        self._entries[tenant_id] = entry
        self._weight += entry.weight
        while self._weight > self.budget:
            _, evicted = self._entries.popitem(last=False)
            self._weight -= evicted.weight

    def forget(self, tenant_id: str) -> None:
        entry = self._entries.pop(tenant_id, None)
        if entry is not None:
            self._weight -= entry.weight

    def clear(self) -> None:
        self._entries.clear()
        self._weight = 0


INDEXES = TenantIndexCache(budget=1_000_000)
"""This replica's in-memory tenant indexes; `main.build` sets the budget. Read through the
module (`index_cache.INDEXES`), never imported by name, so that a test can swap it."""
