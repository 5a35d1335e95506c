"""Random sequences of preview, approve, add, dismiss, restore, bulk actions and writeback
outcomes over random contracts (cycles, currencies, sales-unit factors, proration on and off).

What each step must do is worked out here from the seeded data alone, never read back from
the cards: a card's target is the vendor quantity in sales units less what the account's
other line items of the service line bill (the first line item, by contract then line
item, carries the difference); a change writes every dated quantity it names, the main
one included, in date order, without the steps that leave the quantity where it was.

After every step: the preview and what the approval sends to writeback both equal that
model, and so does what the activity log (the audit service's own reader) shows for it;
every card's target, its Details and an empty approval agree with the model target; each
currency's totals, in the card list and in the metrics, are the sum of its cards; no read
of cards, details, metrics or activity fails.

Runs reconciliation's and audit's own use cases on real databases, SQLite and PostgreSQL
(each example is a fresh tenant); the outbox is the record of what would be sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from tests.conftest import Databases
from trueup.audit import service as audit
from trueup.audit.main import MIGRATIONS as AUDIT_MIGRATIONS
from trueup.contracts import Envelope, wrap
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.platform.database import Database
from trueup.platform.messaging import outbox_table
from trueup.platform.migrations import upgrade
from trueup.reconciliation import actions, inputs, mapping
from trueup.reconciliation.handlers.queries import ANSWERS, answer_query
from trueup.reconciliation.main import MIGRATIONS as RECON_MIGRATIONS

D = Decimal
ACTOR = m.Actor(kind="user", id="u-prop", name="Property")
PRODUCTS = {"P1": "Managed Endpoint", "P2": "Cloud Backup 1TB", "P3": "EDR Agent"}
ACCOUNTS = ("A", "B")
Steps = list[tuple[date, Decimal]]


@dataclass(frozen=True)
class Stores:
    reconciliation: tuple[str, str | None]
    audit: tuple[str, str | None]


@pytest.fixture
async def stores(databases: Databases) -> Stores:
    """Migrated reconciliation and audit databases of the kind under test; every example
    works in a tenant of its own."""
    recon = await databases.for_service("reconciliation")
    activity = await databases.for_service("audit")
    await asyncio.to_thread(upgrade, RECON_MIGRATIONS, *recon)
    await asyncio.to_thread(upgrade, AUDIT_MIGRATIONS, *activity)
    return Stores(recon, activity)


contract_st = st.fixed_dictionaries(
    {
        "account": st.sampled_from(ACCOUNTS),
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

# A quantity a person types: any number, or the card's own quantity or target (so that
# steps which change nothing, and changes back to the target, are common).
quantity_st = st.one_of(st.integers(0, 90), st.sampled_from(["before", "target"]))

change_st = st.fixed_dictionaries(
    {
        "main": st.one_of(st.none(), quantity_st),
        # Days after the main change's date; 0 puts a step on the main change's own date.
        "steps": st.lists(
            st.tuples(st.integers(0, 40), quantity_st), max_size=3, unique_by=lambda s: s[0]
        ),
    }
)

# Weighted by repetition: empty approvals (one click: the card's target) are the most
# common step, and every step usually picks a card that accepts it.
KINDS = (
    "approve",
    "approve",
    "approve",
    "preview",
    "preview_approve",
    "preview_approve",
    "add",
    "dismiss",
    "restore",
    "bulk_approve",
    "bulk_dismiss",
    "bulk_restore",
    "outcome",
    "outcome",
)
operation_st = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, 50),
    change_st,
    st.sampled_from([True, True, True, True, False]),  # pick among cards that accept it
)


# -- the model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What a card must show, from the seeded data alone."""

    psa_quantity: Decimal
    target: Decimal | None
    new_revenue: bool


def _key(card: r.CardItem) -> str:
    if card.line_item_id is not None:
        return card.line_item_id
    return f"new:{card.account_id}:{card.service_line_id}"


