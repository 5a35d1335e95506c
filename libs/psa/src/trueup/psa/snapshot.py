"""Read what reconciliation needs from a PSA: active contracts, their accounts and
their billing line items, in batches a sync can publish and checkpoint.

Contracts are walked in ascending id order and each batch names the last contract it
completes, so an interrupted sync resumes with `after_contract_id` and neither loses
nor repeats line items.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from trueup.psa.base import PsaClient
from trueup.psa.models import PsaAccount, PsaContract, PsaLineItem


@dataclass(frozen=True, slots=True)
class SnapshotBatch:
    """One slice of a sync.

    The first batch carries every account with an active contract, every active
    contract, and the ids of contracts that are no longer active (to drop from a
    projection). Later batches carry line items; `through_contract_id` is the last
    contract whose line items are complete once this batch is applied.
    """

    accounts: tuple[PsaAccount, ...] = ()
    contracts: tuple[PsaContract, ...] = ()
    inactive_contract_ids: tuple[str, ...] = ()
    line_items: tuple[PsaLineItem, ...] = ()
    through_contract_id: str | None = None
    last: bool = False


def _contract_key(contract_id: str) -> tuple[int, int | str]:
    # PSA ids are numeric strings (Halo's can be negative); order them as numbers.
    try:
        return (0, int(contract_id))
    except ValueError:
        return (1, contract_id)


def bills_today(item: PsaLineItem, today: date) -> bool:
    """False for a line item cancelled before today (it no longer bills)."""
    return item.cancelled_date is None or item.cancelled_date >= today


async def active_snapshot(
    client: PsaClient,
    *,
    changed_since: datetime | None = None,
    after_contract_id: str | None = None,
    batch_size: int = 1000,
    contracts_per_batch: int = 200,
) -> AsyncIterator[SnapshotBatch]:
    """Yield the PSA's active contracts, their accounts, then their line items in batches.

    With `changed_since` (and a PSA that supports it) only line items changed since
    then are read; accounts and contracts are always read in full, which is cheap and
    lets the caller drop what stopped being active. With `after_contract_id`, line
    items of contracts up to and including that id are skipped (resume).
    """
    today = datetime.now(UTC).date()
    contracts = [c async for c in client.list_contracts()]
    active = sorted((c for c in contracts if c.is_active), key=lambda c: _contract_key(c.id))
    inactive = tuple(c.id for c in contracts if not c.is_active)
    wanted_accounts = {c.account_id for c in active}
    accounts = tuple([a async for a in client.list_accounts() if a.id in wanted_accounts])
    yield SnapshotBatch(
        accounts=accounts,
        contracts=tuple(active),
        inactive_contract_ids=inactive,
        last=not active,
    )
    todo = [c.id for c in active]
    if after_contract_id is not None:
        start = _contract_key(after_contract_id)
        todo = [cid for cid in todo if _contract_key(cid) > start]
    since = changed_since if client.capabilities().incremental_sync else None
    if not todo:
        if active:
            yield SnapshotBatch(through_contract_id=after_contract_id, last=True)
        return
    for start_index in range(0, len(todo), contracts_per_batch):
        chunk = todo[start_index : start_index + contracts_per_batch]
        pending: list[PsaLineItem] = []
        async for item in client.list_line_items(since, contract_ids=chunk):
            if bills_today(item, today):
                pending.append(item)
            if len(pending) >= batch_size:
                # Mid-chunk batches complete no contract: resuming repeats this chunk,
                # which a projection keyed by line item id absorbs.
                yield SnapshotBatch(line_items=tuple(pending))
                pending = []
        final = start_index + contracts_per_batch >= len(todo)
        yield SnapshotBatch(line_items=tuple(pending), through_contract_id=chunk[-1], last=final)
