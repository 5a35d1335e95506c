"""Vendor API connectors (Pax8, NinjaOne, Huntress): everyone reads, admins change.

vendor_ingestion owns them; here they are listed, created, changed, deleted, tested and
run. Credentials go in once, are sealed there and are never returned: a connector shows
which credential fields it holds, not their values. An address the outbound policy
refuses (not public, not https in production, not a valid host) is a 422 naming the
field. A test is bounded by the gateway's query timeout and says what failed in
TrueUp's words; the vendor's answer is never echoed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from trueup.contracts.ingest import (
    MAX_CONNECTOR_SECONDS,
    MIN_CONNECTOR_SECONDS,
    CheckConnector,
    ConnectorDeleted,
    ConnectorKindName,
    ConnectorList,
    ConnectorTestResult,
    ConnectorView,
    DeleteConnector,
    ListConnectors,
    RunConnector,
    SaveConnector,
)
from trueup.gateway.endpoints.common import ask
from trueup.gateway.identity.dependencies import Admin, Viewer
from trueup.gateway.identity.text import SafeText

router = APIRouter(prefix="/api/v1/connectors", tags=["connectors"])

Secret = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Credentials = Annotated[
    dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")], Secret],
    Field(
        max_length=10,
        description=(
            "Write-only. pax8 and ninjaone: client_id, client_secret (pax8 also takes an"
            " optional token_url); huntress: api_key, api_secret."
        ),
        examples=[{"client_id": "...", "client_secret": "..."}],
    ),
]
Vendor = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
]
Every = Annotated[
    int,
    Field(
        ge=MIN_CONNECTOR_SECONDS,
        le=MAX_CONNECTOR_SECONDS,
        description="Seconds between polls (5 minutes to 7 days).",
    ),
]


class NewConnector(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SafeText = Field(min_length=1, max_length=200, examples=["Pax8 production"])
    kind: ConnectorKindName
    vendor: Vendor | None = Field(default=None, description="Usage is tagged so; default: kind")
    base_url: str = Field(min_length=1, max_length=2000, examples=["https://api.pax8.com"])
    credentials: Credentials
    every_seconds: Every = 6 * 60 * 60
    enabled: bool = True


class ConnectorChange(BaseModel):
    """Fields left out stay as they are; `credentials` replace the stored ones whole."""

    model_config = ConfigDict(extra="forbid")

    name: SafeText | None = Field(default=None, min_length=1, max_length=200)
    vendor: Vendor | None = None
    base_url: str | None = Field(default=None, min_length=1, max_length=2000)
    credentials: Credentials | None = None
    every_seconds: Every | None = None
    enabled: bool | None = None


@router.get("", response_model=ConnectorList, summary="Connectors")
async def list_connectors(request: Request, principal: Viewer) -> ConnectorList:
    """Every connector with its schedule and last run; never credentials."""
    return await ask(request, principal, ListConnectors(), ConnectorList)


@router.post("", status_code=201, response_model=ConnectorView, summary="Create a connector")
async def create_connector(body: NewConnector, request: Request, principal: Admin) -> ConnectorView:
    """Saved and due at once: the first poll starts within a scheduler tick."""
    query = SaveConnector(**body.model_dump(), actor=principal.actor())
    return await ask(request, principal, query, ConnectorView)


@router.patch("/{connector_id}", response_model=ConnectorView, summary="Change a connector")
async def change_connector(
    connector_id: str, body: ConnectorChange, request: Request, principal: Admin
) -> ConnectorView:
    query = SaveConnector(
        connector_id=connector_id, **body.model_dump(exclude_unset=True), actor=principal.actor()
    )
    return await ask(request, principal, query, ConnectorView)


@router.delete("/{connector_id}", status_code=204, summary="Delete a connector")
async def delete_connector(connector_id: str, request: Request, principal: Admin) -> Response:
    """The usage it reported stays; it polls no more."""
    query = DeleteConnector(connector_id=connector_id, actor=principal.actor())
    await ask(request, principal, query, ConnectorDeleted)
    return Response(status_code=204)


@router.post("/{connector_id}/test", response_model=ConnectorTestResult, summary="Test a connector")
async def test_connector(
    connector_id: str, request: Request, principal: Admin
) -> ConnectorTestResult:
    """Poll once with the stored configuration; nothing is recorded."""
    query = CheckConnector(connector_id=connector_id, actor=principal.actor())
    return await ask(request, principal, query, ConnectorTestResult)


@router.post(
    "/{connector_id}/run", status_code=202, response_model=ConnectorView, summary="Run now"
)
async def run_connector(connector_id: str, request: Request, principal: Admin) -> ConnectorView:
    """Poll now in the background; `last_run_at` and `last_error` tell the outcome."""
    query = RunConnector(connector_id=connector_id, actor=principal.actor())
    return await ask(request, principal, query, ConnectorView)