@dataclass(frozen=True)
class World:
    """The seeded PSA contracts, vendor usage and sales-unit factor."""

    contracts: list[dict[str, Any]]
    usage: dict[str, int]
    factor: int

    @property
    def billed_products(self) -> set[str]:
        """Every product a line item bills: each becomes a service line, to which a SKU of
        the same name maps itself."""
        return {product for c in self.contracts for product, _, _ in c["items"]}

    @property
    def factored_product(self) -> str | None:
        """The product whose SKU is counted in units `factor` times smaller."""
        first = next(iter(self.usage)).split(":")[1]
        return first if self.factor != 1 and first in self.billed_products else None

    def vendor_quantities(self) -> dict[tuple[str, str], Decimal]:
        """(account, product) → the vendor's count in sales units (rounded up)."""
        found: dict[tuple[str, str], Decimal] = {}
        for key, quantity in self.usage.items():
            account, product = key.split(":")
            if product not in self.billed_products:
                continue  # no service line of that name: the SKU stays unmapped
            units = D(quantity)
            if product == self.factored_product:
                units = (units / self.factor).to_integral_value(rounding=ROUND_CEILING)
            found[(account, product)] = found.get((account, product), D(0)) + units
        return found

    def cards(self) -> dict[str, Expected]:
        """Every card the tenant must have, by line item (or new:<account>:<product>)."""
        vendor = self.vendor_quantities()
        expected: dict[str, Expected] = {}
        for account in ACCOUNTS:
            owned = sorted(
                (f"C{i}", c) for i, c in enumerate(self.contracts) if c["account"] == account
            )
            if not owned:
                continue  # no active contract: the account takes no part
            by_product: dict[str, list[tuple[str, Decimal]]] = {}
            for contract_id, contract in owned:
                index = contract_id[1:]
                items = sorted(
                    (f"L{index}-{j}", product, D(quantity))
                    for j, (product, quantity, _) in enumerate(contract["items"])
                )
                for line_id, product, quantity in items:
                    by_product.setdefault(product, []).append((line_id, quantity))
            for product, lines in by_product.items():
                usage = vendor.get((account, product))
                billed = sum((q for _, q in lines), D(0))
                for position, (line_id, quantity) in enumerate(lines):
                    if usage is None:
                        target = None
                    elif position == 0:
                        # The first line carries the difference: the others keep theirs.
                        target = max(D(0), usage - (billed - quantity))
                    else:
                        target = quantity
                    expected[line_id] = Expected(quantity, target, new_revenue=False)
            for (usage_account, product), usage in vendor.items():
                if usage_account == account and product not in by_product and usage > 0:
                    expected[f"new:{account}:{product}"] = Expected(D(0), usage, new_revenue=True)
        return expected


def _resolve(value: int | str, expected: Expected) -> Decimal | None:
    if value == "before":
        return expected.psa_quantity
    if value == "target":
        return expected.target
    return D(value)


def expected_steps(expected: Expected, default: date, spec: dict[str, Any] | None) -> Steps | None:
    """The steps a change request writes, or None when it must be refused (422).

    Every dated quantity, the main change included, in date order; a step that leaves the
    quantity where the step before left it is dropped. No quantity at all means the
    card's target from its default date.
    """
    wanted: Steps = []
    main = None if spec is None or spec["main"] is None else _resolve(spec["main"], expected)
    dated = [] if spec is None else spec["steps"]
    for days, value in dated:
        quantity = _resolve(value, expected)
        if quantity is None:
            return None
        wanted.append((default + timedelta(days=days), quantity))
    if spec is not None and spec["main"] is not None:
        if main is None:
            return None
        wanted.append((default, main))
    elif not dated:
        if expected.target is None:
            return None
        wanted.append((default, expected.target))
    if len({d for d, _ in wanted}) != len(wanted):
        return None  # two quantities on one date
    steps: Steps = []
    before = expected.psa_quantity
    for effective, quantity in sorted(wanted):
        if quantity != before:
            steps.append((effective, quantity))
            before = quantity
    return steps or None


