"""Recompute: every change of input (a PSA snapshot, usage, a mapping, a setting) ends
here, which runs the domain's `reconcile` over the tenant's state, stores the cards that
changed, announces them, and approves those an approval rule covers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from trueup import domain as d
from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.service import freeze_long_lived
from trueup.reconciliation import cycles, index_cache
from trueup.reconciliation import state as st
from trueup.reconciliation.actions import act
from trueup.reconciliation.announcements import SYSTEM, announce
from trueup.reconciliation.index_cache import CachedIndex, StoredCard, new_token
from trueup.reconciliation.models import (
    AccountMappingRow,
    CardRow,
    ServiceLineRow,
    ServiceMappingRow,
)
from trueup.reconciliation.repository import READ_AHEAD_ROWS, Repository


class StoredColumns(Protocol):
    """What a recompute compares a computed card with: a `CardRow`, or those columns."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def last_job_id(self) -> str | None: ...
    @property
    def planned_effective_date(self) -> date | None: ...


def _now() -> datetime:
    return datetime.now(UTC)


async def _auto_map(
    session: AsyncSession,
    repo: Repository,
    data: Any,
    settings: r.BillingSettings,
    cause: Envelope[Any] | None,
) -> bool:
    """Map exact matches (and, from the tenant's auto-apply threshold, fuzzy ones) without
    a person. The pre-selection threshold plays no part: it only fills a person's choice in."""
    mapped_accounts = {(m_.vendor, m_.vendor_account_id) for m_ in data.account_mappings}
    refs = {
        (u.vendor, u.vendor_account_id): d.VendorAccountRef(
            vendor=u.vendor,
            vendor_account_id=u.vendor_account_id,
            name=u.vendor_account_name or u.vendor_account_id,
            psa_account_hint=u.psa_account_hint,
        )
        for u in data.usage
        if (u.vendor, u.vendor_account_id) not in mapped_accounts
    }
    changed = False
    if refs and data.accounts:
        accounts = [st.account(a) for a in data.accounts]
        account_names = {a.account_id: a.name for a in data.accounts}
        suggestions = d.suggest_account_mappings(refs.values(), accounts, limit=1)
        threshold = settings.auto_apply_threshold
        for mapping in d.mappings_to_apply(suggestions, auto_apply_threshold=threshold):
            await repo.merge(
                AccountMappingRow(
                    tenant_id=repo.tenant_id,
                    vendor=mapping.vendor,
                    vendor_account_id=mapping.vendor_account_id,
                    account_id=mapping.account_id,
                    excluded=False,
                    automatic=True,
                    updated_at=_now(),
                    updated_by="automatic",
                )
            )
            await announce(
                session,
                repo.tenant_id,
                m.MappingChanged(
                    kind="account",
                    change="mapped",
                    vendor=mapping.vendor,
                    vendor_key=mapping.vendor_account_id,
                    target_id=mapping.account_id,
                    actor=SYSTEM,
                    automatic=True,
                    vendor_key_name=refs[(mapping.vendor, mapping.vendor_account_id)].name,
                    target_name=account_names.get(mapping.account_id or "", ""),
                ),
                cause,
            )
            changed = True
    mapped_skus = {(s.vendor, s.sku) for s in data.service_mappings}
    skus = dict.fromkeys(
        d.VendorSkuRef(u.vendor, u.sku, u.sku_name or "")
        for u in data.usage
        if (u.vendor, u.sku) not in mapped_skus
    )
    lines = [st.service_line(line) for line in data.service_lines]
    line_names = {line.service_line_id: line.name for line in data.service_lines}
    sku_names = {(ref.vendor, ref.sku): ref.name for ref in skus if ref.name}
    for sku_mapping in d.service_mappings_to_apply(skus, lines):
        await repo.merge(
            ServiceMappingRow(
                tenant_id=repo.tenant_id,
                vendor=sku_mapping.vendor,
                sku=sku_mapping.sku,
                service_line_id=sku_mapping.service_line_id or "",
                factor=Decimal(1),
                rounding=d.RoundingRule.UP.value,
                excluded=False,
                automatic=True,
            )
        )
        await announce(
            session,
            repo.tenant_id,
            m.MappingChanged(
                kind="service",
                change="mapped",
                vendor=sku_mapping.vendor,
                vendor_key=sku_mapping.sku,
                target_id=sku_mapping.service_line_id,
                actor=SYSTEM,
                automatic=True,
                vendor_key_name=sku_names.get((sku_mapping.vendor, sku_mapping.sku), ""),
                target_name=line_names.get(sku_mapping.service_line_id or "", ""),
            ),
            cause,
        )
        changed = True
    return changed


