"""The one way to talk to NATS: a broker factory, stream provisioning, durable consumers.

Consumers are durable pull consumers with NACK_ON_ERROR and a redelivery limit. A message
that cannot be parsed, or that failed on its last allowed delivery, is parked on the
dead-letter stream (`dlq.<service>.<subject>`) where a person can see it, then acked so
it stops blocking the consumer. A `BatchedConsumer` hands a whole fetched batch to one
handler, for consumers whose cost is a transaction per message rather than the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.api
import tenacity
from faststream import AckPolicy
from faststream.nats import (
    ConsumerConfig,
    JStream,
    NatsBroker,
    NatsMessage,
    PullSub,
    StreamConfig,
)
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.object_store import ObjectStore
from pydantic import BaseModel, ValidationError

from trueup.contracts.envelope import (
    Envelope,
    Payload,
    QueryError,
    Reply,
    envelope_type,
    reply_type,
)
from trueup.contracts.ingest import IMPORTS_BUCKET, IMPORTS_TTL_SECONDS
from trueup.contracts.messages import spec_for
from trueup.contracts.streams import ALL_STREAMS, StreamSpec, stream_for
from trueup.contracts.subjects import dead_letter, tenant_of
from trueup.platform.database import database_unreachable, transaction_conflict
from trueup.platform.logging import bound_context, get_logger
from trueup.platform.metrics import HANDLER_SECONDS
from trueup.platform.tracing import configure_tracing

log = get_logger(__name__)

P = TypeVar("P", bound=Payload)
T = TypeVar("T")
EventHandler = Callable[[Envelope[P]], Awaitable[None]]
BatchHandler = Callable[[Sequence[Envelope[P]]], Awaitable[None]]

MSG_ID_HEADER = "Nats-Msg-Id"


class _QuietBookkeeping(logging.Filter):
    """faststream's info lines ("waiting for messages", "callback for Task-21 is being
    executed...") are its bookkeeping, not our events: shown only at debug.

    So is a pull consumer's fetch that times out: nats-py 2.16 may end one with a plain
    `TimeoutError` that faststream does not catch (typically the first fetch, while a
    service starts on a busy machine), and faststream's task supervisor restarts the
    fetching task and reports it as an error with a full traceback. Nothing was taken
    and nothing is lost, so it is one debug line; any other failure of that task stays
    an error with its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        if isinstance(error, TimeoutError) and "raised an exception, retrying" in message:
            record.msg = f"{message.splitlines()[0]} ({type(error).__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        elif record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def create_broker(nats_url: str, service: str, *, graceful_timeout: float = 15.0) -> NatsBroker:
    """The broker of one service process (traced: context travels in message headers)."""
    configure_tracing(service)
    broker_logger = logging.getLogger(f"trueup.{service}.broker")
    if not any(isinstance(f, _QuietBookkeeping) for f in broker_logger.filters):
        broker_logger.addFilter(_QuietBookkeeping())
    return NatsBroker(
        nats_url,
        name=f"trueup-{service}",
        graceful_timeout=graceful_timeout,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        # faststream's own logger would print unstructured lines; route it through ours.
        logger=broker_logger,
        # Its "Received"/"Processed" pair per message (and "waiting for messages" per
        # subscriber) would drown the console: debug. Handlers log the meaningful events.
        log_level=logging.DEBUG,
        middlewares=[NatsTelemetryMiddleware()],
    )


def _stream_config(spec: StreamSpec, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        num_replicas=replicas,
        name=spec.name,
        subjects=list(spec.subjects),
        description=spec.description,
        max_age=float(spec.max_age_seconds),
        duplicate_window=float(spec.duplicate_window_seconds),
    )


async def _connect_error_in_one_line(error: Exception) -> None:
    # nats-py's default callback prints a full traceback for every refused attempt; a
    # connection retry at start-up is worth one line, not thirty.
    log.info("nats connection retry", error=f"{type(error).__name__}: {error}")


