"""Actions on cards: the state each moves a card to, what it stages for the writeback and
the activity log, and the refusals a person sees (with their status codes)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.reconciliation.conftest import USER, Tenant
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.contracts import wrap
from trueup.platform.broker import QueryFailedError
from trueup.platform.messaging import staged_together
from trueup.reconciliation import actions, cards, inputs
from trueup.reconciliation import state as st
from trueup.reconciliation.handlers import queries
from trueup.reconciliation.models import CardRow
from trueup.reconciliation.repository import Repository

D = Decimal
ENDPOINT = "Managed Endpoint"
BACKUP = "Cloud Backup 1TB"


async def act(tenant: Tenant, card_id: str, action: str, **fields: Any) -> r.ActionAccepted:
    query = r.ActionQuery(
        card_id=card_id,
        action=action,  # type: ignore[arg-type]
        actor=USER,
        idempotency_key=fields.pop("key", uuid.uuid4().hex),
        **fields,
    )
    return await tenant.run(lambda s: actions.act(s, tenant.tenant_id, query))


async def refusal(tenant: Tenant, card_id: str, action: str, **fields: Any) -> QueryFailedError:
    with pytest.raises(QueryFailedError) as raised:
        await act(tenant, card_id, action, **fields)
    return raised.value


async def outcome(tenant: Tenant, card_id: str, payload_type: type[Any], **extra: Any) -> None:
    fields: dict[str, Any] = {
        "job_id": "job-1",
        "actor": USER,
        "idempotency_key": "wb-1",
        "card_id": card_id,
        "action_id": "a1",
        "psa": "connectwise",
        "contract_psa_id": "C-A",
        "line_item_psa_id": "L-A-P1",
        "quantity_before": None,
        "quantity_after": None,
        "effective_date": None,
    }
    envelope = wrap(payload_type(**fields, **extra), tenant_id=tenant.tenant_id)
    await tenant.run(lambda s: actions.apply_writeback_outcome(s, envelope))


def kinds(staged: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [subject for subject, _ in staged]


async def failed_approval(tenant: Tenant) -> CardRow:
    """Endpoint 10 -> 14 approved, and its writeback failed: the card waits for a retry."""
    card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
    await act(tenant, card.card_id, "approve")
    await outcome(
        tenant, card.card_id, m.WritebackFailed, error="no", attempts=3, dead_lettered=False
    )
    return card


class TestApprove:
    async def test_approving_stages_the_writeback_and_hides_the_card(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        before = len(await tenant.staged())

        accepted = await act(tenant, card.card_id, "approve", reason="true-up")

        assert accepted.state == "approved"
        row = (await tenant.cards())[ENDPOINT]
        assert (row.state, row.hidden) == ("approved", True)
        staged = (await tenant.staged())[before:]
        assert kinds(staged) == [
            "recon.*.action.recorded.v1",
            "cmd.writeback.*.apply.v1",
            "recon.*.cards.changed.v1",
        ]
        recorded, command = staged[0][1], staged[1][1]
        # Compared as numbers: PostgreSQL keeps the column's scale ("10.000000").
        assert (D(recorded["quantity_before"]), D(recorded["quantity_after"])) == (10, 14)
        assert recorded["reason"] == "true-up"
        assert D(command["expected_quantity"]) == 10
        assert [D(c["quantity"]) for c in command["changes"]] == [14]
        assert command["line_item_psa_id"] == "L-A-P1"

    async def test_the_same_key_twice_is_one_action(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]

        first = await act(tenant, card.card_id, "approve", key="k-1")
        second = await act(tenant, card.card_id, "approve", key="k-1")

        assert second == first
        assert kinds(await tenant.staged()).count("cmd.writeback.*.apply.v1") == 1

    async def test_a_large_change_needs_a_confirmation(self, tenant: Tenant) -> None:
        # 10 to 200 units is past the default limit of 100 units.
        card = (await tenant.synced({"P1": 10}, {"P1": 200}))[ENDPOINT]

        refused = await refusal(tenant, card.card_id, "approve")
        assert (refused.status, refused.title) == (409, "Confirmation required")
        assert (await tenant.cards())[ENDPOINT].state == "pending"

        accepted = await act(tenant, card.card_id, "approve", confirm=True)
        assert accepted.state == "approved"

    async def test_a_card_already_approved_is_refused_with_409(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        await act(tenant, card.card_id, "approve")

        refused = await refusal(tenant, card.card_id, "approve")

        assert refused.status == 409
        assert "This card is approved" in refused.detail

    async def test_an_unknown_card_is_404(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10}, {"P1": 14})
        assert (await refusal(tenant, "nope", "approve")).status == 404

    async def test_a_change_that_writes_nothing_is_422(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]

        refused = await refusal(
            tenant, card.card_id, "approve", change=r.ChangeRequest(quantity=D(10))
        )

        assert (refused.status, refused.title) == (422, "Nothing to write")


async def new_revenue(tenant: Tenant) -> CardRow:
    """A New Revenue card: account A uses 40 Cloud Backup, which another account's contract
    bills at 2.00 (the catalogue price the card is valued at) and A's does not bill."""
    today = date.today()
    snapshot = tenant.snapshot({"P1": 10})
    snapshot = snapshot.model_copy(
        update={
            "accounts": [*snapshot.accounts, m.PsaAccount(psa_id="B", name="Account B")],
            "contracts": [
                *snapshot.contracts,
                m.PsaContract(
                    psa_id="C-B",
                    account_psa_id="B",
                    name="Contract B",
                    status="active",
                    start_date=today - timedelta(days=400),
                    billing_cycle="monthly",
                    currency="USD",
                ),
            ],
            "line_items": [
                *snapshot.line_items,
                m.PsaLineItem(
                    psa_id="L-B-P2",
                    contract_psa_id="C-B",
                    product_id="P2",
                    product_name=BACKUP,
                    quantity=D(3),
                    unit_price=D("2.00"),
                    unit_cost=D("1.00"),
                ),
            ],
        }
    )
    await tenant.run(lambda s: inputs.apply_snapshot(s, wrap(snapshot, tenant_id=tenant.tenant_id)))
    usage = wrap(tenant.usage({"P1": 10, "P2": 40}), tenant_id=tenant.tenant_id)
    await tenant.run(lambda s: inputs.apply_usage(s, usage))
    rows = await tenant.run(lambda s: Repository(s, tenant.tenant_id).all_of(CardRow))
    (card,) = [row for row in rows if row.kind == "new_revenue" and row.account_id == "A"]
    assert (card.unit_price, card.target_quantity) == (D(2), D(40))
    return card


