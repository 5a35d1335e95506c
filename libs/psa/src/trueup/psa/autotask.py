"""Autotask PSA client: Companies, recurring-service Contracts and their services.

The API host depends on the customer's zone, found with `zoneInformation?user=`; a 401
can mean the zone moved, so the client asks again once. A ContractService has no
quantity: the quantity billed today is the `units` of the ContractServiceUnit row whose
dates cover today. A quantity change is a create-only ContractServiceAdjustment carrying
the difference (`unitChange`) from an effective date; Autotask then splits the unit row,
prorates the rest of the period and writes a contract note itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from trueup.psa.base import PsaClient, RetryPolicy, as_utc, describe_validation_error
from trueup.psa.errors import (
    PsaAuthError,
    PsaError,
    PsaNotFound,
    PsaResponseError,
    PsaServerError,
    PsaUnsupported,
)
from trueup.psa.models import (
    Capabilities,
    PsaAccount,
    PsaBillingCycle,
    PsaContract,
    PsaContractStatus,
    PsaKind,
    PsaLineItem,
    PsaProduct,
    RecordWritten,
    WriteResult,
)

ZONE_LOOKUP_URL = "https://webservices.autotask.net/atservicesrest/v1.0/zoneInformation"
MAX_RECORDS = 500  # Autotask's page cap
RECURRING_SERVICE = 7  # contractType picklist value for recurring service contracts


@dataclass(frozen=True, slots=True)
class AutotaskCredentials:
    """An API-only user and the integration's tracking identifier."""

    username: str
    secret: str = field(repr=False)
    integration_code: str = field(repr=False)
    zone_url: str | None = None  # None: discover through zone_lookup_url
    zone_lookup_url: str = ZONE_LOOKUP_URL
    currency: str = "USD"

    def first_urls(self) -> list[str]:
        """Every URL the client calls first (checked against the outbound policy when saved)."""
        return [u for u in (self.zone_url, self.zone_lookup_url) if u]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Zone(_Model):
    url: str


class _PageDetails(_Model):
    nextPageUrl: str | None = None  # noqa: N815


class _Page(_Model):
    items: list[dict[str, Any]]
    pageDetails: _PageDetails  # noqa: N815


class _Company(_Model):
    id: int
    companyName: str  # noqa: N815
    companyNumber: str | None = None  # noqa: N815
    isActive: bool = True  # noqa: N815
    lastTrackedModifiedDateTime: datetime | None = None  # noqa: N815


class _Contract(_Model):
    id: int
    companyID: int  # noqa: N815
    contractName: str  # noqa: N815
    status: int
    startDate: datetime | None = None  # noqa: N815
    endDate: datetime | None = None  # noqa: N815
    contractPeriodType: str | int | None = None  # noqa: N815


class _ContractService(_Model):
    id: int
    contractID: int  # noqa: N815
    serviceID: int  # noqa: N815
    unitPrice: Decimal = Decimal(0)  # noqa: N815
    unitCost: Decimal = Decimal(0)  # noqa: N815
    invoiceDescription: str | None = None  # noqa: N815


class _Unit(_Model):
    id: int
    contractServiceID: int  # noqa: N815
    startDate: datetime  # noqa: N815
    endDate: datetime  # noqa: N815
    units: Decimal


class _Service(_Model):
    id: int
    name: str
    isActive: bool = True  # noqa: N815


class _Item(_Model):
    item: dict[str, Any] | None


class _ItemId(_Model):
    itemId: int  # noqa: N815


_ZONE = TypeAdapter(_Zone)
_PAGE = TypeAdapter(_Page)
_ITEM = TypeAdapter(_Item)
_ITEM_ID = TypeAdapter(_ItemId)
_COMPANY = TypeAdapter(_Company)
_CONTRACT = TypeAdapter(_Contract)
_CONTRACT_SERVICE = TypeAdapter(_ContractService)
_UNIT = TypeAdapter(_Unit)
_SERVICE = TypeAdapter(_Service)
_ROW = TypeAdapter(dict[str, Any])