FREEZE_FROM_ROWS = 20_000
"""A tenant index this large is kept out of the garbage collector's full collections,
which would otherwise walk it on every one of them: at 100,000 line items that took a
webhook update from 15 ms to 50 ms (`tests/bench/bench_reconcile_growth.py`)."""


async def recompute(
    session: AsyncSession,
    tenant_id: str,
    *,
    reason: str,
    cause: Envelope[Any] | None = None,
    today: date | None = None,
) -> list[str]:
    """Recompute every card of the tenant; store and announce the ones that changed."""
    repo = Repository(session, tenant_id)
    await repo.lock_tenant()
    # A cycle's turn before an action: the action's rows read ahead of the lock may be
    # older than it, and the session would hand them to the load below as they were.
    for row in session.info.pop(READ_AHEAD_ROWS, ()):
        if row in session:
            session.expunge(row)
    index_cache.INDEXES.forget(tenant_id)
    settings = await repo.billing_settings()
    now = _now()
    today = today or now.date()
    # Kept before the cards move to the new cycle (approved ones come back as pending).
    await cycles.close_due_cycle(repo, settings, today)
    data = await repo.load()
    if await _auto_map(session, repo, data, settings, cause):
        await session.flush()
        data = await repo.load()
    index = d.TenantIndex(st.tenant_state(data, settings))
    result = d.reconcile(index, today=today, now=now)
    changed, stored = await _store_cards(
        repo, settings, index, result.cards, {c.card_id: c for c in data.cards}, now
    )
    settings_row = await repo.writable_settings_row()
    if settings_row.active_accounts != result.active_accounts:
        settings_row.active_accounts = result.active_accounts
    token = new_token()
    await repo.set_inputs_token(token)
    weight = len(data.line_items) + len(data.usage) + len(data.cards)
    index_cache.INDEXES.put(tenant_id, CachedIndex(token, index, today, weight, stored))
    if weight >= FREEZE_FROM_ROWS:
        freeze_long_lived()
    if changed:
        await repo.bump_cards_version()
    await _announce_cards(session, repo, changed, reason, cause)
    await _auto_approve(session, tenant_id, result.cards, cause, today)
    return changed


async def open_index(repo: Repository, today: date) -> tuple[CachedIndex, r.BillingSettings] | None:
    """Lock the tenant's inputs and check its index in memory out, if that is the stored
    state and was built `today` (see `index_cache`), with the tenant's settings; None
    means a whole-tenant recompute. `recompute_usage` then takes the same `repo`, which
    holds the locked row.

    An index at hand also means the billing cycle is already the right one: every index
    descends from a `recompute` on the day it was built, which closed any cycle due.

    The row is read as two columns, not as a `TenantSettingsRow`, and `recompute_usage`
    writes it back in one statement: on the live usage lane the ORM's load and flush of
    that row were a fifth of a report's cost."""
    locked = await repo.lock_inputs()
    if locked is None:
        return None
    cached = index_cache.INDEXES.check_out(repo.tenant_id, locked.inputs_token, today)
    return None if cached is None else (cached, locked.settings)


async def recompute_usage(
    repo: Repository,
    cached: CachedIndex,
    settings: r.BillingSettings,
    usage: dict[tuple[str, str], list[d.VendorUsage]],
    *,
    cause: Envelope[Any] | None = None,
    today: date,
) -> list[str] | None:
    """Apply stored usage of these (vendor, vendor account) pairs to the tenant's index,
    checked out by `open_index`, and recompute only the accounts they feed; None (and the
    index left alone) when some of it is unmapped, which may map it automatically: then
    `recompute` does it all."""
    index = cached.index
    if any(key not in index.account_mappings for key in usage) or any(
        (record.vendor, record.sku) not in index.service_mappings
        for records in usage.values()
        for record in records
    ):
        return None
    affected: set[str] = set()
    for (key_vendor, vendor_account_id), records in usage.items():
        affected |= index.replace_usage(key_vendor, vendor_account_id, records)
    return await _recompute_accounts(
        repo, cached, settings, affected, reason="usage", cause=cause, today=today
    )


