"""Billing cycles: once a later cycle starts, the open one closes with its cards kept as
they stood and the action taken on each, while the live cards start over; a closed cycle
reads back and refuses actions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from tests.reconciliation.conftest import USER, Tenant
from trueup import domain as d
from trueup.contracts import recon as r
from trueup.contracts import wrap
from trueup.platform.broker import QueryFailedError
from trueup.reconciliation import actions, cycles, index_cache, inputs, recompute
from trueup.reconciliation.handlers import queries
from trueup.reconciliation.handlers.schedule import close_due_cycles
from trueup.reconciliation.repository import Repository

D = Decimal
ENDPOINT = "Managed Endpoint"
BACKUP = "Cloud Backup 1TB"
EDR = "EDR Agent"
TODAY = datetime.now(UTC).date()
CYCLE = d.tenant_cycle(TODAY)
NEXT = CYCLE.end
"""The first day of the next cycle: 'today' moved on a month."""


async def act(tenant: Tenant, card_id: str, action: str, **fields: Any) -> r.ActionAccepted:
    query = r.ActionQuery(
        card_id=card_id,
        action=action,  # type: ignore[arg-type]
        actor=USER,
        idempotency_key=uuid.uuid4().hex,
        **fields,
    )
    return await tenant.run(lambda s: actions.act(s, tenant.tenant_id, query))


async def closed_cards(tenant: Tenant, start: date, **filters: Any) -> r.CycleCardList:
    query = r.CycleCardsQuery(start=start, **filters)
    return await tenant.run(lambda s: cycles.cycle_cards(s, tenant.tenant_id, query))


async def cycle_list(tenant: Tenant, today: date) -> r.CycleList:
    return await tenant.run(lambda s: cycles.list_cycles(s, tenant.tenant_id, today=today))


async def recompute_on(tenant: Tenant, today: date) -> None:
    await tenant.run(lambda s: recompute.recompute(s, tenant.tenant_id, reason="test", today=today))


async def decided_cycle(tenant: Tenant) -> dict[str, str]:
    """Three cards of this cycle: one approved, one dismissed, one left pending."""
    cards = await tenant.synced({"P1": 10, "P2": 3, "P3": 5}, {"P1": 14, "P2": 1, "P3": 7})
    await act(tenant, cards[ENDPOINT].card_id, "approve", reason="true-up")
    await act(tenant, cards[BACKUP].card_id, "dismiss", reason="client asked to wait")
    return {name: row.card_id for name, row in cards.items()}


class TestClosingACycle:
    async def test_the_closed_cycle_keeps_each_card_with_the_action_taken(
        self, tenant: Tenant
    ) -> None:
        ids = await decided_cycle(tenant)

        await recompute_on(tenant, NEXT)

        kept = await closed_cards(tenant, CYCLE.start)
        by_id = {item.card_id: item for item in kept.items}
        approved = by_id[ids[ENDPOINT]]
        assert (approved.state, approved.hidden) == ("approved", True)
        assert approved.action is not None
        assert (approved.action.action, approved.action.actor, approved.action.reason) == (
            "approve",
            USER,
            "true-up",
        )
        assert [D(c.quantity) for c in approved.action.changes] == [D(14)]
        dismissed = by_id[ids[BACKUP]]
        assert dismissed.state == "dismissed"
        assert dismissed.action is not None
        assert dismissed.action.action == "dismiss"
        pending = by_id[ids[EDR]]
        assert (pending.state, pending.action) == ("pending", None)
        assert (kept.cycle.start, kept.cycle.last_day, kept.cycle.closed) == (
            CYCLE.start,
            CYCLE.last_day,
            True,
        )

    async def test_a_closed_cycle_s_cards_are_filtered_by_state_and_by_name(
        self, tenant: Tenant
    ) -> None:
        ids = await decided_cycle(tenant)
        await recompute_on(tenant, NEXT)
        everything = {c.card_id: c for c in (await closed_cards(tenant, CYCLE.start)).items}

        dismissed = await closed_cards(tenant, CYCLE.start, state="dismissed")
        assert [c.card_id for c in dismissed.items] == [ids[BACKUP]]

        line = everything[ids[ENDPOINT]].service_line
        searched = await closed_cards(tenant, CYCLE.start, q=line.upper())
        assert ids[ENDPOINT] in {c.card_id for c in searched.items}
        assert {c.card_id for c in searched.items} == {
            c.card_id for c in everything.values() if c.service_line == line
        }
        assert (await closed_cards(tenant, CYCLE.start, q="no such name")).items == []

    async def test_the_live_cards_start_over_in_the_new_cycle(self, tenant: Tenant) -> None:
        ids = await decided_cycle(tenant)

        await recompute_on(tenant, NEXT)

        live = {row.card_id: row for row in (await tenant.cards()).values()}
        assert (live[ids[ENDPOINT]].state, live[ids[ENDPOINT]].hidden) == ("pending", False)
        assert (live[ids[BACKUP]].state, live[ids[BACKUP]].hidden) == ("pending", False)

    async def test_the_cycle_list_counts_what_was_decided(self, tenant: Tenant) -> None:
        await decided_cycle(tenant)
        before = await cycle_list(tenant, TODAY)
        assert (before.current.start, before.closed) == (CYCLE.start, [])
        assert (before.current.approved, before.current.dismissed) == (1, 1)

        await recompute_on(tenant, NEXT)

        after = await cycle_list(tenant, NEXT)
        assert after.current.start == NEXT
        assert (after.current.approved, after.current.dismissed) == (0, 0)
        (closed,) = after.closed
        assert (closed.start, closed.cards, closed.approved, closed.dismissed) == (
            CYCLE.start,
            3,
            1,
            1,
        )
        # 4 more endpoints at 12.50 a month.
        (usd,) = closed.approved_by_currency
        assert (usd.currency, usd.cards, D(usd.mrr_change)) == ("USD", 1, D("50.00"))

    async def test_closing_twice_changes_nothing(self, tenant: Tenant) -> None:
        await decided_cycle(tenant)
        await recompute_on(tenant, NEXT)
        first = await closed_cards(tenant, CYCLE.start)

        await recompute_on(tenant, NEXT)
        again = await tenant.run(
            lambda s: recompute.start_due_cycle(s, tenant.tenant_id, today=NEXT)
        )

        assert again is False
        assert await closed_cards(tenant, CYCLE.start) == first
        assert len((await cycle_list(tenant, NEXT)).closed) == 1

    async def test_a_usage_update_in_the_new_cycle_closes_it_first(self, tenant: Tenant) -> None:
        ids = await decided_cycle(tenant)
        # The tenant's index is in memory, built this cycle: it must not serve the next.
        misses = index_cache.INDEXES.misses
        report = wrap(tenant.usage({"P1": 15, "P2": 1, "P3": 7}), tenant_id=tenant.tenant_id)

        await tenant.run(
            lambda s: inputs.apply_usage_batches(s, tenant.tenant_id, [report], today=NEXT)
        )

        assert index_cache.INDEXES.misses == misses + 1
        kept = await closed_cards(tenant, CYCLE.start, state="approved")
        assert [item.card_id for item in kept.items] == [ids[ENDPOINT]]
        endpoint = (await tenant.cards())[ENDPOINT]
        assert (endpoint.state, endpoint.vendor_quantity) == ("pending", D(15))

    async def test_the_schedule_closes_an_idle_tenants_cycle(self, tenant: Tenant) -> None:
        ids = await decided_cycle(tenant)
        runtime: Any = SimpleNamespace(
            database=tenant.database, relay=SimpleNamespace(notify=lambda: None)
        )

        assert await close_due_cycles(runtime, today=TODAY) == 0
        assert await close_due_cycles(runtime, today=NEXT) >= 1
        assert await close_due_cycles(runtime, today=NEXT) == 0

        kept = await closed_cards(tenant, CYCLE.start, state="approved")
        assert [item.card_id for item in kept.items] == [ids[ENDPOINT]]
        assert (await tenant.cards())[ENDPOINT].state == "pending"

    async def test_an_action_on_the_first_day_of_a_cycle_closes_the_old_one_first(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ids = await decided_cycle(tenant)
        next_morning = datetime.combine(NEXT, datetime.min.time(), tzinfo=UTC)
        for module in (actions, cycles, recompute):
            monkeypatch.setattr(module, "_now", lambda: next_morning)
        query = r.ActionQuery(
            card_id=ids[ENDPOINT], action="dismiss", actor=USER, idempotency_key="next-day"
        )

        # Approved last cycle, the card is pending again in this one and takes the dismiss.
        accepted, _ = await queries.answer_query(
            tenant.database, wrap(query, tenant_id=tenant.tenant_id)
        )

        assert accepted.state == "dismissed"
        kept = await closed_cards(tenant, CYCLE.start)
        approved = next(item for item in kept.items if item.card_id == ids[ENDPOINT])
        assert approved.state == "approved"
        assert approved.action is not None
        assert approved.action.action == "approve"


class TestTwoWritersOnANewTenantsCycle:
    async def test_both_commit_and_one_schedule_exists(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A new tenant has no settings row to lock, so two writers (the usage lanes,
        replicas) can both find no cycle schedule; the second insert used to fail."""
        if not tenant.database.is_postgres:
            pytest.skip("SQLite has one writer at a time: its transactions cannot overlap")
        both_looked = asyncio.Barrier(2)
        original = cycles.cycle_schedule

        async def schedule_then_wait(repo: Repository) -> object:
            found = await original(repo)
            await asyncio.wait_for(both_looked.wait(), timeout=10)
            return found

        monkeypatch.setattr(cycles, "cycle_schedule", schedule_then_wait)

        async def close() -> None:
            await tenant.run(
                lambda s: cycles.close_due_cycle(
                    Repository(s, tenant.tenant_id), r.BillingSettings(), TODAY
                )
            )

        results = await asyncio.gather(close(), close(), return_exceptions=True)

        assert [r for r in results if isinstance(r, BaseException)] == []
        monkeypatch.setattr(cycles, "cycle_schedule", original)
        schedule = await tenant.run(
            lambda s: cycles.cycle_schedule(Repository(s, tenant.tenant_id))
        )
        assert schedule is not None
        assert schedule.open_start == CYCLE.start


