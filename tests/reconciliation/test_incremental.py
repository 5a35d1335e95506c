"""Incremental reconciliation equals a recompute from scratch.

A usage update, or an incremental PSA batch, is applied to the tenant's index kept in
memory (`index_cache`) and only the accounts it touches are recomputed. Random sequences
of usage, mapping changes, PSA changes, card actions and writeback outcomes — some of them
handled by a second replica with its own memory — must leave exactly the cards a
whole-tenant recompute from the database computes: that recompute then changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from tests.conftest import Databases, _database_params
from trueup.contracts import Envelope, wrap
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.platform.database import Database
from trueup.platform.migrations import upgrade
from trueup.reconciliation import actions, index_cache, inputs, mapping, recompute
from trueup.reconciliation.handlers.queries import answer_query
from trueup.reconciliation.index_cache import TenantIndexCache
from trueup.reconciliation.main import MIGRATIONS
from trueup.reconciliation.models import CardRow, Usage
from trueup.reconciliation.repository import Repository

D = Decimal
ACTOR = m.Actor(kind="user", id="u-inc", name="Incremental")
PRODUCTS = {"P1": "Managed Endpoint", "P2": "Cloud Backup 1TB", "P3": "EDR Agent"}
ACCOUNTS = ("A", "B", "C")
NOW = datetime.now(UTC)


@pytest.fixture(scope="module", params=_database_params())
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str | None]]:
    """One migrated database per kind; every example works in a tenant of its own."""
    factory = Databases(request.param, tmp_path_factory.mktemp("incremental"))
    url, schema = asyncio.run(factory.for_service("reconciliation"))
    upgrade(MIGRATIONS, url, schema)
    yield url, schema
    asyncio.run(factory.drop())


class Replicas:
    """Two replicas' memories: `index_cache.INDEXES` is the one handling the next input."""

    def __init__(self) -> None:
        self.caches = [TenantIndexCache(budget=1_000_000), TenantIndexCache(budget=1_000_000)]
        self.current = 0
        self._saved = index_cache.INDEXES

    def __enter__(self) -> Replicas:
        index_cache.INDEXES = self.caches[0]
        return self

    def __exit__(self, *_: object) -> None:
        index_cache.INDEXES = self._saved

    def switch(self) -> None:
        self.current = 1 - self.current
        index_cache.INDEXES = self.caches[self.current]

    @property
    def hits(self) -> int:
        return sum(cache.hits for cache in self.caches)


