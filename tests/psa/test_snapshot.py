"""`active_snapshot`: what a sync reads, in resumable batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.psa.demo_msp import DEMO, DEMO_TODAY
from trueup.psa import LineItemRef, SnapshotBatch, active_snapshot

TODAY = DEMO_TODAY
ACTIVE = {c.id for c in DEMO.contracts if c.status == "active"}
BILLING = {
    str(i.id)
    for i in DEMO.line_items
    if i.contract_id in ACTIVE and (i.cancelled_date is None or i.cancelled_date >= TODAY)
}


async def _collect(client: Any, **kwargs: Any) -> list[SnapshotBatch]:
    return [b async for b in active_snapshot(client, **kwargs)]


class TestActiveSnapshot:
    async def test_only_active_contracts_their_accounts_and_billing_items(
        self, cw_sim_running: Any, make_cw: Any
    ) -> None:
        async with make_cw(cw_sim_running) as client:
            batches = await _collect(client, batch_size=100, contracts_per_batch=20)
        head = batches[0]
        assert {c.id for c in head.contracts} == {str(c) for c in ACTIVE}
        assert {a.id for a in head.accounts} == {
            str(c.account_id) for c in DEMO.contracts if c.id in ACTIVE
        }
        assert len(head.accounts) < len(DEMO.accounts)
        assert set(head.inactive_contract_ids) == {str(c.id) for c in DEMO.contracts} - {
            str(c) for c in ACTIVE
        }
        items = [i.id for b in batches for i in b.line_items]
        assert len(items) == len(set(items))
        assert set(items) == BILLING
        assert batches[-1].last
        assert sum(b.last for b in batches) == 1

    async def test_resumes_after_a_checkpoint_without_loss_or_repeat(
        self, cw_sim_running: Any, make_cw: Any
    ) -> None:
        async with make_cw(cw_sim_running) as client:
            first_run: list[str] = []
            checkpoint = None
            async for batch in active_snapshot(client, batch_size=10_000, contracts_per_batch=10):
                first_run += [i.id for i in batch.line_items]
                if batch.through_contract_id is not None:
                    checkpoint = batch.through_contract_id
                    break  # the process "crashes" after committing this batch
            assert checkpoint is not None
            resumed = [
                i.id
                for b in await _collect(
                    client, after_contract_id=checkpoint, contracts_per_batch=10
                )
                for i in b.line_items
            ]
        assert not set(first_run) & set(resumed)
        assert set(first_run) | set(resumed) == BILLING

    async def test_incremental_reads_only_changed_items(
        self, cw_sim_running: Any, make_cw: Any
    ) -> None:
        target = next(i for i in DEMO.line_items if str(i.id) in BILLING)
        async with make_cw(cw_sim_running) as client:
            since = datetime.now(UTC) - timedelta(seconds=2)
            await client.change_quantity(
                LineItemRef(str(target.contract_id), str(target.id)), Decimal(8)
            )
            batches = await _collect(client, changed_since=since)
        items = [i for b in batches for i in b.line_items]
        assert [(i.id, i.quantity) for i in items] == [(str(target.id), Decimal(8))]
        assert len(batches[0].contracts) == len(ACTIVE)
