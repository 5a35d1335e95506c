"""NinjaOne connector: approved devices per organization, counted by device class."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any, Unpack

from trueup.vendors.connectors.base import ConnectorError
from trueup.vendors.connectors.http import ClientCredentials, HttpConnector, HttpOptions
from trueup.vendors.usage import ReportedUsage

DEFAULT_BASE_URL = "https://app.ninjarmm.com"
TOKEN_PATH = "/ws/oauth/token"  # noqa: S105 - a path
PAGE_SIZE = 1000

#: Readable names for NinjaOne's node classes, used as SKU names.
NODE_CLASS_NAMES = {
    "WINDOWS_WORKSTATION": "Windows workstation",
    "WINDOWS_SERVER": "Windows server",
    "MAC": "Mac",
    "MAC_SERVER": "Mac server",
    "LINUX_WORKSTATION": "Linux workstation",
    "LINUX_SERVER": "Linux server",
    "VMWARE_VM_HOST": "VMware host",
    "VMWARE_VM_GUEST": "VMware guest",
    "HYPERV_VMM_HOST": "Hyper-V host",
    "HYPERV_VMM_GUEST": "Hyper-V guest",
}


class NinjaOneConnector(HttpConnector):
    """Usage = approved devices per organization and node class (one SKU per class).

    Devices waiting for approval are not managed yet, so they are not billed.
    """

    name = "ninjaone"
    default_base_url = DEFAULT_BASE_URL

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(**options)
        self._auth = ClientCredentials(
            self._http,
            token_url=TOKEN_PATH,
            client_id=client_id,
            client_secret=client_secret,
            extra={"scope": "monitoring"},
            clock=self._clock,
        )

    async def _all(self, path: str) -> list[dict[str, Any]]:
        # Cursor paging: `after` is the last id seen; a short page is the last one.
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await self._http.get_json(
                path,
                params={"pageSize": PAGE_SIZE, "after": after},
                headers=await self._auth.headers(),
            )
            if not isinstance(page, list):
                raise ConnectorError(self.name, f"{path} did not answer a list")
            items.extend(page)
            if len(page) < PAGE_SIZE:
                return items
            after = int(page[-1]["id"])

    async def poll(self) -> list[ReportedUsage]:
        """Count approved devices per organization and node class."""
        as_of = self._clock()
        organizations = {int(o["id"]): o for o in await self._all("/v2/organizations")}
        counts: Counter[tuple[int, str]] = Counter(
            (int(device["organizationId"]), str(device["nodeClass"]))
            for device in await self._all("/v2/devices")
            if device.get("approvalStatus", "APPROVED") == "APPROVED"
        )
        return [
            ReportedUsage(
                vendor=self.vendor,
                vendor_account_id=str(organization_id),
                vendor_account_name=organizations.get(organization_id, {}).get("name"),
                sku=node_class,
                sku_name=NODE_CLASS_NAMES.get(node_class, node_class),
                quantity=Decimal(count),
                as_of=as_of,
                record_id=f"{self.vendor}:{as_of.isoformat()}:{organization_id}:{node_class}",
            )
            for (organization_id, node_class), count in sorted(counts.items())
        ]
