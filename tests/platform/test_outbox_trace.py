"""Everything staged in the outbox carries the trace it was staged in, batches included
(a webhook's usage used to lose its trace between ingestion and reconciliation)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.platform.database import Database
from trueup.platform.messaging import enqueue, enqueue_many, outbox_table, platform_metadata


def _usage(batch: str) -> m.UsageReported:
    return m.UsageReported(
        vendor="huntress", source=m.UsageSource.WEBHOOK, batch_id=batch, records=[]
    )


class TestStagedEventsKeepTheirTrace:
    async def test_a_batch_and_a_single_event_carry_the_same_traceparent(
        self, tmp_path: Path
    ) -> None:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
        async with database.engine.begin() as connection:
            await connection.run_sync(platform_metadata.create_all)
        tracer = TracerProvider().get_tracer("test")
        try:
            with tracer.start_as_current_span("webhook") as span:
                trace_id = format(span.get_span_context().trace_id, "032x")
                async with database.transaction("t1") as session:
                    await enqueue_many(
                        session,
                        [("usage.t1.reported.v1", wrap(_usage(b), tenant_id="t1")) for b in "ab"],
                    )
                    await enqueue(
                        session, "usage.t1.reported.v1", wrap(_usage("c"), tenant_id="t1")
                    )
            async with database.transaction("t1") as session:
                rows = (await session.execute(sa.select(outbox_table.c.headers))).scalars().all()
        finally:
            await database.dispose()
        assert len(rows) == 3
        assert [trace_id in row["trace"]["traceparent"] for row in rows] == [True] * 3
        assert trace.get_current_span() is trace.INVALID_SPAN