async def provision_streams(
    nats_url: str, specs: tuple[StreamSpec, ...] = ALL_STREAMS, *, replicas: int = 1
) -> None:
    """Create or update every stream; safe to run from every service at every start."""
    connection = await nats.connect(nats_url, error_cb=_connect_error_in_one_line)
    try:
        js = connection.jetstream()
        for spec in specs:
            config = _stream_config(spec, replicas)
            try:
                await js.stream_info(spec.name)
            except NotFoundError:
                try:
                    await js.add_stream(config=config)
                except BadRequestError:
                    # Another service created it between our check and our add.
                    await js.update_stream(config=config)
            else:
                await js.update_stream(config=config)
    finally:
        await connection.close()


async def imports_bucket(broker: NatsBroker) -> ObjectStore:
    """The `imports` object store, which the gateway puts uploads in and vendor ingestion
    reads them from; created on first use, with a TTL that drops uploads never imported."""
    js: JetStreamContext = broker.config.connection_state.stream
    try:
        return await js.object_store(IMPORTS_BUCKET)
    except NotFoundError:
        return await js.create_object_store(
            IMPORTS_BUCKET,
            config=ObjectStoreConfig(
                description="Uploaded usage files waiting to be imported",
                ttl=float(IMPORTS_TTL_SECONDS),
                storage=StorageType.FILE,
            ),
        )


async def publish_envelope(
    broker: NatsBroker, subject: str, body: bytes, event_id: str, correlation_id: str
) -> None:
    """Publish one stored envelope to JetStream with `Nats-Msg-Id` set to its event id."""
    await broker.publish(
        body,
        subject,
        headers={MSG_ID_HEADER: event_id, "content-type": "application/json"},
        correlation_id=correlation_id,
        stream=stream_for(subject).name,
    )


_CONSUMED: weakref.WeakKeyDictionary[NatsBroker, set[type[Payload]]] = weakref.WeakKeyDictionary()


def takes(broker: NatsBroker, *models: type[Payload]) -> None:
    """Note that a consumer or responder of `broker` takes these message types. Every
    registration below calls it; a service that subscribes on its own must too."""
    _CONSUMED.setdefault(broker, set()).update(models)


def consumed_messages(broker: NatsBroker) -> frozenset[type[Payload]]:
    """The message types the consumers and query responders registered on `broker` take:
    what the catalogue's `consumers` must say of the service (a test compares them)."""
    return frozenset(_CONSUMED.get(broker, ()))


def durable_consumer(
    broker: NatsBroker,
    *,
    service: str,
    name: str,
    subject: str,
    model: type[P],
    handler: EventHandler[P],
    max_deliver: int = 8,
    batch_size: int = 1,
    ack_wait_seconds: float = 60.0,
) -> None:
    """Register a durable pull consumer that parses envelopes of `model` for `handler`.

    `handler` must be idempotent (use the inbox): JetStream delivers at least once. A
    fetched batch is handled concurrently, so keep `batch_size=1` (the default) where
    order matters, e.g. a usage batch that replaces earlier usage.
    """
    ordered_consumer(
        broker,
        service=service,
        name=name,
        subject=subject,
        handlers={model: handler},
        max_deliver=max_deliver,
        batch_size=batch_size,
        ack_wait_seconds=ack_wait_seconds,
    )


