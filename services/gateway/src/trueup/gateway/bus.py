"""Turns HTTP calls into queries and commands for the services that own the data."""

from __future__ import annotations

from typing import TypeVar

from faststream.nats import NatsBroker

from trueup.contracts import Payload, wrap
from trueup.contracts.messages import subject_for
from trueup.gateway.identity.principal import Principal
from trueup.gateway.problems import ProblemError
from trueup.platform.broker import ask

R = TypeVar("R", bound=Payload)


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
        raise ProblemError(
            503,
            "Service Unavailable",
            f"The service that answers this did not reply in time ({exc}). Try again shortly.",
            headers={"Retry-After": "2"},
        ) from exc
    if reply.error is not None:
        raise ProblemError(reply.error.status, reply.error.title, reply.error.detail or None)
    if reply.result is None:
        raise ProblemError(502, "Bad Gateway", "The service sent an empty reply.")
    return reply.result
