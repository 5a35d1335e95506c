"""Autotask PSA REST API simulator: Companies, Contracts, ContractServices,
ContractServiceUnits, ContractServiceAdjustments, ContractNotes and Services.

Zone discovery at `/atservicesrest/v1.0/zoneInformation?user=`; the API lives under
`/ATServicesRest/V1.0`. Three-header auth (`ApiIntegrationCode`, `UserName`, `Secret`).
Queries are `POST /{Entity}/query` with a filter tree, `MaxRecords` <= 500, ordered by
id, and a `pageDetails.nextPageUrl` to follow. Adjustments are create-only: each splits
the unit row covering its effective date and writes a contract note, as Autotask does.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
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
from trueup.devstack.psa_simulators.demo import build_demo_msp

API = "/ATServicesRest/V1.0"
MAX_RECORDS = 500
RECURRING_SERVICE = 7
_PERIOD = {"monthly": "m", "quarterly": "q", "semi_annual": "s", "annual": "y"}
_INDEXED = {
    ("ContractServices", "contractID"),
    ("ContractServiceUnits", "contractServiceID"),
    ("ContractNotes", "contractID"),
}
_ENTITIES = (
    "Companies",
    "Contracts",
    "ContractServices",
    "ContractServiceUnits",
    "ContractNotes",
    "Services",
)


class AutotaskSimulatorConfig(SimulatorConfig):
    """Credentials the simulator accepts, on top of the demo MSP and faults."""

    username: str = "trueup.demo@example.com"
    secret: str = "TrueUpDemoSecret"
    integration_code: str = "TRUEUPDEMOTRACKINGID"
    resource_id: int = 4


def error_body(status: int, message: str) -> dict[str, Any]:
    """Autotask's error shape: `{"errors": [...]}`."""
    return {"errors": [message]}


def _error(status: int, *messages: str) -> Response:
    return json_response({"errors": list(messages)}, status_code=status)


def _end_of_day(day: date) -> str:
    return f"{day.isoformat()}T23:59:59Z"


