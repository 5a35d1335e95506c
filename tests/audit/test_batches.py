"""Audit applies what a fetch returns as one batch: duplicates, poison messages and
redelivered batches change nothing they should not, and the entries are the ones
handling each event on its own makes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import nats
import pytest
import sqlalchemy as sa

from tests.audit.helpers import (
    applied,
    approve,
    at,
    conflict,
    consumers_drained,
    event,
    failed,
    mapping_changed,
    one_of_each,
    stored,
)
from tests.conftest import Databases
from tests.support import eventually, settings_for
from trueup.audit import service
from trueup.audit.handlers import events
from trueup.audit.main import build
from trueup.audit.models import Entry
from trueup.audit.settings import Settings
from trueup.contracts import Envelope
from trueup.contracts.envelope import utcnow
from trueup.contracts.messages import ImportFinished, ImportStatus, subject_for
from trueup.contracts.streams import stream_for
from trueup.contracts.subjects import dead_letter
from trueup.platform.broker import provision_streams
from trueup.platform.messaging import first_deliveries, inbox_table
from trueup.platform.service import ServiceRuntime


def finished(n: int) -> ImportFinished:
    return ImportFinished(
        import_id=f"imp-{n}",
        vendor="pax8",
        file_name=f"usage-{n}.csv",
        status=ImportStatus.COMPLETED,
        rows_read=10,
        rows_imported=9,
        rows_skipped=1,
    )


@pytest.fixture
async def stopped_audit(clean_nats: str, databases: Databases) -> AsyncIterator[ServiceRuntime]:
    """Audit migrated and its streams provisioned, not yet consuming: what a test
    publishes first is pending when it starts, so its first fetch takes it as one batch."""
    settings = await settings_for(
        Settings, databases, clean_nats, purge_interval_seconds=3600.0, max_deliver=2
    )
    runtime, _app = build(settings)
    await asyncio.to_thread(runtime.migrate)
    await provision_streams(clean_nats)
    yield runtime
    if runtime.started:
        await runtime.stop()
    else:
        await runtime.database.dispose()


async def publish_raw(nats_url: str, messages: Sequence[tuple[str, bytes, str]]) -> None:
    """Publish (subject, body, Nats-Msg-Id) in order, straight to JetStream."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        for subject, body, msg_id in messages:
            await js.publish(
                subject, body, stream=stream_for(subject).name, headers={"Nats-Msg-Id": msg_id}
            )
    finally:
        await connection.close()


def as_message(envelope: Envelope[Any], msg_id: str | None = None) -> tuple[str, bytes, str]:
    subject = subject_for(type(envelope.payload), envelope.tenant_id)
    return subject, envelope.model_dump_json().encode(), msg_id or envelope.event_id


