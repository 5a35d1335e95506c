"""Helpers shared by the endpoint modules."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request

from trueup.contracts import Payload
from trueup.gateway import bus
from trueup.gateway.identity.principal import Principal

R = TypeVar("R", bound=Payload)


async def ask(
    request: Request,
    principal: Principal,
    payload: Payload,
    reply: type[R],
    *,
    timeout: float | None = None,
) -> R:
    """Ask the service that owns the data, in the caller's tenant and correlation."""
    return await bus.query(
        request.app.state.broker,
        principal,
        payload,
        reply,
        timeout=timeout or request.app.state.query_timeout,
        correlation_id=request.state.correlation_id,
    )