class AutotaskStore:
    """The simulator's in-memory database in Autotask's JSON shapes."""

    def __init__(self, config: AutotaskSimulatorConfig) -> None:
        msp = build_demo_msp(config.seed, config.accounts, config.line_items, config.today)
        self.today = msp.today
        self.resource_id = config.resource_id
        self.tables: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in _ENTITIES}
        self.units_by_service: dict[int, list[int]] = {}
        self.adjustments: dict[int, dict[str, Any]] = {}
        for p in msp.products:
            self.tables["Services"][p.id] = {
                "id": p.id,
                "name": p.name,
                "description": p.name,
                "invoiceDescription": p.name,
                "unitPrice": to_number(p.price),
                "unitCost": to_number(p.cost),
                "periodType": 1,
                "billingCodeID": 29682801,
                "isActive": True,
            }
        for a in msp.accounts:
            self.tables["Companies"][a.id] = {
                "id": a.id,
                "companyName": a.name,
                "companyNumber": a.identifier,
                "companyType": 1,
                "isActive": True,
                "lastTrackedModifiedDateTime": iso(a.updated_at),
                "userDefinedFields": [],
            }
        contract_end: dict[int, date] = {}
        for c in msp.contracts:
            expired = c.end_date is not None and c.end_date < msp.today
            # Autotask has no "cancelled" status: a cancelled contract is made inactive
            # and ends on its cancellation date.
            status = 1 if c.status == "active" or (c.status == "expired" and expired) else 0
            end = c.end_date or (msp.today + timedelta(days=365 * 3))
            contract_end[c.id] = end
            self.tables["Contracts"][c.id] = {
                "id": c.id,
                "companyID": c.account_id,
                "contractName": c.name,
                "contractNumber": f"C{c.id:07d}",
                "contractType": RECURRING_SERVICE,
                "contractCategory": 15,
                "contractPeriodType": _PERIOD[c.billing_cycle],
                "status": status,
                "startDate": iso(c.start_date),
                "endDate": iso(end),
                "isDefaultContract": False,
                "setupFee": 0,
                "userDefinedFields": [],
            }
        unit_ids = itertools.count(77_000)
        for item in msp.line_items:
            self.tables["ContractServices"][item.id] = {
                "id": item.id,
                "contractID": item.contract_id,
                "serviceID": item.product.id,
                "unitPrice": to_number(item.unit_price),
                "unitCost": to_number(item.unit_cost),
                "invoiceDescription": item.product.name,
                "internalCurrencyUnitPrice": to_number(item.unit_price),
            }
            rows = self.units_by_service.setdefault(item.id, [])
            last_day = item.cancelled_date or contract_end[item.contract_id]
            month_start = msp.today.replace(day=1)
            # One history row (a smaller count) and one current row, as periods roll.
            if item.effective_date < month_start and month_start <= last_day:
                history = next(unit_ids)
                self.tables["ContractServiceUnits"][history] = self._unit(
                    history, item.id, item.contract_id, item.product.id,
                    item.effective_date, month_start - timedelta(days=1),
                    max(Decimal(0), item.quantity - 1), item.unit_price, item.unit_cost,
                )  # fmt: skip
                rows.append(history)
                start = month_start
            else:
                start = item.effective_date
            current = next(unit_ids)
            self.tables["ContractServiceUnits"][current] = self._unit(
                current, item.id, item.contract_id, item.product.id, start, last_day,
                item.quantity, item.unit_price, item.unit_cost,
            )  # fmt: skip
            rows.append(current)
        self._unit_ids = unit_ids
        self._ids = itertools.count(900_000)
        self._sorted: dict[str, tuple[int, list[int]]] = {}
        self._indexes: dict[tuple[str, str], tuple[int, dict[Any, list[int]]]] = {}

    @staticmethod
    def _unit(
        unit_id: int,
        service_id: int,
        contract_id: int,
        catalog_id: int,
        start: date,
        end: date,
        units: Decimal,
        price: Decimal,
        cost: Decimal,
    ) -> dict[str, Any]:
        return {
            "id": unit_id,
            "contractID": contract_id,
            "contractServiceID": service_id,
            "serviceID": catalog_id,
            "startDate": iso(start),
            "endDate": _end_of_day(end),
            "units": to_number(units),
            "price": to_number(price),
            "cost": to_number(cost),
            "approveAndPostDate": None,
        }

    def new_id(self) -> int:
        return next(self._ids)

    def sorted_ids(self, entity: str) -> list[int]:
        """Ids of a table in ascending order (cached until a row is added)."""
        table = self.tables[entity]
        cached = self._sorted.get(entity)
        if cached is None or cached[0] != len(table):
            cached = (len(table), sorted(table))
            self._sorted[entity] = cached
        return cached[1]

    def index(self, entity: str, field: str) -> dict[Any, list[int]]:
        """Ids by the value of a field that never changes (cached until a row is added)."""
        table = self.tables[entity]
        key = (entity, field)
        cached = self._indexes.get(key)
        if cached is None or cached[0] != len(table):
            built: dict[Any, list[int]] = {}
            for record_id in self.sorted_ids(entity):
                built.setdefault(table[record_id].get(field), []).append(record_id)
            cached = (len(table), built)
            self._indexes[key] = cached
        return cached[1]

    def note(self, contract_id: int, title: str, description: str) -> int:
        note_id = self.new_id()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.tables["ContractNotes"][note_id] = {
            "id": note_id,
            "contractID": contract_id,
            "title": title,
            "description": description,
            "createDateTime": now,
            "lastActivityDate": now,
            "creatorResourceID": self.resource_id,
        }
        return note_id

    def adjust(self, body: dict[str, Any]) -> tuple[int, int, int] | str:
        """Apply a ContractServiceAdjustment; return (adjustment, unit row, note) ids."""
        try:
            contract_id = int(body["contractID"])
            catalog_id = int(body["serviceID"])
            effective = parse_iso(str(body["effectiveDate"])).date()
            change = body["unitChange"]
        except (KeyError, TypeError, ValueError):
            return "contractID, serviceID, effectiveDate and unitChange are required"
        if not isinstance(change, int) or isinstance(change, bool):
            return "unitChange must be an integer"
        contract = self.tables["Contracts"].get(contract_id)
        if contract is None:
            return f"Contract {contract_id} does not exist"
        service_id = body.get("contractServiceID")
        services = self.tables["ContractServices"]
        if service_id is None or int(service_id) not in services:
            # Autotask creates the ContractService when an adjustment names a new one.
            catalog = self.tables["Services"].get(catalog_id)
            if catalog is None:
                return f"Service {catalog_id} does not exist"
            service_id = self.new_id()
            services[service_id] = {
                "id": service_id,
                "contractID": contract_id,
                "serviceID": catalog_id,
                "unitPrice": body.get("adjustedUnitPrice", catalog["unitPrice"]),
                "unitCost": body.get("adjustedUnitCost", catalog["unitCost"]),
                "invoiceDescription": catalog["name"],
                "internalCurrencyUnitPrice": body.get("adjustedUnitPrice", catalog["unitPrice"]),
            }
        service_id = int(service_id)
        service = services[service_id]
        if service["contractID"] != contract_id:
            return f"ContractService {service_id} is not on contract {contract_id}"
        units_table = self.tables["ContractServiceUnits"]
        rows = [units_table[i] for i in self.units_by_service.setdefault(service_id, [])]
        covering = next(
            (
                r
                for r in rows
                if parse_iso(r["startDate"]).date() <= effective <= parse_iso(r["endDate"]).date()
            ),
            None,
        )
        before = Decimal(str(covering["units"])) if covering else Decimal(0)
        if before + change < 0:
            return f"unitChange {change} would leave {before + change} units"
        price = body.get("adjustedUnitPrice", service["unitPrice"])
        cost = body.get("adjustedUnitCost", service["unitCost"])
        contract_end = parse_iso(contract["endDate"]).date()
        new_id = next(self._unit_ids)
        if covering is not None:
            end = parse_iso(covering["endDate"]).date()
            if parse_iso(covering["startDate"]).date() == effective:
                covering["units"] = to_number(before + change)
                new_id = covering["id"]
            else:
                covering["endDate"] = _end_of_day(effective - timedelta(days=1))
                units_table[new_id] = self._unit(
                    new_id, service_id, contract_id, catalog_id, effective, end,
                    before + change, Decimal(str(price)), Decimal(str(cost)),
                )  # fmt: skip
                self.units_by_service[service_id].append(new_id)
        else:
            units_table[new_id] = self._unit(
                new_id, service_id, contract_id, catalog_id, effective, contract_end,
                Decimal(change), Decimal(str(price)), Decimal(str(cost)),
            )  # fmt: skip
            self.units_by_service[service_id].append(new_id)
        for row in rows:  # later rows carry the change forward
            if parse_iso(row["startDate"]).date() > effective and row["id"] != new_id:
                row["units"] = to_number(Decimal(str(row["units"])) + change)
        adjustment_id = self.new_id()
        self.adjustments[adjustment_id] = {**body, "id": adjustment_id}
        name = self.tables["Services"].get(catalog_id, {}).get("name", f"Service {catalog_id}")
        note_id = self.note(
            contract_id,
            "Service Adjustment",
            f"{name}: {to_number(before)} → {to_number(before + change)} "
            f"effective {effective.strftime('%m/%d/%Y')}",
        )
        return adjustment_id, new_id, note_id


