"""ConnectWise PSA (Manage) REST API simulator: companies, agreements, additions.

Paths live under `/v4_6_release/apis/3.0`. Auth is Basic `company+public:private` plus
a `clientId` header. Lists take `conditions`, `orderBy`, `page`/`pageSize` (default 25,
capped at 1000) and answer with a `Link` header; `pagination-type: forward-only` pages
by `pageId`. PATCH takes JSON-Patch operations. Every write updates `_info` and the
audit trail (`/system/audittrail?type=Agreement&id=`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from trueup.devstack.psa_simulators.common import (
    SimulatorConfig,
    SimulatorState,
    install,
    iso,
    json_response,
    parse_iso,
    run_cli,
    to_number,
)
from trueup.devstack.psa_simulators.cw_conditions import ConditionsError, parse_conditions
from trueup.devstack.psa_simulators.demo import DemoContract, DemoLineItem, build_demo_msp

API = "/v4_6_release/apis/3.0"
CODEBASE = "v4_6_release/"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 25

_STATUS = {
    "active": "Active",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "inactive": "Inactive",
}
_CYCLES = {
    "monthly": {"id": 1, "name": "Monthly"},
    "quarterly": {"id": 2, "name": "Quarterly"},
    "semi_annual": {"id": 3, "name": "Semi-Annual"},
    "annual": {"id": 4, "name": "Yearly"},
}
_CURRENCIES = {
    "USD": {"id": 1, "symbol": "$", "currencyCode": "USD", "name": "US Dollar"},
    "CAD": {"id": 2, "symbol": "$", "currencyCode": "CAD", "name": "Canadian Dollar"},
}
_PATCHABLE_ADDITION = {
    "quantity",
    "unitPrice",
    "unitCost",
    "effectiveDate",
    "cancelledDate",
    "description",
    "invoiceDescription",
    "prorateCurrentPeriodFlag",
    "billCustomer",
    "taxableFlag",
    "lessIncluded",
}
_PATCHABLE_AGREEMENT = {"name", "endDate", "agreementStatus", "cancelledFlag", "prorateFlag"}


class ConnectWiseSimulatorConfig(SimulatorConfig):
    """Credentials the simulator accepts, on top of the demo MSP and faults."""

    company_id: str = "trueup_demo"
    public_key: str = "TrueUpDemoPublicKey"
    private_key: str = "TrueUpDemoPrivateKey"
    client_id: str | None = None  # None: any non-empty clientId is accepted
    member: str = "apiuser"


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """ConnectWise's error shape: `{code, message, errors}`."""
    codes = {
        400: "InvalidObject",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        429: "TooManyRequests",
        500: "ConnectWiseApi",
    }
    return {"code": code or codes.get(status, "ConnectWiseApi"), "message": message, "errors": None}