def accepts(card: r.CardItem, action: str) -> bool:
    """Whether the card's state and kind allow `action` (the lifecycle as documented)."""
    undecided = (card.state == "pending" and not card.hidden) or card.state == "conflict"
    new_revenue = card.kind == "new_revenue"
    if action == "approve":
        return undecided and not new_revenue
    if action == "add":
        return undecided and new_revenue
    if action == "dismiss":
        return undecided or card.state == "failed"
    if action == "restore":
        return card.state == "dismissed"
    raise AssertionError(action)


def _plain(quantity: Decimal) -> str:
    if quantity == quantity.to_integral_value():
        return format(quantity.quantize(D(1)), "f")
    return format(quantity.normalize(), "f")


# -- the harness -------------------------------------------------------------------------


@dataclass
class Tenant:
    database: Database
    activity: Database
    world: World
    tenant_id: str = field(default_factory=lambda: f"tp{uuid.uuid4().hex[:10]}")
    keys: int = 0
    outbox_seen: int = 0
    commands: dict[str, m.ApplyWriteback] = field(default_factory=dict)
    """Writeback commands sent, by action id."""
    recorded: dict[str, Envelope[Any]] = field(default_factory=dict)
    """Events given to the activity log, by event id (its entry's id)."""
    accepted: set[str] = field(default_factory=set)
    """Ids of the recorded actions reconciliation accepted."""

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    async def ask(self, payload: Any) -> Any:
        envelope: Envelope[Any] = wrap(payload, tenant_id=self.tenant_id)
        answer, _ = await answer_query(self.database, envelope)
        return answer

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Callable[[Any], Awaitable[Any]]]:
        """Many queries in one read-only transaction (as many handler calls would see)."""
        async with self.database.transaction(self.tenant_id, readonly=True) as session:

            async def ask(payload: Any) -> Any:
                envelope: Envelope[Any] = wrap(payload, tenant_id=self.tenant_id)
                return await ANSWERS[type(payload)](session, envelope)

            yield ask

    async def sent(self) -> tuple[list[m.ApplyWriteback], list[Envelope[m.ActionRecorded]]]:
        """What the outbox staged since the last call: writeback commands and the actions
        recorded; the latter go on to the activity log, as the audit service would."""
        commands_subject = m.subject_for(m.ApplyWriteback, self.tenant_id)
        recorded_subject = m.subject_for(m.ActionRecorded, self.tenant_id)
        async with self.database.transaction(self.tenant_id) as session:
            rows = (
                await session.execute(
                    sa.select(outbox_table.c.id, outbox_table.c.subject, outbox_table.c.body)
                    .where(
                        outbox_table.c.tenant_id == self.tenant_id,
                        outbox_table.c.id > self.outbox_seen,
                    )
                    .order_by(outbox_table.c.id)
                )
            ).all()
        commands: list[m.ApplyWriteback] = []
        recorded: list[Envelope[m.ActionRecorded]] = []
        for row_id, subject, body in rows:
            self.outbox_seen = max(self.outbox_seen, row_id)
            if subject == commands_subject:
                command = Envelope[m.ApplyWriteback].model_validate_json(body).payload
                self.commands[command.action_id] = command
                commands.append(command)
            elif subject == recorded_subject:
                recorded.append(Envelope[m.ActionRecorded].model_validate_json(body))
        await self.record(recorded)
        return commands, recorded

    async def record(self, envelopes: list[Envelope[Any]]) -> None:
        if not envelopes:
            return
        async with self.activity.transaction(self.tenant_id) as session:
            await audit.record_events(session, self.tenant_id, envelopes, now=datetime.now(UTC))
        self.recorded.update({e.event_id: e for e in envelopes})

    async def activity_log(self) -> list[m.ActivityEntry]:
        """Every entry, page by page, through the audit service's own reader."""
        entries: list[m.ActivityEntry] = []
        cursor: str | None = None
        while True:
            # Small pages, so that following the cursor is read too.
            query = wrap(m.ListActivity(limit=7, cursor=cursor), tenant_id=self.tenant_id)
            async with self.activity.transaction(self.tenant_id, readonly=True) as session:
                page = await audit.list_activity(
                    session, query, now=datetime.now(UTC), default_days=365
                )
            entries.extend(page.items)
            if page.next_cursor is None:
                return entries
            cursor = page.next_cursor


