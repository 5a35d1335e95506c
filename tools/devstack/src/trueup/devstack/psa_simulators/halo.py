"""HaloPSA API simulator: OAuth2 client credentials, clients, items and recurring
invoices with their lines.

`POST /auth/token` (form: grant_type=client_credentials, client_id, client_secret,
scope) gives a bearer token; `/api/authinfo` names the auth server. Lists take
`paginate`, `page_size`, `page_no` and answer `{<list>: [...], page_no, page_size,
record_count}`. Lines change through `POST /api/RecurringInvoice/updatelines` and are
added through `POST /api/RecurringInvoice/Lines`.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from trueup.devstack.psa_simulators.common import (
    SimulatorConfig,
    SimulatorState,
    install,
    iso,
    json_response,
    run_cli,
    to_number,
)
from trueup.devstack.psa_simulators.demo import build_demo_msp

_PERIOD = {"monthly": "Monthly", "quarterly": "Quarterly", "semi_annual": "Six Monthly",
           "annual": "Yearly"}  # fmt: skip


class HaloSimulatorConfig(SimulatorConfig):
    """Credentials the simulator accepts, on top of the demo MSP and faults."""

    client_id: str = "trueup-demo-client"
    client_secret: str = "TrueUpDemoClientSecret"
    tenant: str = "trueupdemo"
    token_lifetime: int = 3600


def error_body(status: int, message: str) -> dict[str, Any]:
    """Halo's error shape for API calls (a ClassName/message pair)."""
    return {"ClassName": "HaloApiException", "message": message, "status": status}


def _error(status: int, message: str) -> Response:
    return json_response(error_body(status, message), status_code=status)


class HaloStore:
    """The simulator's in-memory database in Halo's JSON shapes."""

    def __init__(self, config: HaloSimulatorConfig) -> None:
        msp = build_demo_msp(config.seed, config.accounts, config.line_items, config.today)
        self.items = {
            p.id: {
                "id": p.id,
                "name": p.name,
                "description": p.name,
                "baseprice": to_number(p.price),
                "costprice": to_number(p.cost),
                "recurringprice": to_number(p.price),
                "inactive": False,
            }
            for p in msp.products
        }
        self.clients = {
            a.id: {"id": a.id, "name": a.name, "inactive": False, "ref": a.identifier}
            for a in msp.accounts
        }
        self.invoices: dict[int, dict[str, Any]] = {}
        for c in msp.contracts:
            # Halo has no cancelled/expired state on a recurring invoice: it is made inactive.
            self.invoices[c.id] = {
                "id": c.id,
                "client_id": c.account_id,
                "client_name": self.clients[c.account_id]["name"],
                "reference": c.name,
                "inactive": c.status != "active",
                "startdate": iso(c.start_date),
                "enddate": iso(c.end_date),
                "nextcreationdate": iso(msp.today.replace(day=1)),
                "period": _PERIOD[c.billing_cycle],
                "invoice_in_advance": c.bill_in_advance,
                "currency_code": c.currency,
                "lines": [],
            }
        self.lines: dict[int, dict[str, Any]] = {}
        for item in msp.line_items:
            line = {
                "id": item.id,
                "ihid": item.contract_id,
                "item_id": item.product.id,
                "item_code": item.product.identifier,
                "item_shortdescription": item.product.name,
                "qty_order": to_number(item.quantity),
                "unit_price": to_number(item.unit_price),
                "unit_cost": to_number(item.unit_cost),
                "start_date": iso(item.effective_date),
                "end_date": iso(item.cancelled_date),
            }
            self.lines[item.id] = line
            self.invoices[item.contract_id]["lines"].append(line)
        self._ids = itertools.count(900_000)
        self.tokens: dict[str, float] = {}

    def new_id(self) -> int:
        return next(self._ids)


def _page(request: Request, key: str, rows: Iterable[dict[str, Any]]) -> Response:
    params = request.query_params
    all_rows = list(rows)
    if params.get("paginate", "false").lower() != "true":
        return json_response({"record_count": len(all_rows), key: all_rows})
    try:
        size = int(params.get("page_size", 50))
        number = int(params.get("page_no", 1))
    except ValueError:
        return _error(400, "page_size and page_no must be integers")
    if size < 1 or number < 1:
        return _error(400, "page_size and page_no must be positive")
    chunk = all_rows[(number - 1) * size : number * size]
    return json_response(
        {"page_no": number, "page_size": size, "record_count": len(all_rows), key: chunk}
    )