def ordered_consumer(
    broker: NatsBroker,
    *,
    service: str,
    name: str,
    subject: str,
    handlers: Mapping[type[Payload], EventHandler[Any]],
    max_deliver: int = 8,
    batch_size: int = 1,
    ack_wait_seconds: float = 60.0,
) -> None:
    """One durable pull consumer for several message types on one subject filter.

    Messages are handled in stream order, one type after another as they were published:
    a full PSA sync's snapshot batches are applied before its `sync.completed`, which
    separate consumers could not promise. Types without a handler are acked and skipped.
    """
    spec = stream_for(subject)
    durable = f"{service}-{name}"
    takes(broker, *handlers)
    by_type: dict[str, tuple[type[Envelope[Any]], EventHandler[Any]]] = {
        model.message_type: (envelope_type(model), handler) for model, handler in handlers.items()
    }

    @broker.subscriber(
        subject,
        stream=JStream(spec.name, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=batch_size, timeout=1.0),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        config=ConsumerConfig(max_deliver=max_deliver, ack_wait=ack_wait_seconds),
        no_reply=True,
        title=durable,
    )
    async def consume(msg: NatsMessage) -> None:
        delivered = _deliveries(msg.raw_message)
        routed = await _envelope_or_settle(broker, service, msg.raw_message, by_type)
        if routed is None:
            return
        envelope, handler = routed
        started = time.perf_counter()
        with bound_context(
            tenant_id=envelope.tenant_id,
            correlation_id=envelope.correlation_id,
            event_id=envelope.event_id,
        ):
            try:
                await handler(envelope)
            except Exception as exc:
                if delivered >= max_deliver:
                    log.exception("giving up on message", subject=msg.raw_message.subject)
                    await _dead_letter(broker, service, msg.raw_message, repr(exc))
                    await msg.ack()
                    return
                await msg.nack(delay=_backoff_seconds(delivered))
                raise
            finally:
                HANDLER_SECONDS.labels(service=service, subject=name).observe(
                    time.perf_counter() - started
                )


GATHER_SECONDS = 0.01
"""How long a batched consumer waits for more pending messages once a batch has begun."""
GATHER_WINDOW_SECONDS = 0.01
"""The longest a batch's first message waits for others to join it; a backlog fills a
batch at once (a fetch returns what is pending). Without a bound, a steady stream of
messages closer together than `GATHER_SECONDS` (200 usage reports a second) kept topping
a batch up until it was full, and its first message waited a second. A 50 ms bound still
held every report of a steady stream idle for up to 50 ms, and at 500 reports/s the
batches it made grew to 200 and a third of a second each (`bench_sse_latency.py`: p99
404 ms, against 216 ms with 10 ms). Taking only what is pending, with no wait at all,
made batches of one or two at 200 reports/s and cost reconciliation half as much CPU
again as batches gathered for 10 ms (`docs/benchmarks.md`)."""


