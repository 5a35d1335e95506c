"""ConnectWise PSA (Manage) client: companies, agreements and their additions.

Auth is Basic `{company}+{public}:{private}` plus the integrator's `clientId` header.
Top-level lists page forward-only by `pageId` (stable while records are added);
additions are read per agreement, several agreements at a time. A plain quantity change
is a JSON-Patch PATCH of the addition; a dated or prorated change cancels the addition
the day before and adds a new one from the effective date, which is how ConnectWise
keeps billing history and computes proration.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from trueup.psa.base import PsaClient, RetryPolicy, as_utc
from trueup.psa.errors import PsaResponseError
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

DEFAULT_CODEBASE = "v4_6_release/"
PAGE_SIZE = 1000  # ConnectWise's maximum


@dataclass(frozen=True, slots=True)
class ConnectWiseCredentials:
    """An API member's keys. `site` is the host (`api-na.myconnectwise.net`) or a URL."""

    site: str
    company_id: str
    public_key: str
    private_key: str = field(repr=False)
    client_id: str = field(repr=False)
    codebase: str | None = None  # None: ask /login/companyinfo

    def first_urls(self) -> list[str]:
        """Every URL the client calls first (checked against the outbound policy when saved)."""
        site = self.site.strip().rstrip("/")
        return [site if site.startswith(("http://", "https://")) else f"https://{site}"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Ref(_Model):
    id: int
    name: str | None = None
    identifier: str | None = None


class _Currency(_Model):
    currencyCode: str | None = None  # noqa: N815


class _Company(_Model):
    id: int
    identifier: str | None = None
    name: str
    deletedFlag: bool = False  # noqa: N815
    status: _Ref | None = None
    info: dict[str, Any] | None = Field(default=None, alias="_info")


class _Agreement(_Model):
    id: int
    name: str
    company: _Ref
    startDate: datetime | None = None  # noqa: N815
    endDate: datetime | None = None  # noqa: N815
    cancelledFlag: bool = False  # noqa: N815
    billingCycle: _Ref | None = None  # noqa: N815
    prorateFlag: bool = False  # noqa: N815
    periodType: str | None = None  # noqa: N815
    currency: _Currency | None = None
    agreementStatus: str | None = None  # noqa: N815
    info: dict[str, Any] | None = Field(default=None, alias="_info")


class _Addition(_Model):
    id: int
    agreementId: int | None = None  # noqa: N815
    product: _Ref
    quantity: Decimal
    unitPrice: Decimal = Decimal(0)  # noqa: N815
    unitCost: Decimal = Decimal(0)  # noqa: N815
    billCustomer: str | None = None  # noqa: N815
    effectiveDate: datetime | None = None  # noqa: N815
    cancelledDate: datetime | None = None  # noqa: N815
    description: str | None = None
    invoiceDescription: str | None = None  # noqa: N815
    taxableFlag: bool = False  # noqa: N815
    info: dict[str, Any] | None = Field(default=None, alias="_info")


class _CatalogItem(_Model):
    id: int
    identifier: str
    description: str


class _Note(_Model):
    id: int
    text: str | None = None


class _CompanyInfo(_Model):
    Codebase: str


_COMPANIES = TypeAdapter(list[_Company])
_AGREEMENTS = TypeAdapter(list[_Agreement])
_AGREEMENT = TypeAdapter(_Agreement)
_ADDITIONS = TypeAdapter(list[_Addition])
_ADDITION = TypeAdapter(_Addition)
_CATALOG = TypeAdapter(list[_CatalogItem])
_NOTE = TypeAdapter(_Note)
_NOTES = TypeAdapter(list[_Note])
_COMPANY_INFO = TypeAdapter(_CompanyInfo)

_STATUS = {
    "active": PsaContractStatus.ACTIVE,
    "cancelled": PsaContractStatus.CANCELLED,
    "expired": PsaContractStatus.EXPIRED,
    "inactive": PsaContractStatus.INACTIVE,
}


def _cycle(name: str | None) -> PsaBillingCycle:
    text = (name or "").lower()
    if "semi" in text:
        return PsaBillingCycle.SEMI_ANNUAL
    if "month" in text:
        return PsaBillingCycle.MONTHLY
    if "quarter" in text:
        return PsaBillingCycle.QUARTERLY
    if "year" in text or "annual" in text:
        return PsaBillingCycle.ANNUAL
    return PsaBillingCycle.OTHER


def _cw_datetime(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{value.isoformat()}T00:00:00Z"


def _updated(info: dict[str, Any] | None) -> datetime | None:
    raw = (info or {}).get("lastUpdated")
    if not isinstance(raw, str):
        return None
    try:
        return as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        return None


# ConnectWise prorates per agreement when asked, filters by lastUpdated, and dates
# additions. A dated change is written as cancel-and-add, so a read shows the new
# addition at once; the agreement's audit trail records every API change by itself.
CAPABILITIES = Capabilities(
    proration=True,
    proration_optional=True,
    incremental_sync=True,
    dated_changes=True,
    contract_notes=True,
    audit_trail=True,
    replaces_line=True,
    deferred_quantity=False,
)


class ConnectWiseClient(PsaClient):
    """`PsaClient` for ConnectWise PSA's REST API 3.0."""

    kind = PsaKind.CONNECTWISE

    def __init__(
        self,
        credentials: ConnectWiseCredentials,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 8,
        page_size: int = PAGE_SIZE,
    ) -> None:
        site = credentials.site.rstrip("/")
        self._site = site if site.startswith(("http://", "https://")) else f"https://{site}"
        self._credentials = credentials
        self._codebase = credentials.codebase
        self._page_size = page_size
        super().__init__(
            base_url=self._api_base(credentials.codebase or DEFAULT_CODEBASE),
            timeout=timeout,
            retry=retry,
            http=http,
            transport=transport,
            max_concurrency=max_concurrency,
        )
        token = f"{credentials.company_id}+{credentials.public_key}:{credentials.private_key}"
        self._headers = {
            "Authorization": "Basic " + base64.b64encode(token.encode()).decode(),
            "clientId": credentials.client_id,
            "Accept": "application/json",
        }

    def _api_base(self, codebase: str) -> str:
        return f"{self._site}/{codebase.strip('/')}/apis/3.0"

    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    async def _prepare(self) -> None:
        if self._codebase is None:
            await self.discover_codebase()

    async def _auth_headers(self) -> dict[str, str]:
        return self._headers

    async def discover_codebase(self) -> str:
        """Ask `/login/companyinfo/{company}` which codebase (API version path) to use."""
        response = await self._request(
            "GET",
            f"{self._site}/login/companyinfo/{self._credentials.company_id}",
            authenticated=False,
        )
        info = self._validate(_COMPANY_INFO, self._decode(response), response)
        self._codebase = info.Codebase
        self._base_url = self._api_base(info.Codebase)
        return info.Codebase

    def _error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:200]
        if isinstance(body, dict):
            parts = [str(body.get("code") or ""), str(body.get("message") or "")]
            errors = body.get("errors")
            if isinstance(errors, list):
                for err in errors[:3]:
                    if isinstance(err, dict):
                        parts.append(f"{err.get('field', '')}: {err.get('message', '')}".strip())
            return " ".join(p for p in parts if p)[:300]
        return response.text[:200]

    async def check_connection(self) -> None:
        """One cheap authenticated call: the companies count."""
        await self._request("GET", "/company/companies/count")

    # ------------------------------------------------------------------ reads

    async def _pages(
        self,
        path: str,
        conditions: str | None = None,
        *,
        forward_only: bool = True,
    ) -> AsyncIterator[tuple[Any, httpx.Response]]:
        """Yield (decoded page, response) following the `Link: rel="next"` header."""
        params: dict[str, str | int] = {"pageSize": self._page_size, "orderBy": "id asc"}
        if conditions:
            params["conditions"] = conditions
        headers = {"pagination-type": "forward-only"} if forward_only else {}
        url: str | None = path
        first = True
        while url is not None:
            response = await self._request(
                "GET", url, params=params if first else None, headers=headers
            )
            first = False
            yield self._decode(response), response
            next_link = response.links.get("next", {}).get("url")
            url = str(next_link) if next_link else None

    async def list_accounts(
        self, changed_since: datetime | None = None
    ) -> AsyncIterator[PsaAccount]:
        """Companies (not deleted), optionally changed since a time."""
        conditions = "deletedFlag=false"
        if changed_since is not None:
            conditions += f" and lastUpdated > [{_cw_datetime(changed_since)}]"
        async for data, response in self._pages("/company/companies", conditions):
            for company in self._validate(_COMPANIES, data, response):
                yield PsaAccount(
                    id=str(company.id),
                    name=company.name,
                    identifier=company.identifier,
                    active=not company.deletedFlag
                    and (company.status is None or (company.status.name or "Active") != "Inactive"),
                    updated_at=_updated(company.info),
                )

    async def list_contracts(
        self, changed_since: datetime | None = None
    ) -> AsyncIterator[PsaContract]:
        """Agreements of every status, optionally changed since a time."""
        conditions = None
        if changed_since is not None:
            conditions = f"lastUpdated > [{_cw_datetime(changed_since)}]"
        async for data, response in self._pages("/finance/agreements", conditions):
            for agreement in self._validate(_AGREEMENTS, data, response):
                yield self._contract(agreement)

    async def get_contract(self, contract_id: str) -> PsaContract:
        """Read one agreement."""
        agreement, _ = await self._get_json(f"/finance/agreements/{contract_id}", _AGREEMENT)
        return self._contract(agreement)

    @staticmethod
    def _contract(agreement: _Agreement) -> PsaContract:
        status = _STATUS.get((agreement.agreementStatus or "").lower(), PsaContractStatus.INACTIVE)
        if agreement.cancelledFlag:
            status = PsaContractStatus.CANCELLED
        currency = agreement.currency.currencyCode if agreement.currency else None
        return PsaContract(
            id=str(agreement.id),
            account_id=str(agreement.company.id),
            name=agreement.name,
            status=status,
            start_date=agreement.startDate.date() if agreement.startDate else None,
            end_date=agreement.endDate.date() if agreement.endDate else None,
            billing_cycle=_cycle(agreement.billingCycle.name if agreement.billingCycle else None),
            # periodType "Future" bills the period after it is delivered (arrears).
            bill_in_advance=(agreement.periodType or "Current") != "Future",
            prorate=agreement.prorateFlag,
            currency=currency or "USD",
            updated_at=_updated(agreement.info),
        )

    async def list_line_items(
        self,
        changed_since: datetime | None = None,
        *,
        contract_ids: Iterable[str] | None = None,
    ) -> AsyncIterator[PsaLineItem]:
        """Additions of the given agreements (default: all), fetched a few agreements at once."""
        if contract_ids is None:
            ids = [c.id async for c in self.list_contracts()]
        else:
            ids = list(contract_ids)
        conditions = None
        if changed_since is not None:
            conditions = f"lastUpdated > [{_cw_datetime(changed_since)}]"
        batch = self._max_concurrency * 4
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            results = await self._bounded_gather(
                [self._additions_of(cid, conditions) for cid in chunk]
            )
            for items in results:
                for item in items:
                    yield item

    async def _additions_of(self, contract_id: str, conditions: str | None) -> list[PsaLineItem]:
        items: list[PsaLineItem] = []
        path = f"/finance/agreements/{contract_id}/additions"
        # Additions lists are small per agreement; page numbers are fine here.
        async for data, response in self._pages(path, conditions, forward_only=False):
            for addition in self._validate(_ADDITIONS, data, response):
                items.append(self._line_item(contract_id, addition))
        return items

    @staticmethod
    def _line_item(contract_id: str, addition: _Addition) -> PsaLineItem:
        name = addition.description or addition.product.name or addition.product.identifier
        return PsaLineItem(
            id=str(addition.id),
            contract_id=str(addition.agreementId or contract_id),
            product=PsaProduct(
                id=str(addition.product.id),
                name=name or str(addition.product.id),
                identifier=addition.product.identifier,
            ),
            quantity=addition.quantity,
            unit_price=addition.unitPrice,
            unit_cost=addition.unitCost,
            effective_date=addition.effectiveDate.date() if addition.effectiveDate else None,
            cancelled_date=addition.cancelledDate.date() if addition.cancelledDate else None,
            description=addition.invoiceDescription,
            updated_at=_updated(addition.info),
        )

    async def list_products(self) -> AsyncIterator[PsaProduct]:
        """Catalog items."""
        async for data, response in self._pages("/procurement/catalog", "inactiveFlag=false"):
            for item in self._validate(_CATALOG, data, response):
                yield PsaProduct(id=str(item.id), name=item.description, identifier=item.identifier)

    async def get_line_item(self, contract_id: str, line_item_id: str) -> PsaLineItem:
        """One addition."""
        addition, _ = await self._get_json(
            f"/finance/agreements/{contract_id}/additions/{line_item_id}", _ADDITION
        )
        return self._line_item(contract_id, addition)

    # ------------------------------------------------------------------ writes

    async def _change_quantity(
        self,
        line_item: PsaLineItem,
        quantity: Decimal,
        effective_date: date | None,
        prorate: bool,
    ) -> WriteResult:
        path = f"/finance/agreements/{line_item.contract_id}/additions/{line_item.id}"
        if effective_date is None and not prorate:
            ops = [{"op": "replace", "path": "quantity", "value": quantity}]
            response = await self._request("PATCH", path, json_body=ops)
            updated = self._line_item(
                line_item.contract_id, self._validate(_ADDITION, self._decode(response), response)
            )
            self._verify_quantity(updated, quantity, path)
            return WriteResult(
                line_item=updated,
                records=(RecordWritten("AgreementAddition", updated.id, "updated"),),
            )
        effective = effective_date or datetime.now().astimezone().date()
        added = await self._post_addition(
            line_item.contract_id,
            PsaProduct(line_item.product.id, line_item.product.name, line_item.product.identifier),
            quantity,
            line_item.unit_price,
            line_item.unit_cost,
            effective,
            prorate,
            line_item.description,
        )
        # Add before cancelling: if the cancel fails, the PSA shows two additions (visible,
        # easy to fix) rather than none (silently unbilled).
        await self.cancel_line_item(
            line_item.contract_id, line_item.id, effective - timedelta(days=1)
        )
        return WriteResult(
            line_item=added,
            records=(
                RecordWritten("AgreementAddition", added.id, "created"),
                RecordWritten("AgreementAddition", line_item.id, "cancelled"),
            ),
        )

    async def cancel_line_item(
        self, contract_id: str, line_item_id: str, cancelled_date: date
    ) -> WriteResult:
        """Set an addition's `cancelledDate` (the last day it bills).

        The second half of a cancel-and-add, on its own: a job that crashed between the
        two finishes with this. Setting a date is idempotent, so it is retried like a read.
        """
        path = f"/finance/agreements/{contract_id}/additions/{line_item_id}"
        ops = [{"op": "replace", "path": "cancelledDate", "value": _cw_datetime(cancelled_date)}]
        response = await self._request("PATCH", path, json_body=ops)
        addition = self._validate(_ADDITION, self._decode(response), response)
        return WriteResult(
            line_item=self._line_item(contract_id, addition),
            records=(RecordWritten("AgreementAddition", line_item_id, "cancelled"),),
        )

    def _verify_quantity(self, item: PsaLineItem, expected: Decimal, path: str) -> None:
        if item.quantity != expected:
            raise PsaResponseError(
                f"PATCH answered quantity {item.quantity}, expected {expected}",
                psa=self.kind.value,
                endpoint=f"PATCH {path}",
            )

    async def _post_addition(
        self,
        contract_id: str,
        product: PsaProduct,
        quantity: Decimal,
        unit_price: Decimal,
        unit_cost: Decimal,
        effective_date: date,
        prorate: bool,
        description: str | None,
    ) -> PsaLineItem:
        body: dict[str, Any] = {
            "product": {"id": int(product.id)},
            "quantity": quantity,
            "unitPrice": unit_price,
            "unitCost": unit_cost,
            "billCustomer": "Billable",
            "effectiveDate": _cw_datetime(effective_date),
            "prorateCurrentPeriodFlag": prorate,
        }
        if description:
            body["invoiceDescription"] = description
        response = await self._request(
            "POST",
            f"/finance/agreements/{contract_id}/additions",
            json_body=body,
            idempotent=False,
        )
        addition = self._validate(_ADDITION, self._decode(response), response)
        return self._line_item(contract_id, addition)

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
        added = await self._post_addition(
            contract_id,
            product,
            quantity,
            unit_price,
            unit_cost,
            effective_date or datetime.now().astimezone().date(),
            prorate,
            description,
        )
        return WriteResult(
            line_item=added, records=(RecordWritten("AgreementAddition", added.id, "created"),)
        )

    async def add_contract_note(self, contract_id: str, title: str, text: str) -> RecordWritten:
        """A note on the agreement's company naming the agreement.

        ConnectWise agreements have no notes endpoint; every API change already lands in
        the agreement's own audit trail (see `contract_audit_url`).
        """
        contract = await self.get_contract(contract_id)
        response = await self._request(
            "POST",
            f"/company/companies/{contract.account_id}/notes",
            json_body={"text": f"{title}\n{_note_heading(contract_id, contract.name)}\n{text}"},
            idempotent=False,
        )
        note = self._validate(_NOTE, self._decode(response), response)
        return RecordWritten("CompanyNote", str(note.id), "created")

    async def has_contract_note(self, contract_id: str, containing: str) -> bool:
        """Whether a note on the agreement's company names the agreement and `containing`."""
        contract = await self.get_contract(contract_id)
        heading = _note_heading(contract_id, contract.name)
        path = f"/company/companies/{contract.account_id}/notes"
        async for data, response in self._pages(path):
            for note in self._validate(_NOTES, data, response):
                text = note.text or ""
                if heading in text and containing in text:
                    return True
        return False

    def contract_audit_url(self, contract_id: str) -> str:
        """The agreement's audit trail in the API."""
        return f"{self._base_url}/system/audittrail?type=Agreement&id={contract_id}"


def _note_heading(contract_id: str, name: str) -> str:
    # Company notes have no agreement field: the note names its agreement in its text.
    return f"Agreement {contract_id} ({name})"
