"""How a batched consumer gathers a batch once its first message has arrived."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import nats
from fastapi import FastAPI

from tests.conftest import Databases
from tests.support import eventually, running_service, settings_for
from trueup.contracts import Envelope, wrap
from trueup.contracts import messages as m
from trueup.platform import broker
from trueup.platform.broker import BatchedConsumer
from trueup.platform.service import ServiceRuntime
from trueup.psa_sync.main import MIGRATIONS
from trueup.psa_sync.settings import Settings


class Trickle:
    """A pull subscription that has one new message every few milliseconds, forever:
    each is pending before the gathering fetch gives up on it."""

    def __init__(self, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self.fetched = 0

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        await asyncio.sleep(min(self.every_seconds, timeout))
        if self.every_seconds > timeout:
            raise TimeoutError
        self.fetched += 1
        return [object()]


class Backlog:
    """A pull subscription with many messages pending, handed out a few per fetch."""

    def __init__(self, pending: int) -> None:
        self.pending = pending

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        await asyncio.sleep(0)
        taken = min(batch, 5, self.pending)
        self.pending -= taken
        return [object()] * taken


def consumer() -> BatchedConsumer:
    # `_more` uses nothing of the consumer but its arguments.
    return BatchedConsumer.__new__(BatchedConsumer)


class TestGatheringABatch:
    async def test_a_steady_trickle_does_not_hold_the_batch_until_it_is_full(self) -> None:
        # Messages 2 ms apart, closer than `GATHER_SECONDS`: without a bound on the whole
        # gathering, the first message waited for 999 more (two seconds).
        trickle = Trickle(every_seconds=0.002)
        assert trickle.every_seconds < broker.GATHER_SECONDS

        more = await consumer()._more(trickle, room=999)  # type: ignore[arg-type]

        assert 0 < len(more) < 999
        assert len(more) <= broker.GATHER_WINDOW_SECONDS / trickle.every_seconds + 1

    async def test_a_backlog_fills_the_batch(self) -> None:
        backlog = Backlog(pending=1_000)

        more = await consumer()._more(backlog, room=199)  # type: ignore[arg-type]

        assert len(more) == 199

    async def test_a_quiet_subject_ends_the_gathering_at_once(self) -> None:
        quiet = Trickle(every_seconds=10.0)

        more = await consumer()._more(quiet, room=199)  # type: ignore[arg-type]

        assert more == []


class TestOnARealServer:
    async def test_a_backlog_is_taken_in_full_batches(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        # A message handled alone when it is all there is; then, while its handler holds
        # the consumer, a backlog builds up and is taken a full batch at a time.
        tenant, _ = tenant_ids
        sizes: list[int] = []
        release = asyncio.Event()

        async def handler(envelopes: Sequence[Envelope[m.SyncPsa]]) -> None:
            sizes.append(len(envelopes))
            if len(sizes) == 1:
                await release.wait()

        def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
            runtime = ServiceRuntime(settings, MIGRATIONS)
            runtime.add_batched_consumer(
                BatchedConsumer(
                    runtime.broker,
                    service=runtime.name,
                    name="batch-test",
                    subject=m.spec_for(m.SyncPsa).subject,
                    model=m.SyncPsa,
                    handler=handler,
                    batch_size=200,
                )
            )
            return runtime, runtime.http_app()

        settings = await settings_for(Settings, databases, clean_nats)
        subject = m.subject_for(m.SyncPsa, tenant)
        async with running_service(build, settings):
            connection = await nats.connect(clean_nats)
            try:
                js = connection.jetstream()

                async def publish(count: int) -> None:
                    for _ in range(count):
                        body = wrap(m.SyncPsa(full=True), tenant_id=tenant).model_dump_json()
                        await js.publish(subject, body.encode())

                await publish(1)
                await eventually(lambda: _truthy(sizes), what="the first batch")
                # Held in the handler while a backlog builds up behind it.
                await publish(250)
                release.set()
                await eventually(lambda: _truthy(sum(sizes) == 251), what="the backlog")
            finally:
                await connection.close()
        assert sizes == [1, 200, 50]

    async def test_several_types_are_handed_over_in_stream_order(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        seen: list[str] = []

        async def handler(envelopes: Sequence[Envelope[Any]]) -> None:
            seen.extend(type(envelope.payload).__name__ for envelope in envelopes)

        def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
            runtime = ServiceRuntime(settings, MIGRATIONS)
            runtime.add_batched_consumer(
                BatchedConsumer(
                    runtime.broker,
                    service=runtime.name,
                    name="types-test",
                    subject="writeback.*.>",
                    model=(m.WritebackApplied, m.WritebackFailed),
                    handler=handler,
                )
            )
            return runtime, runtime.http_app()

        fields: dict[str, Any] = {
            "job_id": "j",
            "actor": m.Actor(kind="user", id="u"),
            "idempotency_key": "k",
            "card_id": "c",
            "action_id": "a",
            "psa": "connectwise",
            "contract_psa_id": "C",
            "line_item_psa_id": "L",
            "quantity_before": None,
            "quantity_after": None,
            "effective_date": None,
        }
        published = [
            m.WritebackApplied(**fields),
            m.WritebackFailed(**fields, error="e", attempts=1, dead_lettered=False),
            m.WritebackConflict(**fields, expected_quantity=1, found_quantity=2),
            m.WritebackApplied(**fields),
        ]
        settings = await settings_for(Settings, databases, clean_nats)
        async with running_service(build, settings):
            connection = await nats.connect(clean_nats)
            try:
                js = connection.jetstream()
                for payload in published:
                    body = wrap(payload, tenant_id=tenant).model_dump_json()
                    await js.publish(m.subject_for(type(payload), tenant), body.encode())
                await eventually(lambda: _truthy(len(seen) >= 3), what="the outcomes")
                await asyncio.sleep(0.3)
            finally:
                await connection.close()
        # A type it does not take (the conflict) is acked and skipped.
        assert seen == ["WritebackApplied", "WritebackFailed", "WritebackApplied"]


async def _truthy(value: object) -> object:
    return value or None