class BatchedConsumer:
    """A durable pull consumer that hands `handler` every envelope of `model` (or of each
    of a tuple of types, in stream order) that has arrived, up to `batch_size` at once,
    so it can apply them in one transaction.

    It fetches with nats-py itself rather than through faststream's batch subscriber:
    that one gathers a batch over several fetches, and nats-py 2.16 may end a late one
    with a plain `asyncio.TimeoutError` that faststream does not catch, so its task
    restarts and the messages gathered so far wait out their ack wait. Here a batch is
    what is pending when the first message arrives, topped up for as long as more keeps
    coming within `GATHER_SECONDS`, for at most `GATHER_WINDOW_SECONDS`: large under a
    backlog, one message when quiet, and never a wait for a batch to fill.

    Unparseable messages are dead-lettered and acked as `durable_consumer` does and
    never reach the handler; the rest are acked together once it returns. If it raises,
    each envelope is handed over again on its own, so a poison message is nacked (and on
    its `max_deliver`-th delivery dead-lettered) alone while the others are applied.
    `handler` must therefore be idempotent for a whole batch (`first_deliveries`): a
    retried or redelivered batch may hold envelopes it has applied already.

    Run it with `ServiceRuntime.add_batched_consumer`, which starts it once the broker is
    connected and stops it before the broker closes.
    """

    def __init__(
        self,
        broker: NatsBroker,
        *,
        service: str,
        name: str,
        subject: str,
        model: type[P] | tuple[type[P], ...],
        handler: BatchHandler[P],
        max_deliver: int = 8,
        batch_size: int = 200,
        idle_wait_seconds: float = 0.5,
        ack_wait_seconds: float = 60.0,
    ) -> None:
        models = model if isinstance(model, tuple) else (model,)
        takes(broker, *models)
        self.broker = broker
        self.service = service
        self.name = name
        self.subject = subject
        self.stream = stream_for(subject).name
        self.durable = f"{service}-{name}"
        self.handler: BatchHandler[Any] = handler
        self.max_deliver = max_deliver
        self.batch_size = batch_size
        self.idle_wait_seconds = idle_wait_seconds
        self.config = ConsumerConfig(
            durable_name=self.durable,
            filter_subject=subject,
            ack_policy=nats.js.api.AckPolicy.EXPLICIT,
            max_deliver=max_deliver,
            ack_wait=ack_wait_seconds,
            # Room for a few batches in flight, whatever the server's default.
            max_ack_pending=max(1000, 4 * batch_size),
        )
        self._by_type: dict[str, tuple[type[Envelope[Any]], None]] = {
            each.message_type: (envelope_type(each), None) for each in models
        }
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None

    async def start(self) -> None:
        """Create or update the durable consumer and start fetching."""
        js = self.broker.config.connection_state.stream
        self._subscription = await js.pull_subscribe(
            self.subject, durable=self.durable, stream=self.stream, config=self.config
        )
        self._running = True
        self._task = asyncio.create_task(self._run(self._subscription), name=self.durable)

    async def stop(self) -> None:
        """Finish the batch in hand, then stop; what is not acked is redelivered."""
        self._running = False
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=self.idle_wait_seconds + 30.0)
            except TimeoutError:
                log.warning("batched consumer did not stop in time", durable=self.durable)
            self._task = None
        if self._subscription is not None:
            # An open subscription would hold up the broker's drain for its whole timeout.
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def _run(self, subscription: JetStreamContext.PullSubscription) -> None:
        while self._running:
            try:
                messages = await subscription.fetch(self.batch_size, timeout=self.idle_wait_seconds)
            except TimeoutError:
                # Nothing arrived while idle (nats-py raises both of its timeout kinds).
                continue
            except Exception:
                # A reconnecting connection: nats-py resumes the subscription by itself.
                log.warning("fetch failed; retrying", durable=self.durable, exc_info=True)
                await asyncio.sleep(1.0)
                continue
            messages += await self._more(subscription, self.batch_size - len(messages))
            try:
                await self.consume(messages)
            except Exception:
                # Unacked messages are redelivered after the ack wait; keep consuming.
                log.exception("batch not settled", durable=self.durable)

    async def _more(self, subscription: JetStreamContext.PullSubscription, room: int) -> list[Msg]:
        # A fetch returns as soon as the first messages arrive, a handful of a backlog:
        # top the batch up with what is already pending, waiting only moments for more.
        more: list[Msg] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER_WINDOW_SECONDS
        while len(more) < room and (left := deadline - loop.time()) > 0:
            try:
                more += await subscription.fetch(
                    room - len(more), timeout=min(GATHER_SECONDS, left)
                )
            except Exception:
                break
        return more

    async def consume(self, messages: Sequence[Msg]) -> None:
        """Handle and settle one fetched batch."""
        parsed: list[tuple[Msg, Envelope[Any]]] = []
        for raw in messages:
            routed = await _envelope_or_settle(self.broker, self.service, raw, self._by_type)
            if routed is not None:
                parsed.append((raw, routed[0]))
        if not parsed:
            return
        started = time.perf_counter()
        try:
            await self.handler([envelope for _raw, envelope in parsed])
        except Exception:
            log.warning(
                "batch failed; handling its messages one by one",
                durable=self.durable,
                size=len(parsed),
                exc_info=True,
            )
            for raw, envelope in parsed:
                await _handle_alone(
                    self.broker, self.service, raw, envelope, self.handler, self.max_deliver
                )
            return
        finally:
            HANDLER_SECONDS.labels(service=self.service, subject=self.name).observe(
                time.perf_counter() - started
            )
        for raw, _envelope in parsed:
            await raw.ack()


async def _handle_alone(
    broker: NatsBroker,
    service: str,
    raw: Msg,
    envelope: Envelope[Any],
    handler: BatchHandler[Any],
    max_deliver: int,
) -> None:
    delivered = _deliveries(raw)
    with bound_context(
        tenant_id=envelope.tenant_id,
        correlation_id=envelope.correlation_id,
        event_id=envelope.event_id,
    ):
        try:
            await handler([envelope])
        except Exception as exc:
            if delivered >= max_deliver:
                log.exception("giving up on message", subject=raw.subject)
                await _dead_letter(broker, service, raw, repr(exc))
                await raw.ack()
                return
            log.warning(
                "message failed; it will be redelivered",
                subject=raw.subject,
                delivered=delivered,
                exc_info=True,
            )
            await raw.nak(delay=_backoff_seconds(delivered))
            return
    await raw.ack()


