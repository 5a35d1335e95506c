"""A Huntress API simulator: Basic auth and organizations with their agent counts.

Follows the public Huntress v1 API: HTTP Basic with the API key and secret, then
`GET /v1/organizations` answering `{organizations: [...], pagination: {...}}`, paged
with `limit` and an opaque `page_token` handed back as `pagination.next_page_token`.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Query

from trueup.devstack.vendor_simulators._common import RateLimiter, add_rate_limit, serve
from trueup.devstack.vendor_simulators.demo import HUNTRESS_ORGANIZATIONS, HuntressOrganization

DEFAULT_PORT = 8113
DEFAULT_API_KEY = "hk_demo_public"
DEFAULT_API_SECRET = "hs_demo_secret"
MAX_LIMIT = 500


def _token_for(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset_of(token: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
    except ValueError as error:
        raise HTTPException(status_code=400, detail="invalid page_token") from error


def create_app(
    *,
    api_key: str = DEFAULT_API_KEY,
    api_secret: str = DEFAULT_API_SECRET,
    rate_limit: int | None = None,
    rate_window: float = 60.0,
    organizations: Sequence[HuntressOrganization] = HUNTRESS_ORGANIZATIONS,
) -> FastAPI:
    """A Huntress simulator app; `rate_limit` requests per `rate_window` seconds, then 429."""
    app = FastAPI(title="Huntress API simulator")
    add_rate_limit(app, RateLimiter(rate_limit, rate_window))
    expected = "Basic " + base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()
    rows = [
        {
            "id": o.id,
            "name": o.name,
            "key": o.key,
            "agents_count": o.agents_count,
            "billable_identity_count": o.billable_identity_count,
            "sat_learner_count": o.sat_learner_count,
            "created_at": "2025-03-01T12:00:00Z",
            "updated_at": "2026-11-26T08:30:00Z",
        }
        for o in organizations
    ]

    @app.get("/v1/organizations")
    async def list_organizations(
        limit: int = Query(10, ge=1),
        page_token: str | None = Query(None),
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        if not authorization or not secrets.compare_digest(authorization, expected):
            raise HTTPException(status_code=401, detail="Unauthorized")
        limit = min(limit, MAX_LIMIT)
        offset = _offset_of(page_token) if page_token else 0
        page = rows[offset : offset + limit]
        following = offset + limit
        has_next = following < len(rows)
        return {
            "organizations": page,
            "pagination": {
                "current_page": offset // limit + 1,
                "current_page_count": len(page),
                "limit": limit,
                "total_count": len(rows),
                "next_page_token": _token_for(following) if has_next else None,
                "next_page_url": (
                    f"/v1/organizations?limit={limit}&page_token={_token_for(following)}"
                    if has_next
                    else None
                ),
            },
        }

    return app


def main() -> None:
    """Run the simulator: `python -m trueup.devstack.vendor_simulators.huntress --port 8113`."""
    serve("Huntress", create_app, DEFAULT_PORT)


if __name__ == "__main__":
    main()