async def dead_letters(nats_url: str, subject: str) -> list[tuple[bytes, str]]:
    """(body, reason) of every message dead-lettered from `subject` by audit."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        info = await js.stream_info("DLQ")
        found: list[tuple[bytes, str]] = []
        if not info.state.messages:
            return found
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await js.get_msg("DLQ", seq)
            except nats.js.errors.NotFoundError:
                continue
            if message.subject == dead_letter("audit", subject):
                reason = (message.headers or {}).get("TrueUp-Dead-Letter-Reason", "")
                found.append((message.data or b"", reason))
        return found
    finally:
        await connection.close()


async def inbox_rows(runtime: ServiceRuntime) -> list[str]:
    async with runtime.database.transaction() as session:
        rows = await session.scalars(sa.select(inbox_table.c.event_id))
        return sorted(rows.all())


class TestFirstDeliveries:
    async def test_only_events_not_yet_recorded_come_back_each_once(
        self, stopped_audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        seen, new, again = (event(finished(n), tenant) for n in range(3))
        elsewhere = event(finished(3), other)
        async with stopped_audit.database.transaction() as session:
            assert await first_deliveries(session, "c", [seen]) == [seen]
        async with stopped_audit.database.transaction() as session:
            fresh = await first_deliveries(session, "c", [seen, new, again, new, elsewhere])
        assert [e.event_id for e in fresh] == [new.event_id, again.event_id, elsewhere.event_id]
        async with stopped_audit.database.transaction() as session:
            assert await first_deliveries(session, "c", [seen, new, again, elsewhere]) == []
            # Another consumer keeps its own record of the same events.
            assert await first_deliveries(session, "other", [seen]) == [seen]


class TestOneBatch:
    async def test_a_batch_holding_an_event_three_times_writes_one_entry(
        self, stopped_audit: ServiceRuntime, clean_nats: str, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        twice = event(finished(0), tenant)
        others = [event(finished(n), tenant if n % 2 else other) for n in range(1, 6)]
        # Different Nats-Msg-Ids get past the stream's duplicate window, as an outbox
        # re-publish would: only the inbox and the entry id stop the copies.
        await publish_raw(
            clean_nats,
            [
                as_message(twice),
                *(as_message(e) for e in others),
                as_message(twice, twice.event_id + "-again"),
                as_message(twice, twice.event_id + "-third"),
            ],
        )
        async with stopped_audit.running():
            await consumers_drained(clean_nats)
        entries = await stored(stopped_audit, tenant) + await stored(stopped_audit, other)
        assert sorted(e.entry_id for e in entries) == sorted(
            [twice.event_id, *(e.event_id for e in others)]
        )
        assert await inbox_rows(stopped_audit) == sorted(entry.entry_id for entry in entries)
        assert await dead_letters(clean_nats, as_message(twice)[0]) == []

    async def test_a_poison_message_is_dead_lettered_and_the_rest_of_its_batch_recorded(
        self,
        stopped_audit: ServiceRuntime,
        clean_nats: str,
        tenant_ids: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        tenant, _ = tenant_ids
        good = [event(finished(n), tenant) for n in range(5)]
        poison = event(finished(99), tenant)
        record_events = service.record_events

        async def refusing_poison(
            session: Any, tenant_id: str, envelopes: Sequence[Envelope[Any]], *, now: Any
        ) -> int:
            if any(e.event_id == poison.event_id for e in envelopes):
                raise RuntimeError("this event cannot be recorded")
            return await record_events(session, tenant_id, envelopes, now=now)

        monkeypatch.setattr(service, "record_events", refusing_poison)
        subject = as_message(poison)[0]
        await publish_raw(
            clean_nats,
            [
                *(as_message(e) for e in good[:2]),
                as_message(poison),
                (subject, b"not json at all", "garbled-1"),
                *(as_message(e) for e in good[2:]),
            ],
        )
        async with stopped_audit.running():
            # max_deliver is 2: the poison is retried once, then parked.
            dead = await eventually(
                lambda: _at_least(dead_letters(clean_nats, subject), 2),
                what="the poison and the garbled message dead-lettered",
            )
            await consumers_drained(clean_nats)
        assert sorted(e.entry_id for e in await stored(stopped_audit, tenant)) == sorted(
            e.event_id for e in good
        )
        by_body = {body: reason for body, reason in dead}
        assert "this event cannot be recorded" in by_body[as_message(poison)[1]]
        assert "not an envelope" in by_body[b"not json at all"]
        assert poison.event_id not in await inbox_rows(stopped_audit)


class TestRedeliveredBatch:
    async def test_a_batch_delivered_again_after_it_was_committed_adds_nothing(
        self, stopped_audit: ServiceRuntime, clean_nats: str, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        batch = [event(finished(n), tenant if n % 3 else other) for n in range(7)]
        await publish_raw(clean_nats, [as_message(e) for e in batch])
        async with stopped_audit.running():
            await consumers_drained(clean_nats)
        before = await stored(stopped_audit, tenant) + await stored(stopped_audit, other)
        assert len(before) == len(batch)
        # The process died after the commit and before its acks: JetStream hands the same
        # batch over again (and one new event with it).
        late = event(finished(7), tenant)
        inbox = events.inbox_consumer("audit", ImportFinished)
        await events.record_batch(stopped_audit.database, inbox, [*batch, late])
        after = await stored(stopped_audit, tenant) + await stored(stopped_audit, other)
        assert sorted(e.entry_id for e in after) == sorted(
            [*(e.event_id for e in batch), late.event_id]
        )
        unchanged = {e.entry_id: e.recorded_at for e in after}
        assert all(unchanged[e.entry_id] == e.recorded_at for e in before)


class TestSameEntriesAsOneByOne:
    async def test_a_batch_records_exactly_what_each_event_alone_records(
        self, stopped_audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        batched, alone = tenant_ids
        now = utcnow()
        earlier = now - timedelta(hours=1)

        # Two approvals of one action (the later one is what a writeback reports on),
        # then every event type, with writebacks for that action and for others.
        actions = [
            at(event(approve(quantity_after=28), batched, event_id="a0"), earlier),
            event(approve(), batched, event_id="a1"),
            event(approve("act-2", "card-2", account_name="Globex"), batched, event_id="a2"),
        ]
        payloads = [
            *one_of_each(),
            applied("act-2", "card-2"),
            conflict("act-9", "card-9"),
            failed(),
            mapping_changed(),
        ]
        rest = [event(p, batched, event_id=f"e{n}") for n, p in enumerate(payloads)]
        async with stopped_audit.database.transaction(batched) as session:
            assert await service.record_events(session, batched, actions, now=now) == 3
        async with stopped_audit.database.transaction(batched) as session:
            assert await service.record_events(session, batched, rest, now=now) == len(rest)

        for envelope in [*actions, *rest]:
            async with stopped_audit.database.transaction(alone) as session:
                copy = envelope.model_copy(update={"tenant_id": alone})
                assert await service.record_event(session, copy, now=now)

        def comparable(entry: Entry) -> dict[str, Any]:
            columns = {c.key: getattr(entry, c.key) for c in sa.inspect(Entry).column_attrs}
            columns.pop("tenant_id")
            return columns

        by_batch = sorted((comparable(e) for e in await stored(stopped_audit, batched)), key=str)
        by_one = sorted((comparable(e) for e in await stored(stopped_audit, alone)), key=str)
        assert len(by_batch) == len(actions) + len(rest)
        assert by_batch == by_one
        # The writeback of act-1 took its names and prices from the later approval.
        (written,) = [e for e in await stored(stopped_audit, batched) if e.entry_id == "e1"]
        assert (written.account_name, written.price_after) == ("Acme, Inc.", approve().unit_price)


async def _at_least(probe: Any, count: int) -> list[tuple[bytes, str]] | None:
    found: list[tuple[bytes, str]] = await probe
    return found if len(found) >= count else None