def _backoff_seconds(delivered: int) -> float:
    # Back off before the redelivery: a PSA or database that just failed is unlikely to
    # have recovered within milliseconds.
    return min(2.0 ** (delivered - 1), 30.0)


async def _envelope_or_settle(
    broker: NatsBroker,
    service: str,
    raw: Msg,
    by_type: Mapping[str, tuple[type[Envelope[Any]], T]],
) -> tuple[Envelope[Any], T] | None:
    """The message's envelope and what handles its type; None once the message is
    settled here (unparseable: dead-lettered and acked; a type nobody handles: acked)."""
    try:
        message_type = _Typed.model_validate_json(raw.data).type
    except ValidationError as exc:
        await _dead_letter(broker, service, raw, f"not an envelope: {exc}")
        await raw.ack()
        return None
    entry = by_type.get(message_type)
    if entry is None:
        await raw.ack()
        return None
    envelope_model, handler = entry
    try:
        return envelope_model.model_validate_json(raw.data), handler
    except ValidationError as exc:
        await _dead_letter(broker, service, raw, f"unparseable {message_type}: {exc}")
        await raw.ack()
        return None


class _Typed(BaseModel):
    """Just enough of an envelope to route it."""

    type: str


def _deliveries(raw: Msg) -> int:
    try:
        return int(raw.metadata.num_delivered)
    except Exception:
        return 1


async def _dead_letter(broker: NatsBroker, service: str, raw: Msg, reason: str) -> None:
    subject = dead_letter(service, raw.subject)
    headers: dict[str, Any] = dict(raw.headers or {})
    headers.pop(MSG_ID_HEADER, None)
    headers["TrueUp-Dead-Letter-Reason"] = reason[:1000]
    await broker.publish(raw.data, subject, headers=headers, stream="DLQ")
    log.error("dead-lettered message", dead_letter_subject=subject, reason=reason[:300])


R = TypeVar("R", bound=Payload)
QueryHandler = Callable[[Envelope[P]], Awaitable[R]]


