"""Helpers shared by the endpoint modules."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse

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


# Fields /api/v1 renamed (new name: old name). A client written against the old name keeps
# working: a request may still send the old name, and an answer carries both until /api/v2
# (docs/api.md, "Renamed fields").
RENAMED_FIELDS = {"vendor_account_id": "vendor_account"}


def accept_renamed_fields(body: object) -> object:
    """A request body with each old field name read as its new name, at any depth.

    An object that sends both names keeps the old one, which its model then refuses as an
    unknown field, named in the 422: which of the two was meant cannot be told.
    """
    if isinstance(body, list):
        return [accept_renamed_fields(item) for item in body]
    if not isinstance(body, dict):
        return body
    read = {key: accept_renamed_fields(value) for key, value in body.items()}
    for new, old in RENAMED_FIELDS.items():
        if old in read and new not in read:
            read[new] = read.pop(old)
    return read


def serve_renamed_fields(answer: Payload) -> JSONResponse:
    """The answer as JSON, with each renamed field also under its old name."""

    def both(value: object) -> object:
        if isinstance(value, list):
            return [both(item) for item in value]
        if not isinstance(value, dict):
            return value
        served = {key: both(item) for key, item in value.items()}
        for new, old in RENAMED_FIELDS.items():
            if new in served:
                served[old] = served[new]
        return served

    return JSONResponse(both(answer.model_dump(mode="json")))
