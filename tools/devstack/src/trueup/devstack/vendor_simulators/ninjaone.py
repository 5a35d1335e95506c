"""A NinjaOne API simulator: OAuth client credentials, organizations and devices.

Follows the public NinjaOne v2 API: a token from `POST /ws/oauth/token` (form body,
grant_type=client_credentials, scope `monitoring`), then bearer calls to
`/v2/organizations` and `/v2/devices`, both plain JSON arrays paged with `pageSize` and
`after` (the last id of the previous page).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Form, Header, HTTPException, Query

from trueup.devstack.vendor_simulators._common import RateLimiter, add_rate_limit, serve
from trueup.devstack.vendor_simulators.demo import (
    NINJA_DEVICES,
    NINJA_ORGANIZATIONS,
    NinjaDevice,
    NinjaOrganization,
)

DEFAULT_PORT = 8112
DEFAULT_CLIENT_ID = "demo-ninja-client"
DEFAULT_CLIENT_SECRET = "demo-ninja-secret"
MAX_PAGE_SIZE = 1000


def _after(items: Sequence[dict[str, Any]], after: int, page_size: int) -> list[dict[str, Any]]:
    chosen = [item for item in items if item["id"] > after]
    return chosen[: max(1, min(page_size, MAX_PAGE_SIZE))]


def create_app(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    rate_limit: int | None = None,
    rate_window: float = 60.0,
    organizations: Sequence[NinjaOrganization] = NINJA_ORGANIZATIONS,
    devices: Sequence[NinjaDevice] = NINJA_DEVICES,
) -> FastAPI:
    """A NinjaOne simulator app; `rate_limit` requests per `rate_window` seconds, then 429."""
    app = FastAPI(title="NinjaOne API simulator")
    add_rate_limit(app, RateLimiter(rate_limit, rate_window))
    tokens: set[str] = set()
    organization_rows = [
        {"id": o.id, "name": o.name, "description": o.description, "nodeApprovalMode": "MANUAL"}
        for o in sorted(organizations, key=lambda o: o.id)
    ]
    device_rows = [
        {
            "id": d.id,
            "organizationId": d.organization_id,
            "locationId": d.organization_id * 10,
            "nodeClass": d.node_class,
            "nodeRoleId": 1,
            "systemName": d.system_name,
            "approvalStatus": d.approval_status,
            "offline": d.offline,
        }
        for d in sorted(devices, key=lambda d: d.id)
    ]

    def require_token(authorization: str | None) -> None:
        if not authorization or authorization.removeprefix("Bearer ").strip() not in tokens:
            raise HTTPException(status_code=401, detail="Unauthorized")

    @app.post("/ws/oauth/token")
    async def token(
        grant_type: str = Form(...),
        client_id_: str = Form(..., alias="client_id"),
        client_secret_: str = Form(..., alias="client_secret"),
        scope: str = Form("monitoring"),
    ) -> dict[str, Any]:
        if grant_type != "client_credentials":
            raise HTTPException(status_code=400, detail="unsupported_grant_type")
        if client_id_ != client_id or client_secret_ != client_secret:
            raise HTTPException(status_code=401, detail="invalid_client")
        issued = secrets.token_urlsafe(24)
        tokens.add(issued)
        return {"access_token": issued, "token_type": "bearer", "expires_in": 3600, "scope": scope}

    @app.get("/v2/organizations")
    async def list_organizations(
        page_size: int = Query(100, alias="pageSize", ge=1),
        after: int = Query(0, ge=0),
        authorization: str | None = Header(None),
    ) -> list[dict[str, Any]]:
        require_token(authorization)
        return _after(organization_rows, after, page_size)

    @app.get("/v2/devices")
    async def list_devices(
        page_size: int = Query(100, alias="pageSize", ge=1),
        after: int = Query(0, ge=0),
        authorization: str | None = Header(None),
    ) -> list[dict[str, Any]]:
        require_token(authorization)
        return _after(device_rows, after, page_size)

    return app


def main() -> None:
    """Run the simulator: `python -m trueup.devstack.vendor_simulators.ninjaone --port 8112`."""
    serve("NinjaOne", create_app, DEFAULT_PORT)


if __name__ == "__main__":
    main()
