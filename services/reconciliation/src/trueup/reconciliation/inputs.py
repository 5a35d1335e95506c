"""Inputs from other services: PSA snapshots and sync completions, and vendor usage.
Each is stored, then recomputed (usage incrementally when the tenant's index is at hand)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup import domain as d
from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.reconciliation import state as st
from trueup.reconciliation.models import (
    AccountRow,
    ContractRow,
    LineItemRow,
    ServiceLineRow,
)
from trueup.reconciliation.recompute import (
    open_index,
    recompute,
    recompute_psa_accounts,
    recompute_usage,
)
from trueup.reconciliation.repository import Repository


def as_utc(moment: datetime) -> datetime:
    """Comparable whatever the database or sender did with the zone (naive means UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def apply_snapshot(session: AsyncSession, envelope: Envelope[m.PsaSnapshot]) -> None:
    """Project one batch of PSA state. A full sync's batches wait for its `sync.completed`
    to recompute; an incremental batch recomputes at once, only the accounts it touches
    when the tenant's index is at hand and holds them (else the whole tenant)."""
    tenant_id = envelope.tenant_id
    snapshot = envelope.payload
    repo = Repository(session, tenant_id)
    if snapshot.full:
        await repo.lock_tenant()
        await _store_snapshot(repo, snapshot)
        return
    if _is_empty(snapshot):
        # An incremental sync that found no change still sends one batch to say so.
        return
    today = datetime.now(UTC).date()
    # The tenant is locked before anything is written (see `Repository.lock_tenant`):
    # by `open_index` when it has a settings row, else by creating one.
    opened = await open_index(repo, today)
    if opened is None:
        await repo.lock_tenant()
    touched = None if opened is None else await _touched_accounts(repo, opened[0].index, snapshot)
    await _store_snapshot(repo, snapshot)
    if opened is not None and touched is not None:
        cached, settings = opened
        await recompute_psa_accounts(repo, cached, settings, touched, cause=envelope, today=today)
        return
    await recompute(session, tenant_id, reason="psa", cause=envelope, today=today)


def _is_empty(snapshot: m.PsaSnapshot) -> bool:
    return not (
        snapshot.accounts
        or snapshot.contracts
        or snapshot.line_items
        or snapshot.removed_contract_ids
        or snapshot.removed_line_item_ids
    )


async def _touched_accounts(
    repo: Repository, index: d.TenantIndex, snapshot: m.PsaSnapshot
) -> set[str] | None:
    """The accounts whose cards an incremental batch may change, as the index (the stored
    state before the batch) and the batch say; None when it brings what only a recompute
    of the whole tenant handles: a new or renamed account, or a new product, either of
    which may let unmapped usage be mapped automatically."""
    for account in snapshot.accounts:
        known = index.accounts.get(account.psa_id)
        if known is None or known.name != account.name:
            return None
    if any(item.product_id not in index.service_line_id_by_product for item in snapshot.line_items):
        return None
    contract_ids = {c.psa_id for c in snapshot.contracts} | set(snapshot.removed_contract_ids)
    contract_ids |= {item.contract_psa_id for item in snapshot.line_items}
    # A line item may move to another contract, or be removed: its stored contract counts.
    contract_ids |= await repo.contract_ids_of_line_items(
        [item.psa_id for item in snapshot.line_items] + list(snapshot.removed_line_item_ids)
    )
    touched = {a.psa_id for a in snapshot.accounts} | index.accounts_of_contracts(contract_ids)
    touched |= {c.account_psa_id for c in snapshot.contracts}
    return touched if touched <= index.accounts.keys() else None


async def _store_snapshot(repo: Repository, snapshot: m.PsaSnapshot) -> None:
    session = repo.session
    # Keyed by PSA id: a later entry of the batch wins, as row-by-row merges did. An
    # account's New Revenue switch is TrueUp's, not the PSA's, so a sync leaves it alone.
    await repo.upsert(
        AccountRow,
        AccountRow.account_id,
        {
            account.psa_id: {
                "name": account.name,
                "identifier": account.identifier,
                "connection_id": snapshot.connection_id,
            }
            for account in snapshot.accounts
        },
    )
    await repo.upsert(
        ContractRow,
        ContractRow.contract_id,
        {
            contract.psa_id: {
                "account_id": contract.account_psa_id,
                "name": contract.name,
                "status": contract.status,
                "start_date": contract.start_date,
                "end_date": contract.end_date,
                "billing_cycle": contract.billing_cycle,
                "bill_in_advance": contract.bill_in_advance,
                "proration_allowed": contract.proration_allowed,
                "dated_changes": contract.dated_changes,
                "currency": contract.currency,
                "connection_id": snapshot.connection_id,
                "psa": snapshot.psa,
            }
            for contract in snapshot.contracts
        },
    )
    await repo.upsert(
        LineItemRow,
        LineItemRow.line_item_id,
        {
            item.psa_id: {
                "contract_id": item.contract_psa_id,
                "product_id": item.product_id,
                "product_name": item.product_name,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
                "unit_cost": item.unit_cost,
                "effective_date": item.effective_date,
                "cancelled_date": item.cancelled_date,
            }
            for item in snapshot.line_items
        },
    )
    # Every PSA product is a service line; the first price seen is the catalogue price New
    # Revenue is valued at until a person enters one, so existing ones are not updated.
    new_lines: dict[str, dict[str, Any]] = {}
    for item in snapshot.line_items:
        new_lines.setdefault(
            item.product_id,
            {
                "name": item.product_name,
                "product_id": item.product_id,
                "vendor_tag": None,
                "sales_unit": "each",
                "catalogue_unit_price": item.unit_price,
                "catalogue_unit_cost": item.unit_cost,
            },
        )
    await repo.upsert(ServiceLineRow, ServiceLineRow.service_line_id, new_lines, update=False)
    await repo.remove_contracts(snapshot.removed_contract_ids)
    await repo.remove_line_items(snapshot.removed_line_item_ids)
    await session.flush()


async def apply_sync_completed(
    session: AsyncSession, envelope: Envelope[m.PsaSyncCompleted]
) -> None:
    if not envelope.payload.succeeded:
        return
    repo = Repository(session, envelope.tenant_id)
    (await repo.lock_tenant()).last_sync_at = envelope.occurred_at
    await session.flush()
    if envelope.payload.full:
        # An incremental sync's batches were each recomputed as they came.
        await recompute(session, envelope.tenant_id, reason="psa", cause=envelope)


async def apply_usage(session: AsyncSession, envelope: Envelope[m.UsageReported]) -> list[str]:
    """Store a usage batch (a newer file replaces, it does not add) and recompute."""
    return await apply_usage_batches(session, envelope.tenant_id, [envelope])


async def apply_usage_batches(
    session: AsyncSession,
    tenant_id: str,
    envelopes: Sequence[Envelope[m.UsageReported]],
    *,
    today: date | None = None,
) -> list[str]:
    """Store one tenant's usage batches, in order, and recompute once for all of them:
    only the accounts they feed while the tenant's index is at hand, else the tenant."""
    repo = Repository(session, tenant_id)
    today = today or datetime.now(UTC).date()
    opened = await open_index(repo, today)
    written = await _store_usage(
        repo, [envelope.payload for envelope in envelopes], opened[0].index if opened else None
    )
    cause = envelopes[-1]
    if opened is not None:
        cached, settings = opened
        changed = await recompute_usage(
            repo, cached, settings, written.usage_after(cached.index), cause=cause, today=today
        )
        if changed is not None:
            return changed
    return await recompute(session, tenant_id, reason="usage", cause=cause, today=today)


@dataclass(frozen=True, slots=True)
class WrittenUsage:
    """What `_store_usage` wrote: per (vendor, vendor account) it touched, the rows it
    stored by SKU, and whether they replaced the account's usage or only those SKUs'."""

    rows: dict[tuple[str, str], dict[str, dict[str, Any]]]
    replaced: set[tuple[str, str]]

    def usage_after(self, index: d.TenantIndex) -> dict[tuple[str, str], list[d.VendorUsage]]:
        """Each touched vendor account's usage as stored now, from what `index` held
        before and what was written (the rows need not be read back)."""
        after: dict[tuple[str, str], list[d.VendorUsage]] = {}
        for key, of_account in self.rows.items():
            kept = {} if key in self.replaced else {u.sku: u for u in index.usage_of(*key)}
            for sku, row in of_account.items():
                kept[sku] = st.usage_from_values(row)
            after[key] = list(kept.values())
        return after


async def _store_usage(
    repo: Repository, batches: Sequence[m.UsageReported], index: d.TenantIndex | None
) -> WrittenUsage:
    """Write what the batches leave, as if applied one after another: a batch replaces the
    usage of its `replaces_accounts`, and a later record of a (vendor account, SKU) wins.

    Except that an observation older than the one stored is ignored: a report redelivered
    after a crash (or handled by a slower replica) arrives after newer ones, and must not
    bring back a count the vendor has since replaced. A replacement whose newest record is
    older than the account's stored usage likewise only adds what is newer (one that sends
    no records for the account has no time to compare, and empties it).

    The stored times come from the tenant's `index` when it is at hand (it holds what the
    database does, see `index_cache`), else from the database."""
    replaced: set[tuple[str, str]] = set()
    # Per (vendor, vendor account), the row each SKU is to have.
    sent: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for batch in batches:
        for vendor_account_id in batch.replaces_accounts:
            replaced.add((batch.vendor, vendor_account_id))
            sent[(batch.vendor, vendor_account_id)] = {}
        for record in batch.records:
            of_account = sent.setdefault((batch.vendor, record.vendor_account_id), {})
            as_of = as_utc(record.as_of)
            earlier = of_account.get(record.sku)
            if earlier is not None and earlier["as_of"] > as_of:
                continue
            of_account[record.sku] = {
                "tenant_id": repo.tenant_id,
                "vendor": batch.vendor,
                "vendor_account_id": record.vendor_account_id,
                "sku": record.sku,
                "vendor_account_name": record.vendor_account_name,
                "sku_name": record.sku_name,
                "quantity": record.quantity,
                "as_of": as_of,
                "source": batch.source.value,
                "batch_id": batch.batch_id,
                "psa_account_hint": record.psa_account_hint,
            }
    stored: dict[tuple[str, str], dict[str, datetime]] = {}
    if index is not None:
        for key in sent:
            for usage in index.usage_of(*key):
                stored.setdefault(key, {})[usage.sku] = as_utc(usage.as_of)
    else:
        for (vendor, vendor_account_id, sku), as_of in (await repo.usage_times(set(sent))).items():
            stored.setdefault((vendor, vendor_account_id), {})[sku] = as_utc(as_of)
    for account, of_account in sent.items():
        seen = stored.get(account, {})
        if account in replaced:
            newest_sent = max((row["as_of"] for row in of_account.values()), default=None)
            # A replacement that sends nothing for the account has no time to compare: it
            # empties the account, as it always did.
            if seen and newest_sent is not None and newest_sent < max(seen.values()):
                replaced.discard(account)
        if account not in replaced:
            for sku in [sku for sku, row in of_account.items() if sku in seen]:
                if seen[sku] > of_account[sku]["as_of"]:
                    del of_account[sku]
    # At most two statements, however many records: the replaced accounts' rows go, and
    # every row sent is inserted or, for a (vendor account, SKU) stored before, updated.
    await repo.delete_usage(replaced)
    await repo.put_usage([row for of_account in sent.values() for row in of_account.values()])
    return WrittenUsage(sent, replaced)