_CYCLES = {
    "m": PsaBillingCycle.MONTHLY,
    "q": PsaBillingCycle.QUARTERLY,
    "s": PsaBillingCycle.SEMI_ANNUAL,
    "y": PsaBillingCycle.ANNUAL,
    # Some tenants answer the picklist's integer values.
    "1": PsaBillingCycle.MONTHLY,
    "2": PsaBillingCycle.QUARTERLY,
    "3": PsaBillingCycle.SEMI_ANNUAL,
    "4": PsaBillingCycle.ANNUAL,
}


def _at_datetime(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{value.isoformat()}T00:00:00Z"


def _covers(unit: _Unit, day: date) -> bool:
    return as_utc(unit.startDate).date() <= day <= as_utc(unit.endDate).date()


# Autotask prorates every dated adjustment; contracts carry no change stamp. An
# adjustment dated later bills today's units until its date. The contract's notes are
# its audit trail of service changes, so TrueUp writes one.
CAPABILITIES = Capabilities(
    proration=True,
    proration_optional=False,
    incremental_sync=False,
    dated_changes=True,
    contract_notes=True,
    audit_trail=False,
    replaces_line=False,
    deferred_quantity=True,
)


class AutotaskClient(PsaClient):
    """`PsaClient` for the Autotask REST API v1.0."""

    kind = PsaKind.AUTOTASK

    def __init__(
        self,
        credentials: AutotaskCredentials,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 3,
    ) -> None:
        # Autotask allows 3 concurrent threads per endpoint per tracking id (2023.1+).
        self._credentials = credentials
        self._zone_url = credentials.zone_url
        super().__init__(
            base_url=self._api_base(credentials.zone_url or "http://zone-not-discovered/"),
            timeout=timeout,
            retry=retry,
            http=http,
            transport=transport,
            max_concurrency=max_concurrency,
        )
        self._headers = {
            "ApiIntegrationCode": credentials.integration_code,
            "UserName": credentials.username,
            "Secret": credentials.secret,
            "Accept": "application/json",
        }
        self._services: dict[int, _Service] | None = None

    @staticmethod
    def _api_base(zone_url: str) -> str:
        return f"{zone_url.rstrip('/')}/V1.0"

    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    async def discover_zone(self) -> str:
        """Ask Autotask which zone (API host) serves this user."""
        try:
            response = await self._request(
                "GET",
                self._credentials.zone_lookup_url,
                params={"user": self._credentials.username},
                authenticated=False,
                max_attempts=2,
            )
        except PsaServerError as exc:
            # Autotask answers an unknown API user with a 500 here.
            raise PsaAuthError(
                f"no zone for API user {self._credentials.username!r}: {exc.detail}",
                psa=self.kind.value,
                endpoint=exc.endpoint,
                status_code=exc.status_code,
            ) from exc
        zone = self._validate(_ZONE, self._decode(response), response)
        self._zone_url = zone.url
        self._base_url = self._api_base(zone.url)
        return zone.url

    async def _prepare(self) -> None:
        if self._zone_url is None:
            await self.discover_zone()

    async def _auth_headers(self) -> dict[str, str]:
        return self._headers

    async def _on_unauthorized(self) -> bool:
        # A 401 may mean the database moved zone: look it up again and resend once.
        before = self._zone_url
        try:
            await self.discover_zone()
        except PsaError:
            return False  # the original 401 is the error to report
        return self._zone_url != before

    def _error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:200]
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            return "; ".join(str(e) for e in body["errors"])[:300]
        return response.text[:200]

    async def check_connection(self) -> None:
        """One cheap authenticated call: a one-record company query."""
        await self._request(
            "POST",
            "/Companies/query",
            json_body={"MaxRecords": 1, "Filter": [{"op": "gt", "field": "id", "value": 0}]},
        )

    # ------------------------------------------------------------------ reads

    async def _query(
        self, entity: str, filters: list[dict[str, Any]], adapter: TypeAdapter[Any]
    ) -> AsyncIterator[list[Any]]:
        """Yield validated pages of `POST /{entity}/query`, following `nextPageUrl`."""
        body = {"MaxRecords": MAX_RECORDS, "Filter": filters}
        response = await self._request("POST", f"/{entity}/query", json_body=body)
        while True:
            page = self._validate(_PAGE, self._decode(response), response)
            rows = []
            for index, item in enumerate(page.items):
                try:
                    rows.append(adapter.validate_python(item))
                except ValidationError as exc:
                    raise self._item_error(exc, response, index) from exc
            yield rows
            if not page.pageDetails.nextPageUrl:
                return
            response = await self._request("GET", page.pageDetails.nextPageUrl)

    def _item_error(
        self, exc: ValidationError, response: httpx.Response, index: int
    ) -> PsaResponseError:
        detail = describe_validation_error(exc)
        detail = detail.replace("field ", f"field items[{index}].", 1)
        return PsaResponseError(
            detail,
            psa=self.kind.value,
            endpoint=f"{response.request.method} {response.request.url.path}",
            status_code=response.status_code,
        )

    async def list_accounts(
        self, changed_since: datetime | None = None
    ) -> AsyncIterator[PsaAccount]:
        """Companies. `changed_since` is used where Autotask stamps a change time."""
        filters: list[dict[str, Any]] = [{"op": "gt", "field": "id", "value": 0}]
        if changed_since is not None:
            filters = [
                {
                    "op": "gt",
                    "field": "lastTrackedModifiedDateTime",
                    "value": _at_datetime(changed_since),
                }
            ]
        async for rows in self._query("Companies", filters, _COMPANY):
            for company in rows:
                updated = company.lastTrackedModifiedDateTime
                yield PsaAccount(
                    id=str(company.id),
                    name=company.companyName,
                    identifier=company.companyNumber,
                    active=company.isActive,
                    updated_at=as_utc(updated) if updated else None,
                )

    async def list_contracts(
        self, changed_since: datetime | None = None
    ) -> AsyncIterator[PsaContract]:
        """Recurring-service contracts of every status (changed_since is not filterable)."""
        filters = [{"op": "eq", "field": "contractType", "value": RECURRING_SERVICE}]
        async for rows in self._query("Contracts", filters, _CONTRACT):
            for contract in rows:
                yield self._contract(contract)

    def _contract(self, contract: _Contract) -> PsaContract:
        today = datetime.now(UTC).date()
        end = as_utc(contract.endDate).date() if contract.endDate else None
        if contract.status != 1:
            status = PsaContractStatus.INACTIVE
        elif end is not None and end < today:
            # Autotask keeps an ended contract "active"; it no longer bills.
            status = PsaContractStatus.EXPIRED
        else:
            status = PsaContractStatus.ACTIVE
        period = str(contract.contractPeriodType or "").lower()
        return PsaContract(
            id=str(contract.id),
            account_id=str(contract.companyID),
            name=contract.contractName,
            status=status,
            start_date=as_utc(contract.startDate).date() if contract.startDate else None,
            end_date=end,
            billing_cycle=_CYCLES.get(period, PsaBillingCycle.OTHER),
            bill_in_advance=True,  # recurring service contracts bill each period up front
            prorate=True,  # Autotask prorates mid-period adjustments itself
            currency=self._credentials.currency,
        )

    async def _service_catalog(self) -> dict[int, _Service]:
        if self._services is None:
            catalog: dict[int, _Service] = {}
            filters = [{"op": "gt", "field": "id", "value": 0}]
            async for rows in self._query("Services", filters, _SERVICE):
                catalog.update({s.id: s for s in rows})
            self._services = catalog
        return self._services

    async def list_products(self) -> AsyncIterator[PsaProduct]:
        """Active Services."""
        for service in (await self._service_catalog()).values():
            if service.isActive:
                yield PsaProduct(id=str(service.id), name=service.name)

    async def list_line_items(
        self,
        changed_since: datetime | None = None,
        *,
        contract_ids: Iterable[str] | None = None,
    ) -> AsyncIterator[PsaLineItem]:
        """ContractServices joined with the unit row that covers today."""
        catalog = await self._service_catalog()
        if contract_ids is None:
            filters: list[dict[str, Any]] = [{"op": "gt", "field": "id", "value": 0}]
            async for services in self._query("ContractServices", filters, _CONTRACT_SERVICE):
                for item in await self._with_units(services, catalog):
                    yield item
            return
        ids = [int(c) for c in contract_ids]
        for start in range(0, len(ids), MAX_RECORDS):
            chunk = ids[start : start + MAX_RECORDS]
            filters = [{"op": "in", "field": "contractID", "value": chunk}]
            async for services in self._query("ContractServices", filters, _CONTRACT_SERVICE):
                for item in await self._with_units(services, catalog):
                    yield item

    async def _units_of(self, service_ids: list[int]) -> dict[int, list[_Unit]]:
        units: dict[int, list[_Unit]] = {}
        if not service_ids:
            return units
        filters = [{"op": "in", "field": "contractServiceID", "value": service_ids}]
        async for rows in self._query("ContractServiceUnits", filters, _UNIT):
            for unit in rows:
                units.setdefault(unit.contractServiceID, []).append(unit)
        return units

    async def _with_units(
        self, services: list[_ContractService], catalog: dict[int, _Service]
    ) -> list[PsaLineItem]:
        units = await self._units_of([s.id for s in services])
        return [self._line_item(s, units.get(s.id, []), catalog) for s in services]

    @staticmethod
    def _line_item(
        service: _ContractService, units: list[_Unit], catalog: dict[int, _Service]
    ) -> PsaLineItem:
        today = datetime.now(UTC).date()
        current = next((u for u in units if _covers(u, today)), None)
        cancelled: date | None = None
        if current is None and units:
            last = max(units, key=lambda u: u.endDate)
            if as_utc(last.endDate).date() < today:
                cancelled = as_utc(last.endDate).date()
        product = catalog.get(service.serviceID)
        return PsaLineItem(
            id=str(service.id),
            contract_id=str(service.contractID),
            product=PsaProduct(
                id=str(service.serviceID),
                name=product.name if product else service.invoiceDescription or "",
            ),
            quantity=current.units if current else Decimal(0),
            unit_price=service.unitPrice,
            unit_cost=service.unitCost,
            effective_date=as_utc(current.startDate).date() if current else None,
            cancelled_date=cancelled,
            description=service.invoiceDescription,
        )

    async def _get_item(self, entity: str, record_id: str) -> tuple[Any, httpx.Response]:
        response = await self._request("GET", f"/{entity}/{record_id}")
        wrapper = self._validate(_ITEM, self._decode(response), response)
        if wrapper.item is None:
            raise PsaNotFound(
                f"{entity} {record_id} does not exist",
                psa=self.kind.value,
                endpoint=f"GET /{entity}/{record_id}",
            )
        return wrapper.item, response

    async def get_line_item(self, contract_id: str, line_item_id: str) -> PsaLineItem:
        """One ContractService with today's units."""
        raw, response = await self._get_item("ContractServices", line_item_id)
        service = self._validate(_CONTRACT_SERVICE, raw, response)
        if str(service.contractID) != contract_id:
            raise PsaNotFound(
                f"ContractService {line_item_id} is not on contract {contract_id}",
                psa=self.kind.value,
            )
        units = await self._units_of([service.id])
        return self._line_item(service, units.get(service.id, []), await self._service_catalog())

    # ------------------------------------------------------------------ writes

    async def _adjust(
        self,
        contract_id: str,
        catalog_id: str,
        service_id: str,
        effective: date,
        change: Decimal,
        unit_price: Decimal,
        unit_cost: Decimal,
    ) -> tuple[RecordWritten, ...]:
        if change != change.to_integral_value():
            raise PsaUnsupported(
                f"Autotask adjusts whole units only; cannot change by {change}",
                psa=self.kind.value,
            )
        body = {
            "contractID": int(contract_id),
            "serviceID": int(catalog_id),
            "contractServiceID": int(service_id),
            "effectiveDate": _at_datetime(effective),
            "unitChange": int(change),
            "adjustedUnitPrice": unit_price,
            "adjustedUnitCost": unit_cost,
            "allowRepeatService": False,
        }
        response = await self._request(
            "POST", "/ContractServiceAdjustments", json_body=body, idempotent=False
        )
        created = self._validate(_ITEM_ID, self._decode(response), response)
        records = [RecordWritten("ContractServiceAdjustment", str(created.itemId), "created")]
        units = (await self._units_of([int(service_id)])).get(int(service_id), [])
        row = next((u for u in units if as_utc(u.startDate).date() == effective), None)
        if row is not None:
            records.append(RecordWritten("ContractServiceUnit", str(row.id), "created"))
        return tuple(records)

    async def _change_quantity(
        self,
        line_item: PsaLineItem,
        quantity: Decimal,
        effective_date: date | None,
        prorate: bool,
    ) -> WriteResult:
        effective = effective_date or datetime.now(UTC).date()
        # The difference is taken against the units billed on the effective date, which
        # differ from today's when a later adjustment is already booked.
        units = (await self._units_of([int(line_item.id)])).get(int(line_item.id), [])
        row = next((u for u in units if _covers(u, effective)), None)
        before = row.units if row else Decimal(0)
        change = quantity - before
        if change == 0:
            return WriteResult(line_item=line_item, records=())
        records = await self._adjust(
            line_item.contract_id,
            line_item.product.id,
            line_item.id,
            effective,
            change,
            line_item.unit_price,
            line_item.unit_cost,
        )
        updated = await self.get_line_item(line_item.contract_id, line_item.id)
        return WriteResult(line_item=updated, records=records)

    async def _add_line_item(
        self,
        contract_id: str,
        product: PsaProduct,
        quantity: Decimal,
        unit_price: Decimal,
        unit_cost: Decimal,
        effective_date: date | None,
        prorate: bool,
        description: str | None,
    ) -> WriteResult:
        body: dict[str, Any] = {
            "contractID": int(contract_id),
            "serviceID": int(product.id),
            "unitPrice": unit_price,
            "unitCost": unit_cost,
        }
        if description:
            body["invoiceDescription"] = description
        response = await self._request(
            "POST", f"/Contracts/{contract_id}/Services", json_body=body, idempotent=False
        )
        created = self._validate(_ITEM_ID, self._decode(response), response)
        service_id = str(created.itemId)
        records: tuple[RecordWritten, ...] = (
            RecordWritten("ContractService", service_id, "created"),
        )
        if quantity:
            records += await self._adjust(
                contract_id,
                product.id,
                service_id,
                effective_date or datetime.now(UTC).date(),
                quantity,
                unit_price,
                unit_cost,
            )
        line_item = await self.get_line_item(contract_id, service_id)
        return WriteResult(line_item=line_item, records=records)

    async def add_contract_note(self, contract_id: str, title: str, text: str) -> RecordWritten:
        """A ContractNote: what the Notes tab of the contract shows."""
        response = await self._request(
            "POST",
            f"/Contracts/{contract_id}/Notes",
            json_body={"contractID": int(contract_id), "title": title[:250], "description": text},
            idempotent=False,
        )
        created = self._validate(_ITEM_ID, self._decode(response), response)
        return RecordWritten("ContractNote", str(created.itemId), "created")

    async def has_contract_note(self, contract_id: str, containing: str) -> bool:
        """Whether a ContractNote of the contract has `containing` in its description."""
        filters = [{"op": "eq", "field": "contractID", "value": int(contract_id)}]
        async for rows in self._query("ContractNotes", filters, _ROW):
            if any(containing in str(row.get("description") or "") for row in rows):
                return True
        return False

    async def cancel_line_item(
        self, contract_id: str, line_item_id: str, cancelled_date: date
    ) -> WriteResult:
        """Not available: Autotask adjusts a contract service's units, never replaces it."""
        raise PsaUnsupported("contract services are adjusted, not replaced", psa=self.kind.value)

    def contract_audit_url(self, contract_id: str) -> str:
        """The contract's notes (Autotask's audit trail of service changes) in the API."""
        return f"{self._base_url}/Contracts/{contract_id}/Notes"