class TestAnAddIsWeighedAtItsOwnPrice:
    """40 units at the catalogue's 2.00 are 80 a month; added at 1,000 they are 40,000, past
    the default money limit of 5,000: the add and its preview must both say so."""

    async def test_an_add_past_the_money_limit_at_its_price_needs_a_confirmation(
        self, tenant: Tenant
    ) -> None:
        card = await new_revenue(tenant)
        fields: dict[str, Any] = {
            "contract_id": "C-A",
            "change": r.ChangeRequest(quantity=D(40)),
            "unit_price": D(1000),
        }

        refused = await refusal(tenant, card.card_id, "add", **fields)

        assert (refused.status, refused.title) == (409, "Confirmation required")
        assert "40000 per period > 5000" in refused.detail
        assert "cmd.writeback.*.apply.v1" not in kinds(await tenant.staged())
        accepted = await act(tenant, card.card_id, "add", confirm=True, **fields)
        assert accepted.state == "approved"

    async def test_the_same_add_at_the_catalogue_price_is_not_large(self, tenant: Tenant) -> None:
        card = await new_revenue(tenant)

        accepted = await act(
            tenant, card.card_id, "add", contract_id="C-A", change=r.ChangeRequest(quantity=D(40))
        )

        assert accepted.state == "approved"

    async def test_the_preview_of_the_add_is_priced_and_weighed_as_it_is_written(
        self, tenant: Tenant
    ) -> None:
        card = await new_revenue(tenant)
        query = r.PreviewQuery(
            card_id=card.card_id,
            change=r.ChangeRequest(quantity=D(40)),
            unit_price=D(1000),
            unit_cost=D(600),
        )

        preview = await tenant.run(lambda s: cards.preview(s, tenant.tenant_id, query))

        assert preview.large_change == "40000 per period > 5000"
        assert (preview.mrr_change, preview.margin) == (D("40000.00"), D("40.00"))
        at_catalogue = r.PreviewQuery(card_id=card.card_id, change=r.ChangeRequest(quantity=D(40)))
        plain = await tenant.run(lambda s: cards.preview(s, tenant.tenant_id, at_catalogue))
        assert (plain.large_change, plain.mrr_change) == (None, D("80.00"))

    async def test_only_an_add_is_previewed_at_another_price(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        query = r.PreviewQuery(card_id=card.card_id, unit_price=D(1000))

        with pytest.raises(QueryFailedError) as raised:
            await tenant.run(lambda s: cards.preview(s, tenant.tenant_id, query))

        assert raised.value.status == 422


class TestDismissAndRestore:
    async def test_dismiss_hides_and_restore_brings_the_card_back(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]

        assert (await act(tenant, card.card_id, "dismiss")).state == "dismissed"
        row = (await tenant.cards())[ENDPOINT]
        assert (row.state, row.hidden, row.actioned_on) == ("dismissed", True, date.today())

        assert (await act(tenant, card.card_id, "restore")).state == "pending"
        row = (await tenant.cards())[ENDPOINT]
        assert (row.state, row.hidden, row.actioned_on) == ("pending", False, None)
        assert "cmd.writeback.*.apply.v1" not in kinds(await tenant.staged())

    async def test_only_a_dismissed_card_is_restored(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]

        refused = await refusal(tenant, card.card_id, "restore")

        assert refused.status == 409
        assert refused.detail == "Only a dismissed card can be restored; this one is pending."

    async def test_a_dismissed_card_cannot_be_approved(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        await act(tenant, card.card_id, "dismiss")

        assert (await refusal(tenant, card.card_id, "approve")).status == 409

    @pytest.mark.parametrize(("action", "done"), [("add", "added"), ("dismiss", "dismissed")])
    async def test_the_refusal_names_the_action_in_words(
        self, tenant: Tenant, action: str, done: str
    ) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        await act(tenant, card.card_id, "dismiss")

        refused = await refusal(tenant, card.card_id, action)

        assert (refused.status, refused.detail) == (
            409,
            f"This card is dismissed and cannot be {done}; refresh to see it.",
        )

    async def test_a_reconcile_card_is_approved_not_added(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]

        refused = await refusal(tenant, card.card_id, "add")

        assert (refused.status, refused.detail) == (409, "Only a New Revenue card can be added.")
        assert (await tenant.cards())[ENDPOINT].state == "pending"


class TestWritebackOutcomes:
    async def test_applied_clears_the_error(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        await act(tenant, card.card_id, "approve")

        await outcome(tenant, card.card_id, m.WritebackApplied)

        row = (await tenant.cards())[ENDPOINT]
        assert (row.state, row.error) == ("applied", None)

    async def test_a_conflict_shows_the_card_with_both_quantities(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        await act(tenant, card.card_id, "approve")

        await outcome(
            tenant,
            card.card_id,
            m.WritebackConflict,
            expected_quantity=D(10),
            found_quantity=D(11),
        )

        row = (await tenant.cards())[ENDPOINT]
        assert (row.state, row.hidden) == ("conflict", False)
        assert row.error is not None
        assert row.error.startswith("The PSA now shows 11, not the 10 this card showed")

    async def test_a_failed_writeback_is_retried_with_its_job(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        await act(tenant, card.card_id, "approve")
        await outcome(
            tenant,
            card.card_id,
            m.WritebackFailed,
            error="PSA said no",
            attempts=3,
            dead_lettered=False,
        )
        row = (await tenant.cards())[ENDPOINT]
        assert (row.state, row.hidden, row.error, row.last_job_id) == (
            "failed",
            False,
            "PSA said no",
            "job-1",
        )

        assert (await act(tenant, card.card_id, "retry")).state == "approved"

        row = (await tenant.cards())[ENDPOINT]
        assert (row.state, row.hidden, row.error) == ("approved", True, None)
        retry = [p for s, p in await tenant.staged() if s == "cmd.writeback.*.retry.v1"]
        assert [p["job_id"] for p in retry] == ["job-1"]

    async def test_a_retry_is_one_activity_event_naming_the_write_it_sends_again(
        self, tenant: Tenant
    ) -> None:
        card = await failed_approval(tenant)
        before = len(await tenant.staged())

        retried = await act(tenant, card.card_id, "retry", key="k-retry")
        await act(tenant, card.card_id, "retry", key="k-retry")  # the same request again

        staged = (await tenant.staged())[before:]
        assert kinds(staged) == [
            "recon.*.action.recorded.v1",
            "cmd.writeback.*.retry.v1",
            "recon.*.cards.changed.v1",
        ]
        recorded = m.ActionRecorded.model_validate(staged[0][1], strict=False)
        assert (recorded.action, recorded.action_id, recorded.card_id) == (
            "retry",
            retried.action_id,
            card.card_id,
        )
        assert (recorded.quantity_before, recorded.quantity_after) == (10, 14)
        assert [c.quantity for c in recorded.changes] == [14]
        assert (recorded.unit_price, recorded.currency) == (D("12.50"), "USD")

    async def test_a_conflict_is_approved_again_against_what_the_psa_now_holds(
        self, tenant: Tenant
    ) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        await act(tenant, card.card_id, "approve")
        await outcome(
            tenant, card.card_id, m.WritebackConflict, expected_quantity=D(10), found_quantity=D(11)
        )
        # The next sync brings the quantity someone set in the PSA meanwhile.
        snapshot = wrap(tenant.snapshot({"P1": 11}), tenant_id=tenant.tenant_id)
        await tenant.run(lambda s: inputs.apply_snapshot(s, snapshot))
        row = (await tenant.cards())[ENDPOINT]
        assert (row.state, row.psa_quantity) == ("conflict", D(11))
        assert st.card_item(row).actions == ["approve", "dismiss", "set_effective_date"]
        before = len(await tenant.staged())

        assert (await act(tenant, card.card_id, "approve")).state == "approved"

        commands = [p for s, p in (await tenant.staged())[before:] if s.startswith("cmd.")]
        assert [(D(c["expected_quantity"]), D(c["changes"][-1]["quantity"])) for c in commands] == [
            (D(11), D(14))
        ]

    async def test_a_failed_card_is_dismissed_or_retried_never_approved(
        self, tenant: Tenant
    ) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        await act(tenant, card.card_id, "approve")
        await outcome(
            tenant, card.card_id, m.WritebackFailed, error="no", attempts=3, dead_lettered=False
        )
        row = (await tenant.cards())[ENDPOINT]
        assert st.card_item(row).actions == ["dismiss", "retry", "set_effective_date"]
        assert (await refusal(tenant, card.card_id, "approve")).status == 409

        assert (await act(tenant, card.card_id, "dismiss")).state == "dismissed"

    async def test_a_retry_of_an_earlier_cycles_failure_stays_hidden_while_it_runs(
        self, tenant: Tenant
    ) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        last_cycle = date.today() - timedelta(days=35)
        query = r.ActionQuery(
            card_id=card.card_id, action="approve", actor=USER, idempotency_key="k-approve"
        )
        await tenant.run(lambda s: actions.act(s, tenant.tenant_id, query, today=last_cycle))
        await outcome(
            tenant, card.card_id, m.WritebackFailed, error="no", attempts=3, dead_lettered=False
        )
        await act(tenant, card.card_id, "retry")

        # Usage moves while the retry is being written: the recompute must not bring the
        # card back as pending, where it could be approved a second time.
        usage = wrap(tenant.usage({"P1": 15}), tenant_id=tenant.tenant_id)
        await tenant.run(lambda s: inputs.apply_usage(s, usage))

        row = (await tenant.cards())[ENDPOINT]
        assert (row.state, row.hidden) == ("approved", True)
        assert (await refusal(tenant, card.card_id, "approve")).status == 409

    async def test_only_a_failed_writeback_is_retried(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]

        refused = await refusal(tenant, card.card_id, "retry")

        assert refused.status == 409
        assert refused.detail.startswith("Only a failed writeback can be retried")


class TestEffectiveDate:
    async def test_the_date_is_required(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]

        refused = await refusal(tenant, card.card_id, "set_effective_date")

        assert (refused.status, refused.detail) == (422, "effective_date is required.")

    async def test_a_planned_date_is_kept_on_the_card(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        planned = date.today()

        await act(
            tenant,
            card.card_id,
            "set_effective_date",
            change=r.ChangeRequest(effective_date=planned),
        )

        row = (await tenant.cards())[ENDPOINT]
        assert (row.planned_effective_date, row.state) == (planned, "pending")


class TestBulk:
    async def test_each_card_succeeds_or_fails_alone(self, tenant: Tenant) -> None:
        cards = await tenant.synced({"P1": 10, "P2": 10}, {"P1": 14, "P2": 10})
        query = r.BulkActionQuery(
            action="dismiss",
            actor=USER,
            idempotency_key="bulk-1",
            card_ids=[cards[ENDPOINT].card_id, "missing"],
        )
        envelope = wrap(query, tenant_id=tenant.tenant_id)

        result = await tenant.run(lambda s: actions.bulk(s, tenant.tenant_id, envelope))

        assert [(a.card_id, a.state) for a in result.accepted] == [
            (cards[ENDPOINT].card_id, "dismissed")
        ]
        assert [(x.card_id, x.status) for x in result.rejected] == [("missing", 404)]
        after = await tenant.cards()
        assert (after[ENDPOINT].state, after[BACKUP].state) == ("dismissed", "pending")

    async def test_a_filter_selects_the_cards(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10, "P2": 10}, {"P1": 14, "P2": 10})
        query = r.BulkActionQuery(
            action="dismiss",
            actor=USER,
            idempotency_key="bulk-2",
            filter=r.CardFilter(q="backup"),
        )
        envelope = wrap(query, tenant_id=tenant.tenant_id)

        result = await tenant.run(lambda s: actions.bulk(s, tenant.tenant_id, envelope))

        assert len(result.accepted) == 1
        after = await tenant.cards()
        assert (after[ENDPOINT].state, after[BACKUP].state) == ("pending", "dismissed")


def _action(tenant: Tenant, card_id: str, action: str = "approve") -> Any:
    return wrap(
        r.ActionQuery(
            card_id=card_id,
            action=action,  # type: ignore[arg-type]
            actor=USER,
            idempotency_key=uuid.uuid4().hex,
        ),
        tenant_id=tenant.tenant_id,
    )


class TestTheTenantsLock:
    """Every writer of a tenant waits while an action holds the tenant's lock: it is held
    for the card's fresh read and the writes, not for the action's other reads."""

    async def test_an_approval_makes_eight_statements_while_it_holds_the_lock(
        self, tenant: Tenant
    ) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        with tenant.statements() as statements:
            answer, wrote = await queries.answer_query(
                tenant.database, _action(tenant, card.card_id)
            )
        assert wrote
        assert isinstance(answer, r.ActionAccepted)
        assert answer.state == "approved"
        while_locked = _from_the_lock(statements)
        # The lock, the cycle's schedule, the idempotency key, the card; the card's
        # update, the action; the settings row and the three events. Before, seventeen:
        # the settings row locked three times, an event a statement, the card twice.
        assert len(while_locked) <= 8, while_locked
        assert sum("FOR UPDATE" in s for s in statements) <= 1, while_locked
        assert kinds(await tenant.staged())[-3:] == [
            "recon.*.action.recorded.v1",
            "cmd.writeback.*.apply.v1",
            "recon.*.cards.changed.v1",
        ]

    async def test_a_card_changed_after_the_read_ahead_is_decided_as_it_is_now(
        self, tenant: Tenant
    ) -> None:
        if not tenant.database.is_postgres:
            pytest.skip("SQLite's writers take turns: nothing changes between the reads")
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        first = _action(tenant, card.card_id)
        async with tenant.database.transaction(tenant.tenant_id) as session:
            held = await actions.read_ahead(session, tenant.tenant_id, [first.payload])
            assert isinstance(held[0], CardRow)
            # Another approval of the same card commits in the meantime.
            await queries.answer_query(tenant.database, _action(tenant, card.card_id))
            await Repository(session, tenant.tenant_id).lock_tenant()
            (refused,) = await actions.act_together(session, tenant.tenant_id, [first])
        assert isinstance(refused, QueryFailedError)
        assert refused.status == 409
        approvals = [p for k, p in await tenant.staged() if k == "cmd.writeback.*.apply.v1"]
        assert len(approvals) == 1


class TestActionsTakenTogether:
    """Actions of one tenant that waited for its lock are taken in one transaction
    (`actions.act_together`): each decided as if alone, the lock held about as long."""

    async def test_three_approvals_hold_the_lock_for_as_many_statements_as_one(
        self, tenant: Tenant
    ) -> None:
        synced = await tenant.synced({"P1": 10, "P2": 3, "P3": 7}, {"P1": 14, "P2": 5, "P3": 9})
        names = [ENDPOINT, BACKUP, "EDR Agent"]
        group = [_action(tenant, synced[name].card_id) for name in names]
        with tenant.statements() as statements:
            answers = await queries.answer_actions(tenant.database, tenant.tenant_id, group)
        assert [a.state for a in answers if isinstance(a, r.ActionAccepted)] == ["approved"] * 3
        cards_now = await tenant.cards()
        assert [cards_now[name].state for name in names] == ["approved"] * 3
        # The lock, the cycle's schedule, the keys, the cards; the actions, the cards'
        # updates, the settings row, the events. Taken one by one: eight each.
        while_locked = _from_the_lock(statements)
        assert len(while_locked) <= 8, while_locked
        staged = kinds(await tenant.staged())
        assert staged.count("cmd.writeback.*.apply.v1") == 3
        assert staged.count("recon.*.action.recorded.v1") == 3

    async def test_a_refused_action_leaves_nothing_and_the_others_go_through(
        self, tenant: Tenant
    ) -> None:
        synced = await tenant.synced({"P1": 10, "P2": 3, "P3": 7}, {"P1": 14, "P2": 5, "P3": 9})
        await act(tenant, synced[BACKUP].card_id, "dismiss")
        before = await tenant.staged()
        group = [
            _action(tenant, synced[ENDPOINT].card_id),
            _action(tenant, synced[BACKUP].card_id),  # dismissed: refused
            _action(tenant, "no-such-card"),
            _action(tenant, synced["EDR Agent"].card_id),
        ]

        answers = await queries.answer_actions(tenant.database, tenant.tenant_id, group)

        assert isinstance(answers[0], r.ActionAccepted)
        assert isinstance(answers[1], QueryFailedError)
        assert answers[1].status == 409
        assert isinstance(answers[2], QueryFailedError)
        assert answers[2].status == 404
        assert isinstance(answers[3], r.ActionAccepted)
        cards_now = await tenant.cards()
        assert [cards_now[n].state for n in (ENDPOINT, BACKUP, "EDR Agent")] == [
            "approved",
            "dismissed",
            "approved",
        ]
        staged = (await tenant.staged())[len(before) :]
        commands = [p for k, p in staged if k == "cmd.writeback.*.apply.v1"]
        assert sorted(c["card_id"] for c in commands) == sorted(
            [synced[ENDPOINT].card_id, synced["EDR Agent"].card_id]
        )
        assert synced[BACKUP].card_id not in {p.get("card_id") for _, p in staged}

    async def test_each_is_decided_after_the_ones_before_it(self, tenant: Tenant) -> None:
        card = (await tenant.synced({"P1": 10}, {"P1": 14}))[ENDPOINT]
        first = _action(tenant, card.card_id)
        repeated = first.model_copy()  # the same request again: the same key
        again = _action(tenant, card.card_id)  # another approval of the approved card

        answers = await queries.answer_actions(
            tenant.database, tenant.tenant_id, [first, repeated, again]
        )

        assert isinstance(answers[0], r.ActionAccepted)
        assert isinstance(answers[1], r.ActionAccepted)
        assert answers[1].action_id == answers[0].action_id
        assert isinstance(answers[2], QueryFailedError)
        assert answers[2].status == 409
        staged = kinds(await tenant.staged())
        assert staged.count("cmd.writeback.*.apply.v1") == 1

    async def test_a_group_that_fails_is_taken_again_one_action_at_a_time(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        synced = await tenant.synced({"P1": 10, "P2": 3}, {"P1": 14, "P2": 5})
        broken = synced[BACKUP].card_id
        act_alone = actions.act

        async def act_failing_on_one_card(
            session: AsyncSession, tenant_id: str, request: r.ActionQuery, **kw: Any
        ) -> r.ActionAccepted:
            if request.card_id == broken:
                raise RuntimeError("a bug in one action")
            return await act_alone(session, tenant_id, request, **kw)

        monkeypatch.setattr(actions, "act", act_failing_on_one_card)
        group = [_action(tenant, synced[ENDPOINT].card_id), _action(tenant, broken)]

        answers = await queries.answer_actions(tenant.database, tenant.tenant_id, group)

        assert isinstance(answers[0], r.ActionAccepted)
        assert isinstance(answers[1], RuntimeError)
        cards_now = await tenant.cards()
        assert (cards_now[ENDPOINT].state, cards_now[BACKUP].state) == ("approved", "pending")


class TestOutcomesInABatch:
    async def test_a_tenants_outcomes_take_its_lock_once_and_move_each_card(
        self, tenant: Tenant
    ) -> None:
        synced = await tenant.synced({"P1": 10, "P2": 3, "P3": 7}, {"P1": 14, "P2": 5, "P3": 9})
        names = [ENDPOINT, BACKUP, "EDR Agent"]
        for name in names:
            await act(tenant, synced[name].card_id, "approve")
        common: dict[str, Any] = {
            "actor": USER,
            "psa": "connectwise",
            "contract_psa_id": "C-A",
            "quantity_before": None,
            "quantity_after": None,
            "effective_date": None,
        }
        payloads = [
            m.WritebackApplied(
                **common,
                job_id="j1",
                idempotency_key="k1",
                action_id="a1",
                card_id=synced[ENDPOINT].card_id,
                line_item_psa_id="L-A-P1",
            ),
            m.WritebackConflict(
                **common,
                job_id="j2",
                idempotency_key="k2",
                action_id="a2",
                card_id=synced[BACKUP].card_id,
                line_item_psa_id="L-A-P2",
                expected_quantity=D(3),
                found_quantity=D(4),
            ),
            m.WritebackFailed(
                **common,
                job_id="j3",
                idempotency_key="k3",
                action_id="a3",
                card_id=synced["EDR Agent"].card_id,
                line_item_psa_id="L-A-P3",
                error="PSA down",
                attempts=8,
                dead_lettered=True,
            ),
        ]
        outcomes = [wrap(p, tenant_id=tenant.tenant_id) for p in payloads]
        with tenant.statements() as statements:
            await tenant.run(partial(_in_one_statement_of_events, outcomes, tenant.tenant_id))
        cards_now = await tenant.cards()
        assert [cards_now[name].state for name in names] == ["applied", "conflict", "failed"]
        assert cards_now["EDR Agent"].last_job_id == "j3"
        # The lock, the three cards, their updates, the settings row, the three events:
        # one at a time, each outcome made five statements of its own.
        while_locked = _from_the_lock(statements)
        assert len(while_locked) <= 7, while_locked
        assert sum(s.startswith("SELECT tenant_settings") for s in statements) == 1
        staged = kinds(await tenant.staged())[-3:]
        assert staged == ["recon.*.cards.changed.v1"] * 3


async def _in_one_statement_of_events(
    outcomes: list[Any], tenant_id: str, session: AsyncSession
) -> None:
    # As the consumer applies a batch: what it announces staged for one statement.
    async with staged_together(session):
        await actions.apply_writeback_outcomes(session, tenant_id, outcomes)


def _from_the_lock(statements: list[str]) -> list[str]:
    """The statements from the first that reads the tenant's settings row (its lock) on,
    shortened to be read in a failure."""
    locked = next(i for i, s in enumerate(statements) if "FROM tenant_settings" in s)
    return [s[:60] for s in statements[locked:]]
