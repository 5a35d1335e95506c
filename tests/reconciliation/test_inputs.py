"""Inputs: a full PSA sync is reconciled once its completion arrives, an incremental one at
once; a usage report replaces the account's earlier usage; a new tenant's settings row is
created once however many writers find it missing."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.reconciliation.conftest import Tenant
from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.reconciliation import cycles, inputs, recompute
from trueup.reconciliation.repository import Repository

D = Decimal
ENDPOINT = "Managed Endpoint"


def completed(succeeded: bool = True) -> m.PsaSyncCompleted:
    return m.PsaSyncCompleted(
        connection_id="conn",
        sync_id="s1",
        full=True,
        batches=1,
        accounts=1,
        contracts=1,
        line_items=1,
        active_accounts=1,
        succeeded=succeeded,
        error=None if succeeded else "PSA timed out",
    )


class TestPsaSync:
    async def test_a_full_sync_waits_for_its_completion(self, tenant: Tenant) -> None:
        snapshot = wrap(tenant.snapshot({"P1": 10}, full=True), tenant_id=tenant.tenant_id)
        await tenant.run(lambda s: inputs.apply_snapshot(s, snapshot))
        assert await tenant.cards() == {}

        done = wrap(completed(), tenant_id=tenant.tenant_id)
        await tenant.run(lambda s: inputs.apply_sync_completed(s, done))

        cards = await tenant.cards()
        assert [(c.kind, c.psa_quantity) for c in cards.values()] == [("no_change", D(10))]
        row = await tenant.run(lambda s: Repository(s, tenant.tenant_id).settings_row())
        assert row is not None
        assert row.last_sync_at is not None
        assert row.active_accounts == 1

    async def test_its_changed_cards_are_announced_in_bounded_events(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A large tenant's first sync changes tens of thousands of cards: one event naming
        # them all would pass the broker's message limit and block the outbox.
        monkeypatch.setattr(recompute, "CARDS_PER_ANNOUNCEMENT", 1)
        snapshot = wrap(
            tenant.snapshot({"P1": 10, "P2": 10}, full=True), tenant_id=tenant.tenant_id
        )
        await tenant.run(lambda s: inputs.apply_snapshot(s, snapshot))
        done = wrap(completed(), tenant_id=tenant.tenant_id)
        await tenant.run(lambda s: inputs.apply_sync_completed(s, done))

        announced = [p["card_ids"] for k, p in await tenant.staged() if k.endswith("changed.v1")]
        assert [len(ids) for ids in announced] == [1, 1]
        assert sorted(i for ids in announced for i in ids) == sorted(
            c.card_id for c in (await tenant.cards()).values()
        )

    async def test_a_failed_sync_changes_nothing(self, tenant: Tenant) -> None:
        snapshot = wrap(tenant.snapshot({"P1": 10}, full=True), tenant_id=tenant.tenant_id)
        await tenant.run(lambda s: inputs.apply_snapshot(s, snapshot))

        done = wrap(completed(succeeded=False), tenant_id=tenant.tenant_id)
        await tenant.run(lambda s: inputs.apply_sync_completed(s, done))

        assert await tenant.cards() == {}
        # The snapshot's batch locked the tenant (creating its settings row, defaults
        # only); the failed sync recorded no sync time.
        row = await tenant.run(lambda s: Repository(s, tenant.tenant_id).settings_row())
        assert row is not None
        assert row.last_sync_at is None

    async def test_an_incremental_snapshot_recomputes_at_once(self, tenant: Tenant) -> None:
        cards = await tenant.synced({"P1": 10}, {"P1": 14})
        assert cards[ENDPOINT].psa_quantity == D(10)

        later = wrap(tenant.snapshot({"P1": 14}), tenant_id=tenant.tenant_id)
        await tenant.run(lambda s: inputs.apply_snapshot(s, later))

        card = (await tenant.cards())[ENDPOINT]
        assert (card.kind, card.psa_quantity, card.vendor_quantity) == (
            "no_change",
            D(14),
            D(14),
        )

    async def test_a_renamed_account_keeps_its_card(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10}, {"P1": 14})

        renamed = wrap(
            tenant.snapshot({"P1": 10}, account_name="A Corp"), tenant_id=tenant.tenant_id
        )
        await tenant.run(lambda s: inputs.apply_snapshot(s, renamed))

        card = (await tenant.cards())[ENDPOINT]
        assert (card.account_name, card.vendor_quantity) == ("A Corp", D(14))


class TestUsage:
    async def test_a_newer_report_replaces_the_account_usage(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10, "P2": 10}, {"P1": 14, "P2": 12})

        report = wrap(tenant.usage({"P1": 11}), tenant_id=tenant.tenant_id)
        changed = await tenant.run(lambda s: inputs.apply_usage(s, report))

        cards = await tenant.cards()
        assert cards[ENDPOINT].vendor_quantity == D(11)
        # P2 is no longer reported for the account: its card has no vendor count left.
        assert cards["Cloud Backup 1TB"].vendor_quantity is None
        assert sorted(changed) == sorted(c.card_id for c in cards.values())


class TestTwoWritersOnANewTenant:
    """The live and bulk lanes (or two replicas) may both take a new tenant's first inputs:
    each finds no settings row and creates one. On PostgreSQL both transactions run
    together, and the second insert used to fail on the primary key (the message was then
    delivered again, after an error with a traceback in the log)."""

    async def test_both_commit_and_one_row_exists(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if not tenant.database.is_postgres:
            pytest.skip("SQLite has one writer at a time: its transactions cannot overlap")
        # Both transactions read "no settings row" before either writes one.
        both_looked = asyncio.Barrier(2)
        waited: set[int] = set()
        original = Repository.settings_row

        async def settings_row_then_wait(self: Repository) -> object:
            row = await original(self)
            if row is None and id(self.session) not in waited:
                waited.add(id(self.session))
                await asyncio.wait_for(both_looked.wait(), timeout=10)
            return row

        monkeypatch.setattr(Repository, "settings_row", settings_row_then_wait)

        async def apply(at: datetime) -> None:
            envelope = wrap(completed(), tenant_id=tenant.tenant_id)
            envelope = envelope.model_copy(update={"occurred_at": at})
            await tenant.run(lambda s: inputs.apply_sync_completed(s, envelope))

        first, second = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
        results = await asyncio.gather(apply(first), apply(second), return_exceptions=True)

        assert [r for r in results if isinstance(r, BaseException)] == []
        monkeypatch.setattr(Repository, "settings_row", original)
        row = await tenant.run(lambda s: Repository(s, tenant.tenant_id).settings_row())
        assert row is not None
        assert row.last_sync_at in (first, second)

    async def test_a_sync_and_a_recompute_queue_instead_of_deadlocking(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A sync's completion created the settings row and then the cycle schedule; a
        recompute of the same new tenant found no row to lock and created the schedule
        first, then the settings row: each waited for the other's (PostgreSQL's deadlock
        detector then failed one). A recompute now creates and locks the settings row
        before anything else, so the second writer waits for the first."""
        if not tenant.database.is_postgres:
            pytest.skip("SQLite has one writer at a time: its transactions cannot overlap")
        arrived: list[str] = []
        both_there = asyncio.Event()
        original = cycles.cycle_schedule

        async def schedule_when_both_are_there(repo: Repository) -> object:
            found = await original(repo)
            arrived.append(repo.tenant_id)
            if len(arrived) == 2:
                both_there.set()
            # A writer that is made to wait elsewhere never arrives: go on after a while.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(both_there.wait(), timeout=2)
            if len(arrived) == 1:
                # The sync's completion, first here: let the recompute write its schedule
                # first, as it did when the two deadlocked.
                await asyncio.sleep(0.2)
            return found

        monkeypatch.setattr(cycles, "cycle_schedule", schedule_when_both_are_there)
        done = wrap(completed(), tenant_id=tenant.tenant_id)

        async def a_recompute() -> None:
            await asyncio.sleep(0.2)  # after the completion has created the settings row
            await tenant.run(lambda s: recompute.recompute(s, tenant.tenant_id, reason="usage"))

        results = await asyncio.gather(
            tenant.run(lambda s: inputs.apply_sync_completed(s, done)),
            a_recompute(),
            return_exceptions=True,
        )

        assert [r for r in results if isinstance(r, BaseException)] == []


class TestTheTenantsSettingsRow:
    async def test_a_change_through_the_orm_after_the_inputs_changed_keeps_both(
        self, tenant: Tenant
    ) -> None:
        """A PSA batch locks the tenant (the ORM reads its settings row), its recompute
        then writes the row in one Core statement, and an automatic approval after it bumps
        the cards version through the ORM's copy: that wrote back the version it had read,
        so the gateway's caches, keyed by it, missed the recompute's change."""
        await tenant.run(lambda s: Repository(s, tenant.tenant_id).lock_tenant())

        async def recompute_then_approve(session: AsyncSession) -> int:
            repo = Repository(session, tenant.tenant_id)
            before = (await repo.lock_tenant()).cards_version
            await repo.inputs_changed("token", cards_changed=True)
            await repo.bump_cards_version()
            await session.flush()
            return before

        before = await tenant.run(recompute_then_approve)
        row = await tenant.run(lambda s: Repository(s, tenant.tenant_id).settings_row())
        assert row is not None
        assert row.cards_version == before + 2
        assert row.inputs_token == "token"
