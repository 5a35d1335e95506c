"""Inputs from other services: PSA snapshots and sync completions, and vendor usage.
Each is stored, then recomputed (usage incrementally when the tenant's index is at hand)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.reconciliation.models import (
    AccountRow,
    ContractRow,
    LineItemRow,
    ServiceLineRow,
    TenantSettingsRow,
    Usage,
)
from trueup.reconciliation.recompute import recompute, recompute_usage
from trueup.reconciliation.repository import Repository


def as_utc(moment: datetime) -> datetime:
    """Comparable whatever the database or sender did with the zone (naive means UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def apply_snapshot(session: AsyncSession, envelope: Envelope[m.PsaSnapshot]) -> None:
    """Project one batch of PSA state; incremental batches recompute at once, a full sync
    waits for its `sync.completed`."""
    tenant_id = envelope.tenant_id
    snapshot = envelope.payload
    repo = Repository(session, tenant_id)
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
    if not snapshot.full:
        await recompute(session, tenant_id, reason="psa", cause=envelope)


async def apply_sync_completed(
    session: AsyncSession, envelope: Envelope[m.PsaSyncCompleted]
) -> None:
    if not envelope.payload.succeeded:
        return
    repo = Repository(session, envelope.tenant_id)
    row = await repo.settings_row()
    if row is None:
        await repo.merge(
            TenantSettingsRow(
                tenant_id=envelope.tenant_id,
                settings={},
                last_sync_at=envelope.occurred_at,
                active_accounts=0,
            )
        )
    else:
        row.last_sync_at = envelope.occurred_at
    await session.flush()
    await recompute(session, envelope.tenant_id, reason="psa", cause=envelope)


async def apply_usage(session: AsyncSession, envelope: Envelope[m.UsageReported]) -> list[str]:
    """Store a usage batch (a newer file replaces, it does not add) and recompute."""
    return await apply_usage_batches(session, envelope.tenant_id, [envelope])


async def apply_usage_batches(
    session: AsyncSession, tenant_id: str, envelopes: Sequence[Envelope[m.UsageReported]]
) -> list[str]:
    """Store one tenant's usage batches, in order, and recompute once for all of them."""
    repo = Repository(session, tenant_id)
    keys = await _store_usage(repo, [envelope.payload for envelope in envelopes])
    cause = envelopes[-1]
    changed = await recompute_usage(session, tenant_id, keys, cause=cause)
    if changed is not None:
        return changed
    return await recompute(session, tenant_id, reason="usage", cause=cause)


async def _store_usage(
    repo: Repository, batches: Sequence[m.UsageReported]
) -> set[tuple[str, str]]:
    """Write what the batches leave, as if applied one after another: a batch replaces the
    usage of its `replaces_accounts`, and a later record of a (vendor account, SKU) wins.

    Except that an observation older than the one stored is ignored: a report redelivered
    after a crash (or handled by a slower replica) arrives after newer ones, and must not
    bring back a count the vendor has since replaced. A replacement whose newest record is
    older than the account's stored usage likewise only adds what is newer (one that sends
    no records for the account has no time to compare, and empties it).
    Returns the (vendor, vendor account) pairs whose usage may have changed."""
    replaced: set[tuple[str, str]] = set()
    rows: dict[tuple[str, str, str], Usage] = {}
    for batch in batches:
        for vendor_account in batch.replaces_accounts:
            replaced.add((batch.vendor, vendor_account))
            for key in [k for k in rows if k[:2] == (batch.vendor, vendor_account)]:
                del rows[key]
        for record in batch.records:
            key = (batch.vendor, record.vendor_account_id, record.sku)
            earlier = rows.get(key)
            if earlier is not None and as_utc(earlier.as_of) > as_utc(record.as_of):
                continue
            rows[key] = Usage(
                tenant_id=repo.tenant_id,
                vendor=batch.vendor,
                vendor_account_id=record.vendor_account_id,
                sku=record.sku,
                vendor_account_name=record.vendor_account_name,
                sku_name=record.sku_name,
                quantity=record.quantity,
                as_of=record.as_of,
                source=batch.source.value,
                batch_id=batch.batch_id,
                psa_account_hint=record.psa_account_hint,
            )
    touched = replaced | {key[:2] for key in rows}
    stored = {key: as_utc(as_of) for key, as_of in (await repo.usage_times(touched)).items()}
    for account in list(replaced):
        newest_stored = max((t for k, t in stored.items() if k[:2] == account), default=None)
        newest_sent = max(
            (as_utc(row.as_of) for k, row in rows.items() if k[:2] == account), default=None
        )
        # A replacement that sends nothing for the account has no time to compare: it
        # empties the account, as it always did.
        if newest_stored is not None and newest_sent is not None and newest_sent < newest_stored:
            replaced.discard(account)
    for key in [k for k, row in rows.items() if k[:2] not in replaced]:
        if key in stored and stored[key] > as_utc(rows[key].as_of):
            del rows[key]
    # Two deletes and one insert, however many records: the replaced accounts' rows, and
    # the earlier rows of every other (vendor account, SKU) the batches report.
    await repo.delete_usage(replaced, [key for key in rows if key[:2] not in replaced])
    for row in rows.values():
        repo.add(row)
    await repo.session.flush()
    return touched