def _error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> Response:
    body = error_body(status, message)
    body["errors"] = errors
    return json_response(body, status_code=status)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConnectWiseStore:
    """The simulator's in-memory database, kept in ConnectWise's JSON shapes."""

    def __init__(self, config: ConnectWiseSimulatorConfig) -> None:
        msp = build_demo_msp(config.seed, config.accounts, config.line_items, config.today)
        self.member = config.member
        self.catalog: dict[int, dict[str, Any]] = {
            p.id: {
                "id": p.id,
                "identifier": p.identifier,
                "description": p.name,
                "customerDescription": p.name,
                "inactiveFlag": False,
                "subcategory": {"id": 1, "name": "Recurring"},
                "type": {"id": 1, "name": "Service"},
                "productClass": "Service",
                "unitOfMeasure": {"id": 1, "name": p.unit},
                "price": to_number(p.price),
                "cost": to_number(p.cost),
                "recurringFlag": True,
                "recurringRevenue": to_number(p.price),
                "recurringCost": to_number(p.cost),
                "_info": {"lastUpdated": iso(msp.today), "updatedBy": "admin"},
            }
            for p in msp.products
        }
        self.companies: dict[int, dict[str, Any]] = {
            a.id: {
                "id": a.id,
                "identifier": a.identifier,
                "name": a.name,
                "status": {"id": 1, "name": "Active"},
                "types": [{"id": 1, "name": "Client"}],
                "deletedFlag": False,
                "_info": {"lastUpdated": iso(a.updated_at), "updatedBy": "admin"},
            }
            for a in msp.accounts
        }
        self.agreements: dict[int, dict[str, Any]] = {}
        self.additions: dict[int, dict[str, Any]] = {}
        self.by_agreement: dict[int, list[int]] = {}
        self.audit: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.notes: dict[int, dict[str, Any]] = {}
        for contract in msp.contracts:
            self.agreements[contract.id] = self._agreement(contract)
            self.by_agreement[contract.id] = []
        for item in msp.line_items:
            self.additions[item.id] = self._addition(item)
            self.by_agreement[item.contract_id].append(item.id)
        self._ids = itertools.count(max([*self.additions, 90_000]) + 1)
        self._note_ids = itertools.count(1)

    def _agreement(self, c: DemoContract) -> dict[str, Any]:
        company = self.companies[c.account_id]
        return {
            "id": c.id,
            "name": c.name,
            "type": {"id": 5, "name": "Managed Services"},
            "company": {
                "id": company["id"],
                "identifier": company["identifier"],
                "name": company["name"],
            },
            "contact": {"id": 80 + c.account_id % 50, "name": "Billing Contact"},
            "startDate": iso(c.start_date),
            "endDate": iso(c.end_date),
            "noEndingDateFlag": c.end_date is None,
            "cancelledFlag": c.status == "cancelled",
            "dateCancelled": iso(c.cancelled_date),
            "reasonCancelled": "Client left" if c.status == "cancelled" else None,
            "billingCycle": _CYCLES[c.billing_cycle],
            "billAmount": 0,
            "prorateFlag": c.prorate,
            "invoiceProratedAdditionsFlag": c.prorate,
            "billTime": "Billable",
            "billExpenses": "Billable",
            "billProducts": "Billable",
            "invoicingCycle": "ContractYear",
            "employeeCompRate": "Actual",
            # "Current" bills the running period up front; "Future" is used for arrears here.
            "periodType": "Current" if c.bill_in_advance else "Future",
            "currency": _CURRENCIES[c.currency],
            "agreementStatus": _STATUS[c.status],
            "_info": {
                "lastUpdated": iso(c.updated_at),
                "updatedBy": "admin",
                "additions_href": f"{API}/finance/agreements/{c.id}/additions",
            },
        }

    def _addition(self, item: DemoLineItem) -> dict[str, Any]:
        addition = {
            "id": item.id,
            "agreementId": item.contract_id,
            "product": {"id": item.product.id, "identifier": item.product.identifier},
            "quantity": to_number(item.quantity),
            "lessIncluded": 0,
            "unitPrice": to_number(item.unit_price),
            "unitCost": to_number(item.unit_cost),
            "billCustomer": "Billable",
            "effectiveDate": iso(item.effective_date),
            "cancelledDate": iso(item.cancelled_date),
            "taxableFlag": False,
            "description": item.product.name,
            "invoiceDescription": item.product.name,
            "uom": item.product.unit,
            "prorateCurrentPeriodFlag": False,
            "agreementStatus": "Cancelled" if item.cancelled_date else "Active",
            "_info": {"lastUpdated": iso(item.updated_at), "updatedBy": "admin"},
        }
        self._derive(addition)
        return addition

    @staticmethod
    def _derive(addition: dict[str, Any]) -> None:
        try:
            qty = Decimal(str(addition["quantity"]))
            price = Decimal(str(addition["unitPrice"]))
            cost = Decimal(str(addition["unitCost"]))
        except (ArithmeticError, KeyError, ValueError):
            return  # an out-of-band edit left a bad value; serve it as is
        addition["billedQuantity"] = to_number(qty)
        addition["extPrice"] = to_number((qty * price).quantize(Decimal("0.01")))
        addition["extCost"] = to_number((qty * cost).quantize(Decimal("0.01")))
        addition["margin"] = to_number((qty * (price - cost)).quantize(Decimal("0.01")))

    def new_id(self) -> int:
        return next(self._ids)

    def audit_entry(self, kind: str, record_id: int, text: str, sub_type: str) -> None:
        entry = {
            "text": text,
            "enteredDate": _now(),
            "enteredBy": self.member,
            "auditType": kind,
            "auditSubType": sub_type,
            "auditSource": "Integration",
        }
        self.audit.setdefault((kind, record_id), []).append(entry)


