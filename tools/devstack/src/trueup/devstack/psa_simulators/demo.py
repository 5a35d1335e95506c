"""A deterministic, PSA-neutral demo MSP that every simulator renders in its own shapes.

The same seed gives the same accounts, contracts and line items, so the three
simulators hold the same MSP and a test can name what it expects.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class DemoProduct:
    """A catalogue product the demo MSP resells."""

    id: int
    identifier: str
    name: str
    price: Decimal
    cost: Decimal
    unit: str
    kind: str  # seats | devices | servers | gb | sites


@dataclass(slots=True)
class DemoAccount:
    """A client of the demo MSP."""

    id: int
    identifier: str
    name: str
    updated_at: datetime


@dataclass(slots=True)
class DemoContract:
    """A recurring contract of one account."""

    id: int
    account_id: int
    name: str
    status: str  # active | cancelled | expired | inactive
    start_date: date
    end_date: date | None
    billing_cycle: str  # monthly | quarterly | semi_annual | annual
    bill_in_advance: bool
    prorate: bool
    currency: str
    updated_at: datetime
    cancelled_date: date | None = None


@dataclass(slots=True)
class DemoLineItem:
    """A recurring service on a contract."""

    id: int
    contract_id: int
    product: DemoProduct
    quantity: Decimal
    unit_price: Decimal
    unit_cost: Decimal
    effective_date: date
    cancelled_date: date | None
    updated_at: datetime


@dataclass(slots=True)
class DemoMsp:
    """The whole demo dataset."""

    today: date
    products: list[DemoProduct]
    accounts: list[DemoAccount]
    contracts: list[DemoContract]
    line_items: list[DemoLineItem]
    by_contract: dict[int, list[DemoLineItem]] = field(default_factory=dict)


PRODUCTS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("M365-BP", "Microsoft 365 Business Premium", "26.40", "22.00", "Seat", "seats"),
    ("M365-BS", "Microsoft 365 Business Standard", "15.60", "12.50", "Seat", "seats"),
    ("M365-BB", "Microsoft 365 Business Basic", "7.20", "6.00", "Seat", "seats"),
    ("M365-E3", "Microsoft 365 E3", "43.20", "36.00", "Seat", "seats"),
    ("EXO-P1", "Exchange Online (Plan 1)", "4.80", "4.00", "Seat", "seats"),
    ("MDB", "Microsoft Defender for Business", "3.60", "3.00", "Seat", "seats"),
    ("ENTRA-P1", "Microsoft Entra ID P1", "7.20", "6.00", "Seat", "seats"),
    ("TEAMS-PHONE", "Microsoft Teams Phone Standard", "9.60", "8.00", "Seat", "seats"),
    ("MW-WS", "Managed Workstation", "45.00", "12.00", "Device", "devices"),
    ("MS-SRV", "Managed Server", "150.00", "40.00", "Device", "servers"),
    ("BKP-GB", "Cloud Backup per GB", "0.12", "0.05", "GB", "gb"),
    ("HUNTRESS-EDR", "Huntress Managed EDR Agent", "4.50", "2.50", "Agent", "devices"),
    ("S1-COMPLETE", "SentinelOne Complete", "6.00", "3.20", "Agent", "devices"),
    ("EMAIL-SEC", "Email Security (Proofpoint Essentials)", "3.50", "1.75", "Seat", "seats"),
    ("SAT", "Security Awareness Training", "2.50", "1.00", "Seat", "seats"),
    ("DNS-FILTER", "DNS Filtering", "2.00", "0.80", "Seat", "seats"),
    ("SAAS-BKP", "Datto SaaS Protection for Microsoft 365", "3.00", "1.60", "Seat", "seats"),
    ("NET-MON", "Network Device Monitoring", "25.00", "5.00", "Device", "sites"),
    ("HELPDESK", "Help Desk Support per User", "35.00", "15.00", "User", "seats"),
)

_FIRST = (
    "Acme",
    "Blue Ridge",
    "Cedar Park",
    "Summit",
    "Harbor",
    "Northwind",
    "Pinnacle",
    "Redwood",
    "Silver Lake",
    "Riverbend",
    "Oakmont",
    "Granite",
    "Lakeside",
    "Maple Grove",
    "Ironwood",
    "Westfield",
    "Brightside",
    "Evergreen",
    "Falcon",
    "Golden Gate",
    "Highland",
    "Keystone",
    "Liberty",
    "Meridian",
    "Newport",
    "Orchard",
    "Prairie",
    "Quarry",
    "Sagebrush",
    "Tidewater",
    "Union Square",
    "Valley",
    "Willow Creek",
    "Yellowstone",
    "Coastal",
    "Fairview",
    "Stonebridge",
)
_SECOND = (
    "Dental",
    "Law Group",
    "Logistics",
    "Manufacturing",
    "Family Practice",
    "Accounting",
    "Realty",
    "Construction",
    "Veterinary Clinic",
    "Insurance",
    "Architects",
    "Credit Union",
    "Engineering",
    "Foods",
    "Orthodontics",
    "Wealth Advisors",
    "Medical Group",
    "Auto Group",
)
_SUFFIX = ("LLC", "Inc.", "Co.", "Partners", "Ltd.", "Group")

_CONTRACT_KIND = (
    "Managed Services",
    "Microsoft 365",
    "Security Bundle",
    "Backup & DR",
    "Endpoint Protection",
)


# The first clients have fixed names: the vendor simulators (trueup.devstack.vendor_simulators)
# know them under their own spellings ("ACME Incorporated" for "Acme, Inc."), which is
# what the demo's mapping suggestions work on.
NAMED_ACCOUNTS: tuple[str, ...] = (
    "Acme, Inc.",
    "Bluebird Dental Group",
    "Northwind Traders LLC",
    "Contoso Ltd.",
    "Fabrikam Incorporated",
    "Riverside Veterinary Clinic",
    "Summit Ridge Law Partners",
    "Harbor Point Logistics",
    "Greenleaf Accounting & Tax",
    "St. Mary's Parish School",
)


def _account_name(index: int) -> str:
    if index < len(NAMED_ACCOUNTS):
        return NAMED_ACCOUNTS[index]
    first = _FIRST[index % len(_FIRST)]
    second = _SECOND[(index // len(_FIRST)) % len(_SECOND)]
    lap = index // (len(_FIRST) * len(_SECOND))
    suffix = _SUFFIX[(index // 7) % len(_SUFFIX)]
    # "Law Group" needs no second "Group".
    name = f"{first} {second}" if second.endswith(suffix) else f"{first} {second} {suffix}"
    return f"{name} #{lap + 1}" if lap else name


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _quantity(rng: random.Random, product: DemoProduct) -> Decimal:
    if product.kind == "gb":
        return Decimal(rng.randint(500, 50_000)) / 10
    if product.kind == "servers":
        return Decimal(rng.randint(1, 8))
    if product.kind == "sites":
        return Decimal(rng.randint(1, 5))
    if product.kind == "devices":
        return Decimal(rng.randint(3, 120))
    return Decimal(rng.randint(1, 150))


def build_demo_msp(
    seed: int = 7,
    accounts: int = 48,
    line_items: int = 600,
    today: date | None = None,
) -> DemoMsp:
    """Build the demo MSP: `accounts` accounts and about `line_items` line items.

    About 2.5 contracts per account (some cancelled, expired or inactive, and about one
    account in eight without any active contract), up to 8 products per contract.
    """
    rng = random.Random(seed)
    today = today or datetime.now(UTC).date()
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    products = [
        DemoProduct(
            id=3300 + i,
            identifier=ident,
            name=name,
            price=Decimal(price),
            cost=Decimal(cost),
            unit=unit,
            kind=kind,
        )
        for i, (ident, name, price, cost, unit, kind) in enumerate(PRODUCTS)
    ]
    demo_accounts: list[DemoAccount] = []
    contracts: list[DemoContract] = []
    for a in range(accounts):
        name = _account_name(a)
        ident = "".join(ch for ch in name.title() if ch.isalnum())[:24] + f"{a:05d}"[-3:]
        account = DemoAccount(
            id=250 + a,
            identifier=ident,
            name=name,
            updated_at=now - timedelta(days=rng.randint(1, 400), seconds=rng.randint(0, 86_399)),
        )
        demo_accounts.append(account)
        without_active = a % 8 == 5
        n_contracts = 0 if a % 16 == 13 else rng.choice((1, 2, 2, 3, 3, 4))
        for c in range(n_contracts):
            if without_active:
                status = rng.choice(("cancelled", "expired"))
            elif c == 0:
                status = "active"
            else:
                status = rng.choices(
                    ("active", "cancelled", "expired", "inactive"), weights=(60, 18, 16, 6)
                )[0]
            start = today - timedelta(days=rng.randint(60, 1500))
            end: date | None
            cancelled: date | None = None
            if status == "expired":
                end = today - timedelta(days=rng.randint(5, 300))
                start = min(start, end - timedelta(days=365))
            elif status == "cancelled":
                cancelled = today - timedelta(days=rng.randint(5, 200))
                end = cancelled
                start = min(start, cancelled - timedelta(days=90))
            else:
                end = None if rng.random() < 0.6 else today + timedelta(days=rng.randint(30, 900))
            cycle = rng.choices(
                ("monthly", "quarterly", "semi_annual", "annual"), weights=(70, 12, 4, 14)
            )[0]
            kind = _CONTRACT_KIND[(a + c) % len(_CONTRACT_KIND)]
            contracts.append(
                DemoContract(
                    id=1000 + len(contracts),
                    account_id=account.id,
                    name=f"{name} - {kind}"[:100],
                    status=status,
                    start_date=start,
                    end_date=end,
                    billing_cycle=cycle,
                    bill_in_advance=rng.random() < 0.85,
                    prorate=rng.random() < 0.7,
                    currency="USD" if rng.random() < 0.9 else "CAD",
                    updated_at=now
                    - timedelta(days=rng.randint(1, 200), seconds=rng.randint(0, 86_399)),
                    cancelled_date=cancelled,
                )
            )
    items: list[DemoLineItem] = []
    by_contract: dict[int, list[DemoLineItem]] = {}
    if contracts:
        per_contract = max(1.0, line_items / len(contracts))
        remaining = line_items
        for index, contract in enumerate(contracts):
            left = len(contracts) - index
            target = round(remaining / left) if left else 0
            n = max(1, min(len(products), target + rng.randint(-1, 1)))
            if per_contract > len(products):
                n = len(products)
            chosen = rng.sample(products, n)
            bucket = by_contract.setdefault(contract.id, [])
            for product in chosen:
                discount = Decimal(rng.choice((100, 100, 100, 95, 90, 110))) / 100
                effective = contract.start_date + timedelta(days=rng.randint(0, 60))
                cancelled_item = contract.cancelled_date
                if cancelled_item is None and contract.status == "active" and rng.random() < 0.04:
                    cancelled_item = today - timedelta(days=rng.randint(1, 40))
                if cancelled_item is not None and cancelled_item < effective:
                    effective = cancelled_item - timedelta(days=30)
                item = DemoLineItem(
                    id=5000 + len(items),
                    contract_id=contract.id,
                    product=product,
                    quantity=_quantity(rng, product),
                    unit_price=_money(product.price * discount),
                    unit_cost=product.cost,
                    effective_date=effective,
                    cancelled_date=cancelled_item,
                    updated_at=now
                    - timedelta(days=rng.randint(0, 120), seconds=rng.randint(0, 86_399)),
                )
                items.append(item)
                bucket.append(item)
            remaining -= len(chosen)
    return DemoMsp(
        today=today,
        products=products,
        accounts=demo_accounts,
        contracts=contracts,
        line_items=items,
        by_contract=by_contract,
    )