class TestAClosedCycleIsReadOnly:
    async def test_an_action_from_a_closed_cycle_is_refused_with_409(self, tenant: Tenant) -> None:
        ids = await decided_cycle(tenant)
        await recompute_on(tenant, NEXT)

        with pytest.raises(QueryFailedError) as refused:
            await act(tenant, ids[EDR], "dismiss", cycle=CYCLE.start)

        assert refused.value.status == 409
        assert (await tenant.cards())[EDR].state == "pending"

    async def test_an_action_in_the_open_cycle_goes_through(self, tenant: Tenant) -> None:
        ids = await decided_cycle(tenant)

        accepted = await act(tenant, ids[EDR], "dismiss", cycle=CYCLE.start)

        assert accepted.state == "dismissed"

    async def test_an_unknown_cycle_is_404(self, tenant: Tenant) -> None:
        ids = await decided_cycle(tenant)

        with pytest.raises(QueryFailedError) as refused:
            await act(tenant, ids[EDR], "dismiss", cycle=date(2020, 1, 1))

        assert refused.value.status == 404

    async def test_another_tenant_sees_no_closed_cycle(self, tenant: Tenant) -> None:
        await decided_cycle(tenant)
        await recompute_on(tenant, NEXT)
        stranger = Tenant(tenant.database)

        with pytest.raises(QueryFailedError) as refused:
            await closed_cards(stranger, CYCLE.start)

        assert refused.value.status == 404
        assert (await cycle_list(stranger, NEXT)).closed == []


