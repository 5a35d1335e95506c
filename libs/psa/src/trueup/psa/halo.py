"""HaloPSA client: clients, items, and recurring invoices with their lines.

Auth is OAuth2 client credentials against the tenant's auth server; the token is
cached until shortly before it expires and fetched again on a 401. Halo has no dated
or prorated change of a recurring line: `updatelines` sets `qty_order` from now on.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter

from trueup.psa.base import PsaClient, RetryPolicy, as_utc
from trueup.psa.errors import PsaNotFound, PsaResponseError, PsaUnsupported
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

PAGE_SIZE = 100
FETCH_ONE_BY_ONE_UP_TO = 50  # invoices; beyond this, page through all of them


@dataclass(frozen=True, slots=True)
class HaloCredentials:
    """An API application's client id and secret. `base_url` is the Halo web address."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    tenant: str | None = None  # hosted Halo: the tenant name sent to the token endpoint
    auth_url: str | None = None  # None: {base_url}/auth
    scope: str = "all"

    def first_urls(self) -> list[str]:
        """Every URL the client calls first (checked against the outbound policy when saved)."""
        return [u for u in (self.base_url, self.auth_url) if u]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Token(_Model):
    access_token: str
    expires_in: int = 3600


class _Client(_Model):
    id: int
    name: str
    inactive: bool = False
    ref: str | None = None


class _ClientPage(_Model):
    record_count: int
    clients: list[_Client]


class _Line(_Model):
    id: int
    ihid: int
    item_id: int
    item_code: str | None = None
    item_shortdescription: str | None = None
    qty_order: Decimal
    unit_price: Decimal = Decimal(0)
    unit_cost: Decimal = Decimal(0)
    start_date: datetime | None = None
    end_date: datetime | None = None


class _Invoice(_Model):
    id: int
    client_id: int
    reference: str | None = None
    client_name: str | None = None
    inactive: bool = False
    startdate: datetime | None = None
    enddate: datetime | None = None
    period: str | None = None
    invoice_in_advance: bool = True
    currency_code: str | None = None
    lines: list[_Line] | None = None


class _InvoicePage(_Model):
    record_count: int
    invoices: list[_Invoice]


class _Item(_Model):
    id: int
    name: str


class _ItemPage(_Model):
    record_count: int
    items: list[_Item]


_TOKEN = TypeAdapter(_Token)
_CLIENT_PAGE = TypeAdapter(_ClientPage)
_INVOICE_PAGE = TypeAdapter(_InvoicePage)
_INVOICE = TypeAdapter(_Invoice)
_ITEM_PAGE = TypeAdapter(_ItemPage)
_LINES = TypeAdapter(list[_Line])


def _cycle(period: str | None) -> PsaBillingCycle:
    text = (period or "").lower()
    if "six" in text or "semi" in text or "half" in text:
        return PsaBillingCycle.SEMI_ANNUAL
    if "month" in text:
        return PsaBillingCycle.MONTHLY
    if "quarter" in text:
        return PsaBillingCycle.QUARTERLY
    if "year" in text or "annual" in text:
        return PsaBillingCycle.ANNUAL
    return PsaBillingCycle.OTHER


# Halo sets line quantities from now on: no proration, no dates, no change stamps, no
# notes and no audit record in the API.
CAPABILITIES = Capabilities(
    proration=False,
    proration_optional=True,
    incremental_sync=False,
    dated_changes=False,
    contract_notes=False,
    audit_trail=False,
    replaces_line=False,
    deferred_quantity=False,
)


