"""Transactional outbox and inbox.

Outbox: a service writes the envelopes that announce a state change into its own
`outbox` table in the same transaction as the change. A relay publishes committed rows to
JetStream (with `Nats-Msg-Id` = event id, so a re-publish after a crash is dropped by the
stream) and marks them published. Rows are kept, so whatever a caller was told is
accepted can be re-published even if the stream lost it (`republish_since`), for as long
as the streams keep their messages; then they are pruned (`prune_published`).

Inbox: a consumer records each event id it applied in the same transaction as the
effect; a redelivered event finds its id and changes nothing. A batched consumer records
a whole batch in one statement per tenant (`first_deliveries`, `by_tenant`), with
row-level security scoped to each tenant in turn (`Database.act_for_tenant`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from faststream.nats import NatsBroker
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts.envelope import Envelope
from trueup.platform.broker import publish_envelope
from trueup.platform.database import Database, upsert_insert
from trueup.platform.logging import get_logger
from trueup.platform.metrics import OUTBOX_PENDING
from trueup.platform.tracing import current_carrier, within

log = get_logger(__name__)

platform_metadata = sa.MetaData()

outbox_table = sa.Table(
    "outbox",
    platform_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
)
UNSENT_OUTBOX_INDEX = "outbox_unsent"
# The relay asks for the oldest unsent rows on every wake. Without this index that walks
# every row ever published (the rows are kept), so each wake cost more the longer a
# service had run; with it, only the few rows still to send.
sa.Index(
    UNSENT_OUTBOX_INDEX,
    outbox_table.c.id,
    postgresql_where=outbox_table.c.published_at.is_(None),
    sqlite_where=outbox_table.c.published_at.is_(None),
)

inbox_table = sa.Table(
    "inbox",
    platform_metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
)


MAX_EVENT_BYTES = 1024 * 1024 - 8192
"""The largest event body the outbox takes: NATS's default message limit (1 MB) less room
for the headers the relay adds."""


class EventTooLargeError(ValueError):
    """An event too large for the broker: its producer must cut it into parts."""

    def __init__(self, subject: str, size: int) -> None:
        super().__init__(
            f"event on {subject} is {size} bytes, over the {MAX_EVENT_BYTES}-byte limit of "
            "one message; its producer must send it in parts"
        )


async def enqueue(session: AsyncSession, subject: str, envelope: Envelope[Any]) -> None:
    """Stage an envelope for publishing when the surrounding transaction commits."""
    await enqueue_many(session, [(subject, envelope)])


async def enqueue_many(session: AsyncSession, events: Sequence[tuple[str, Envelope[Any]]]) -> None:
    """Stage several envelopes in one statement, each with the current trace context, so
    the relay publishes them inside the trace that caused them. Inside `staged_together`
    they wait for the one statement of the whole block instead."""
    if not events:
        return
    bodies = [envelope.model_dump_json().encode() for _subject, envelope in events]
    for (subject, _envelope), body in zip(events, bodies, strict=True):
        if len(body) > MAX_EVENT_BYTES:
            # Staged, it could never be sent, and the relay would hold every later event
            # behind it. Refused here, the transaction that made it fails instead, loudly.
            raise EventTooLargeError(subject, len(body))
    now = datetime.now(UTC)
    trace_context = current_carrier()
    rows = [
        {
            "event_id": envelope.event_id,
            "tenant_id": envelope.tenant_id,
            "subject": subject,
            "body": body,
            "headers": {"correlation_id": envelope.correlation_id, "trace": trace_context},
            "created_at": now,
        }
        for (subject, envelope), body in zip(events, bodies, strict=True)
    ]
    pending: list[dict[str, Any]] | None = session.info.get(_STAGED)
    if pending is not None:
        pending.extend(rows)
    else:
        await session.execute(outbox_table.insert(), rows)


_STAGED = "trueup.outbox.staged"


@contextlib.asynccontextmanager
async def staged_together(session: AsyncSession) -> AsyncIterator[None]:
    """Write every envelope enqueued in the block to the outbox in one statement when it
    ends, however many tenants they belong to (the outbox is not tenant-owned): a batch
    handler announces something for each tenant of a fetch, and a statement per tenant
    was a measurable part of its cost. Nothing is written if the block raises, and the
    transaction must not read its own outbox rows inside the block."""
    if _STAGED in session.info:
        yield
        return
    pending: list[dict[str, Any]] = []
    session.info[_STAGED] = pending
    try:
        yield
    finally:
        del session.info[_STAGED]
    if pending:
        await session.execute(outbox_table.insert(), pending)


async def first_delivery(session: AsyncSession, consumer: str, envelope: Envelope[Any]) -> bool:
    """Record `envelope` as applied by `consumer`; False if it already was.

    Call it first in the transaction that applies the event: on a redelivery it returns
    False and the caller skips the effect.
    """
    exists = await session.scalar(
        sa.select(sa.literal(1)).where(
            inbox_table.c.consumer == consumer, inbox_table.c.event_id == envelope.event_id
        )
    )
    if exists:
        return False
    try:
        async with session.begin_nested():
            await session.execute(
                inbox_table.insert().values(
                    consumer=consumer,
                    event_id=envelope.event_id,
                    tenant_id=envelope.tenant_id,
                    processed_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        # A concurrent delivery of the same event won the race.
        return False
    return True


E = TypeVar("E", bound=Envelope[Any])


async def first_deliveries(session: AsyncSession, consumer: str, envelopes: Sequence[E]) -> list[E]:
    """Record a batch of envelopes as applied by `consumer`, in one statement; the ones
    that were not already, in their order (an event id repeated in the batch counts once).

    Call it first in the transaction that applies them, and apply only what it returns.
    """
    first_seen: dict[str, E] = {}
    for envelope in envelopes:
        first_seen.setdefault(envelope.event_id, envelope)
    unique = list(first_seen.values())
    if not unique:
        return []
    now = datetime.now(UTC)
    insert = upsert_insert(session.get_bind().dialect.name)
    # ON CONFLICT DO NOTHING rather than check-then-insert: a delivery racing on another
    # replica waits for our commit and then skips, instead of failing the whole batch.
    # Rows as executemany parameters, not in `.values()`: the statement is compiled once
    # and cached (SQLAlchemy still sends them as multi-row INSERTs), where a large VALUES
    # list would be compiled anew for every batch.
    statement = (
        insert(inbox_table)
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(inbox_table.c.event_id)
    )
    rows = [
        {
            "consumer": consumer,
            "event_id": envelope.event_id,
            "tenant_id": envelope.tenant_id,
            "processed_at": now,
        }
        for envelope in unique
    ]
    recorded = set((await session.scalars(statement, rows)).all())
    return [envelope for envelope in unique if envelope.event_id in recorded]


def by_tenant(envelopes: Sequence[E]) -> dict[str, list[E]]:
    """The envelopes of each tenant, in their order: row-level security lets a statement
    touch one tenant's rows, so a batch is applied one tenant at a time."""
    groups: dict[str, list[E]] = {}
    for envelope in envelopes:
        groups.setdefault(envelope.tenant_id, []).append(envelope)
    return groups


