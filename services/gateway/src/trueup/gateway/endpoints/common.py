"""Helpers shared by the endpoint modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
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
RENAMED_FIELDS = {
    "vendor_account_id": "vendor_account",
    # The one mapping threshold, split in two: the old name is read as the pre-selection
    # threshold, the one that never maps anything without a person.
    "suggestion_threshold": "auto_map_threshold",
}


def accept_renamed_fields(body: object) -> object:
    """A request body with each old field name read as its new name, at any depth.

    An object that sends both names with one value is an answer sent back as it came
    (answers carry both): the old name is dropped. One that sends two values keeps the old
    name, which its model then refuses as an unknown field, named in the 422: which of the
    two was meant cannot be told.
    """

    def read(fields: dict[str, object]) -> None:
        for new, old in RENAMED_FIELDS.items():
            if old in fields and new not in fields:
                fields[new] = fields.pop(old)
            elif old in fields and fields[old] == fields[new]:
                del fields[old]

    return _each_object(body, read)


def serve_renamed_fields(answer: Payload) -> JSONResponse:
    """The answer as JSON, with each renamed field also under its old name."""

    def both(fields: dict[str, object]) -> None:
        for new, old in RENAMED_FIELDS.items():
            if new in fields:
                fields[old] = fields[new]

    return JSONResponse(_each_object(answer.model_dump(mode="json"), both))


RENAMED_IN_ANSWERS = (
    "AccountMappingView",
    "VendorAccountName",
    "Contribution",
    "BillingSettings-Output",
)
"""The OpenAPI schemas of answers that carry a renamed field under its old name too (a
model that is also a request body has an `-Output` schema of its own)."""


def document_renamed_fields(app: FastAPI) -> None:
    """Describe, in the app's OpenAPI schema, the old names answers still carry."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for name in RENAMED_IN_ANSWERS:
            properties = schema["components"]["schemas"][name]["properties"]
            for new, old in RENAMED_FIELDS.items():
                if new in properties and old not in properties:
                    properties[old] = {
                        **properties[new],
                        "title": old.replace("_", " ").title(),
                        "deprecated": True,
                        "description": f"The same as `{new}`, under its name before /api/v1 "
                        "renamed it; leaves with /api/v2.",
                    }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _each_object(value: object, change: Callable[[dict[str, object]], None]) -> object:
    """A copy of JSON data with `change` applied to each object in it, the innermost first."""
    if isinstance(value, list):
        return [_each_object(item, change) for item in value]
    if not isinstance(value, dict):
        return value
    copy = {key: _each_object(item, change) for key, item in value.items()}
    change(copy)
    return copy