class QueryFailedError(Exception):
    """Raised by a query handler to answer with an error status (404, 409, 422...)."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


QUERY_ATTEMPTS = 3
"""Times a query is run when the database undoes its transaction over a conflict."""


async def _answer(handler: QueryHandler[P, R], envelope: Envelope[P], subject: str) -> R:
    """The handler's answer, run again when the database undid its transaction to break
    a deadlock: nothing of it stands, and a second run normally goes through."""

    def note_retry(state: tenacity.RetryCallState) -> None:
        log.warning(
            "query undone by a conflict with another transaction; running it again",
            subject=subject,
            attempt=state.attempt_number,
        )

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(transaction_conflict),
        stop=tenacity.stop_after_attempt(QUERY_ATTEMPTS),
        before_sleep=note_retry,
        reraise=True,
    )
    return await retrying(handler, envelope)


QUERY_WORKERS = 8
"""Queries of one kind a replica answers at once. One at a time (a core subscriber's
default), every tenant's approvals waited behind whichever one was being answered: an
integration approving cards one by one got eight a second from a replica whatever the
tenant. Writers still take their tenant's lock, so a tenant's own writes stay in order."""


def query_responder(
    broker: NatsBroker,
    *,
    service: str,
    model: type[P],
    handler: QueryHandler[P, R],
) -> None:
    """Answer request-reply queries of `model` on core NATS (a queue group per service),
    on the subject the catalogue gives it, for every tenant.

    The tenant in the envelope must be the one in the subject: the gateway sets both from
    the caller's credential, and a mismatch is refused rather than trusted.
    """
    subject = spec_for(model).subject
    takes(broker, model)
    envelope_model: type[Envelope[P]] = envelope_type(model)

    @broker.subscriber(
        subject,
        queue=f"{service}-queries",
        title=f"{service}-{subject}",
        max_workers=QUERY_WORKERS,
    )
    async def answer(msg: NatsMessage) -> bytes:
        try:
            envelope = envelope_model.model_validate_json(msg.body)
        except ValidationError as exc:
            return _reply_error(400, "Invalid query", str(exc))
        if tenant_of(msg.raw_message.subject) != envelope.tenant_id:
            return _reply_error(403, "Tenant mismatch")
        with bound_context(
            tenant_id=envelope.tenant_id,
            correlation_id=envelope.correlation_id,
            event_id=envelope.event_id,
        ):
            try:
                result = await _answer(handler, envelope, msg.raw_message.subject)
            except QueryFailedError as exc:
                return _reply_error(exc.status, exc.title, exc.detail)
            except Exception as exc:
                unreachable = database_unreachable(exc)
                if unreachable or transaction_conflict(exc):
                    # A database restart or failover, or a conflict that outlasted the
                    # retries: nothing was done, and the same question asked again in a
                    # moment will be answered. Say so (503), not "internal error", so a
                    # caller with an idempotency key retries.
                    log.warning(
                        "query refused: the database is unreachable"
                        if unreachable
                        else "query refused: conflicts with other transactions",
                        subject=msg.raw_message.subject,
                        error=type(exc).__name__,
                    )
                    return _reply_error(
                        503,
                        "Service Unavailable",
                        "The database is unreachable for the moment; nothing was changed. "
                        "Try again shortly."
                        if unreachable
                        else "Other changes to the same data got in the way; nothing was "
                        "changed. Try again shortly.",
                    )
                log.exception("query failed", subject=msg.raw_message.subject)
                return _reply_error(500, "Internal error")
        body = reply_type(type(result))(result=result).model_dump_json().encode()
        limit = _reply_limit(broker)
        if len(body) > limit:
            # NATS drops a message over its max payload: the caller would wait for its
            # whole timeout and never learn why. Say so at once instead.
            log.warning(
                "query answer too large",
                subject=msg.raw_message.subject,
                size=len(body),
                limit=limit,
            )
            return _reply_error(
                413,
                "Answer too large",
                f"the answer would be {len(body)} bytes, over the {limit}-byte message limit;"
                " ask for less",
            )
        return body


# Headroom for the reply's headers (correlation id, trace context) within max_payload.
_REPLY_HEADROOM_BYTES = 4096
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024


def _reply_limit(broker: NatsBroker) -> int:
    """The largest reply body the connected server takes (its max_payload, less headroom)."""
    try:
        max_payload = int(broker.config.connection_state.connection.max_payload)
    except Exception:  # not connected (TestNatsBroker): assume the server default
        max_payload = DEFAULT_MAX_PAYLOAD_BYTES
    return max_payload - _REPLY_HEADROOM_BYTES


def _reply_error(status: int, title: str, detail: str = "") -> bytes:
    reply: Reply[Payload] = Reply(error=QueryError(status=status, title=title, detail=detail))
    return reply.model_dump_json().encode()


async def ask_raw(
    broker: NatsBroker, subject: str, envelope: Envelope[P], *, timeout: float = 5.0
) -> bytes:
    """Send a query and return the reply's bytes; TimeoutError if nobody answers in time."""
    try:
        response = await broker.request(
            envelope.model_dump_json().encode(),
            subject,
            timeout=timeout,
            correlation_id=envelope.correlation_id,
        )
    except nats.errors.TimeoutError as exc:
        raise TimeoutError(f"no answer on {subject} within {timeout}s") from exc
    except nats.errors.NoRespondersError as exc:
        raise TimeoutError(f"no service answers {subject}") from exc
    body: bytes = response.body
    return body


async def ask(
    broker: NatsBroker,
    subject: str,
    envelope: Envelope[P],
    reply_model: type[R],
    *,
    timeout: float = 5.0,
) -> Reply[R]:
    """Send a query and parse its reply; raises TimeoutError if nobody answers in time."""
    body = await ask_raw(broker, subject, envelope, timeout=timeout)
    return reply_type(reply_model).model_validate_json(body)
