"""The one way to talk to NATS: a broker factory, stream provisioning, durable consumers.

Consumers are durable pull consumers with NACK_ON_ERROR and a redelivery limit. A message
that cannot be parsed, or that failed on its last allowed delivery, is parked on the
dead-letter stream (`dlq.<service>.<subject>`) where a person can see it, then acked so
it stops blocking the consumer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import nats
import nats.errors
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
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import BaseModel, ValidationError

from trueup.contracts.envelope import Envelope, Payload, QueryError, Reply
from trueup.contracts.messages import spec_for
from trueup.contracts.streams import ALL_STREAMS, StreamSpec, stream_for
from trueup.contracts.subjects import dead_letter, tenant_of
from trueup.platform.logging import bound_context, get_logger
from trueup.platform.metrics import HANDLER_SECONDS
from trueup.platform.tracing import configure_tracing

log = get_logger(__name__)

P = TypeVar("P", bound=Payload)
EventHandler = Callable[[Envelope[P]], Awaitable[None]]

MSG_ID_HEADER = "Nats-Msg-Id"


class _QuietBookkeeping(logging.Filter):
    """faststream's info lines ("waiting for messages", "callback for Task-21 is being
    executed...") are its bookkeeping, not our events: shown only at debug.

    A pull consumer's fetch that times out on a busy machine is retried by faststream's
    task supervisor, which reports it as an error with a full traceback: a transient
    timeout it recovers from is one warning line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        error = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        if isinstance(error, TimeoutError) and "raised an exception, retrying" in message:
            record.msg = f"{message.splitlines()[0]} ({type(error).__name__})"
            record.args = None
            record.exc_info = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


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
    by_type: dict[str, tuple[type[Envelope[Any]], EventHandler[Any]]] = {
        model.message_type: (Envelope[model], handler)  # type: ignore[valid-type]
        for model, handler in handlers.items()
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
        delivered = _deliveries(msg)
        try:
            message_type = _Typed.model_validate_json(msg.body).type
        except ValidationError as exc:
            await _dead_letter(broker, service, msg, f"not an envelope: {exc}")
            await msg.ack()
            return
        entry = by_type.get(message_type)
        if entry is None:
            await msg.ack()
            return
        envelope_model, handler = entry
        try:
            envelope = envelope_model.model_validate_json(msg.body)
        except ValidationError as exc:
            await _dead_letter(broker, service, msg, f"unparseable {message_type}: {exc}")
            await msg.ack()
            return
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
                    await _dead_letter(broker, service, msg, repr(exc))
                    await msg.ack()
                    return
                # Back off before the redelivery: a PSA or database that just failed is
                # unlikely to have recovered within milliseconds.
                await msg.nack(delay=min(2.0 ** (delivered - 1), 30.0))
                raise
            finally:
                HANDLER_SECONDS.labels(service=service, subject=name).observe(
                    time.perf_counter() - started
                )


class _Typed(BaseModel):
    """Just enough of an envelope to route it."""

    type: str


def _deliveries(msg: NatsMessage) -> int:
    try:
        return int(msg.raw_message.metadata.num_delivered)
    except Exception:
        return 1


async def _dead_letter(broker: NatsBroker, service: str, msg: NatsMessage, reason: str) -> None:
    subject = dead_letter(service, msg.raw_message.subject)
    headers: dict[str, Any] = dict(msg.headers or {})
    headers.pop(MSG_ID_HEADER, None)
    headers["TrueUp-Dead-Letter-Reason"] = reason[:1000]
    await broker.publish(msg.body, subject, headers=headers, stream="DLQ")
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
    envelope_model: type[Envelope[P]] = Envelope[model]  # type: ignore[valid-type]

    @broker.subscriber(subject, queue=f"{service}-queries", title=f"{service}-{subject}")
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
                result = await handler(envelope)
            except QueryFailedError as exc:
                return _reply_error(exc.status, exc.title, exc.detail)
            except Exception:
                log.exception("query failed", subject=msg.raw_message.subject)
                return _reply_error(500, "Internal error")
        reply_model: type[Reply[R]] = Reply[type(result)]  # type: ignore[misc,assignment]
        body = reply_model(result=result).model_dump_json().encode()
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
    return Reply[reply_model].model_validate_json(body)  # type: ignore[valid-type]