def _field_value(record: dict[str, Any], name: str) -> Any:
    for key, value in record.items():
        if key.lower() == name.lower():
            return value
    return None


def _comparable(value: Any, target: Any) -> tuple[Any, Any]:
    if isinstance(value, str) and isinstance(target, str):
        if len(target) >= 10 and target[4:5] == "-" and len(value) >= 10 and value[4:5] == "-":
            try:
                return parse_iso(value), parse_iso(target)
            except ValueError:
                pass
        return value.lower(), target.lower()
    if isinstance(value, bool) or isinstance(target, bool):
        return value, target
    if isinstance(value, int | float) and isinstance(target, int | float | str):
        try:
            return Decimal(str(value)), Decimal(str(target))
        except InvalidOperation:
            return value, target
    return value, target


class FilterError(ValueError):
    """A filter tree Autotask would refuse."""


def _matches(
    record: dict[str, Any], node: Any, sets: dict[int, frozenset[Any]] | None = None
) -> bool:
    if not isinstance(node, dict) or "op" not in node:
        raise FilterError(f"filter item must be an object with op: {node!r}")
    op = str(node["op"])
    if op in ("and", "or"):
        items = node.get("items")
        if not isinstance(items, list) or not items:
            raise FilterError(f"'{op}' needs a non-empty items list")
        results = (_matches(record, item, sets) for item in items)
        return all(results) if op == "and" else any(results)
    field = node.get("field")
    if not isinstance(field, str):
        raise FilterError(f"'{op}' needs a field")
    value = _field_value(record, field)
    if op == "exist":
        return value is not None
    if op == "notExist":
        return value is None
    target = node.get("value")
    if op in ("in", "notIn"):
        if not isinstance(target, list):
            raise FilterError(f"'{op}' needs a list value")
        if len(target) > 500:
            raise FilterError("a query may have at most 500 values in a list")
        if sets is not None and isinstance(value, int) and all(isinstance(t, int) for t in target):
            # Fast path for id lists: build the set once per query, not once per row.
            members = sets.get(id(node))
            if members is None:
                members = sets[id(node)] = frozenset(target)
            return (value in members) == (op == "in")
        hit = any(_comparable(value, t)[0] == _comparable(value, t)[1] for t in target)
        return hit if op == "in" else not hit
    if value is None:
        return op == "noteq" and target is not None
    left, right = _comparable(value, target)
    try:
        if op == "eq":
            return bool(left == right)
        if op == "noteq":
            return bool(left != right)
        if op == "gt":
            return bool(left > right)
        if op == "gte":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        if op == "lte":
            return bool(left <= right)
    except TypeError as exc:
        raise FilterError(f"cannot compare {field} with {target!r}") from exc
    text, pattern = str(left), str(right)
    if op == "beginsWith":
        return text.startswith(pattern)
    if op == "endsWith":
        return text.endswith(pattern)
    if op == "contains":
        return pattern in text
    raise FilterError(f"unknown operator '{op}'")


