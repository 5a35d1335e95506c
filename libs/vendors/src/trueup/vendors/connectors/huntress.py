"""Huntress connector: agents, identities and learners per organization."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Unpack

import httpx

from trueup.vendors.connectors.base import ConnectorError
from trueup.vendors.connectors.http import HttpConnector, HttpOptions
from trueup.vendors.usage import ReportedUsage

DEFAULT_BASE_URL = "https://api.huntress.io"
PAGE_LIMIT = 500

#: Organization counters reported as SKUs: (field, SKU, SKU name, report when zero).
COUNTERS: tuple[tuple[str, str, str, bool], ...] = (
    ("agents_count", "huntress-edr-agent", "Huntress Managed EDR agent", True),
    ("billable_identity_count", "huntress-itdr-identity", "Huntress Managed ITDR identity", False),
    ("sat_learner_count", "huntress-sat-learner", "Huntress Managed SAT learner", False),
)


class HuntressConnector(HttpConnector):
    """Usage = each organization's agent count (and identities, learners when used)."""

    name = "huntress"
    default_base_url = DEFAULT_BASE_URL

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(**options)
        self._auth = httpx.BasicAuth(api_key, api_secret)

    async def _organizations(self) -> list[dict[str, Any]]:
        organizations: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": PAGE_LIMIT}
            if token:
                params["page_token"] = token
            body = await self._http.get_json("/v1/organizations", params=params, auth=self._auth)
            try:
                organizations.extend(body["organizations"])
                token = (body.get("pagination") or {}).get("next_page_token")
            except (KeyError, TypeError, AttributeError) as error:
                raise ConnectorError(
                    self.name, "organizations answered an unknown shape"
                ) from error
            if not token:
                return organizations

    async def poll(self) -> list[ReportedUsage]:
        """Read every organization's counters."""
        as_of = self._clock()
        records: list[ReportedUsage] = []
        for organization in await self._organizations():
            for field, sku, sku_name, when_zero in COUNTERS:
                count = int(organization.get(field) or 0)
                if count == 0 and not when_zero:
                    continue
                records.append(
                    ReportedUsage(
                        vendor=self.vendor,
                        vendor_account_id=str(organization["id"]),
                        vendor_account_name=organization.get("name"),
                        sku=sku,
                        sku_name=sku_name,
                        quantity=Decimal(count),
                        as_of=as_of,
                        record_id=f"{self.vendor}:{as_of.isoformat()}:{organization['id']}:{sku}",
                    )
                )
        return records
