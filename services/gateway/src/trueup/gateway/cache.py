"""Short-lived caches that keep the hot paths off the bus and the database.

- Card pages: the list view's pages per (tenant, query), dropped for a tenant as soon as
  any `recon.<tenant>.cards.changed` reaches this replica. A page fetched while a change
  arrived is not stored (a per-tenant generation is compared before and after).
- Credentials: an API key's principal for a few seconds, so a script's burst of requests
  does not hash and look up the same key every time. Revoking a key on this replica drops
  it at once; other replicas stop accepting it within the TTL.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

from trueup.gateway.identity.principal import Principal

MAX_PAGES_PER_TENANT = 256


@dataclass
class PageCache:
    """Card pages (raw JSON) per tenant and query."""

    _pages: dict[str, OrderedDict[str, bytes]] = field(
        default_factory=lambda: defaultdict(OrderedDict)
    )
    _generation: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def generation(self, tenant_id: str) -> int:
        return self._generation[tenant_id]

    def get(self, tenant_id: str, key: str) -> bytes | None:
        return self._pages[tenant_id].get(key)

    def put(self, tenant_id: str, key: str, page: bytes, generation: int) -> None:
        if self._generation[tenant_id] != generation:
            return  # cards changed while this page was being fetched
        pages = self._pages[tenant_id]
        pages[key] = page
        if len(pages) > MAX_PAGES_PER_TENANT:
            pages.popitem(last=False)

    def invalidate(self, tenant_id: str) -> None:
        self._generation[tenant_id] += 1
        self._pages.pop(tenant_id, None)


@dataclass
class CredentialCache:
    """API key hash -> principal, for `ttl` seconds."""

    ttl: float = 10.0
    _entries: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self.ttl, principal)

    def forget_subject(self, subject_id: str) -> None:
        for key_hash, (_expiry, principal) in list(self._entries.items()):
            if principal.subject_id == subject_id:
                del self._entries[key_hash]

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop a tenant's keys (suspended or deleted on this replica: refused at once)."""
        for key_hash, (_expiry, principal) in list(self._entries.items()):
            if principal.tenant_id == tenant_id:
                del self._entries[key_hash]
