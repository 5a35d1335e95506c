"""Turns HTTP calls into queries and commands for the services that own the data."""

from __future__ import annotations

from typing import TypeVar

from faststream.nats import NatsBroker

from trueup.contracts import Payload, wrap
from trueup.contracts.envelope import Reply, reply_type
from trueup.contracts.messages import subject_for
from trueup.gateway.identity.principal import Principal
from trueup.gateway.problems import ProblemError
from trueup.platform.broker import ask, ask_raw, publish_envelope

R = TypeVar("R", bound=Payload)


_RESULT_PREFIX = b'{"result":'
_RESULT_SUFFIX = b',"error":null}'


async def query_raw(
    broker: NatsBroker,
    principal: Principal,
    payload: Payload,
    reply_model: type[R],
    *,
    timeout: float,
    correlation_id: str | None = None,
) -> bytes:
    """Like `query`, but returns the result's JSON as the service sent it.

    The hot list endpoint forwards the page unparsed: the service built it from the same
    schema, and parsing and re-serialising a hundred cards would double the gateway's
    work per request. Anything but a plain result (an error) goes through `query`'s path.
    """
    subject = subject_for(type(payload), principal.tenant_id)
    envelope = wrap(payload, tenant_id=principal.tenant_id, correlation_id=correlation_id)
    try:
        body = await ask_raw(broker, subject, envelope, timeout=timeout)
    except TimeoutError as exc:
        raise _unavailable(str(exc)) from exc
    if body.startswith(_RESULT_PREFIX) and body.endswith(_RESULT_SUFFIX):
        return body[len(_RESULT_PREFIX) : -len(_RESULT_SUFFIX)]
    return _result(reply_type(reply_model).model_validate_json(body)).model_dump_json().encode()


async def publish_event(
    broker: NatsBroker, tenant_id: str, payload: Payload, correlation_id: str | None = None
) -> None:
    """Publish a command or event of the gateway's to JetStream (stored before this returns)."""
    envelope = wrap(payload, tenant_id=tenant_id, correlation_id=correlation_id)
    await publish_envelope(
        broker,
        subject_for(type(payload), tenant_id),
        envelope.model_dump_json().encode(),
        envelope.event_id,
        envelope.correlation_id,
    )


def _unavailable(reason: str) -> ProblemError:
    return ProblemError(
        503,
        "Service Unavailable",
        f"The service that answers this did not reply in time ({reason}). Try again shortly.",
        headers={"Retry-After": "2"},
    )


def _result(reply: Reply[R]) -> R:
    if reply.error is not None:
        status = reply.error.status
        raise ProblemError(
            status,
            reply.error.title,
            reply.error.detail or None,
            # The owning service could not answer now (its database restarts): a client
            # hears when to ask again.
            headers={"Retry-After": "2"} if status == 503 else None,
        )
    if reply.result is None:
        raise ProblemError(502, "Bad Gateway", "The service sent an empty reply.")
    return reply.result


async def query(
    broker: NatsBroker,
    principal: Principal,
    payload: Payload,
    reply_model: type[R],
    *,
    timeout: float,
    correlation_id: str | None = None,
) -> R:
    """Ask the owning service; a slow or absent service becomes a 503 with a retry hint."""
    subject = subject_for(type(payload), principal.tenant_id)
    envelope = wrap(payload, tenant_id=principal.tenant_id, correlation_id=correlation_id)
    try:
        reply = await ask(broker, subject, envelope, reply_model, timeout=timeout)
    except TimeoutError as exc:
        raise _unavailable(str(exc)) from exc
    return _result(reply)