class HaloClient(PsaClient):
    """`PsaClient` for the HaloPSA REST API."""

    kind = PsaKind.HALO

    def __init__(
        self,
        credentials: HaloCredentials,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 8,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__(
            base_url=credentials.base_url,
            timeout=timeout,
            retry=retry,
            http=http,
            transport=transport,
            max_concurrency=max_concurrency,
        )
        self._credentials = credentials
        self._auth_url = (credentials.auth_url or f"{self._base_url}/auth").rstrip("/")
        self._token: str | None = None
        self._token_expires = 0.0
        self._page_size = page_size

    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    async def _auth_headers(self) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token_expires:
            await self._fetch_token()
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    async def _fetch_token(self) -> None:
        params = {"tenant": self._credentials.tenant} if self._credentials.tenant else None
        response = await self._request(
            "POST",
            f"{self._auth_url}/token",
            params=params,
            data={
                "grant_type": "client_credentials",
                "client_id": self._credentials.client_id,
                "client_secret": self._credentials.client_secret,
                "scope": self._credentials.scope,
            },
            authenticated=False,
        )
        token = self._validate(_TOKEN, self._decode(response), response)
        self._token = token.access_token
        # Renew a minute early so a token never expires between send and receipt.
        self._token_expires = time.monotonic() + max(0, token.expires_in - 60)

    async def _on_unauthorized(self) -> bool:
        # The token may have been revoked or expired early: fetch a new one and resend.
        self._token = None
        return True

    def _error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:200] or response.reason_phrase
        if isinstance(body, dict):
            for key in ("error_description", "message", "error"):
                if body.get(key):
                    return str(body[key])[:300]
        return response.text[:200]

    async def check_connection(self) -> None:
        """Fetch a token and read one client."""
        await self._request(
            "GET", "/api/Client", params={"paginate": "true", "page_size": 1, "page_no": 1}
        )

    # ------------------------------------------------------------------ reads

    async def _pages(
        self, path: str, adapter: TypeAdapter[Any], key: str, params: dict[str, str | int]
    ) -> AsyncIterator[Any]:
        """Yield validated pages until `record_count` rows were seen."""
        page_no = 1
        seen = 0
        while True:
            query: dict[str, str | int] = {
                **params,
                "paginate": "true",
                "page_size": self._page_size,
                "page_no": page_no,
            }
            page, _ = await self._get_json(path, adapter, params=query)
            yield page
            rows = len(getattr(page, key))
            seen += rows
            if rows == 0 or seen >= page.record_count:
                return
            page_no += 1

    async def list_accounts(
        self, changed_since: datetime | None = None
    ) -> AsyncIterator[PsaAccount]:
        """Clients, including inactive ones."""
        async for page in self._pages(
            "/api/Client", _CLIENT_PAGE, "clients", {"includeinactive": "true"}
        ):
            for client in page.clients:
                yield PsaAccount(
                    id=str(client.id), name=client.name, identifier=client.ref,
                    active=not client.inactive,
                )  # fmt: skip

    async def list_contracts(
        self, changed_since: datetime | None = None
    ) -> AsyncIterator[PsaContract]:
        """Recurring invoices, including inactive ones."""
        params: dict[str, str | int] = {"includeinactive": "true"}
        async for page in self._pages("/api/RecurringInvoice", _INVOICE_PAGE, "invoices", params):
            for invoice in page.invoices:
                yield self._contract(invoice)

    @staticmethod
    def _contract(invoice: _Invoice) -> PsaContract:
        end = as_utc(invoice.enddate).date() if invoice.enddate else None
        if invoice.inactive:
            status = PsaContractStatus.INACTIVE
        elif end is not None and end < datetime.now().astimezone().date():
            status = PsaContractStatus.EXPIRED
        else:
            status = PsaContractStatus.ACTIVE
        return PsaContract(
            id=str(invoice.id),
            account_id=str(invoice.client_id),
            name=invoice.reference or invoice.client_name or f"Recurring invoice {invoice.id}",
            status=status,
            start_date=as_utc(invoice.startdate).date() if invoice.startdate else None,
            end_date=end,
            billing_cycle=_cycle(invoice.period),
            bill_in_advance=invoice.invoice_in_advance,
            prorate=False,
            currency=invoice.currency_code or "USD",
        )

    @staticmethod
    def _line_item(line: _Line) -> PsaLineItem:
        name = line.item_shortdescription or line.item_code or str(line.item_id)
        return PsaLineItem(
            id=str(line.id),
            contract_id=str(line.ihid),
            product=PsaProduct(id=str(line.item_id), name=name, identifier=line.item_code),
            quantity=line.qty_order,
            unit_price=line.unit_price,
            unit_cost=line.unit_cost,
            effective_date=as_utc(line.start_date).date() if line.start_date else None,
            cancelled_date=as_utc(line.end_date).date() if line.end_date else None,
            description=line.item_shortdescription,
        )

    async def _invoice(self, contract_id: str) -> _Invoice:
        invoice, _ = await self._get_json(
            f"/api/RecurringInvoice/{contract_id}", _INVOICE, params={"includedetails": "true"}
        )
        return invoice

    async def list_line_items(
        self,
        changed_since: datetime | None = None,
        *,
        contract_ids: Iterable[str] | None = None,
    ) -> AsyncIterator[PsaLineItem]:
        """Lines of the given recurring invoices (default: all)."""
        ids = None if contract_ids is None else list(contract_ids)
        if ids is None or len(ids) > FETCH_ONE_BY_ONE_UP_TO:
            # Many invoices: paging through all of them with their lines takes far fewer
            # requests than one per invoice.
            wanted = None if ids is None else set(ids)
            params: dict[str, str | int] = {"includeinactive": "true", "includelines": "true"}
            async for page in self._pages(
                "/api/RecurringInvoice", _INVOICE_PAGE, "invoices", params
            ):
                for invoice in page.invoices:
                    if wanted is not None and str(invoice.id) not in wanted:
                        continue
                    for line in invoice.lines or []:
                        yield self._line_item(line)
            return
        batch = self._max_concurrency * 4
        for start in range(0, len(ids), batch):
            invoices = await self._bounded_gather(
                [self._invoice(cid) for cid in ids[start : start + batch]]
            )
            for invoice in invoices:
                for line in invoice.lines or []:
                    yield self._line_item(line)

    async def list_products(self) -> AsyncIterator[PsaProduct]:
        """Items."""
        async for page in self._pages("/api/Item", _ITEM_PAGE, "items", {}):
            for item in page.items:
                yield PsaProduct(id=str(item.id), name=item.name)

    async def get_line_item(self, contract_id: str, line_item_id: str) -> PsaLineItem:
        """One line of a recurring invoice."""
        invoice = await self._invoice(contract_id)
        for line in invoice.lines or []:
            if str(line.id) == line_item_id:
                return self._line_item(line)
        raise PsaNotFound(
            f"line {line_item_id} is not on recurring invoice {contract_id}",
            psa=self.kind.value,
            endpoint=f"GET /api/RecurringInvoice/{contract_id}",
        )

    # ------------------------------------------------------------------ writes

    async def _change_quantity(
        self,
        line_item: PsaLineItem,
        quantity: Decimal,
        effective_date: date | None,
        prorate: bool,
    ) -> WriteResult:
        body = [{"id": int(line_item.id), "ihid": int(line_item.contract_id),
                 "qty_order": quantity}]  # fmt: skip
        response = await self._request("POST", "/api/RecurringInvoice/updatelines", json_body=body)
        lines = self._validate(_LINES, self._decode(response), response)
        updated = next((ln for ln in lines if str(ln.id) == line_item.id), None)
        if updated is None or updated.qty_order != quantity:
            raise PsaResponseError(
                f"updatelines did not answer line {line_item.id} with qty_order {quantity}",
                psa=self.kind.value,
                endpoint="POST /api/RecurringInvoice/updatelines",
            )
        return WriteResult(
            line_item=self._line_item(updated),
            records=(RecordWritten("RecurringInvoiceLine", line_item.id, "updated"),),
        )

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
        entry: dict[str, Any] = {
            "ihid": int(contract_id),
            "item_id": int(product.id),
            "item_shortdescription": description or product.name,
            "qty_order": quantity,
            "unit_price": unit_price,
            "unit_cost": unit_cost,
        }
        response = await self._request(
            "POST", "/api/RecurringInvoice/Lines", json_body=[entry], idempotent=False
        )
        lines = self._validate(_LINES, self._decode(response), response)
        if not lines:
            raise PsaResponseError(
                "Lines answered no line", psa=self.kind.value,
                endpoint="POST /api/RecurringInvoice/Lines",
            )  # fmt: skip
        line = self._line_item(lines[0])
        return WriteResult(
            line_item=line, records=(RecordWritten("RecurringInvoiceLine", line.id, "created"),)
        )

    async def add_contract_note(self, contract_id: str, title: str, text: str) -> RecordWritten:
        """Not available: Halo recurring invoices have no notes in the API."""
        raise PsaUnsupported("recurring invoices have no notes", psa=self.kind.value)

    async def has_contract_note(self, contract_id: str, containing: str) -> bool:
        """Never: Halo recurring invoices have no notes in the API."""
        return False

    async def cancel_line_item(
        self, contract_id: str, line_item_id: str, cancelled_date: date
    ) -> WriteResult:
        """Not available: a Halo line's quantity is set in place, never replaced."""
        raise PsaUnsupported(
            "recurring invoice lines are updated, not replaced", psa=self.kind.value
        )

    def contract_audit_url(self, contract_id: str) -> str | None:
        """Halo has no audit record of a recurring invoice in the API."""
        return None
