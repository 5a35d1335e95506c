"""Each domain event becomes exactly one activity entry, however often it is delivered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.audit.helpers import (
    CW_TRAIL,
    JANE,
    RULE,
    applied,
    approve,
    conflict,
    consumers_drained,
    event,
    failed,
    one_of_each,
    publish,
    stored,
)
from tests.conftest import Databases
from tests.reconciliation.conftest import Tenant
from tests.reconciliation.test_actions import act, failed_approval
from tests.support import eventually
from trueup.audit import service
from trueup.audit.models import Entry
from trueup.contracts.envelope import utcnow
from trueup.contracts.messages import ActionRecorded
from trueup.platform.database import Database
from trueup.platform.migrations import upgrade
from trueup.platform.service import ServiceRuntime
from trueup.reconciliation.main import MIGRATIONS


class TestOneEntryPerTransition:
    async def test_every_recorded_event_type_makes_one_entry(
        self, audit: ServiceRuntime, clean_nats: str, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        envelopes = [event(payload, tenant) for payload in one_of_each()]
        for envelope in envelopes:
            await publish(audit, envelope)

        async def all_there() -> list[Entry] | None:
            rows = await stored(audit, tenant)
            return rows if len(rows) >= len(envelopes) else None

        await eventually(all_there, what="one entry per event")
        await consumers_drained(clean_nats)
        rows = {row.entry_id: row for row in await stored(audit, tenant)}
        assert set(rows) == {envelope.event_id for envelope in envelopes}
        kinds = sorted((row.action_type, row.outcome or "") for row in rows.values())
        assert kinds == [
            ("approve", ""),
            ("import", "applied"),
            ("mapping", "applied"),
            ("psa_sync", "applied"),
            ("settings", "applied"),
            ("writeback", "applied"),
            ("writeback", "conflict"),
            ("writeback", "failed"),
        ]
        for envelope in envelopes:
            assert rows[envelope.event_id].correlation_id == envelope.correlation_id
            assert rows[envelope.event_id].event_type == envelope.type

    async def test_an_approval_records_who_what_and_the_before_and_after(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        action = event(approve(), tenant)
        outcome = event(applied(), tenant, correlation_id=action.correlation_id)
        await publish(audit, action)
        await consumers_drained_for(audit)
        await publish(audit, outcome)

        rows = await eventually(lambda: _at_least(audit, tenant, 2), what="both entries")
        by_type = {row.action_type: row for row in rows}
        requested, written = by_type["approve"], by_type["writeback"]

        assert (requested.actor_kind, requested.actor_id, requested.actor_name) == (
            "user",
            JANE.id,
            JANE.name,
        )
        assert requested.outcome is None  # the writeback's own entry carries the outcome
        assert (requested.quantity_before, requested.quantity_after) == (Decimal(25), Decimal(30))
        assert (requested.price_before, requested.price_after) == (Decimal(20), Decimal(22))
        assert requested.effective_date == date(2026, 11, 1)
        # Prorated lines are kept in date order, quantities exact.
        assert requested.prorated_lines == [
            {"effective_date": "2026-11-01", "quantity": "27.5"},
            {"effective_date": "2026-11-16", "quantity": "30"},
        ]
        assert requested.card_id == "card-1"
        assert requested.contract_psa_id == "4711"
        assert requested.summary == (
            "Approved Microsoft 365 Business Premium for Acme, Inc.: 25 → 27.5 → 30"
        )

        assert written.outcome == "applied"
        assert written.psa_record_url == CW_TRAIL
        assert written.correlation_id == requested.correlation_id
        # The outcome event carries no names or prices: they come from the action's entry,
        # so filtering by account or service line finds the write too.
        assert written.account_name == "Acme, Inc."
        assert written.service_line == "Microsoft 365 Business Premium"
        assert (written.price_before, written.price_after) == (Decimal(20), Decimal(22))
        assert written.prorated_lines == requested.prorated_lines

    @pytest.mark.parametrize(
        ("outcome_payload", "expected"),
        [(conflict, "conflict"), (failed, "failed")],
    )
    async def test_a_refused_or_failed_write_is_one_entry_with_its_outcome(
        self,
        audit: ServiceRuntime,
        tenant_ids: tuple[str, str],
        outcome_payload: object,
        expected: str,
    ) -> None:
        tenant, _ = tenant_ids
        await publish(audit, event(outcome_payload(), tenant))  # type: ignore[operator]
        rows = await eventually(lambda: _at_least(audit, tenant, 1), what="the outcome entry")
        await consumers_drained_for(audit)
        rows = await stored(audit, tenant)
        assert [(row.action_type, row.outcome) for row in rows] == [("writeback", expected)]
        if expected == "conflict":
            assert "is 26 in ConnectWise contract 4711, the card showed 25" in rows[0].summary
        else:
            assert "failed after 8 attempt(s): PSA answered 503" in rows[0].summary

    async def test_a_dismissal_by_a_rule_is_one_applied_entry(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        dismissal = ActionRecorded(
            action_id="act-9",
            card_id="card-9",
            action="dismiss",
            actor=RULE,
            account_name="Globex",
            service_line="Backup",
            reason="client pays the vendor directly",
        )
        await publish(audit, event(dismissal, tenant))
        rows = await eventually(lambda: _at_least(audit, tenant, 1), what="the dismissal")
        assert [(r.action_type, r.outcome, r.actor_kind) for r in rows] == [
            ("dismiss", "applied", "rule")
        ]
        assert rows[0].summary == ("Dismissed Backup for Globex (client pays the vendor directly)")


class TestARetryIsAnEntry:
    async def test_the_retry_reconciliation_records_is_one_entry_however_often_delivered(
        self,
        audit: ServiceRuntime,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
    ) -> None:
        tenant, _ = tenant_ids
        async with reconciliation_tenant(databases) as recon:
            card = await failed_approval(recon)
            before = len(await recon.staged())
            await act(recon, card.card_id, "retry")
            recorded = [
                ActionRecorded.model_validate(payload, strict=False)
                for subject, payload in (await recon.staged())[before:]
                if subject == "recon.*.action.recorded.v1"
            ]
        assert [r.action for r in recorded] == ["retry"]
        envelope = event(recorded[0], tenant)

        await publish(audit, envelope)
        await publish(audit, envelope, msg_id=envelope.event_id + "-again")
        await eventually(lambda: _at_least(audit, tenant, 1), what="the retry's entry")
        await consumers_drained(clean_nats)

        (row,) = await stored(audit, tenant)
        assert (row.action_type, row.outcome, row.card_id) == ("retry", None, card.card_id)
        assert row.summary == "Retried writing Managed Endpoint for Account A to the PSA: 10 → 14"
        assert (row.price_after, row.currency) == (Decimal("12.50"), "USD")
        assert service.to_view(row).currency == "USD"


@asynccontextmanager
async def reconciliation_tenant(databases: Databases) -> AsyncIterator[Tenant]:
    """A tenant of a migrated reconciliation database, whose outbox a test reads."""
    url, schema = await databases.for_service("reconciliation")
    await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
    recon = Tenant(Database(url, schema))
    try:
        yield recon
    finally:
        await recon.database.dispose()


class TestRedelivery:
    async def test_a_republished_event_past_the_stream_dedup_adds_nothing(
        self, audit: ServiceRuntime, clean_nats: str, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        envelope = event(applied(), tenant)
        await publish(audit, envelope)
        # A different Nats-Msg-Id gets past JetStream's duplicate window, as a re-publish
        # from an outbox after two hours would: only the inbox and the entry id stop it.
        await publish(audit, envelope, msg_id=envelope.event_id + "-again")
        await publish(audit, envelope, msg_id=envelope.event_id + "-third")
        await eventually(lambda: _at_least(audit, tenant, 1), what="the entry")
        await consumers_drained(clean_nats)
        assert [row.entry_id for row in await stored(audit, tenant)] == [envelope.event_id]

    async def test_the_entry_id_alone_refuses_a_second_entry(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        envelope = event(applied(), tenant)
        # Without the inbox (as if its row were lost), the entry id still holds.
        for expected in (True, False):
            async with audit.database.transaction(tenant) as session:
                assert await service.record_event(session, envelope, now=utcnow()) is expected
        assert len(await stored(audit, tenant)) == 1


class TestAppendOnly:
    async def test_the_database_refuses_to_update_an_entry(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        async with audit.database.transaction(tenant) as session:
            await service.record_event(session, event(approve(), tenant), now=utcnow())
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            async with audit.database.transaction(tenant) as session:
                await session.execute(
                    sa.update(Entry)
                    .where(Entry.tenant_id == tenant)
                    .values(quantity_after=Decimal(99))
                )
        (row,) = await stored(audit, tenant)
        assert row.quantity_after == Decimal(30)


async def _at_least(audit: ServiceRuntime, tenant: str, count: int) -> list[Entry] | None:
    rows = await stored(audit, tenant)
    return rows if len(rows) >= count else None


async def consumers_drained_for(audit: ServiceRuntime) -> None:
    await consumers_drained(audit.settings.nats_url)