async def recompute_psa_accounts(
    repo: Repository,
    cached: CachedIndex,
    settings: r.BillingSettings,
    account_ids: set[str],
    *,
    cause: Envelope[Any] | None = None,
    today: date,
) -> list[str]:
    """Reload these accounts' stored PSA state (account, contracts, line items) into the
    tenant's index, checked out by `open_index`, and recompute only them. The caller has
    made sure the index already holds each account and every product they bill: a new
    one is for `recompute`, which may map usage to it automatically."""
    index = cached.index
    active_before = sum(index.is_active_account(a, today) for a in account_ids)
    items_before = sum(map(index.line_item_count, account_ids))
    accounts, contracts, line_items = await repo.psa_state_of(account_ids)
    contracts_of: dict[str, list[d.Contract]] = {}
    for contract_row in contracts:
        contracts_of.setdefault(contract_row.account_id, []).append(st.contract(contract_row))
    account_of_contract = {c.contract_id: c.account_id for c in contracts}
    items_of: dict[str, list[d.LineItem]] = {}
    for item_row in line_items:
        account_id = account_of_contract[item_row.contract_id]
        items_of.setdefault(account_id, []).append(st.line_item(item_row))
    for account_row in accounts:
        index.replace_account(
            st.account(account_row),
            contracts_of.get(account_row.account_id, []),
            items_of.get(account_row.account_id, []),
        )
    active_after = sum(index.is_active_account(a, today) for a in account_ids)
    # The cache's budget counts the line items an index holds.
    cached.weight += sum(map(index.line_item_count, account_ids)) - items_before
    return await _recompute_accounts(
        repo,
        cached,
        settings,
        account_ids,
        reason="psa",
        cause=cause,
        today=today,
        active_accounts_delta=active_after - active_before,
    )


async def _recompute_accounts(
    repo: Repository,
    cached: CachedIndex,
    settings: r.BillingSettings,
    affected: set[str],
    *,
    reason: str,
    cause: Envelope[Any] | None,
    today: date,
    active_accounts_delta: int = 0,
) -> list[str]:
    """Recompute the cards of these accounts from the index, store and announce those that
    changed, and put the index back as the stored state."""
    session, tenant_id = repo.session, repo.tenant_id
    now = _now()
    index = cached.index
    cards: list[d.Card] = []
    for done, account_id in enumerate(sorted(affected), 1):
        cards.extend(index.reconcile_account(account_id, today=today, now=now).cards)
        await _let_others_run(done)
    changed, stored = await _store_cards(
        repo, settings, index, cards, cached.stored_cards_of(affected), now
    )
    for account_id in affected:
        cached.stored_cards[account_id] = stored.pop(account_id, {})
    cached.token = new_token()
    await repo.inputs_changed(
        cached.token, cards_changed=bool(changed), active_accounts_delta=active_accounts_delta
    )
    index_cache.INDEXES.put(tenant_id, cached)
    await _announce_cards(session, repo, changed, reason, cause)
    await _auto_approve(session, tenant_id, cards, cause, today)
    return changed


YIELD_EVERY = 50
"""Accounts or cards worked through between turns given to other tasks of the replica."""


async def _let_others_run(done: int) -> None:
    """Give the event loop a turn every `YIELD_EVERY` steps of a long recompute: an
    import's batch then holds the replica's CPU in slices, and a webhook handled beside
    it (the live usage lane) waits for a slice instead of the whole batch."""
    if done % YIELD_EVERY == 0:
        await asyncio.sleep(0)