class Tenant:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.tenant_id = f"ti{uuid.uuid4().hex[:10]}"
        self.keys = 0
        self.batches = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    async def ask(self, payload: Any) -> Any:
        envelope: Envelope[Any] = wrap(payload, tenant_id=self.tenant_id)
        answer, _ = await answer_query(self.database, envelope)
        return answer

    async def snapshot(self, quantities: dict[tuple[str, str], int]) -> None:
        """A PSA sync of contracts for accounts A and B (C has none), a line per product.

        Only B has P3 on its contract: P3 usage of A is New Revenue."""
        today = datetime.now(UTC).date()
        snapshot = m.PsaSnapshot(
            connection_id="conn",
            psa="connectwise",
            sync_id=f"s{uuid.uuid4().hex[:6]}",
            batch_no=0,
            full=False,
            accounts=[m.PsaAccount(psa_id=a, name=f"Account {a}") for a in ACCOUNTS],
            contracts=[
                m.PsaContract(
                    psa_id=f"C-{a}",
                    account_psa_id=a,
                    name=f"Contract {a}",
                    status="active",
                    start_date=today - timedelta(days=400),
                    billing_cycle="monthly",
                    currency="USD",
                )
                for a in ("A", "B")
            ],
            line_items=[
                m.PsaLineItem(
                    psa_id=f"L-{a}-{p}",
                    contract_psa_id=f"C-{a}",
                    product_id=p,
                    product_name=PRODUCTS[p],
                    quantity=D(quantities.get((a, p), 10)),
                    unit_price=D("12.50"),
                    unit_cost=D("7.00"),
                )
                for a, products in (("A", ("P1", "P2")), ("B", ("P1", "P2", "P3")))
                for p in products
            ],
        )
        async with self.database.transaction(self.tenant_id) as session:
            await inputs.apply_snapshot(session, wrap(snapshot, tenant_id=self.tenant_id))

    async def psa_batch(self, **parts: Any) -> None:
        """One incremental PSA batch holding only `parts`, as psa_sync sends what changed."""
        snapshot = m.PsaSnapshot(
            connection_id="conn",
            psa="connectwise",
            sync_id=f"s{uuid.uuid4().hex[:6]}",
            batch_no=0,
            full=False,
            **parts,
        )
        async with self.database.transaction(self.tenant_id) as session:
            await inputs.apply_snapshot(session, wrap(snapshot, tenant_id=self.tenant_id))

    async def psa_line_item(
        self, account: str, product: str, quantity: int, *, contract_of: str | None = None
    ) -> None:
        """Line item `L-{account}-{product}` as the PSA now holds it, on the contract of
        `contract_of` (another account's contract: the item moved) or its own account's."""
        await self.psa_batch(
            line_items=[
                m.PsaLineItem(
                    psa_id=f"L-{account}-{product}",
                    contract_psa_id=f"C-{contract_of or account}",
                    product_id=product,
                    product_name=PRODUCTS.get(product, "Email Security"),
                    quantity=D(quantity),
                    unit_price=D("12.50"),
                    unit_cost=D("7.00"),
                )
            ]
        )

    async def psa_contract(self, account: str, *, ended: bool) -> None:
        """The account's contract as the PSA now holds it: ended yesterday, or running."""
        today = datetime.now(UTC).date()
        await self.psa_batch(
            contracts=[
                m.PsaContract(
                    psa_id=f"C-{account}",
                    account_psa_id=account,
                    name=f"Contract {account}",
                    status="active",
                    start_date=today - timedelta(days=400),
                    end_date=today - timedelta(days=1) if ended else None,
                    billing_cycle="monthly",
                    currency="USD",
                )
            ]
        )

    async def active_accounts(self) -> int:
        async with self.database.transaction(self.tenant_id) as session:
            row = await Repository(session, self.tenant_id).settings_row()
            assert row is not None
            return row.active_accounts

    async def usage(self, account: str, quantities: dict[str, int], replace: bool) -> None:
        await self.usage_together([(account, quantities, replace)])

    async def usage_together(self, reports: list[tuple[str, dict[str, int], bool]]) -> None:
        """Usage reports handled in one transaction, as a consumer's fetched batch is."""
        envelopes = [
            wrap(self._report(account, quantities, replace), tenant_id=self.tenant_id)
            for account, quantities, replace in reports
        ]
        async with self.database.transaction(self.tenant_id) as session:
            await inputs.apply_usage_batches(session, self.tenant_id, envelopes)

    def _report(
        self, account: str, quantities: dict[str, int], replace: bool, as_of: datetime = NOW
    ) -> m.UsageReported:
        self.batches += 1
        return m.UsageReported(
            vendor="pax8",
            source=m.UsageSource.WEBHOOK,
            batch_id=f"b{self.batches}",
            records=[
                m.UsageRecord(
                    vendor_account_id=f"v-{account}",
                    vendor_account_name=f"Account {account}",
                    sku=f"sku-{product}",
                    sku_name=PRODUCTS.get(product, "Unknown thing"),
                    quantity=D(quantity),
                    as_of=as_of,
                )
                for product, quantity in quantities.items()
            ],
            replaces_accounts=[f"v-{account}"] if replace else [],
        )

    async def change_mapping(
        self, vendor_account_id: str, action: str, account: str | None
    ) -> None:
        change = r.ChangeAccountMappings(
            items=[
                r.AccountMappingChange(
                    vendor="pax8",
                    vendor_account_id=vendor_account_id,
                    action=action,  # type: ignore[arg-type]
                    account_id=None if account is None else f"{account}",
                )
            ],
            actor=ACTOR,
        )
        async with self.database.transaction(self.tenant_id) as session:
            await mapping.change_account_mappings(
                session, self.tenant_id, wrap(change, tenant_id=self.tenant_id)
            )

    async def cards(self) -> list[CardRow]:
        async with self.database.transaction(self.tenant_id) as session:
            return list(await Repository(session, self.tenant_id).all_of(CardRow))

    async def outcome(self, card: CardRow, failed: bool) -> None:
        fields: dict[str, Any] = {
            "job_id": f"j{uuid.uuid4().hex[:6]}",
            "actor": ACTOR,
            "idempotency_key": self.key(),
            "card_id": card.card_id,
            "action_id": "a1",
            "psa": "connectwise",
            "contract_psa_id": card.contract_id or "",
            "line_item_psa_id": None,
            "quantity_before": None,
            "quantity_after": None,
            "effective_date": None,
        }
        payload: Any = (
            m.WritebackFailed(**fields, error="PSA said no", attempts=3, dead_lettered=False)
            if failed
            else m.WritebackApplied(**fields)
        )
        async with self.database.transaction(self.tenant_id) as session:
            await actions.apply_writeback_outcome(session, wrap(payload, tenant_id=self.tenant_id))

    async def recompute_from_scratch(self) -> list[str]:
        """A whole-tenant recompute from the database, with no memory: what it changes."""
        saved = index_cache.INDEXES
        index_cache.INDEXES = TenantIndexCache(budget=1_000_000)
        try:
            async with self.database.transaction(self.tenant_id) as session:
                return await recompute.recompute(session, self.tenant_id, reason="check")
        finally:
            index_cache.INDEXES = saved


