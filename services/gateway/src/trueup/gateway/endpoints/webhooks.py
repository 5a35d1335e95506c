"""Webhook endpoints and their signing secrets (admins only).

Vendors post to `POST /webhooks/{endpoint_id}` on vendor_ingestion, not the gateway; here
an admin lists, creates, rotates and deletes the endpoints. A secret is shown once, when
issued.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from trueup.contracts.ingest import (
    CreateWebhookEndpoint,
    DeleteWebhookEndpoint,
    ListWebhookEndpoints,
    RotateWebhookSecret,
    WebhookEndpointDeleted,
    WebhookEndpointList,
    WebhookSecretIssued,
)
from trueup.gateway.endpoints.common import ask
from trueup.gateway.identity.dependencies import Admin
from trueup.gateway.identity.text import SafeText

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


class NewEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vendor: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    name: SafeText = Field(default="", max_length=200)


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(
        default=24 * 60 * 60,
        ge=0,
        le=30 * 24 * 60 * 60,
        description="How long the current secrets stay valid beside the new one.",
    )


@router.get("", response_model=WebhookEndpointList, summary="Webhook endpoints")
async def list_endpoints(request: Request, principal: Admin) -> WebhookEndpointList:
    return await ask(
        request,
        principal,
        ListWebhookEndpoints(),
        WebhookEndpointList,
    )


@router.post(
    "", status_code=201, response_model=WebhookSecretIssued, summary="Create a webhook endpoint"
)
async def create_endpoint(
    request: Request, principal: Admin, body: NewEndpoint
) -> WebhookSecretIssued:
    return await ask(
        request,
        principal,
        CreateWebhookEndpoint(vendor=body.vendor, name=body.name, actor=principal.actor()),
        WebhookSecretIssued,
    )


@router.post(
    "/{endpoint_id}/rotate",
    response_model=WebhookSecretIssued,
    summary="Rotate an endpoint's signing secret",
)
async def rotate_secret(
    request: Request,
    principal: Admin,
    endpoint_id: str,
    body: Annotated[Rotation | None, Body()] = None,
) -> WebhookSecretIssued:
    rotation = body or Rotation()
    return await ask(
        request,
        principal,
        RotateWebhookSecret(
            endpoint_id=endpoint_id, grace_seconds=rotation.grace_seconds, actor=principal.actor()
        ),
        WebhookSecretIssued,
    )


@router.delete("/{endpoint_id}", status_code=204, summary="Delete a webhook endpoint")
async def delete_endpoint(request: Request, principal: Admin, endpoint_id: str) -> Response:
    """The endpoint and its secrets are forgotten; deliveries to it answer 404."""
    await ask(
        request,
        principal,
        DeleteWebhookEndpoint(endpoint_id=endpoint_id, actor=principal.actor()),
        WebhookEndpointDeleted,
    )
    return Response(status_code=204)