async def _seed(t: Tenant) -> None:
    world = t.world
    today = datetime.now(UTC).date()
    snapshot = m.PsaSnapshot(
        connection_id="conn",
        psa="connectwise",
        sync_id="s1",
        batch_no=0,
        full=False,
        accounts=[m.PsaAccount(psa_id=a, name=f"Account {a}") for a in ACCOUNTS],
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
            for i, c in enumerate(world.contracts)
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
            for i, c in enumerate(world.contracts)
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
        for key, quantity in world.usage.items()
        for account, product in [key.split(":")]
    ]
    batch = m.UsageReported(
        vendor="pax8", source=m.UsageSource.CONNECTOR, batch_id="u1", records=records
    )
    async with t.database.transaction(t.tenant_id) as session:
        await inputs.apply_usage(session, wrap(batch, tenant_id=t.tenant_id))
    product = world.factored_product
    if product is not None:
        # The vendor counts in units `factor` times smaller; rounded up (the default).
        saved = r.SaveServiceMapping(
            vendor="pax8",
            sku=f"sku-{product}",
            service_line_id=product,
            factor=D(world.factor),
            actor=ACTOR,
        )
        async with t.database.transaction(t.tenant_id) as session:
            await mapping.save_service_mapping(
                session, t.tenant_id, wrap(saved, tenant_id=t.tenant_id)
            )


async def _all_cards(t: Tenant) -> list[r.CardItem]:
    page = await t.ask(r.ListCardsQuery(filter=r.CardFilter(include_hidden=True), limit=5000))
    return list(page.items)


def _money_by_currency(cards: list[r.CardItem]) -> dict[str, tuple[int, Decimal, Decimal, Decimal]]:
    """Per currency: priced cards and the sum of their monthly changes."""
    totals: dict[str, tuple[int, Decimal, Decimal, Decimal]] = {}
    for card in cards:
        if card.mrr_change is None:
            continue
        count, revenue, cost, profit = totals.get(card.currency, (0, D(0), D(0), D(0)))
        totals[card.currency] = (
            count + 1,
            revenue + card.mrr_change,
            cost + (card.mrr_cost_change or D(0)),
            profit + (card.mrr_profit_change or D(0)),
        )
    return totals


def _rows(rows: list[r.CurrencyTotals]) -> dict[str, tuple[int, Decimal, Decimal, Decimal]]:
    return {
        row.currency: (row.cards, row.mrr_change, row.mrr_cost_change, row.mrr_profit_change)
        for row in rows
    }


async def _check_reads(t: Tenant, model: dict[str, Expected]) -> None:
    """No read fails, and every read agrees with the model and with the cards."""
    async with t.reading() as ask:
        await _check_cards(ask, model)
    await _check_activity(t)


async def _check_cards(ask: Callable[[Any], Awaitable[Any]], model: dict[str, Expected]) -> None:
    page = await ask(r.ListCardsQuery(filter=r.CardFilter(include_hidden=True), limit=5000))
    cards = list(page.items)
    # The cards are the model's, each with the model's quantities and target.
    assert {_key(c): (c.psa_quantity, c.target_quantity) for c in cards} == {
        k: (e.psa_quantity, e.target) for k, e in model.items()
    }
    for card in cards:
        expected = model[_key(card)]
        assert card.is_new == expected.new_revenue
        if not expected.new_revenue:
            agrees = expected.target is None or expected.target == expected.psa_quantity
            assert card.kind == ("no_change" if agrees else "reconcile"), card
        # Details default to the same target.
        details = await ask(r.GetCardQuery(card_id=card.card_id))
        assert details.change.target_quantity == expected.target
        assert details.card.target_quantity == expected.target

    # Each currency's totals are the sum of its cards; none adds two currencies.
    assert _rows(page.totals.by_currency) == _money_by_currency(cards)
    assert page.totals.cards == len(cards)
    pending = [
        c
        for c in cards
        if c.state == "pending" and not c.hidden and c.kind in ("reconcile", "new_revenue")
    ]
    metrics = await ask(r.GetMetrics())
    assert metrics.cards_pending == len(pending)
    assert _rows(metrics.by_currency) == _money_by_currency(pending)
    await ask(r.ListCardsQuery(sort="revenue", limit=10))
    await ask(r.ListCardsQuery(sort="delta", limit=10))