def _encode_paging(search: dict[str, Any], last_id: int) -> str:
    raw = json.dumps({"search": search, "after": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def create_app(config: AutotaskSimulatorConfig | None = None) -> FastAPI:
    """Build the Autotask simulator app holding the seeded demo MSP."""
    config = config or AutotaskSimulatorConfig()
    store = AutotaskStore(config)
    state = SimulatorState(faults=config.faults.model_copy())
    app = FastAPI(title="Autotask PSA simulator", docs_url="/_simulator/docs", openapi_url=None)
    app.state.store = store
    app.state.sim = state

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith(API):
            h = request.headers
            if (
                h.get("UserName") != config.username
                or h.get("Secret") != config.secret
                or h.get("ApiIntegrationCode") != config.integration_code
            ):
                return _error(401, "User is not authorized to access this resource.")
        response: Response = await call_next(request)
        return response

    @app.get("/atservicesrest/v1.0/zoneInformation")
    async def zone_information(request: Request, user: str = "") -> Response:
        if not user or user.lower() != config.username.lower():
            # Autotask answers an unknown user with a 500.
            return _error(500, f"Zone information could not be determined for user '{user}'.")
        base = str(request.base_url)
        return json_response(
            {"zoneName": "Simulator", "url": f"{base}ATServicesRest/", "webUrl": base, "ci": 0}
        )

    def _candidates(entity: str, filters: list[Any], after: int) -> list[int]:
        # An id-list filter on a parent key reads the index instead of the whole table;
        # every candidate is still checked against the full filter below.
        first = filters[0] if len(filters) == 1 else None
        if (
            isinstance(first, dict)
            and first.get("op") in ("eq", "in")
            and (entity, first.get("field")) in _INDEXED
        ):
            values = first.get("value")
            values = values if isinstance(values, list) else [values]
            index = store.index(entity, str(first["field"]))
            try:
                ids = sorted({i for v in values for i in index.get(v, [])})
            except TypeError:
                ids = None
            if ids is not None:
                return ids[bisect.bisect_right(ids, after) :]
        ordered = store.sorted_ids(entity)
        return ordered[bisect.bisect_right(ordered, after) :]

    def _run_query(entity: str, search: dict[str, Any], after: int, base: str) -> Response:
        table = store.tables.get(entity)
        if table is None:
            return _error(404, f"Entity {entity} cannot be queried")
        max_records = search.get("MaxRecords", MAX_RECORDS)
        if not isinstance(max_records, int) or not 1 <= max_records <= MAX_RECORDS:
            return _error(400, "MaxRecords must be between 1 and 500.")
        filters = search.get("Filter") or search.get("filter")
        if not isinstance(filters, list) or not filters:
            return _error(400, "A query requires at least one filter.")
        include = search.get("IncludeFields") or []
        rows: Iterable[dict[str, Any]] = (table[k] for k in _candidates(entity, filters, after))
        picked: list[dict[str, Any]] = []
        more = False
        sets: dict[int, frozenset[Any]] = {}
        try:
            for row in rows:
                if all(_matches(row, f, sets) for f in filters):
                    if len(picked) == max_records:
                        more = True
                        break
                    picked.append(row)
        except FilterError as exc:
            return _error(400, str(exc))
        if include:
            names = {n.lower() for n in include} | {"id"}
            picked = [{k: v for k, v in r.items() if k.lower() in names} for r in picked]
        next_url = None
        if more:
            token = _encode_paging(search, picked[-1]["id"])
            next_url = f"{base}ATServicesRest/V1.0/{entity}/query/next?paging={token}"
        return json_response(
            {
                "items": picked,
                "pageDetails": {
                    "count": len(picked),
                    "requestCount": max_records,
                    "prevPageUrl": None,
                    "nextPageUrl": next_url,
                },
            }
        )

    @app.post(f"{API}/{{entity}}/query")
    async def query(entity: str, request: Request) -> Response:
        try:
            search = await request.json()
        except ValueError:
            return _error(400, "The query body is not valid JSON.")
        if not isinstance(search, dict):
            return _error(400, "The query body must be an object.")
        return _run_query(entity, search, 0, str(request.base_url))

    @app.get(f"{API}/{{entity}}/query")
    async def query_get(entity: str, request: Request, search: str = "") -> Response:
        try:
            parsed = json.loads(search)
        except ValueError:
            return _error(400, "search must be JSON")
        return _run_query(entity, parsed, 0, str(request.base_url))

    @app.get(f"{API}/{{entity}}/query/next")
    async def query_next(entity: str, request: Request, paging: str = "") -> Response:
        try:
            state_ = json.loads(base64.urlsafe_b64decode(paging.encode()))
            return _run_query(entity, state_["search"], int(state_["after"]), str(request.base_url))
        except (ValueError, KeyError, TypeError):
            return _error(400, "paging token is not valid")

    @app.post(f"{API}/{{entity}}/query/count")
    async def query_count(entity: str, request: Request) -> Response:
        table = store.tables.get(entity)
        if table is None:
            return _error(404, f"Entity {entity} cannot be queried")
        search = await request.json()
        filters = search.get("Filter") or []
        try:
            count = sum(1 for r in table.values() if all(_matches(r, f) for f in filters))
        except FilterError as exc:
            return _error(400, str(exc))
        return json_response({"queryCount": count})

    @app.get(f"{API}/{{entity}}/{{record_id}}")
    async def get_one(entity: str, record_id: int) -> Response:
        table = store.tables.get(entity)
        if table is None:
            return _error(404, f"Entity {entity} not found")
        # Autotask answers a missing id with 200 and a null item.
        return json_response({"item": table.get(record_id)})

    @app.post(f"{API}/ContractServiceAdjustments")
    async def post_adjustment(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict):
            return _error(400, "body must be a ContractServiceAdjustment")
        result = store.adjust(body)
        if isinstance(result, str):
            return _error(500, result)
        adjustment_id, _unit_id, _note_id = result
        state.record_write(
            "POST", request.url.path, "ContractServiceAdjustment", adjustment_id, body
        )
        return json_response({"itemId": adjustment_id})

    @app.post(f"{API}/Contracts/{{contract_id}}/ServiceAdjustments")
    async def post_child_adjustment(contract_id: int, request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict):
            return _error(400, "body must be a ContractServiceAdjustment")
        result = store.adjust({**body, "contractID": contract_id})
        if isinstance(result, str):
            return _error(500, result)
        state.record_write("POST", request.url.path, "ContractServiceAdjustment", result[0], body)
        return json_response({"itemId": result[0]})

    @app.post(f"{API}/Contracts/{{contract_id}}/Services")
    async def post_service(contract_id: int, request: Request) -> Response:
        body = await request.json()
        contract = store.tables["Contracts"].get(contract_id)
        if contract is None:
            return _error(404, f"Contract {contract_id} does not exist")
        catalog = store.tables["Services"].get(int(body.get("serviceID", 0) or 0))
        if catalog is None:
            return _error(500, "serviceID is required and must exist")
        service_id = store.new_id()
        store.tables["ContractServices"][service_id] = {
            "id": service_id,
            "contractID": contract_id,
            "serviceID": catalog["id"],
            "unitPrice": body.get("unitPrice", catalog["unitPrice"]),
            "unitCost": body.get("unitCost", catalog["unitCost"]),
            "invoiceDescription": body.get("invoiceDescription") or catalog["name"],
            "internalCurrencyUnitPrice": body.get("unitPrice", catalog["unitPrice"]),
        }
        store.units_by_service[service_id] = []
        state.record_write("POST", request.url.path, "ContractService", service_id, body)
        return json_response({"itemId": service_id})

    @app.post(f"{API}/Contracts/{{contract_id}}/Notes")
    async def post_note(contract_id: int, request: Request) -> Response:
        body = await request.json()
        if contract_id not in store.tables["Contracts"]:
            return _error(404, f"Contract {contract_id} does not exist")
        if not isinstance(body, dict) or not body.get("title") or not body.get("description"):
            return _error(500, "title and description are required")
        note_id = store.note(contract_id, str(body["title"]), str(body["description"]))
        state.record_write("POST", request.url.path, "ContractNote", note_id, body)
        return json_response({"itemId": note_id})

    def edit(body: dict[str, Any]) -> Any:
        """Out-of-band edit: `field` "units" sets the current unit row of a service;
        any other field is set on the ContractService itself."""
        service_id = int(body["line_item_id"])
        service = store.tables["ContractServices"].get(service_id)
        if service is None:
            return _error(404, "no such ContractService")
        if body["field"] == "units":
            today = datetime.now(UTC).date()
            for unit_id in store.units_by_service.get(service_id, []):
                row = store.tables["ContractServiceUnits"][unit_id]
                if parse_iso(row["startDate"]).date() <= today <= parse_iso(row["endDate"]).date():
                    row["units"] = body["value"]
                    return row
            return _error(404, "no unit row covers today")
        service[str(body["field"])] = body["value"]
        return service

    install(app, state, error_body, edit)
    return app


def main() -> None:
    """Run the simulator: `python -m trueup.devstack.psa_simulators.autotask --port 8102`."""
    run_cli("autotask", 8102, lambda c: create_app(AutotaskSimulatorConfig(**c.model_dump())))


if __name__ == "__main__":
    main()