def _paged(
    request: Request, records: Iterable[dict[str, Any]], default_order: str = "id asc"
) -> Response:
    """Filter, order and page a list the way ConnectWise does, with a Link header."""
    params = request.query_params
    rows: Iterable[dict[str, Any]] = records
    conditions = params.get("conditions")
    if conditions:
        try:
            predicate = parse_conditions(conditions)
        except ConditionsError as exc:
            return _error(
                400, f"conditions: {exc}", [{"code": "InvalidConditions", "message": str(exc)}]
            )
        rows = (r for r in rows if predicate(r))
    order = (params.get("orderBy") or default_order).strip().split()
    key = order[0]
    reverse = len(order) > 1 and order[1].lower() == "desc"
    selected = list(rows)
    if key != "id" or reverse:
        selected.sort(key=lambda r: (r.get(key) is None, r.get(key) or 0), reverse=reverse)
    try:
        page_size = min(int(params.get("pageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
        page = int(params.get("page", 1))
    except ValueError:
        return _error(400, "page and pageSize must be integers")
    if page_size < 1 or page < 1:
        return _error(400, "page and pageSize must be positive")
    links: list[str] = []
    if request.headers.get("pagination-type", "").lower() == "forward-only":
        after = int(params.get("pageId", 0) or 0)
        selected = [r for r in selected if r["id"] > after]
        chunk = selected[:page_size]
        if len(selected) > page_size:
            url = request.url.remove_query_params("page").include_query_params(
                pageId=chunk[-1]["id"], pageSize=page_size
            )
            links.append(f'<{url}>; rel="next"')
    else:
        total = len(selected)
        last = max(1, -(-total // page_size))
        chunk = selected[(page - 1) * page_size : page * page_size]

        def link(n: int, rel: str) -> None:
            url = request.url.include_query_params(page=n, pageSize=page_size)
            links.append(f'<{url}>; rel="{rel}"')

        if page > 1:
            link(1, "first")
            link(page - 1, "prev")
        if page < last:
            link(page + 1, "next")
            link(last, "last")
    headers = {"Link": ", ".join(links)} if links else {}
    return json_response(chunk, headers=headers)


def _count(request: Request, records: Iterable[dict[str, Any]]) -> Response:
    conditions = request.query_params.get("conditions")
    rows = records
    if conditions:
        try:
            predicate = parse_conditions(conditions)
        except ConditionsError as exc:
            return _error(400, f"conditions: {exc}")
        rows = (r for r in rows if predicate(r))
    return json_response({"count": sum(1 for _ in rows)})


def _apply_patch(
    record: dict[str, Any], ops: Any, allowed: set[str]
) -> tuple[list[tuple[str, Any, Any]], Response | None]:
    if not isinstance(ops, list) or not ops:
        return [], _error(400, "PATCH body must be a non-empty JSON array of operations")
    changes: list[tuple[str, Any, Any]] = []
    for index, op in enumerate(ops):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            return [], _error(
                400,
                f"operation {index}: op must be add, replace or remove",
                [{"code": "InvalidObject", "message": "bad op", "field": f"[{index}].op"}],
            )
        path = str(op.get("path", "")).strip("/")
        if path not in allowed:
            return [], _error(
                400,
                f"operation {index}: path {path!r} cannot be patched",
                [{"code": "InvalidField", "message": "cannot patch", "field": path}],
            )
        value = None if op["op"] == "remove" else op.get("value")
        if path == "quantity" and (not isinstance(value, int | float) or value < 0):
            return [], _error(
                400,
                "quantity must be a non-negative number",
                [{"code": "InvalidField", "message": "bad quantity", "field": "quantity"}],
            )
        if path.endswith("Date") and value is not None:
            try:
                parse_iso(str(value))
            except ValueError:
                return [], _error(
                    400, f"{path} is not a date", [{"code": "InvalidField", "field": path}]
                )
        changes.append((path, record.get(path), value))
    for path, _old, value in changes:
        record[path] = value
    return changes, None


def create_app(config: ConnectWiseSimulatorConfig | None = None) -> FastAPI:
    """Build the ConnectWise simulator app holding the seeded demo MSP."""
    config = config or ConnectWiseSimulatorConfig()
    store = ConnectWiseStore(config)
    state = SimulatorState(faults=config.faults.model_copy())
    app = FastAPI(title="ConnectWise PSA simulator", docs_url="/_simulator/docs", openapi_url=None)
    app.state.store = store
    app.state.sim = state
    expected_user = f"{config.company_id}+{config.public_key}"

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if not path.startswith(API):
            response: Response = await call_next(request)
            return response
        header = request.headers.get("Authorization", "")
        ok = False
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            user, _, password = decoded.partition(":")
            ok = user == expected_user and password == config.private_key
        if not ok:
            return _error(
                401, "Authentication failed: company, public key or private key is not valid"
            )
        client_id = request.headers.get("clientId", "")
        if not client_id or (config.client_id is not None and client_id != config.client_id):
            return _error(401, "A valid clientId header is required")
        response = await call_next(request)
        response.headers["api-current-version"] = "2024.1"
        return response

    @app.get("/login/companyinfo/{company_id}")
    async def company_info(company_id: str) -> Response:
        if company_id.lower() != config.company_id.lower():
            return _error(404, f"Company {company_id} not found")
        return json_response(
            {
                "CompanyName": "TrueUp Demo MSP",
                "Codebase": CODEBASE,
                "VersionCode": "v2024.1",
                "CompanyID": config.company_id,
                "IsCloud": True,
                "SiteUrl": "127.0.0.1",
            }
        )

    # ------------------------------------------------------------------ companies
    @app.get(f"{API}/company/companies")
    async def list_companies(request: Request) -> Response:
        return _paged(request, store.companies.values())

    @app.get(f"{API}/company/companies/count")
    async def count_companies(request: Request) -> Response:
        return _count(request, store.companies.values())

    @app.get(f"{API}/company/companies/{{company_id}}")
    async def get_company(company_id: int) -> Response:
        company = store.companies.get(company_id)
        if company is None:
            return _error(404, f"Company with id {company_id} was not found")
        return json_response(company)

    @app.post(f"{API}/company/companies/{{company_id}}/notes", status_code=201)
    async def post_company_note(company_id: int, request: Request) -> Response:
        if company_id not in store.companies:
            return _error(404, f"Company with id {company_id} was not found")
        body = await request.json()
        if not isinstance(body, dict) or not str(body.get("text") or "").strip():
            return _error(400, "text is required", [{"code": "NullValue", "field": "text"}])
        note_id = next(store._note_ids)
        note = {
            "id": note_id,
            "text": body["text"],
            "type": body.get("type") or {"id": 1, "name": "General"},
            "flagged": bool(body.get("flagged", False)),
            "enteredBy": config.member,
            "company": {"id": company_id},
            "_info": {"lastUpdated": _now(), "updatedBy": config.member},
        }
        store.notes[note_id] = note
        state.record_write("POST", request.url.path, "CompanyNote", note_id, body)
        return json_response(note, status_code=201)

    @app.get(f"{API}/company/companies/{{company_id}}/notes")
    async def list_company_notes(company_id: int, request: Request) -> Response:
        return _paged(
            request, [n for n in store.notes.values() if n["company"]["id"] == company_id]
        )

    # ------------------------------------------------------------------ agreements
    @app.get(f"{API}/finance/agreements")
    async def list_agreements(request: Request) -> Response:
        return _paged(request, store.agreements.values())

    @app.get(f"{API}/finance/agreements/count")
    async def count_agreements(request: Request) -> Response:
        return _count(request, store.agreements.values())

    @app.get(f"{API}/finance/agreements/{{agreement_id}}")
    async def get_agreement(agreement_id: int) -> Response:
        agreement = store.agreements.get(agreement_id)
        if agreement is None:
            return _error(404, f"Agreement with id {agreement_id} was not found")
        return json_response(agreement)

    @app.patch(f"{API}/finance/agreements/{{agreement_id}}")
    async def patch_agreement(agreement_id: int, request: Request) -> Response:
        agreement = store.agreements.get(agreement_id)
        if agreement is None:
            return _error(404, f"Agreement with id {agreement_id} was not found")
        ops = await request.json()
        changes, error = _apply_patch(agreement, ops, _PATCHABLE_AGREEMENT)
        if error:
            return error
        agreement["_info"]["lastUpdated"] = _now()
        agreement["_info"]["updatedBy"] = config.member
        for path, old, new in changes:
            store.audit_entry(
                "Agreement", agreement_id, f"{path} changed from {old} to {new}", "Agreement"
            )
        state.record_write("PATCH", request.url.path, "Agreement", agreement_id, ops)
        return json_response(agreement)

    # ------------------------------------------------------------------ additions
    def _agreement_or_404(agreement_id: int) -> Response | None:
        if agreement_id not in store.agreements:
            return _error(404, f"Agreement with id {agreement_id} was not found")
        return None

    @app.get(f"{API}/finance/agreements/{{agreement_id}}/additions")
    async def list_additions(agreement_id: int, request: Request) -> Response:
        missing = _agreement_or_404(agreement_id)
        if missing:
            return missing
        rows = (store.additions[i] for i in store.by_agreement[agreement_id])
        return _paged(request, rows)

    @app.get(f"{API}/finance/agreements/{{agreement_id}}/additions/count")
    async def count_additions(agreement_id: int, request: Request) -> Response:
        missing = _agreement_or_404(agreement_id)
        if missing:
            return missing
        return _count(request, (store.additions[i] for i in store.by_agreement[agreement_id]))

    def _addition_or_404(agreement_id: int, addition_id: int) -> dict[str, Any] | Response:
        addition = store.additions.get(addition_id)
        if addition is None or addition["agreementId"] != agreement_id:
            return _error(
                404, f"Addition with id {addition_id} was not found on agreement {agreement_id}"
            )
        return addition

    @app.get(f"{API}/finance/agreements/{{agreement_id}}/additions/{{addition_id}}")
    async def get_addition(agreement_id: int, addition_id: int) -> Response:
        found = _addition_or_404(agreement_id, addition_id)
        return found if isinstance(found, Response) else json_response(found)

    @app.patch(f"{API}/finance/agreements/{{agreement_id}}/additions/{{addition_id}}")
    async def patch_addition(agreement_id: int, addition_id: int, request: Request) -> Response:
        found = _addition_or_404(agreement_id, addition_id)
        if isinstance(found, Response):
            return found
        ops = await request.json()
        changes, error = _apply_patch(found, ops, _PATCHABLE_ADDITION)
        if error:
            return error
        if found.get("cancelledDate"):
            found["agreementStatus"] = "Cancelled"
        store._derive(found)
        found["_info"]["lastUpdated"] = _now()
        found["_info"]["updatedBy"] = config.member
        for path, old, new in changes:
            ident = found["product"]["identifier"]
            text = f"Addition {addition_id} ({ident}): {path} changed from {old} to {new}"
            store.audit_entry("Agreement", agreement_id, text, "Addition")
            store.audit_entry("AgreementAddition", addition_id, text, "Addition")
        state.record_write("PATCH", request.url.path, "AgreementAddition", addition_id, ops)
        return json_response(found)

    @app.post(f"{API}/finance/agreements/{{agreement_id}}/additions", status_code=201)
    async def post_addition(agreement_id: int, request: Request) -> Response:
        missing = _agreement_or_404(agreement_id)
        if missing:
            return missing
        body = await request.json()
        if not isinstance(body, dict):
            return _error(400, "body must be an Addition object")
        product_ref = body.get("product") or {}
        product = None
        if isinstance(product_ref, dict):
            if "id" in product_ref:
                product = store.catalog.get(product_ref["id"])
            elif "identifier" in product_ref:
                product = next(
                    (
                        p
                        for p in store.catalog.values()
                        if p["identifier"] == product_ref["identifier"]
                    ),
                    None,
                )
        if product is None:
            return _error(
                400,
                "product is required and must exist in the catalog",
                [{"code": "InvalidObject", "message": "product not found", "field": "product"}],
            )
        if not body.get("billCustomer"):
            return _error(
                400, "billCustomer is required", [{"code": "NullValue", "field": "billCustomer"}]
            )
        quantity = body.get("quantity", 0)
        if not isinstance(quantity, int | float) or quantity < 0:
            return _error(
                400,
                "quantity must be a non-negative number",
                [{"code": "InvalidField", "field": "quantity"}],
            )
        addition_id = store.new_id()
        addition = {
            "id": addition_id,
            "agreementId": agreement_id,
            "product": {"id": product["id"], "identifier": product["identifier"]},
            "quantity": quantity,
            "lessIncluded": body.get("lessIncluded", 0),
            "unitPrice": body.get("unitPrice", product["price"]),
            "unitCost": body.get("unitCost", product["cost"]),
            "billCustomer": body["billCustomer"],
            "effectiveDate": body.get("effectiveDate") or iso(datetime.now(UTC).date()),
            "cancelledDate": body.get("cancelledDate"),
            "taxableFlag": bool(body.get("taxableFlag", False)),
            "description": body.get("description") or product["description"],
            "invoiceDescription": body.get("invoiceDescription") or product["description"],
            "uom": product["unitOfMeasure"]["name"],
            "prorateCurrentPeriodFlag": bool(body.get("prorateCurrentPeriodFlag", False)),
            "agreementStatus": "Active",
            "_info": {"lastUpdated": _now(), "updatedBy": config.member},
        }
        store._derive(addition)
        agreement = store.agreements[agreement_id]
        if agreement["prorateFlag"] and addition["prorateCurrentPeriodFlag"]:
            # Proration: the simulator charges the rest of a 30-day period from effectiveDate.
            effective = parse_iso(addition["effectiveDate"]).date()
            days_left = 30 - min(29, effective.day - 1)
            factor = Decimal(days_left) / Decimal(30)
            price = Decimal(str(addition["unitPrice"]))
            cost = Decimal(str(addition["unitCost"]))
            qty = Decimal(str(quantity))
            addition["proratePrice"] = to_number((price * factor).quantize(Decimal("0.01")))
            addition["prorateCost"] = to_number((cost * factor).quantize(Decimal("0.01")))
            addition["extendedProratePrice"] = to_number(
                (price * factor * qty).quantize(Decimal("0.01"))
            )
            addition["extendedProrateCost"] = to_number(
                (cost * factor * qty).quantize(Decimal("0.01"))
            )
        store.additions[addition_id] = addition
        store.by_agreement[agreement_id].append(addition_id)
        text = f"Addition {addition_id} ({product['identifier']}) added with quantity {quantity}"
        store.audit_entry("Agreement", agreement_id, text, "Addition")
        store.audit_entry("AgreementAddition", addition_id, text, "Addition")
        state.record_write("POST", request.url.path, "AgreementAddition", addition_id, body)
        return json_response(addition, status_code=201)

    # ------------------------------------------------------------------ catalog, audit
    @app.get(f"{API}/procurement/catalog")
    async def list_catalog(request: Request) -> Response:
        return _paged(request, store.catalog.values())

    @app.get(f"{API}/system/audittrail")
    async def audit_trail(request: Request) -> Response:
        kind = request.query_params.get("type", "")
        try:
            record_id = int(request.query_params.get("id", ""))
        except ValueError:
            return _error(400, "type and id are required")
        entries = store.audit.get((kind, record_id), [])
        numbered = [{"id": i + 1, **e} for i, e in enumerate(entries)]
        return _paged(request, numbered)

    # ------------------------------------------------------------------ control
    def edit(body: dict[str, Any]) -> Any:
        """Out-of-band edit of an addition, as a person in the PSA would make."""
        addition = store.additions.get(int(body["line_item_id"]))
        if addition is None:
            return _error(404, "no such addition")
        addition[str(body["field"])] = body["value"]
        if body.get("derive", True):
            store._derive(addition)
        addition["_info"]["lastUpdated"] = _now()
        addition["_info"]["updatedBy"] = "someone.else"
        return addition

    install(app, state, error_body, edit)
    return app


def main() -> None:
    """Run the simulator: `python -m trueup.devstack.psa_simulators.connectwise --port 8101`."""
    run_cli("connectwise", 8101, lambda c: create_app(ConnectWiseSimulatorConfig(**c.model_dump())))


if __name__ == "__main__":
    main()