async def _check_activity(t: Tenant) -> None:
    """The activity log reads, with one entry per recorded event, telling what was sent."""
    entries = {e.entry_id: e for e in await t.activity_log()}
    assert set(entries) == set(t.recorded)
    for event_id, envelope in t.recorded.items():
        entry, payload = entries[event_id], envelope.payload
        assert entry.card_id == payload.card_id
        if not isinstance(payload, m.ActionRecorded):
            assert entry.action_type == "writeback"
            continue
        assert entry.action_type == payload.action
        if payload.action not in ("approve", "add"):
            continue
        written = [(c.effective_date, c.quantity) for c in t.commands[payload.action_id].changes]
        assert [(c.effective_date, c.quantity) for c in payload.changes] == written
        assert [(s.effective_date, s.quantity) for s in entry.prorated_lines] == written
        assert entry.quantity_after == written[-1][1]
        if payload.action == "approve":
            assert payload.quantity_before is not None
            assert entry.quantity_before == payload.quantity_before
            chain = " → ".join(
                _plain(q) for q in [payload.quantity_before, *(q for _, q in written)]
            )
            assert f": {chain}" in entry.summary, (entry.summary, chain)


def _request(default: date, spec: dict[str, Any], expected: Expected) -> r.ChangeRequest:
    main = None if spec["main"] is None else _resolve(spec["main"], expected)
    steps = [(default + timedelta(days=k), _resolve(v, expected)) for k, v in spec["steps"]]
    return r.ChangeRequest(
        quantity=main,
        effective_date=default,
        prorated_changes=[
            m.ProratedChange(effective_date=effective, quantity=quantity)
            for effective, quantity in steps
            if quantity is not None
        ],
    )


def _usable(spec: dict[str, Any], expected: Expected) -> bool:
    """A request a person can make: "the target" of a card without one is no quantity."""
    values = [spec["main"], *(v for _, v in spec["steps"])]
    return expected.target is not None or "target" not in values


async def _attempt(t: Tenant, payload: Any) -> tuple[Any, int | None]:
    try:
        return await t.ask(payload), None
    except QueryFailedError as exc:
        event(f"refused: {exc.status} {exc.detail[:30]}")
        return None, exc.status


def _check_preview(
    preview: r.ChangePreview, expected: Expected, steps: Steps, prorates: bool
) -> None:
    """The preview shows the model's steps, and bills each of them in its lines."""
    chain = []
    before = expected.psa_quantity
    for effective, quantity in steps:
        chain.append((effective, before, quantity))
        before = quantity
    assert [(s.effective_date, s.quantity_before, s.quantity_after) for s in preview.steps] == chain
    # Lines come step by step (a step may bill several periods): one run per step.
    runs: list[tuple[date, Decimal, Decimal]] = []
    for line in preview.lines:
        if not runs or runs[-1][1:] != (line.quantity_before, line.quantity_after):
            runs.append((line.effective_date, line.quantity_before, line.quantity_after))
    assert [run[1:] for run in runs] == [step[1:] for step in chain]
    if prorates:
        # Prorated, each step is billed from its own date.
        assert [run[0] for run in runs] == [step[0] for step in chain]


def _approval(card: r.CardItem) -> str:
    return "add" if card.kind == "new_revenue" else "approve"