class OutboxRelay:
    """Publishes committed outbox rows; woken right after a commit, and polls as a backstop."""

    def __init__(
        self,
        database: Database,
        broker: NatsBroker,
        service: str,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self.database = database
        self.broker = broker
        self.service = service
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Call after committing outbox rows, so they go out without waiting for a poll."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish every unpublished row, oldest first; returns how many were published."""
        published = 0
        while True:
            batch = await (
                self._publish_locked() if self.database.is_postgres else self._publish_batch()
            )
            published += batch
            # A short batch was everything committed when it was read; a row committed
            # since woke the relay (`notify`), which comes straight back. Asking again
            # here would cost every wake a second, empty transaction.
            if batch < self.batch_size:
                OUTBOX_PENDING.labels(service=self.service).set(0)
                return published

    def pending(self) -> sa.Select[Any]:
        """The oldest unsent rows, at most a batch of them."""
        return (
            sa.select(outbox_table)
            .where(outbox_table.c.published_at.is_(None))
            .order_by(outbox_table.c.id)
            .limit(self.batch_size)
        )

    async def _publish_rows(self, rows: Any) -> None:
        for row in rows:
            # Publish inside the trace of the change that staged the row.
            with within(row["headers"].get("trace") or {}):
                await publish_envelope(
                    self.broker,
                    row["subject"],
                    row["body"],
                    row["event_id"],
                    row["headers"].get("correlation_id", row["event_id"]),
                )

    async def _mark(self, session: AsyncSession, ids: list[int]) -> None:
        await session.execute(
            outbox_table.update()
            .where(outbox_table.c.id.in_(ids))
            .values(published_at=datetime.now(UTC))
        )

    async def _publish_locked(self) -> int:
        # Several replicas may relay at once: each row goes to the one that locked it.
        async with self.database.transaction() as session:
            rows = (
                (await session.execute(self.pending().with_for_update(skip_locked=True)))
                .mappings()
                .all()
            )
            await self._publish_rows(rows)
            if rows:
                await self._mark(session, [r["id"] for r in rows])
            return len(rows)

    async def _publish_batch(self) -> int:
        # One process per SQLite file: read, publish, then mark, without holding the single
        # write lock while talking to NATS. A crash before the mark re-publishes the rows,
        # which the stream drops by their Nats-Msg-Id.
        async with self.database.transaction(readonly=True) as session:
            rows = (await session.execute(self.pending())).mappings().all()
        await self._publish_rows(rows)
        if rows:
            async with self.database.transaction() as session:
                await self._mark(session, [r["id"] for r in rows])
        return len(rows)

    async def prune_published(self, older_than: timedelta, *, batch_size: int = 5_000) -> int:
        """Delete rows published more than `older_than` ago, a batch per transaction so
        that no lock is held long; returns how many went. Unsent rows stay, however old."""
        cutoff = datetime.now(UTC) - older_than
        # Ids grow with time, and a row created after the cutoff was published after it:
        # the search stops at the first such row instead of reading the whole retention.
        async with self.database.transaction(readonly=True) as session:
            horizon = await session.scalar(
                sa.select(outbox_table.c.id)
                .where(outbox_table.c.created_at >= cutoff)
                .order_by(outbox_table.c.id)
                .limit(1)
            )
        before_horizon = [] if horizon is None else [outbox_table.c.id < horizon]
        pruned = 0
        while True:
            # Several replicas may prune at once: each skips the rows another has locked.
            oldest = (
                sa.select(outbox_table.c.id)
                .where(*before_horizon, outbox_table.c.published_at < cutoff)
                .order_by(outbox_table.c.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
            async with self.database.transaction() as session:
                ids = list((await session.scalars(oldest)).all())
                if ids:
                    await session.execute(outbox_table.delete().where(outbox_table.c.id.in_(ids)))
            pruned += len(ids)
            if len(ids) < batch_size:
                if pruned:
                    log.info("outbox pruned", rows=pruned, published_before=cutoff.isoformat())
                return pruned

    async def republish_since(self, since: datetime) -> int:
        """Mark rows created since `since` unpublished again (the stream lost them)."""
        async with self.database.transaction() as session:
            result = await session.execute(
                outbox_table.update()
                .where(outbox_table.c.created_at >= since)
                .values(published_at=None)
            )
        self.notify()
        return int(getattr(result, "rowcount", 0) or 0)

    async def _run(self) -> None:
        while True:
            try:
                await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            self._wake.clear()

    def start(self) -> None:
        """Run the relay in the background."""
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    async def stop(self) -> None:
        """Stop the relay after one last flush attempt."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.publish_pending()
