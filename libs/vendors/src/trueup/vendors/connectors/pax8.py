"""Pax8 connector: active subscription quantities per company and product."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any, Unpack

from trueup.vendors.connectors.base import ConnectorError
from trueup.vendors.connectors.http import ClientCredentials, HttpConnector, HttpOptions
from trueup.vendors.usage import ReportedUsage

DEFAULT_BASE_URL = "https://api.pax8.com"
DEFAULT_TOKEN_URL = "https://token-manager.pax8.com/oauth/token"  # noqa: S105 - a URL
AUDIENCE = "https://api.pax8.com"
PAGE_SIZE = 200  # the largest page Pax8 serves
# Subscriptions in these states are billed; Cancelled, PendingManual and the like are not.
BILLED_STATUSES = frozenset({"Active"})


class Pax8Connector(HttpConnector):
    """Usage = the sum of quantities of active subscriptions, per company and product SKU."""

    name = "pax8"
    default_base_url = DEFAULT_BASE_URL

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_url: str = DEFAULT_TOKEN_URL,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(**options)
        self._auth = ClientCredentials(
            self._http,
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            extra={"audience": AUDIENCE},
            json_body=True,  # Pax8's token manager takes JSON, not a form
            clock=self._clock,
        )
        self._products: dict[str, dict[str, Any]] = {}

    async def _pages(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 0
        while True:
            body = await self._http.get_json(
                path,
                params={**(params or {}), "page": page, "size": PAGE_SIZE},
                headers=await self._auth.headers(),
            )
            try:
                items.extend(body["content"])
                total_pages = int(body["page"]["totalPages"])
            except (KeyError, TypeError, ValueError) as error:
                raise ConnectorError(
                    self.name, f"{path} answered without a page envelope"
                ) from error
            page += 1
            if page >= total_pages:
                return items

    async def _product(self, product_id: str) -> dict[str, Any]:
        if product_id not in self._products:
            self._products[product_id] = await self._http.get_json(
                f"/v1/products/{product_id}", headers=await self._auth.headers()
            )
        return self._products[product_id]

    async def poll(self) -> list[ReportedUsage]:
        """Read every company's active subscriptions and sum them per product."""
        as_of = self._clock()
        records: list[ReportedUsage] = []
        for company in await self._pages("/v1/companies"):
            quantities: dict[str, Decimal] = defaultdict(Decimal)
            for subscription in await self._pages(
                "/v1/subscriptions", {"companyId": str(company["id"])}
            ):
                if subscription.get("status") in BILLED_STATUSES:
                    # Quantities arrive as JSON numbers; str() keeps them exact.
                    quantities[str(subscription["productId"])] += Decimal(
                        str(subscription["quantity"])
                    )
            for product_id, quantity in sorted(quantities.items()):
                product = await self._product(product_id)
                sku = str(product.get("sku") or product_id)
                records.append(
                    ReportedUsage(
                        vendor=self.vendor,
                        vendor_account_id=str(company["id"]),
                        vendor_account_name=company.get("name"),
                        sku=sku,
                        sku_name=product.get("name"),
                        quantity=quantity,
                        as_of=as_of,
                        record_id=f"{self.vendor}:{as_of.isoformat()}:{company['id']}:{sku}",
                    )
                )
        return records
