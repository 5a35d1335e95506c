"""A fetch of live usage reports is applied in one transaction, whatever tenants it spans.

With many tenants a fetch rarely holds two reports of one, so what a report costs is
what its tenant's part of the transaction costs: these tests hold the handler to one
commit per fetch and a few statements per tenant, and show that a tenant's failure
leaves nothing of the fetch behind, not even in the indexes kept in memory.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reconciliation.conftest import USER, Tenant
from trueup.contracts import Envelope, wrap
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.reconciliation import actions, index_cache, inputs, recompute
from trueup.reconciliation.handlers import events
from trueup.reconciliation.models import Usage
from trueup.reconciliation.repository import Repository

D = Decimal
CHANGED = "recon.*.cards.changed.v1"
PER_TENANT_STATEMENTS = 5
"""Row-level security scope, settings row lock, usage upsert, card update, settings
update: what one tenant's report costs when its index is in memory (the stored cards it
compares with are kept with the index)."""


def runtime_of(tenant: Tenant) -> Any:
    return SimpleNamespace(database=tenant.database, relay=SimpleNamespace(notify=lambda: None))


async def tenants(first: Tenant, count: int) -> list[Tenant]:
    """`count` tenants of one database, each synced with usage (so its index is at hand),
    in the order the handler takes them (by id)."""
    all_ = [first, *(Tenant(first.database) for _ in range(count - 1))]
    for t in all_:
        await t.synced({"P1": 10, "P2": 3}, {"P1": 10, "P2": 3})
    return sorted(all_, key=lambda t: t.tenant_id)


def report(t: Tenant, quantities: dict[str, int]) -> Envelope[m.UsageReported]:
    payload = t.usage(quantities).model_copy(update={"replaces_accounts": []})
    return wrap(payload, tenant_id=t.tenant_id)


async def vendor_quantities(t: Tenant) -> dict[str, Decimal | None]:
    return {name: row.vendor_quantity for name, row in (await t.cards()).items()}


async def recompute_from_scratch(t: Tenant) -> list[str]:
    index_cache.INDEXES.forget(t.tenant_id)
    return await t.run(lambda s: recompute.recompute(s, t.tenant_id, reason="check"))


class TestAFetchAcrossTenants:
    async def test_each_tenant_gets_its_reports_and_one_announcement(self, tenant: Tenant) -> None:
        a, b, c = await tenants(tenant, 3)
        announced = {t.tenant_id: len(await t.staged()) for t in (a, b, c)}
        fetch = [
            report(b, {"P1": 13}),
            report(a, {"P1": 12}),
            report(c, {"P1": 14}),
            report(a, {"P2": 5}),
        ]

        await events.apply_usage(runtime_of(tenant), fetch)

        assert await vendor_quantities(a) == {
            "Managed Endpoint": D(12),
            "Cloud Backup 1TB": D(5),
        }
        assert (await vendor_quantities(b))["Managed Endpoint"] == D(13)
        assert (await vendor_quantities(c))["Managed Endpoint"] == D(14)
        for t in (a, b, c):
            new = (await t.staged())[announced[t.tenant_id] :]
            assert [subject for subject, _ in new] == [CHANGED]
            assert await recompute_from_scratch(t) == []

    async def test_a_redelivered_fetch_changes_nothing(self, tenant: Tenant) -> None:
        a, b = await tenants(tenant, 2)
        fetch = [report(a, {"P1": 12}), report(b, {"P1": 13})]
        await events.apply_usage(runtime_of(tenant), fetch)
        staged = [len(await t.staged()) for t in (a, b)]

        await events.apply_usage(runtime_of(tenant), fetch)

        assert [len(await t.staged()) for t in (a, b)] == staged
        assert (await vendor_quantities(a))["Managed Endpoint"] == D(12)

    async def test_a_failing_tenant_rolls_the_whole_fetch_back(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        a, b, c = await tenants(tenant, 3)
        fetch = [report(a, {"P1": 12}), report(b, {"P1": 13}), report(c, {"P1": 14})]
        apply = inputs.apply_usage_batches

        async def failing_for_c(session: Any, tenant_id: str, reports: Any) -> list[str]:
            if tenant_id == c.tenant_id:
                raise RuntimeError("c's part failed")
            return await apply(session, tenant_id, reports)

        monkeypatch.setattr(inputs, "apply_usage_batches", failing_for_c)
        with pytest.raises(RuntimeError):
            await events.apply_usage(runtime_of(tenant), fetch)
        monkeypatch.undo()

        # a's and b's parts ran first (their indexes in memory were updated) and were
        # rolled back with c's: their cards and usage are as before.
        for t in (a, b, c):
            assert (await vendor_quantities(t))["Managed Endpoint"] == D(10)
        # The consumer hands the reports over again: the indexes a and b left in memory
        # are not used (their tokens were rolled back) and the result is exact.
        misses = index_cache.INDEXES.misses
        await events.apply_usage(runtime_of(tenant), fetch)
        assert index_cache.INDEXES.misses == misses + 2
        for t, quantity in ((a, 12), (b, 13), (c, 14)):
            assert (await vendor_quantities(t))["Managed Endpoint"] == D(quantity)
            assert await recompute_from_scratch(t) == []

    async def test_a_report_costs_one_commit_and_a_few_statements(self, tenant: Tenant) -> None:
        group = await tenants(tenant, 5)
        fetch = [report(t, {"P1": 20 + n}) for n, t in enumerate(group)]
        statements: list[str] = []
        commits: list[None] = []
        engine = tenant.database.engine.sync_engine

        def statement(_c: Any, _cursor: Any, text: str, *_: Any) -> None:
            statements.append(text)

        def commit(_connection: Any) -> None:
            commits.append(None)

        sa.event.listen(engine, "before_cursor_execute", statement)
        sa.event.listen(engine, "commit", commit)
        try:
            await events.apply_usage(runtime_of(tenant), fetch)
        finally:
            sa.event.remove(engine, "before_cursor_execute", statement)
            sa.event.remove(engine, "commit", commit)

        assert len(commits) == 1
        # Besides each tenant's part: the inbox and the outbox, one statement each (and
        # SQLite's BEGIN IMMEDIATE).
        per_fetch = 3
        assert len(statements) <= per_fetch + PER_TENANT_STATEMENTS * len(group), statements
        for n, t in enumerate(group):
            assert (await vendor_quantities(t))["Managed Endpoint"] == D(20 + n)


class TestUsageRows:
    async def test_a_report_of_one_sku_updates_its_row_and_keeps_the_others(
        self, tenant: Tenant
    ) -> None:
        (t,) = await tenants(tenant, 1)
        await events.apply_usage(runtime_of(tenant), [report(t, {"P2": 8})])

        async def usage(session: Any) -> dict[str, Decimal]:
            repo = Repository(session, t.tenant_id)
            return {row.sku: row.quantity for row in await repo.all_of(Usage)}

        assert await t.run(usage) == {"sku-P1": D(10), "sku-P2": D(8)}


class TestStoredCardsKeptWithTheIndex:
    """A usage update compares its cards with the stored ones kept beside the index, not
    read back: whatever else writes a card must keep that copy in step."""

    async def test_a_failed_writeback_keeps_its_error_and_job_through_a_usage_update(
        self, tenant: Tenant
    ) -> None:
        (t,) = await tenants(tenant, 1)
        await events.apply_usage(runtime_of(tenant), [report(t, {"P1": 14})])
        card = (await t.cards())["Managed Endpoint"]
        approve = r.ActionQuery(
            card_id=card.card_id, action="approve", actor=USER, idempotency_key="k-approve"
        )
        await t.run(lambda s: actions.act(s, t.tenant_id, approve))
        failed = m.WritebackFailed(
            job_id="job-1",
            actor=USER,
            idempotency_key="k-approve",
            card_id=card.card_id,
            action_id="a-1",
            psa="connectwise",
            contract_psa_id="C-A",
            line_item_psa_id=None,
            quantity_before=None,
            quantity_after=None,
            effective_date=None,
            error="The PSA refused the change.",
            attempts=3,
            dead_lettered=False,
        )
        await t.run(
            lambda s: actions.apply_writeback_outcome(s, wrap(failed, tenant_id=t.tenant_id))
        )
        hits = index_cache.INDEXES.hits

        # New counts for the account: its cards are computed again, the failed one too.
        await events.apply_usage(runtime_of(tenant), [report(t, {"P1": 15, "P2": 4})])

        assert index_cache.INDEXES.hits == hits + 1, "the update used the index in memory"
        after = (await t.cards())["Managed Endpoint"]
        assert (after.state, after.error, after.last_job_id) == (
            "failed",
            "The PSA refused the change.",
            "job-1",
        )
        assert await recompute_from_scratch(t) == []