async def _step(
    t: Tenant, model: dict[str, Expected], operation: tuple[str, int, dict[str, Any], bool]
) -> None:
    kind, pick, spec, steer = operation
    cards = await _all_cards(t)
    if not cards:
        return
    if kind == "outcome":
        await _outcome(t, cards, pick)
        return
    if kind.startswith("bulk_"):
        await _bulk(t, model, cards, kind.removeprefix("bulk_"), pick)
        return
    if kind in ("preview", "preview_approve"):
        candidates = [c for c in cards if accepts(c, _approval(c))]
    else:
        candidates = [c for c in cards if accepts(c, kind)]
        if kind in ("approve", "add"):
            # One click: steer towards cards whose target differs, which then write it.
            differs = [c for c in candidates if model[_key(c)].target not in (None, c.psa_quantity)]
            candidates = differs or candidates
    pool = candidates if steer and candidates else cards
    card = pool[pick % len(pool)]
    action = _approval(card) if kind in ("preview", "preview_approve") else kind
    expected = model[_key(card)]
    details = await t.ask(r.GetCardQuery(card_id=card.card_id))
    default = details.change.default_effective_date

    model_steps: Steps | None = None
    if kind in ("preview", "preview_approve"):
        if not _usable(spec, expected):
            return
        change = _request(default, spec, expected)
        model_steps = expected_steps(expected, default, spec)
        preview, status = await _attempt(t, r.PreviewQuery(card_id=card.card_id, change=change))
        if model_steps is None:
            assert status == 422, (status, spec, expected)
        else:
            assert preview is not None, (status, spec, expected)
            _check_preview(preview, expected, model_steps, details.change.proration_allowed)
            event(f"previewed {min(len(model_steps), 3)}+ steps")
        if kind == "preview":
            assert await t.sent() == ([], []), "a preview sends nothing"
            return
        if spec["main"] is None and not spec["steps"]:
            event("empty approval after a preview")
    else:
        change = r.ChangeRequest()
        if action in ("approve", "add"):
            model_steps = expected_steps(expected, default, None)
            writes = model_steps is not None and accepts(card, action)
            event(f"empty {action}: {'writes' if writes else 'refused'}")
            if writes and expected.target != card.vendor_quantity:
                event("empty approval where the target is not the vendor quantity")

    accepted, status = await _attempt(
        t,
        r.ActionQuery(
            card_id=card.card_id,
            action=action,  # type: ignore[arg-type]
            actor=ACTOR,
            idempotency_key=t.key(),
            change=change,
            confirm=True,
        ),
    )
    commands, recorded = await t.sent()
    if not accepts(card, action):
        assert status == 409, (status, card.state, action)
        assert (commands, recorded) == ([], [])
        return
    if action in ("approve", "add") and model_steps is None:
        assert status == 422, (status, spec, expected)
        assert (commands, recorded) == ([], [])
        return
    assert accepted is not None, (status, action, spec, expected)
    t.accepted.add(accepted.action_id)
    assert [(e.payload.action_id, e.payload.action) for e in recorded] == [
        (accepted.action_id, action)
    ]
    if action in ("approve", "add"):
        # What is written is the model's steps: the preview's, when there was one.
        assert model_steps is not None
        assert [c.action_id for c in commands] == [accepted.action_id]
        assert [(c.effective_date, c.quantity) for c in commands[0].changes] == model_steps
        payload = recorded[0].payload
        assert payload.quantity_before == expected.psa_quantity
        assert payload.quantity_after == model_steps[-1][1]
    else:
        assert commands == []


async def _bulk(
    t: Tenant, model: dict[str, Expected], cards: list[r.CardItem], action: str, pick: int
) -> None:
    if not cards:
        return
    chosen = cards[pick % len(cards) :: 2]
    async with t.reading() as ask:
        defaults = {
            c.card_id: (await ask(r.GetCardQuery(card_id=c.card_id))).change.default_effective_date
            for c in chosen
        }
    result = await t.ask(
        r.BulkActionQuery(
            action=action,  # type: ignore[arg-type]
            actor=ACTOR,
            idempotency_key=t.key(),
            card_ids=[c.card_id for c in chosen],
            confirm=True,
        )
    )
    commands, recorded = await t.sent()
    wanted: dict[str, Steps | None] = {}
    for card in chosen:
        if not accepts(card, action):
            continue
        if action == "approve":
            steps = expected_steps(model[_key(card)], defaults[card.card_id], None)
            if steps is None:
                continue
            wanted[card.card_id] = steps
        else:
            wanted[card.card_id] = None
    event(f"bulk {action}: {len(wanted)} of {len(chosen)}")
    assert {a.card_id for a in result.accepted} == set(wanted)
    assert len(result.accepted) + len(result.rejected) == len(chosen)
    assert all(x.status in (409, 422) for x in result.rejected)
    t.accepted.update(a.action_id for a in result.accepted)
    by_card = {a.card_id: a.action_id for a in result.accepted}
    assert {e.payload.action_id for e in recorded} == set(by_card.values())
    if action == "approve":
        assert {
            c.card_id: [(s.effective_date, s.quantity) for s in c.changes] for c in commands
        } == wanted
        assert {c.action_id for c in commands} == set(by_card.values())
    else:
        assert commands == []