async def _store_cards(
    repo: Repository,
    settings: r.BillingSettings,
    index: d.TenantIndex,
    cards: Sequence[d.Card],
    existing: Mapping[str, StoredColumns],
    now: datetime,
) -> tuple[list[str], dict[str, dict[str, StoredCard]]]:
    """Store the computed cards that differ from `existing`, delete those of `existing`
    no longer computed; return the ids of both, and per account the computed cards as
    they are now stored. New and changed cards go in as one statement each, however
    many."""
    limits = st.large_change_limits(settings)
    changed: list[str] = []
    stored: dict[str, dict[str, StoredCard]] = {}
    new_rows: list[dict[str, Any]] = []
    updated_rows: list[dict[str, Any]] = []
    existing = dict(existing)
    for done, card in enumerate(cards, 1):
        await _let_others_run(done)
        account = index.accounts.get(card.account_id)
        line = index.service_lines.get(card.service_line_id or "")
        contract = index.contracts.get(card.contract_id or "")
        values = st.card_values(
            card,
            account_name=account.name if account else card.account_id,
            service_line_name=line.name if line else (card.service_line_id or ""),
            contract_name=contract.name if contract else "",
            now=now,
            large_change=limits,
        )
        old = existing.pop(card.id, None)
        if old is not None:
            values["error"] = old.error if values["state"] in ("failed", "conflict") else None
            values["last_job_id"] = old.last_job_id
            values["planned_effective_date"] = old.planned_effective_date
        stored.setdefault(card.account_id, {})[card.id] = StoredCard(
            values["fingerprint"],
            values["error"],
            values.get("last_job_id"),
            values.get("planned_effective_date"),
        )
        if old is not None and (old.fingerprint, old.error) == (
            values["fingerprint"],
            values["error"],
        ):
            continue
        if line is not None and line.vendor_tag is None and card.vendors:
            # An import tags the service lines it feeds with its vendor.
            line = replace(line, vendor_tag=card.vendors[0])
            index.service_lines[line.id] = line
            line_row = await repo.get(ServiceLineRow, line.id)
            if line_row is not None:
                line_row.vendor_tag = line.vendor_tag
        (new_rows if old is None else updated_rows).append(values)
        changed.append(card.id)
    await repo.insert_new(CardRow, new_rows)
    await repo.update_cards(updated_rows)
    await repo.delete_cards(existing)
    changed.extend(existing)
    return changed, stored


CARDS_PER_ANNOUNCEMENT = 5000
"""Card ids one `CardsChanged` event names at most (a few hundred kB)."""


async def _announce_cards(
    session: AsyncSession,
    repo: Repository,
    changed: list[str],
    reason: str,
    cause: Envelope[Any] | None,
) -> None:
    # In parts: a large tenant's recompute changes tens of thousands of cards, and one
    # event naming them all would pass the broker's 1 MB message limit (the outbox could
    # never send it, and every later event would wait behind it).
    for start in range(0, len(changed), CARDS_PER_ANNOUNCEMENT):
        part = changed[start : start + CARDS_PER_ANNOUNCEMENT]
        await announce(session, repo.tenant_id, m.CardsChanged(card_ids=part, reason=reason), cause)
    await repo.session.flush()


async def _auto_approve(
    session: AsyncSession,
    tenant_id: str,
    cards: Sequence[d.Card],
    cause: Envelope[Any] | None,
    today: date,
) -> None:
    """Approve the pending cards an approval rule covers, as the rule."""
    for card in cards:
        if card.auto_approval is not None and card.state is d.CardState.PENDING and not card.hidden:
            await act(
                session,
                tenant_id,
                r.ActionQuery(
                    card_id=card.id,
                    action="approve",
                    actor=m.Actor(
                        kind="rule",
                        id=card.auto_approval.rule_name,
                        name=card.auto_approval.explanation,
                    ),
                    idempotency_key=f"rule:{card.id}:{today.isoformat()}",
                ),
                cause=cause,
                today=today,
            )


async def start_due_cycle(
    session: AsyncSession, tenant_id: str, *, today: date | None = None
) -> bool:
    """Close the tenant's open cycle and recompute its cards into the new one, when
    `today` is in a later cycle; False (and nothing done) otherwise."""
    repo = Repository(session, tenant_id)
    await repo.locked_settings_row()
    settings = await repo.billing_settings()
    cycle_turn = await cycles.turn(repo, settings.cycle_start_day, today or _now().date())
    if cycle_turn.closed is None:
        return False
    await recompute(session, tenant_id, reason="cycle", today=today)
    return True