class TestAnActionReadAheadAcrossACyclesTurn:
    async def test_the_turn_recomputes_from_the_cards_as_they_are_once_locked(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An approval reads its card before it locks the tenant; if the cycle turns
        under that lock, the turn must keep and recompute the card as another writer left
        it meanwhile, not as it was read."""
        if not tenant.database.is_postgres:
            pytest.skip("SQLite's writers take turns: nothing changes between the reads")
        ids = await decided_cycle(tenant)
        read_ahead = actions.read_ahead

        async def read_then_dismissed_elsewhere(
            session: Any, tenant_id: str, requests: Any
        ) -> list[Any]:
            held = await read_ahead(session, tenant_id, requests)
            # Another writer dismisses the card in the old cycle meanwhile.
            dismiss = r.ActionQuery(
                card_id=ids[EDR], action="dismiss", actor=USER, idempotency_key="elsewhere"
            )
            await tenant.run(lambda s: actions.act(s, tenant.tenant_id, dismiss, today=TODAY))
            return held

        monkeypatch.setattr(actions, "read_ahead", read_then_dismissed_elsewhere)
        next_morning = datetime.combine(NEXT, datetime.min.time(), tzinfo=UTC)
        for module in (actions, cycles, recompute):
            monkeypatch.setattr(module, "_now", lambda: next_morning)
        approve = r.ActionQuery(
            card_id=ids[EDR], action="approve", actor=USER, idempotency_key="next-day"
        )

        accepted, _ = await queries.answer_query(
            tenant.database, wrap(approve, tenant_id=tenant.tenant_id)
        )

        # Dismissed last cycle, the card is pending again in this one and takes the approval.
        assert isinstance(accepted, r.ActionAccepted)
        assert accepted.state == "approved"
        kept = await closed_cards(tenant, CYCLE.start)
        assert next(item for item in kept.items if item.card_id == ids[EDR]).state == "dismissed"