quantity_st = st.integers(0, 80)
report_st = st.tuples(
    st.sampled_from(ACCOUNTS),
    st.dictionaries(st.sampled_from(["P1", "P2", "P3", "X"]), quantity_st, max_size=3),
    st.booleans(),
)
operation_st = st.one_of(
    st.tuples(
        st.just("usage_together"), st.lists(report_st, min_size=2, max_size=4), st.none(), st.none()
    ),
    st.tuples(
        st.just("usage"),
        st.sampled_from(ACCOUNTS),
        st.dictionaries(st.sampled_from(["P1", "P2", "P3", "X"]), quantity_st, max_size=3),
        st.booleans(),
    ),
    st.tuples(
        st.just("mapping"),
        st.sampled_from([f"v-{a}" for a in ACCOUNTS]),
        st.sampled_from(["map", "exclude", "unmap"]),
        st.sampled_from(ACCOUNTS),
    ),
    st.tuples(
        st.just("psa"), st.sampled_from(["A", "B"]), st.sampled_from(["P1", "P2"]), quantity_st
    ),
    st.tuples(
        st.just("psa_line_item"),
        st.sampled_from(ACCOUNTS),
        st.sampled_from(["P1", "P2", "P3", "P4"]),
        quantity_st,
    ),
    st.tuples(
        st.just("psa_move_line_item"),
        st.sampled_from(["A", "B"]),
        st.sampled_from(["P1", "P2"]),
        st.sampled_from(["A", "B"]),
    ),
    st.tuples(
        st.just("psa_remove"),
        st.sampled_from(["A", "B"]),
        st.sampled_from(["P1", "P2", "P3", "contract"]),
        st.none(),
    ),
    st.tuples(st.just("psa_contract"), st.sampled_from(["A", "B"]), st.booleans(), st.none()),
    st.tuples(st.just("psa_rename"), st.sampled_from(["A", "B"]), st.none(), st.none()),
    st.tuples(
        st.just("act"),
        st.integers(0, 20),
        st.sampled_from(["approve", "dismiss", "restore"]),
        st.none(),
    ),
    st.tuples(st.just("outcome"), st.integers(0, 20), st.booleans(), st.none()),
    st.tuples(st.just("replica"), st.none(), st.none(), st.none()),
    st.tuples(st.just("replica"), st.none(), st.none(), st.none()),
)


async def _step(t: Tenant, replicas: Replicas, operation: tuple[Any, ...]) -> None:
    kind, a, b, c = operation
    event(kind)
    if kind == "usage":
        await t.usage(a, b, c)
    elif kind == "usage_together":
        await t.usage_together(a)
    elif kind == "mapping":
        await t.change_mapping(a, b, c if b == "map" else None)
    elif kind == "psa":
        await t.snapshot({(a, b): c})
    elif kind == "psa_line_item":
        # C has no contract: its item is on none, and changes no card.
        await t.psa_line_item(a, b, c)
    elif kind == "psa_move_line_item":
        await t.psa_line_item(a, b, 10, contract_of=c)
    elif kind == "psa_remove":
        if b == "contract":
            await t.psa_batch(removed_contract_ids=[f"C-{a}"])
        else:
            await t.psa_batch(removed_line_item_ids=[f"L-{a}-{b}"])
    elif kind == "psa_contract":
        await t.psa_contract(a, ended=b)
    elif kind == "psa_rename":
        await t.psa_batch(accounts=[m.PsaAccount(psa_id=a, name=f"Account {a} Renamed")])
    elif kind == "replica":
        replicas.switch()
    elif kind == "act":
        cards = sorted(await t.cards(), key=lambda card: card.card_id)
        if not cards:
            return
        card = cards[a % len(cards)]
        try:
            await t.ask(
                r.ActionQuery(
                    card_id=card.card_id,
                    action=b,
                    actor=ACTOR,
                    idempotency_key=t.key(),
                    confirm=True,
                )
            )
        except QueryFailedError as exc:
            event(f"refused {exc.status}")
    elif kind == "outcome":
        approved = sorted(
            (card for card in await t.cards() if card.state == "approved"),
            key=lambda card: card.card_id,
        )
        if approved:
            await t.outcome(approved[a % len(approved)], b)