def create_app(config: HaloSimulatorConfig | None = None) -> FastAPI:
    """Build the Halo simulator app holding the seeded demo MSP."""
    config = config or HaloSimulatorConfig()
    store = HaloStore(config)
    state = SimulatorState(faults=config.faults.model_copy())
    app = FastAPI(title="HaloPSA simulator", docs_url="/_simulator/docs", openapi_url=None)
    app.state.store = store
    app.state.sim = state

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if path.startswith("/api/") and path != "/api/authinfo":
            header = request.headers.get("Authorization", "")
            token = header[7:] if header.startswith("Bearer ") else ""
            expires = store.tokens.get(token)
            if expires is None or expires < time.monotonic():
                return Response(status_code=401, content=b"")
        response: Response = await call_next(request)
        return response

    @app.get("/api/authinfo")
    async def authinfo(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return json_response({"auth_url": f"{base}/auth", "tenant_id": config.tenant})

    @app.post("/auth/token")
    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, status_code=400)
        if form.get("client_id") != config.client_id or form.get("client_secret") != (
            config.client_secret
        ):
            return json_response(
                {"error": "invalid_client", "error_description": "Invalid client credentials"},
                status_code=401,
            )
        value = secrets.token_urlsafe(24)
        store.tokens[value] = time.monotonic() + config.token_lifetime
        return json_response(
            {
                "access_token": value,
                "token_type": "Bearer",
                "expires_in": config.token_lifetime,
                "scope": str(form.get("scope") or "all"),
            }
        )

    @app.get("/api/Client")
    async def list_clients(request: Request) -> Response:
        rows = store.clients.values()
        if request.query_params.get("includeinactive", "false").lower() != "true":
            rows = [c for c in rows if not c["inactive"]]  # type: ignore[assignment]
        return _page(request, "clients", rows)

    @app.get("/api/Item")
    async def list_items(request: Request) -> Response:
        return _page(request, "items", store.items.values())

    def _render(invoice: dict[str, Any], with_lines: bool) -> dict[str, Any]:
        if with_lines:
            return invoice
        return {k: v for k, v in invoice.items() if k != "lines"}

    @app.get("/api/RecurringInvoice")
    async def list_invoices(request: Request) -> Response:
        params = request.query_params
        with_lines = params.get("includelines", "false").lower() == "true"
        rows: Iterable[dict[str, Any]] = store.invoices.values()
        if params.get("includeinactive", "false").lower() != "true":
            rows = (i for i in rows if not i["inactive"])
        if "client_id" in params:
            rows = (i for i in rows if str(i["client_id"]) == params["client_id"])
        return _page(request, "invoices", (_render(i, with_lines) for i in rows))

    @app.get("/api/RecurringInvoice/{invoice_id}")
    async def get_invoice(invoice_id: int, includedetails: bool = False) -> Response:
        invoice = store.invoices.get(invoice_id)
        if invoice is None:
            return _error(404, f"Recurring invoice {invoice_id} not found")
        return json_response(_render(invoice, includedetails))

    @app.post("/api/RecurringInvoice/updatelines")
    async def update_lines(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, list) or not body:
            return _error(400, "body must be a non-empty array of lines")
        updated = []
        for entry in body:
            line = store.lines.get(int(entry.get("id", 0))) if isinstance(entry, dict) else None
            if line is None or line["ihid"] != entry.get("ihid"):
                return _error(404, f"Recurring invoice line {entry!r} not found")
            for key in ("qty_order", "unit_price", "unit_cost", "item_shortdescription"):
                if key in entry:
                    if key == "qty_order" and (
                        not isinstance(entry[key], int | float) or entry[key] < 0
                    ):
                        return _error(400, "qty_order must be a non-negative number")
                    line[key] = entry[key]
            updated.append(line)
            state.record_write("POST", request.url.path, "RecurringInvoiceLine", line["id"], entry)
        return json_response(updated)

    @app.post("/api/RecurringInvoice/Lines")
    async def add_lines(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, list) or not body:
            return _error(400, "body must be a non-empty array of lines")
        created = []
        for entry in body:
            invoice = store.invoices.get(int(entry.get("ihid", 0)))
            item = store.items.get(int(entry.get("item_id", 0)))
            if invoice is None or item is None:
                return _error(400, "ihid and item_id must exist")
            line_id = store.new_id()
            line = {
                "id": line_id,
                "ihid": invoice["id"],
                "item_id": item["id"],
                "item_code": None,
                "item_shortdescription": entry.get("item_shortdescription") or item["name"],
                "qty_order": entry.get("qty_order", 1),
                "unit_price": entry.get("unit_price", item["baseprice"]),
                "unit_cost": entry.get("unit_cost", item["costprice"]),
                "start_date": entry.get("start_date"),
                "end_date": None,
            }
            store.lines[line_id] = line
            invoice["lines"].append(line)
            created.append(line)
            state.record_write("POST", request.url.path, "RecurringInvoiceLine", line_id, entry)
        return json_response(created)

    def edit(body: dict[str, Any]) -> Any:
        """Out-of-band edit of a recurring invoice line."""
        line = store.lines.get(int(body["line_item_id"]))
        if line is None:
            return _error(404, "no such line")
        line[str(body["field"])] = body["value"]
        return line

    install(app, state, error_body, edit)
    return app


def main() -> None:
    """Run the simulator: `python -m trueup.devstack.psa_simulators.halo --port 8103`."""
    run_cli("halo", 8103, lambda c: create_app(HaloSimulatorConfig(**c.model_dump())))


if __name__ == "__main__":
    main()
