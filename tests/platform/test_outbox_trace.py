"""Everything staged in the outbox carries the trace it was staged in, batches included
(a webhook's usage used to lose its trace between ingestion and reconciliation)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.platform.database import Database
from trueup.platform.messaging import (
    MAX_EVENT_BYTES,
    EventTooLargeError,
    enqueue,
    enqueue_many,
    outbox_table,
    platform_metadata,
    staged_together,
)


def _usage(batch: str) -> m.UsageReported:
    return m.UsageReported(
        vendor="huntress", source=m.UsageSource.WEBHOOK, batch_id=batch, records=[]
    )


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """A SQLite database with the platform's outbox and inbox."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(platform_metadata.create_all)
    try:
        yield database
    finally:
        await database.dispose()


class TestStagedEventsKeepTheirTrace:
    async def test_a_batch_and_a_single_event_carry_the_same_traceparent(
        self, database: Database
    ) -> None:
        tracer = TracerProvider().get_tracer("test")
        with tracer.start_as_current_span("webhook") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            async with database.transaction("t1") as session:
                await enqueue_many(
                    session,
                    [("usage.t1.reported.v1", wrap(_usage(b), tenant_id="t1")) for b in "ab"],
                )
                await enqueue(session, "usage.t1.reported.v1", wrap(_usage("c"), tenant_id="t1"))
        async with database.transaction("t1") as session:
            rows = (await session.execute(sa.select(outbox_table.c.headers))).scalars().all()
        assert len(rows) == 3
        assert [trace_id in row["trace"]["traceparent"] for row in rows] == [True] * 3
        assert trace.get_current_span() is trace.INVALID_SPAN


class TestStagedTogether:
    async def test_a_blocks_events_are_one_statement_with_their_own_traces(
        self, database: Database
    ) -> None:
        inserts: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.startswith("INSERT INTO outbox"):
                inserts.append(statement)

        sa.event.listen(database.engine.sync_engine, "before_cursor_execute", count)
        tracer = TracerProvider().get_tracer("test")
        traces: dict[str, str] = {}
        async with database.transaction() as session, staged_together(session):
            for tenant in ("t1", "t2", "t3"):
                with tracer.start_as_current_span(tenant) as span:
                    traces[tenant] = format(span.get_span_context().trace_id, "032x")
                    subject = f"usage.{tenant}.reported.v1"
                    await enqueue(session, subject, wrap(_usage(tenant), tenant_id=tenant))
            # Nothing is written before the block ends.
            assert inserts == []
        async with database.transaction() as session:
            query = sa.select(outbox_table.c.tenant_id, outbox_table.c.headers)
            rows = (await session.execute(query)).all()

        assert len(inserts) == 1
        carried = {tenant: headers["trace"]["traceparent"] for tenant, headers in rows}
        assert sorted(carried) == ["t1", "t2", "t3"]
        assert all(traces[tenant] in parent for tenant, parent in carried.items())

    async def test_a_block_that_raises_stages_nothing(self, database: Database) -> None:
        async def failing_part() -> None:
            async with database.transaction() as session, staged_together(session):
                await enqueue(session, "usage.t1.reported.v1", wrap(_usage("a"), tenant_id="t1"))
                raise RuntimeError("a tenant's part failed")

        with pytest.raises(RuntimeError):
            await failing_part()
        count = sa.select(sa.func.count()).select_from(outbox_table)
        async with database.transaction() as session:
            staged = await session.scalar(count)
            # The session is usable without the block afterwards: enqueue writes at once.
            await enqueue(session, "usage.t1.reported.v1", wrap(_usage("b"), tenant_id="t1"))
            written = await session.scalar(count)
        assert (staged, written) == (0, 1)


class TestAnEventTooLargeToSend:
    async def test_is_refused_where_it_is_made_and_stages_nothing(self, database: Database) -> None:
        # The relay could never publish it (NATS refuses a message over its limit), and
        # every later event would wait behind it; the transaction that made it fails.
        huge = m.CardsChanged(
            card_ids=[f"card-{i:010d}" for i in range(MAX_EVENT_BYTES // 10)], reason="psa"
        )
        subject = "recon.t1.cards.changed.v1"
        with pytest.raises(EventTooLargeError, match=r"recon\.t1\.cards\.changed\.v1"):
            async with database.transaction() as session:
                await enqueue(session, subject, wrap(huge, tenant_id="t1"))
        async with database.transaction() as session:
            staged = await session.scalar(sa.select(sa.func.count()).select_from(outbox_table))
        assert staged == 0