def _count_whole_tenant_recomputes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The reasons of every whole-tenant recompute an input asks for from now on."""
    reasons: list[str] = []
    whole_tenant = inputs.recompute

    async def counted(*args: Any, **kwargs: Any) -> list[str]:
        reasons.append(kwargs["reason"])
        return await whole_tenant(*args, **kwargs)

    monkeypatch.setattr(inputs, "recompute", counted)
    return reasons


class TestIncrementalEqualsFromScratch:
    @settings(
        max_examples=60,
        # An example runs a tenant through up to a dozen transactions; shrinking a failure
        # would take many minutes, so it is reported as found.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        first_usage=st.dictionaries(
            st.sampled_from(["P1", "P2", "P3"]), quantity_st, min_size=1, max_size=3
        ),
        operations=st.lists(operation_st, min_size=1, max_size=12),
    )
    def test_a_recompute_from_scratch_changes_nothing(
        self,
        database_url: tuple[str, str | None],
        first_usage: dict[str, int],
        operations: list[tuple[Any, ...]],
    ) -> None:
        async def run() -> None:
            database = Database(*database_url)
            try:
                with Replicas() as replicas:
                    t = Tenant(database)
                    await t.snapshot({})
                    for account in ACCOUNTS:
                        await t.usage(account, first_usage, True)
                    for operation in operations:
                        await _step(t, replicas, operation)
                    event(f"incremental hits: {min(replicas.hits, 3)}+")
                    active = await t.active_accounts()
                    changed = await t.recompute_from_scratch()
                    assert changed == [], f"after {first_usage=} {operations=}"
                    assert await t.active_accounts() == active, f"after {operations=}"
            finally:
                await database.dispose()

        asyncio.run(run())


class TestUsageHandledTogether:
    @settings(
        max_examples=20,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(reports=st.lists(report_st, min_size=1, max_size=8))
    def test_a_batch_of_reports_leaves_what_they_leave_one_by_one(
        self, database_url: tuple[str, str | None], reports: list[Any]
    ) -> None:
        async def state(t: Tenant) -> tuple[Any, Any]:
            async with t.database.transaction(t.tenant_id) as session:
                repo = Repository(session, t.tenant_id)
                usage = sorted(
                    (u.vendor_account_id, u.sku, u.quantity, u.batch_id)
                    for u in await repo.all_of(Usage)
                )
                cards = sorted(
                    (c.card_id.split(":", 1)[1], c.fingerprint) for c in await repo.all_of(CardRow)
                )
                return usage, cards

        async def run() -> None:
            database = Database(*database_url)
            try:
                with Replicas():
                    one_by_one, together = Tenant(database), Tenant(database)
                    for t in (one_by_one, together):
                        await t.snapshot({})
                        await t.usage_together([(a, {"P1": 5, "P2": 5}, True) for a in ACCOUNTS])
                    for report in reports:
                        await one_by_one.usage(*report)
                    await together.usage_together(reports)
                    assert await state(together) == await state(one_by_one), f"{reports=}"
            finally:
                await database.dispose()

        asyncio.run(run())


class TestLateReports:
    async def test_an_older_report_delivered_after_a_newer_one_changes_nothing(
        self, databases: Databases
    ) -> None:
        url, schema = await databases.for_service("reconciliation")
        await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
        t = Tenant(Database(url, schema))
        try:
            with Replicas():
                await t.snapshot({})
                hour = timedelta(hours=1)
                reports = [
                    t._report("A", {"P1": 30, "P2": 7}, True, NOW + hour),
                    # A crash redelivers these after the newer report above.
                    t._report("A", {"P1": 5}, False, NOW),
                    t._report("A", {"P1": 1}, True, NOW - hour),
                ]
                for report in reports:
                    async with t.database.transaction(t.tenant_id) as session:
                        await inputs.apply_usage_batches(
                            session, t.tenant_id, [wrap(report, tenant_id=t.tenant_id)]
                        )
                async with t.database.transaction(t.tenant_id) as session:
                    usage = {
                        u.sku: u.quantity
                        for u in await Repository(session, t.tenant_id).all_of(Usage)
                    }
                assert usage == {"sku-P1": D(30), "sku-P2": D(7)}
                # A newer observation still replaces.
                await t.usage("A", {"P2": 9}, False)
        finally:
            await t.database.dispose()


class TestTheIndexInMemory:
    async def _tenant(self, databases: Databases, tmp_path: Path) -> Tenant:
        url, schema = await databases.for_service("reconciliation")
        await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
        t = Tenant(Database(url, schema))
        await t.snapshot({})
        await t.usage("A", {"P1": 10, "P2": 10}, True)
        return t

    async def test_a_mapped_usage_update_is_applied_in_memory(
        self, databases: Databases, tmp_path: Path
    ) -> None:
        with Replicas() as replicas:
            t = await self._tenant(databases, tmp_path)
            try:
                before = replicas.hits
                await t.usage("A", {"P1": 14}, False)
                assert replicas.hits == before + 1, "the update used the index in memory"
                cards = await t.cards()
                assert [c.service_line for c in cards if c.vendor_quantity == D(14)] == [
                    PRODUCTS["P1"]
                ]
                assert await t.recompute_from_scratch() == []
            finally:
                await t.database.dispose()

    async def test_an_incremental_psa_batch_recomputes_only_the_accounts_it_touches(
        self, databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        whole_tenant = _count_whole_tenant_recomputes(monkeypatch)
        with Replicas() as replicas:
            t = await self._tenant(databases, tmp_path)
            try:
                whole_tenant.clear()
                await t.psa_line_item("A", "P1", 33)
                await t.psa_contract("B", ended=True)
                assert whole_tenant == [], "applied to the index in memory"
                cards = {c.line_item_id: c for c in await t.cards()}
                assert cards["L-A-P1"].psa_quantity == D(33)
                assert "L-B-P1" not in cards, "an ended contract has no cards"
                # The memory budget counts the line items the index now holds.
                weight = replicas.caches[0].weight
                await t.psa_line_item("A", "P3", 4)
                assert replicas.caches[0].weight == weight + 1
                await t.psa_batch(removed_line_item_ids=["L-A-P3", "L-A-P2"])
                assert replicas.caches[0].weight == weight - 1
                assert await t.active_accounts() == 1
                # A sync's end recomputes the tenant only after a full sync, whose
                # batches did not recompute as they came.
                for full in (False, True):
                    completed = m.PsaSyncCompleted(
                        connection_id="conn",
                        sync_id=f"s{full}",
                        full=full,
                        batches=1,
                        accounts=3,
                        contracts=2,
                        line_items=5,
                        active_accounts=1,
                    )
                    async with t.database.transaction(t.tenant_id) as session:
                        await inputs.apply_sync_completed(
                            session, wrap(completed, tenant_id=t.tenant_id)
                        )
                assert whole_tenant == ["psa"], "only the full sync's end recomputed"
                assert await t.recompute_from_scratch() == []
            finally:
                await t.database.dispose()

    async def test_a_new_or_renamed_account_or_a_new_product_recomputes_the_tenant(
        self, databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Each may let unmapped usage be mapped automatically, which only a whole-tenant
        # recompute does.
        whole_tenant = _count_whole_tenant_recomputes(monkeypatch)
        with Replicas():
            t = await self._tenant(databases, tmp_path)
            try:
                whole_tenant.clear()
                await t.psa_batch(accounts=[m.PsaAccount(psa_id="D", name="Account D")])
                await t.psa_batch(accounts=[m.PsaAccount(psa_id="A", name="Account A Ltd")])
                await t.psa_line_item("A", "P4", 2)
                assert whole_tenant == ["psa", "psa", "psa"]
                # An incremental sync that found nothing sends an empty batch: no work.
                await t.psa_batch()
                assert len(whole_tenant) == 3
                assert await t.recompute_from_scratch() == []
            finally:
                await t.database.dispose()

    async def test_a_writeback_outcome_and_a_psa_batch_on_one_card_queue_not_deadlock(
        self, databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A writeback outcome wrote its card and then locked the tenant's settings row,
        while a PSA batch locked the settings row and then wrote the same card: each
        waited for the other, and PostgreSQL failed one (found by the load suite; an
        approval through the gateway then got a 500). Every writer now locks the
        settings row first."""
        if not databases.is_postgres:
            pytest.skip("SQLite has one writer at a time: its transactions cannot overlap")
        with Replicas():
            t = await self._tenant(databases, tmp_path)
            try:
                await t.usage("A", {"P1": 14}, False)
                card = next(c for c in await t.cards() if c.line_item_id == "L-A-P1")
                await t.ask(
                    r.ActionQuery(
                        card_id=card.card_id,
                        action="approve",
                        actor=ACTOR,
                        idempotency_key=t.key(),
                        confirm=True,
                    )
                )
                card_written = asyncio.Event()
                bump = Repository.bump_cards_version

                async def write_the_card_then_wait(repo: Repository) -> None:
                    await repo.session.flush()  # the card's new state: its row is locked
                    card_written.set()
                    await asyncio.sleep(0.5)  # the PSA batch takes its locks meanwhile
                    await bump(repo)

                monkeypatch.setattr(Repository, "bump_cards_version", write_the_card_then_wait)

                async def psa_batch() -> None:
                    await asyncio.wait_for(card_written.wait(), timeout=10)
                    await t.psa_line_item("A", "P1", 33)

                approved = next(c for c in await t.cards() if c.card_id == card.card_id)
                results = await asyncio.gather(
                    t.outcome(approved, failed=False), psa_batch(), return_exceptions=True
                )
                assert [r for r in results if isinstance(r, BaseException)] == []
                monkeypatch.setattr(Repository, "bump_cards_version", bump)
                cards = {c.line_item_id: c for c in await t.cards()}
                assert cards["L-A-P1"].psa_quantity == D(33)
                assert await t.recompute_from_scratch() == []
            finally:
                await t.database.dispose()

    async def test_another_replicas_write_is_seen_before_the_index_is_used(
        self, databases: Databases, tmp_path: Path
    ) -> None:
        with Replicas() as replicas:
            t = await self._tenant(databases, tmp_path)
            try:
                replicas.switch()
                # The other replica unmaps the vendor account: its cards lose the usage.
                await t.change_mapping("v-A", "exclude", None)
                replicas.switch()
                before = replicas.hits
                await t.usage("A", {"P1": 30}, False)
                assert replicas.hits == before, "a stale index is never used"
                assert not any(c.vendor_quantity == D(30) for c in await t.cards())
                assert await t.recompute_from_scratch() == []
            finally:
                await t.database.dispose()

    async def test_an_index_from_yesterday_is_rebuilt(
        self, databases: Databases, tmp_path: Path
    ) -> None:
        with Replicas() as replicas:
            t = await self._tenant(databases, tmp_path)
            try:
                cache = replicas.caches[0]
                tomorrow = datetime.now(UTC).date() + timedelta(days=1)
                async with t.database.transaction(t.tenant_id) as session:
                    row = await Repository(session, t.tenant_id).settings_row()
                    assert row is not None
                    assert cache.check_out(t.tenant_id, row.inputs_token, tomorrow) is None
            finally:
                await t.database.dispose()


class TestTheCacheBudget:
    def test_the_least_recently_used_tenant_is_evicted_beyond_the_budget(self) -> None:
        from trueup import domain as d
        from trueup.reconciliation.index_cache import CachedIndex

        def entry(weight: int) -> CachedIndex:
            index = d.TenantIndex(d.TenantState(tenant_id="t"))
            return CachedIndex("tok", index, date(2026, 12, 4), weight)

        cache = TenantIndexCache(budget=100)
        cache.put("t1", entry(40))
        cache.put("t2", entry(40))
        assert cache.check_out("t1", "tok", date(2026, 12, 4)) is not None
        cache.put("t1", entry(40))  # t1 is now the most recently used
        cache.put("t3", entry(40))
        assert len(cache) == 2
        assert cache.weight == 80
        assert cache.check_out("t2", "tok", date(2026, 12, 4)) is None, "t2 was evicted"
        assert cache.check_out("t1", "other", date(2026, 12, 4)) is None, "a new token misses"
        cache.put("big", entry(101))
        assert cache.check_out("big", "tok", date(2026, 12, 4)) is None, "never over budget"
