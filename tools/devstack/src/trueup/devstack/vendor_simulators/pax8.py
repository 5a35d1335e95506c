"""A Pax8 API simulator: OAuth client credentials, companies, subscriptions, products.

Follows the public Pax8 v1 API: a token from `POST /oauth/token` (JSON body with
client_id, client_secret, audience, grant_type), then bearer calls to `/v1/companies`,
`/v1/subscriptions?companyId=` and `/v1/products/{id}`, paged with `page` (0-based) and
`size` (at most 200) in a `{content, page: {size, totalElements, totalPages, number}}`
envelope.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import Body, FastAPI, Header, HTTPException, Query

from trueup.devstack.vendor_simulators._common import RateLimiter, add_rate_limit, serve
from trueup.devstack.vendor_simulators.demo import (
    PAX8_COMPANIES,
    PAX8_PRODUCTS,
    PAX8_SUBSCRIPTIONS,
    Pax8Company,
    Pax8Subscription,
)

DEFAULT_PORT = 8111
DEFAULT_CLIENT_ID = "demo-pax8-client"
DEFAULT_CLIENT_SECRET = "demo-pax8-secret"
AUDIENCE = "https://api.pax8.com"
MAX_PAGE_SIZE = 200


def _page(items: Sequence[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
    size = max(1, min(size, MAX_PAGE_SIZE))
    start = page * size
    return {
        "content": list(items[start : start + size]),
        "page": {
            "size": size,
            "totalElements": len(items),
            "totalPages": math.ceil(len(items) / size) if items else 0,
            "number": page,
        },
    }


def _company(company: Pax8Company) -> dict[str, Any]:
    return {
        "id": company.id,
        "name": company.name,
        "status": company.status,
        "billOnBehalfOfEnabled": False,
        "selfServiceAllowed": False,
        "orderApprovalRequired": False,
    }


def _subscription(subscription: Pax8Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "companyId": subscription.company_id,
        "productId": subscription.product_id,
        "quantity": subscription.quantity,
        "status": subscription.status,
        "billingTerm": subscription.billing_term,
        "price": float(subscription.price),
        "startDate": "2026-01-01T00:00:00Z",
    }


def create_app(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    rate_limit: int | None = None,
    rate_window: float = 60.0,
    companies: Sequence[Pax8Company] = PAX8_COMPANIES,
    subscriptions: Sequence[Pax8Subscription] = PAX8_SUBSCRIPTIONS,
) -> FastAPI:
    """A Pax8 simulator app; `rate_limit` requests per `rate_window` seconds, then 429."""
    app = FastAPI(title="Pax8 API simulator")
    add_rate_limit(app, RateLimiter(rate_limit, rate_window))
    tokens: set[str] = set()
    products = {product.id: product for product in PAX8_PRODUCTS}

    def require_token(authorization: str | None) -> None:
        if not authorization or authorization.removeprefix("Bearer ").strip() not in tokens:
            raise HTTPException(status_code=401, detail="Unauthorized")

    @app.post("/oauth/token")
    async def token(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        if (
            body.get("grant_type") != "client_credentials"
            or body.get("client_id") != client_id
            or body.get("client_secret") != client_secret
        ):
            raise HTTPException(status_code=401, detail="access_denied")
        if body.get("audience") != AUDIENCE:
            raise HTTPException(status_code=403, detail="invalid audience")
        issued = secrets.token_urlsafe(24)
        tokens.add(issued)
        return {"access_token": issued, "token_type": "Bearer", "expires_in": 86400}

    @app.get("/v1/companies")
    async def list_companies(
        page: int = Query(0, ge=0),
        size: int = Query(10, ge=1),
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        require_token(authorization)
        return _page([_company(company) for company in companies], page, size)

    @app.get("/v1/subscriptions")
    async def list_subscriptions(
        company_id: str | None = Query(None, alias="companyId"),
        page: int = Query(0, ge=0),
        size: int = Query(10, ge=1),
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        require_token(authorization)
        chosen = [s for s in subscriptions if company_id is None or s.company_id == company_id]
        return _page([_subscription(s) for s in chosen], page, size)

    @app.get("/v1/products/{product_id}")
    async def get_product(
        product_id: str, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        require_token(authorization)
        product = products.get(product_id)
        if product is None:
            raise HTTPException(status_code=404, detail="product not found")
        return {
            "id": product.id,
            "name": product.name,
            "vendorName": product.vendor_name,
            "sku": product.sku,
        }

    return app


def main() -> None:
    """Run the simulator: `python -m trueup.devstack.vendor_simulators.pax8 --port 8111`."""
    serve("Pax8", create_app, DEFAULT_PORT)


if __name__ == "__main__":
    main()
