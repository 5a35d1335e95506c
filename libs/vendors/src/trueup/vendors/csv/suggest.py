"""The wizard's second step: a column mapping proposed from header names and content."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from pydantic import ValidationError

from trueup.vendors.csv.detect import Detection
from trueup.vendors.csv.mapping import ColumnMapping, FilterOperator, QuantityMode, RowFilter
from trueup.vendors.csv.preview import ColumnPreview, ColumnType, Preview, preview


def _words(names: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in names.split(",") if name.strip())


# Header names vendors use for each role, as normalised words (camelCase and
# snake_case split, lower case). The earlier a name, the stronger the match.
_ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "quantity": _words(
        "quantity, qty, seats, seat count, licenses, licences, license count, licence count, "
        "units, unit count, agents count, agent count, agents, devices, device count, number of "
        "devices, total licenses, active licenses, consumed units, billable quantity, billable "
        "seats, endpoints, users, assigned, assigned licenses, consumed, purchased, purchased "
        "licenses, count, amount"
    ),
    "account_id": _words(
        "customer id, company id, client id, account id, organization id, organisation id, org "
        "id, tenant id, customer tenant id, microsoft id, site id, site uid, customer number, "
        "account number, saas customer id"
    ),
    "account": _words(
        "customer name, company name, client name, account name, organization name, "
        "organisation name, tenant name, site name, end customer, customer, company, client, "
        "account, organization, organisation, tenant, site, org, sold to, kunde, firma"
    ),
    "sku": _words(
        "sku, vendor sku, product sku, sku part number, part number, mpn, product code, item "
        "code, offer id, product id, plan, edition, device class, node class, device type, "
        "license type, licence type, product, product name, service, service name, item, offer "
        "name, subscription, license, licence, description, typ, type"
    ),
    "price": _words("unit price, price, sell price, rate, list price, msrp, preis"),
    "cost": _words("unit cost, cost, buy price, partner price, net price, cost price"),
    "date": _words(
        "date, start date, charge start, invoice date, billing date, period, period start, "
        "service date, usage date, date added, created, datum"
    ),
}
_NUMERIC = (ColumnType.INTEGER, ColumnType.DECIMAL)
_STATUS_NAMES = ("status", "state", "subscription status", "seat state", "agent status")
_ACTIVE_VALUES = ("active", "aktiv", "actif", "enabled", "online")


@dataclass(frozen=True, slots=True)
class ColumnCandidate:
    """A column proposed for a role, with how sure the proposal is and why."""

    column: str
    score: float
    reason: str

    def as_dict(self) -> dict[str, object]:
        """The candidate as plain data for an API response."""
        return {"column": self.column, "score": round(self.score, 2), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ColumnMappingSuggestion:
    """A proposed mapping (None when a required role found no column) and its reasons."""

    mapping: ColumnMapping | None
    roles: dict[str, ColumnCandidate]
    missing: tuple[str, ...]
    candidates: dict[str, tuple[ColumnCandidate, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The suggestion as plain data for an API response."""
        return {
            "mapping": None if self.mapping is None else self.mapping.model_dump(mode="json"),
            "roles": {role: candidate.as_dict() for role, candidate in self.roles.items()},
            "missing": list(self.missing),
            "candidates": {
                role: [candidate.as_dict() for candidate in found]
                for role, found in self.candidates.items()
            },
        }


