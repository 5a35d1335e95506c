"""Removing usage: a vendor's, or one import's (a test file, a file of the wrong vendor).

Reconciliation owns the stored usage, so it decides: it counts what would go (a dry run),
or deletes it, recomputes the tenant's cards without it and announces `UsageRemoved`
(vendor ingestion drops its raw rows, audit records the removal), all in one transaction.
A real run names the record count the person was shown; if the usage changed since, it
is refused, so a stale preview never removes more than was confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, new_id
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.reconciliation.announcements import announce
from trueup.reconciliation.models import AccountMappingRow
from trueup.reconciliation.recompute import recompute
from trueup.reconciliation.repository import Repository

REASON = "usage_removed"


@dataclass(frozen=True, slots=True)
class Affected:
    """What a removal touches: usage records, vendor accounts, and the cards they feed."""

    records: int
    vendor_accounts: int
    card_ids: frozenset[str]


async def affected_by(repo: Repository, vendor: str, batch_id: str | None) -> Affected:
    """Count the usage of the source and find the cards it contributes to."""
    keys = await repo.usage_keys_of_source(vendor, batch_id)
    vendor_accounts = {account for account, _ in keys}
    mapped = {
        row.account_id
        for row in await repo.all_of(AccountMappingRow, AccountMappingRow.vendor == vendor)
        if row.vendor_account_id in vendor_accounts and row.account_id
    }
    removed = {(vendor, account, sku) for account, sku in keys}
    cards = frozenset(
        card.card_id
        for card in await repo.cards_of(mapped)
        if any(
            (c.get("vendor"), c.get("vendor_account_id"), c.get("sku")) in removed
            for c in card.contributions or []
        )
    )
    return Affected(len(keys), len(vendor_accounts), cards)


async def remove_usage(
    session: AsyncSession, tenant_id: str, envelope: Envelope[Any]
) -> r.UsageRemoval:
    """Count (dry run) or remove the vendor's usage, or one batch of it."""
    request: r.RemoveUsage = envelope.payload
    repo = Repository(session, tenant_id)
    affected = await affected_by(repo, request.vendor, request.batch_id)
    answer = r.UsageRemoval(
        dry_run=request.dry_run,
        vendor=request.vendor,
        batch_id=request.batch_id,
        import_id=request.import_id,
        label=request.label,
        records=affected.records,
        vendor_accounts=affected.vendor_accounts,
        cards=len(affected.card_ids),
    )
    if request.dry_run:
        return answer
    if affected.records == 0:
        raise QueryFailedError(404, "Nothing to remove", f"no stored usage of {_what(request)}")
    if request.expected_records is None:
        raise QueryFailedError(
            422, "Confirmation required", "send expected_records, the count a dry run showed"
        )
    if request.expected_records != affected.records:
        raise QueryFailedError(
            409,
            "Usage changed",
            f"{_what(request)} now has {affected.records} usage records, not the"
            f" {request.expected_records} confirmed; preview the removal again",
        )
    removal_id = new_id()
    await repo.delete_usage_of_source(request.vendor, request.batch_id)
    await session.flush()
    # Announced first: the activity entry reads before the cards it recomputed.
    await announce(
        session,
        tenant_id,
        m.UsageRemoved(
            removal_id=removal_id,
            vendor=request.vendor,
            batch_id=request.batch_id,
            import_id=request.import_id,
            label=request.label,
            records=affected.records,
            vendor_accounts=affected.vendor_accounts,
            cards=len(affected.card_ids),
            actor=request.actor,
        ),
        envelope,
    )
    await recompute(session, tenant_id, reason=REASON, cause=envelope)
    return answer.model_copy(update={"removal_id": removal_id})


def _what(request: r.RemoveUsage) -> str:
    if request.batch_id is None:
        return f"vendor {request.vendor}"
    return f"import {request.label or request.import_id or request.batch_id}"


__all__ = ["Affected", "affected_by", "remove_usage"]
