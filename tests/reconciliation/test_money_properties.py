"""Random sequences of preview, approve, dismiss, restore and bulk over random contracts.

After every step: what a preview showed is exactly what the approval sends to writeback,
a card's one-click target is what its Details default to and what an empty approval
writes, and no read of cards, details or metrics fails. Runs reconciliation's own use cases
on a real database (each example is a fresh tenant), with the outbox as the record of
what would be sent.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from trueup.contracts import Envelope, wrap
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.platform.database import Database
from trueup.platform.messaging import outbox_table
from trueup.reconciliation import inputs, mapping
from trueup.reconciliation.handlers.queries import ANSWERS
from trueup.reconciliation.main import build
from trueup.reconciliation.settings import Settings

D = Decimal
ACTOR = m.Actor(kind="user", id="u-prop", name="Property")
PRODUCTS = {"P1": "Managed Endpoint", "P2": "Cloud Backup 1TB", "P3": "EDR Agent"}


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite file; every example works in a tenant of its own."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('recon') / 'reconciliation.db'}"
    runtime, _ = build(Settings(database_url=url, environment="test"))
    runtime.migrate()
    return url


contract_st = st.fixed_dictionaries(
    {
        "account": st.sampled_from(["A", "B"]),
        "cycle": st.sampled_from(["monthly", "quarterly", "semi_annual", "annual"]),
        "currency": st.sampled_from(["USD", "CAD"]),
        "prorate": st.booleans(),
        "advance": st.booleans(),
        "items": st.lists(
            st.tuples(
                st.sampled_from(sorted(PRODUCTS)),
                st.integers(0, 60),
                st.decimals(min_value=1, max_value=300, places=2),
            ),
            min_size=1,
            max_size=3,
        ),
    }
)

change_st = st.fixed_dictionaries(
    {
        "main": st.one_of(st.none(), st.integers(0, 90)),
        "steps": st.lists(
            st.tuples(st.integers(1, 40), st.integers(0, 90)), max_size=2, unique_by=lambda s: s[0]
        ),
    }
)

operation_st = st.one_of(
    st.tuples(st.just("preview_approve"), st.integers(0, 50), change_st),
    st.tuples(st.just("approve_default"), st.integers(0, 50), st.none()),
    st.tuples(st.just("dismiss"), st.integers(0, 50), st.none()),
    st.tuples(st.just("restore"), st.integers(0, 50), st.none()),
    st.tuples(st.just("bulk_dismiss"), st.integers(0, 50), st.none()),
    st.tuples(st.just("bulk_restore"), st.integers(0, 50), st.none()),
    st.tuples(st.just("bulk_approve"), st.integers(0, 50), st.none()),
)


@dataclass
class Tenant:
    database: Database
    tenant_id: str = field(default_factory=lambda: f"tp{uuid.uuid4().hex[:10]}")
    keys: int = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    async def ask(self, payload: Any) -> Any:
        envelope: Envelope[Any] = wrap(payload, tenant_id=self.tenant_id)
        async with self.database.transaction(self.tenant_id) as session:
            return await ANSWERS[type(payload)](session, envelope)

    async def commands(self) -> list[m.ApplyWriteback]:
        """The writeback commands staged so far, in order."""
        async with self.database.transaction(self.tenant_id) as session:
            rows = await session.execute(
                sa.select(outbox_table.c.body)
                .where(
                    outbox_table.c.tenant_id == self.tenant_id,
                    outbox_table.c.subject == m.subject_for(m.ApplyWriteback, self.tenant_id),
                )
                .order_by(outbox_table.c.id)
            )
            return [
                Envelope[m.ApplyWriteback].model_validate_json(body).payload for (body,) in rows
            ]


async def _seed(
    t: Tenant, contracts: list[dict[str, Any]], usage: dict[str, int], factor: int
) -> None:
    today = datetime.now(UTC).date()
    snapshot = m.PsaSnapshot(
        connection_id="conn",
        psa="connectwise",
        sync_id="s1",
        batch_no=0,
        full=False,
        accounts=[m.PsaAccount(psa_id=a, name=f"Account {a}") for a in ("A", "B")],
        contracts=[
            m.PsaContract(
                psa_id=f"C{i}",
                account_psa_id=c["account"],
                name=f"Contract {i}",
                status="active",
                start_date=today.replace(day=1) - timedelta(days=400),
                billing_cycle=c["cycle"],
                bill_in_advance=c["advance"],
                proration_allowed=c["prorate"],
                currency=c["currency"],
            )
            for i, c in enumerate(contracts)
        ],
        line_items=[
            m.PsaLineItem(
                psa_id=f"L{i}-{j}",
                contract_psa_id=f"C{i}",
                product_id=product,
                product_name=PRODUCTS[product],
                quantity=D(quantity),
                unit_price=price,
                unit_cost=(price * D("0.6")).quantize(D("0.01")),
            )
            for i, c in enumerate(contracts)
            for j, (product, quantity, price) in enumerate(c["items"])
        ],
    )
    async with t.database.transaction(t.tenant_id) as session:
        await inputs.apply_snapshot(session, wrap(snapshot, tenant_id=t.tenant_id))
    records = [
        m.UsageRecord(
            vendor_account_id=f"v-{account}",
            vendor_account_name=f"Account {account}",
            sku=f"sku-{product}",
            sku_name=PRODUCTS[product],
            quantity=D(quantity),
            as_of=datetime.now(UTC),
        )
        for key, quantity in usage.items()
        for account, product in [key.split(":")]
    ]
    if records:
        batch = m.UsageReported(
            vendor="pax8", source=m.UsageSource.CONNECTOR, batch_id="u1", records=records
        )
        async with t.database.transaction(t.tenant_id) as session:
            await inputs.apply_usage(session, wrap(batch, tenant_id=t.tenant_id))
    if factor != 1 and records:
        # The vendor counts in smaller units: a sales-unit factor, rounded up.
        saved = r.SaveServiceMapping(
            vendor="pax8", sku=records[0].sku, service_line_id=None, factor=D(factor), actor=ACTOR
        )
        lines = await t.ask(r.ListServiceLines())
        line = next((x for x in lines.items if x.name == records[0].sku_name), None)
        if line is not None:
            saved = saved.model_copy(update={"service_line_id": line.service_line_id})
            async with t.database.transaction(t.tenant_id) as session:
                await mapping.save_service_mapping(
                    session, t.tenant_id, wrap(saved, tenant_id=t.tenant_id)
                )


async def _all_cards(t: Tenant) -> list[r.CardItem]:
    page = await t.ask(r.ListCardsQuery(filter=r.CardFilter(include_hidden=True), limit=5000))
    return list(page.items)


async def _check_reads(t: Tenant) -> list[r.CardItem]:
    """No read fails; a card's Details default to its one-click target; each currency's
    totals are the sum of its cards, and no total adds two currencies."""
    page = await t.ask(r.ListCardsQuery(filter=r.CardFilter(include_hidden=True), limit=5000))
    cards = list(page.items)
    expected: dict[str, tuple[int, Decimal]] = {}
    for card in cards:
        if card.mrr_change is not None:
            count, total = expected.get(card.currency, (0, D(0)))
            expected[card.currency] = (count + 1, total + card.mrr_change)
    assert {
        row.currency: (row.cards, row.mrr_change) for row in page.totals.by_currency
    } == expected
    for card in cards:
        details = await t.ask(r.GetCardQuery(card_id=card.card_id))
        assert details.change.target_quantity == card.target_quantity
    await t.ask(r.GetMetrics())
    await t.ask(r.ListCardsQuery(sort="revenue", limit=10))
    return cards


def _request(card: r.CardItem, default: date, spec: dict[str, Any]) -> r.ChangeRequest:
    return r.ChangeRequest(
        quantity=None if spec["main"] is None else D(spec["main"]),
        effective_date=default,
        prorated_changes=[
            m.ProratedChange(effective_date=default + timedelta(days=k), quantity=D(q))
            for k, q in spec["steps"]
        ],
    )


async def _step(t: Tenant, operation: tuple[str, int, Any]) -> None:
    kind, pick, spec = operation
    cards = await _all_cards(t)
    if not cards:
        return
    card = cards[pick % len(cards)]
    sent_before = len(await t.commands())

    async def attempt(payload: Any) -> tuple[Any, int | None]:
        try:
            return await t.ask(payload), None
        except QueryFailedError as exc:
            event(f"refused: {exc.status} {exc.detail[:40]}")
            return None, exc.status

    if kind == "preview_approve":
        details = await t.ask(r.GetCardQuery(card_id=card.card_id))
        change = _request(card, details.change.default_effective_date, spec)
        preview, refused = await attempt(r.PreviewQuery(card_id=card.card_id, change=change))
        accepted, status = await attempt(
            r.ActionQuery(
                card_id=card.card_id,
                action="approve",
                actor=ACTOR,
                idempotency_key=t.key(),
                change=change,
                confirm=True,
            )
        )
        sent = (await t.commands())[sent_before:]
        event(f"preview_approve: {'refused ' + str(status) if accepted is None else 'sent'}")
        if accepted is None:
            assert sent == []
            assert status is not None
            assert 400 <= status < 500
            return
        # A card that previews also approves, with exactly the previewed steps.
        assert refused is None or card.unit_price is None, (refused, card)
        assert len(sent) == 1
        written = [(c.effective_date, c.quantity) for c in sent[0].changes]
        if preview is not None:
            assert written == [(s.effective_date, s.quantity_after) for s in preview.steps]
    elif kind == "approve_default":
        accepted, _status = await attempt(
            r.ActionQuery(
                card_id=card.card_id,
                action="approve",
                actor=ACTOR,
                idempotency_key=t.key(),
                confirm=True,
            )
        )
        sent = (await t.commands())[sent_before:]
        event(f"approve_default: {'sent' if accepted is not None else 'refused'}")
        if accepted is not None:
            # One click writes the card's target, which its Details defaulted to.
            assert [c.quantity for c in sent[0].changes][-1] == card.target_quantity
        else:
            assert sent == []
    elif kind in ("dismiss", "restore"):
        await attempt(
            r.ActionQuery(card_id=card.card_id, action=kind, actor=ACTOR, idempotency_key=t.key())
        )
    else:
        action = kind.removeprefix("bulk_")
        chosen = [c.card_id for c in cards[pick % len(cards) :: 2]]
        result = await t.ask(
            r.BulkActionQuery(
                action=action,  # type: ignore[arg-type]
                actor=ACTOR,
                idempotency_key=t.key(),
                card_ids=chosen,
                confirm=True,
            )
        )
        assert len(result.accepted) + len(result.rejected) == len(chosen)
        assert all(400 <= x.status < 500 for x in result.rejected)


class TestMoneyProperties:
    @settings(
        max_examples=30,
        # An example takes about a second (a tenant, its cards, every read after each
        # step): shrinking one would take many minutes, so a failure is reported as found.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        contracts=st.lists(contract_st, min_size=1, max_size=4),
        usage=st.dictionaries(
            st.sampled_from([f"{a}:{p}" for a in "AB" for p in PRODUCTS]),
            st.integers(0, 90),
            min_size=3,
            max_size=6,
        ),
        factor=st.sampled_from([1, 1, 10]),
        operations=st.lists(operation_st, min_size=1, max_size=6),
    )
    def test_previews_approvals_and_reads_agree_after_every_step(
        self,
        database_url: str,
        contracts: list[dict[str, Any]],
        usage: dict[str, int],
        factor: int,
        operations: list[tuple[str, int, Any]],
    ) -> None:
        async def run() -> None:
            database = Database(database_url)
            try:
                t = Tenant(database)
                await _seed(t, contracts, usage, factor)
                await _check_reads(t)
                for operation in operations:
                    await _step(t, operation)
                    await _check_reads(t)
            finally:
                await database.dispose()

        asyncio.run(run())