def normalise_header(name: str) -> str:
    """Header words in lower case: `agents_count` and `agentsCount` read `agents count`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return " ".join(re.sub(r"[^0-9a-zA-Z]+", " ", spaced).lower().split())


def suggest_mapping(
    detection: Detection,
    *,
    shown: Preview | None = None,
    default_sku: str | None = None,
) -> ColumnMappingSuggestion:
    """Propose which columns hold vendor account, SKU and quantity, and how to count.

    Header names decide first; the sample cells confirm (a quantity must be numeric,
    an account must vary). Without a quantity column the rows are counted (one row per
    device or agent). Without a SKU column `default_sku`, if given, names the product.
    A Status column holding "Active" yields a suggested row filter.
    """
    shown = shown or preview(detection)
    columns = {column.name: column for column in shown.columns}
    candidates = {role: _candidates(role, shown.columns) for role in _ROLE_NAMES}
    chosen: dict[str, ColumnCandidate] = {}
    used: set[str] = set()
    for role in ("quantity", "account_id", "account", "sku", "price", "cost", "date"):
        for candidate in candidates[role]:
            if candidate.column not in used:
                chosen[role] = candidate
                used.add(candidate.column)
                break
    if "account" not in chosen and "account_id" in chosen:
        # An id alone identifies the vendor account; show it as the name too.
        chosen["account"] = chosen.pop("account_id")

    mode = _quantity_mode(detection, chosen)
    filters = _status_filters(shown.columns, used)
    missing = [role for role in ("account", "sku") if role not in chosen]
    if "sku" in missing and default_sku:
        missing.remove("sku")
    date_column = _column_of(chosen, "date")
    if date_column is not None and columns[date_column].inferred_type is not ColumnType.DATE:
        date_column = None
    mapping: ColumnMapping | None = None
    if not missing:
        try:
            mapping = ColumnMapping(
                account_column=chosen["account"].column,
                account_id_column=_column_of(chosen, "account_id"),
                sku_column=_column_of(chosen, "sku"),
                sku_constant=None if "sku" in chosen else default_sku,
                quantity_mode=mode,
                quantity_column=_column_of(chosen, "quantity"),
                price_column=_column_of(chosen, "price"),
                cost_column=_column_of(chosen, "cost"),
                date_column=date_column,
                filters=filters,
            )
        except ValidationError:  # pragma: no cover - the roles above make it complete
            mapping = None
    return ColumnMappingSuggestion(
        mapping=mapping,
        roles=chosen,
        missing=tuple(missing),
        candidates={role: tuple(found[:3]) for role, found in candidates.items() if found},
    )


def _column_of(chosen: dict[str, ColumnCandidate], role: str) -> str | None:
    return chosen[role].column if role in chosen else None


def _candidates(role: str, columns: tuple[ColumnPreview, ...]) -> list[ColumnCandidate]:
    names = _ROLE_NAMES[role]
    found: list[ColumnCandidate] = []
    for column in columns:
        header = normalise_header(column.name)
        score, reason = _name_score(header, names)
        if not score:
            continue
        if role in ("quantity", "price", "cost") and column.inferred_type not in _NUMERIC:
            continue  # a quantity must be a number in the sample
        if role == "quantity" and _looks_like_identifier(header):
            continue
        if role in ("account", "sku") and column.inferred_type in (*_NUMERIC, ColumnType.EMPTY):
            score *= 0.5  # names are text; a number column is more likely an id
        if role == "account" and column.distinct_values > 1:
            score += 0.05
        found.append(ColumnCandidate(column.name, score, reason))
    found.sort(key=lambda candidate: -candidate.score)
    return found


def _name_score(header: str, names: tuple[str, ...]) -> tuple[float, str]:
    # Rank by position in the list so "customer name" beats "customer" and "sku" beats
    # "description"; an exact header match beats a header merely containing the words.
    best, reason = 0.0, ""
    for rank, name in enumerate(names):
        weight = 1.0 - rank / (2 * len(names))
        if header == name:
            score, why = weight, f"header is {name!r}"
        elif re.search(rf"\b{re.escape(name)}\b", header):
            score, why = 0.7 * weight, f"header contains {name!r}"
        else:
            continue
        if score > best:
            best, reason = score, why
    return best, reason


def _looks_like_identifier(header: str) -> bool:
    return bool(re.search(r"\b(id|uid|number|no|code|zip|year)\b", header))


def _quantity_mode(detection: Detection, chosen: dict[str, ColumnCandidate]) -> QuantityMode:
    if "quantity" not in chosen:
        return QuantityMode.ROW_COUNT
    positions = {name: index for index, name in enumerate(detection.columns)}
    account = chosen.get("account_id") or chosen.get("account")
    sku = chosen.get("sku")
    if account is None:
        return QuantityMode.COLUMN_VALUE
    pairs = Counter(
        (
            row[positions[account.column]].strip() if positions[account.column] < len(row) else "",
            row[positions[sku.column]].strip()
            if sku is not None and positions[sku.column] < len(row)
            else "",
        )
        for row in detection.sample_rows
    )
    repeated = any(count > 1 for pair, count in pairs.items() if pair[0])
    return QuantityMode.SUM_PER_SKU if repeated else QuantityMode.COLUMN_VALUE


def _status_filters(columns: tuple[ColumnPreview, ...], used: set[str]) -> list[RowFilter]:
    for column in columns:
        if column.name in used or normalise_header(column.name) not in _STATUS_NAMES:
            continue
        values = {example.lower(): example for example in column.examples}
        for active in _ACTIVE_VALUES:
            if active in values and len(column.examples) > 1:
                return [
                    RowFilter(
                        column=column.name, operator=FilterOperator.EQUALS, values=[values[active]]
                    )
                ]
    return []