async def _outcome(t: Tenant, cards: list[r.CardItem], pick: int) -> None:
    """Writeback reports on an approved card: applied, a conflict or a failure."""
    approved = [c for c in cards if c.state == "approved"]
    if not approved:
        return
    card = approved[pick % len(approved)]
    command = next(c for c in reversed(t.commands.values()) if c.card_id == card.card_id)
    fields: dict[str, Any] = {
        "job_id": f"j{uuid.uuid4().hex[:6]}",
        "actor": command.actor,
        "idempotency_key": command.idempotency_key,
        "card_id": card.card_id,
        "action_id": command.action_id,
        "psa": command.psa,
        "contract_psa_id": command.contract_psa_id,
        "line_item_psa_id": command.line_item_psa_id,
        "quantity_before": command.expected_quantity,
        "quantity_after": command.changes[-1].quantity,
        "effective_date": command.changes[0].effective_date,
        "account_name": command.account_name,
        "service_line": command.product_name,
        "changes": command.changes,
        "action": command.action,
    }
    outcome = ("applied", "conflict", "failed")[pick % 3]
    payload: m.WritebackOutcomeEvent
    if outcome == "applied":
        payload = m.WritebackApplied(**fields)
    elif outcome == "conflict":
        found = (command.expected_quantity or D(0)) + 1
        payload = m.WritebackConflict(
            **fields, expected_quantity=command.expected_quantity or D(0), found_quantity=found
        )
    else:
        payload = m.WritebackFailed(**fields, error="PSA said no", attempts=3, dead_lettered=False)
    event(f"outcome: {outcome}")
    envelope: Envelope[Any] = wrap(payload, tenant_id=t.tenant_id)
    async with t.database.transaction(t.tenant_id) as session:
        await actions.apply_writeback_outcome(session, envelope)
    await t.record([envelope])
    after = next(c for c in await _all_cards(t) if c.card_id == card.card_id)
    assert after.state == outcome
    assert after.hidden is (outcome == "applied")


class TestMoneyProperties:
    @settings(
        max_examples=40,
        # An example takes about a second (a tenant, its cards, every read after each
        # step): shrinking one would take many minutes, so a failure is reported as found.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        contracts=st.lists(contract_st, min_size=1, max_size=4),
        usage=st.dictionaries(
            st.sampled_from([f"{a}:{p}" for a in ACCOUNTS for p in PRODUCTS]),
            st.integers(0, 90),
            min_size=3,
            max_size=6,
        ),
        factor=st.sampled_from([1, 1, 10]),
        operations=st.lists(operation_st, min_size=1, max_size=10),
    )
    def test_previews_approvals_activity_and_reads_agree_after_every_step(
        self,
        stores: Stores,
        contracts: list[dict[str, Any]],
        usage: dict[str, int],
        factor: int,
        operations: list[tuple[str, int, dict[str, Any], bool]],
    ) -> None:
        async def run() -> None:
            database = Database(*stores.reconciliation)
            activity = Database(*stores.audit)
            try:
                t = Tenant(database, activity, World(contracts, usage, factor))
                model = t.world.cards()
                await _seed(t)
                await _check_reads(t, model)
                for operation in operations:
                    await _step(t, model, operation)
                    await _check_reads(t, model)
                # Every accepted action is in the activity log, and nothing else is.
                assert {
                    e.payload.action_id
                    for e in t.recorded.values()
                    if isinstance(e.payload, m.ActionRecorded)
                } == t.accepted
            finally:
                await database.dispose()
                await activity.dispose()

        asyncio.run(run())
