"""The demo MSP's clients as three vendors know them.

The names are the PSA's account names and each vendor's own spelling of them ("Acme,
Inc." in the PSA is "ACME Incorporated" at Pax8 and "Acme Inc" in NinjaOne), so that
fuzzy account mapping has real work to do. Each vendor also has one client the PSA does
not bill yet (a New Revenue card) and misses one the PSA has.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The demo MSP's clients as its PSA names them.
PSA_ACCOUNTS: tuple[str, ...] = (
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


@dataclass(frozen=True, slots=True)
class Pax8Product:
    id: str
    name: str
    vendor_name: str
    sku: str


@dataclass(frozen=True, slots=True)
class Pax8Subscription:
    id: str
    company_id: str
    product_id: str
    quantity: int
    status: str
    billing_term: str = "Monthly"
    price: str = "0.00"


@dataclass(frozen=True, slots=True)
class Pax8Company:
    id: str
    name: str
    status: str = "Active"


PAX8_PRODUCTS: tuple[Pax8Product, ...] = (
    Pax8Product(
        "8d3e0f5a-0001-4c1e-9a55-000000000001",
        "Microsoft 365 Business Premium",
        "Microsoft",
        "MST-365-BP-M",
    ),
    Pax8Product(
        "8d3e0f5a-0001-4c1e-9a55-000000000002",
        "Microsoft 365 Business Standard",
        "Microsoft",
        "MST-365-BS-M",
    ),
    Pax8Product(
        "8d3e0f5a-0001-4c1e-9a55-000000000003",
        "Exchange Online (Plan 1)",
        "Microsoft",
        "MST-EXO-P1-M",
    ),
    Pax8Product(
        "8d3e0f5a-0001-4c1e-9a55-000000000004",
        "Acronis Cyber Protect Cloud - Workstation",
        "Acronis",
        "ACR-CPC-WS",
    ),
    Pax8Product(
        "8d3e0f5a-0001-4c1e-9a55-000000000005",
        "Microsoft Defender for Business",
        "Microsoft",
        "MST-MDB-M",
    ),
)

_P = {product.sku: product.id for product in PAX8_PRODUCTS}

PAX8_COMPANIES: tuple[Pax8Company, ...] = (
    Pax8Company("c0a80101-0000-4000-8000-000000000001", "ACME Incorporated"),
    Pax8Company("c0a80101-0000-4000-8000-000000000002", "Bluebird Dental Grp"),
    Pax8Company("c0a80101-0000-4000-8000-000000000003", "Northwind Traders"),
    Pax8Company("c0a80101-0000-4000-8000-000000000004", "Contoso Limited"),
    Pax8Company("c0a80101-0000-4000-8000-000000000005", "Fabrikam, Inc."),
    Pax8Company("c0a80101-0000-4000-8000-000000000006", "Riverside Vet Clinic"),
    Pax8Company("c0a80101-0000-4000-8000-000000000007", "Summit Ridge Law"),
    Pax8Company("c0a80101-0000-4000-8000-000000000008", "Greenleaf Accounting and Tax"),
    Pax8Company("c0a80101-0000-4000-8000-000000000009", "Blue Sky Yoga Studio"),
)

_C = {company.name: company.id for company in PAX8_COMPANIES}


def _sub(
    number: int, company: str, sku: str, quantity: int, status: str = "Active"
) -> Pax8Subscription:
    return Pax8Subscription(
        id=f"5b0e7c2d-0000-4000-9000-{number:012d}",
        company_id=_C[company],
        product_id=_P[sku],
        quantity=quantity,
        status=status,
    )


PAX8_SUBSCRIPTIONS: tuple[Pax8Subscription, ...] = (
    _sub(1, "ACME Incorporated", "MST-365-BP-M", 27),
    _sub(2, "ACME Incorporated", "MST-365-BP-M", 3),  # a second, prorated subscription
    _sub(3, "ACME Incorporated", "MST-EXO-P1-M", 4),
    _sub(4, "ACME Incorporated", "ACR-CPC-WS", 31),
    _sub(5, "Bluebird Dental Grp", "MST-365-BS-M", 12),
    _sub(6, "Bluebird Dental Grp", "MST-MDB-M", 14),
    _sub(7, "Northwind Traders", "MST-365-BP-M", 48),
    _sub(8, "Northwind Traders", "MST-365-BS-M", 6, status="Cancelled"),
    _sub(9, "Contoso Limited", "MST-365-BS-M", 75),
    _sub(10, "Contoso Limited", "MST-EXO-P1-M", 20),
    _sub(11, "Fabrikam, Inc.", "MST-365-BP-M", 18),
    _sub(12, "Riverside Vet Clinic", "MST-365-BS-M", 9),
    _sub(13, "Riverside Vet Clinic", "ACR-CPC-WS", 11),
    _sub(14, "Summit Ridge Law", "MST-365-BP-M", 22),
    _sub(15, "Summit Ridge Law", "MST-MDB-M", 22),
    _sub(16, "Greenleaf Accounting and Tax", "MST-365-BS-M", 15),
    _sub(17, "Greenleaf Accounting and Tax", "MST-EXO-P1-M", 2, status="PendingManual"),
    _sub(18, "Blue Sky Yoga Studio", "MST-365-BS-M", 4),
)


@dataclass(frozen=True, slots=True)
class NinjaOrganization:
    id: int
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class NinjaDevice:
    id: int
    organization_id: int
    node_class: str
    system_name: str
    approval_status: str = "APPROVED"
    offline: bool = False


NINJA_ORGANIZATIONS: tuple[NinjaOrganization, ...] = (
    NinjaOrganization(1, "Acme Inc"),
    NinjaOrganization(2, "Bluebird Dental"),
    NinjaOrganization(3, "Northwind"),
    NinjaOrganization(4, "CONTOSO"),
    NinjaOrganization(5, "Fabrikam"),
    NinjaOrganization(6, "Riverside Veterinary"),
    NinjaOrganization(7, "Summit Ridge Law Partners, PLLC"),
    NinjaOrganization(8, "Harbor Point"),
    NinjaOrganization(9, "St Marys School"),
    NinjaOrganization(10, "Blue Sky Yoga"),
)

# (organization id, node class, how many, how many of those still pending approval)
_NINJA_FLEET: tuple[tuple[int, str, int, int], ...] = (
    (1, "WINDOWS_WORKSTATION", 24, 1),
    (1, "WINDOWS_SERVER", 2, 0),
    (1, "MAC", 5, 0),
    (2, "WINDOWS_WORKSTATION", 11, 0),
    (2, "WINDOWS_SERVER", 1, 0),
    (3, "WINDOWS_WORKSTATION", 40, 2),
    (3, "WINDOWS_SERVER", 3, 0),
    (3, "VMWARE_VM_GUEST", 6, 0),
    (4, "WINDOWS_WORKSTATION", 70, 0),
    (4, "LINUX_SERVER", 4, 0),
    (5, "WINDOWS_WORKSTATION", 16, 0),
    (6, "WINDOWS_WORKSTATION", 9, 0),
    (6, "MAC", 2, 0),
    (7, "WINDOWS_WORKSTATION", 21, 0),
    (7, "WINDOWS_SERVER", 1, 0),
    (8, "WINDOWS_WORKSTATION", 33, 3),
    (8, "HYPERV_VMM_HOST", 2, 0),
    (9, "WINDOWS_WORKSTATION", 58, 0),
    (9, "MAC", 12, 0),
    (10, "MAC", 3, 0),
)


def _ninja_devices() -> tuple[NinjaDevice, ...]:
    devices: list[NinjaDevice] = []
    for organization_id, node_class, count, pending in _NINJA_FLEET:
        for index in range(count):
            device_id = 1000 + len(devices)
            devices.append(
                NinjaDevice(
                    id=device_id,
                    organization_id=organization_id,
                    node_class=node_class,
                    system_name=f"ORG{organization_id}-{node_class.split('_')[0][:3]}-{index:03d}",
                    approval_status="PENDING" if index < pending else "APPROVED",
                    offline=index % 7 == 3,
                )
            )
    return tuple(devices)


NINJA_DEVICES: tuple[NinjaDevice, ...] = _ninja_devices()


@dataclass(frozen=True, slots=True)
class HuntressOrganization:
    id: int
    name: str
    key: str
    agents_count: int
    billable_identity_count: int = 0
    sat_learner_count: int = 0


HUNTRESS_ORGANIZATIONS: tuple[HuntressOrganization, ...] = (
    HuntressOrganization(40101, "Acme Inc.", "acme", 31, 29, 0),
    HuntressOrganization(40102, "Bluebird Dental Group, P.C.", "bluebird", 12, 0, 14),
    HuntressOrganization(40103, "Northwind Traders L.L.C.", "northwind", 49, 52, 0),
    HuntressOrganization(40104, "Contoso", "contoso", 74),
    HuntressOrganization(40105, "Fabrikam Inc", "fabrikam", 16),
    HuntressOrganization(40106, "Riverside Veterinary Clinic", "riverside-vet", 11),
    HuntressOrganization(40107, "Harbor Point Logistics, Inc.", "harborpoint", 35, 38, 38),
    HuntressOrganization(40108, "Greenleaf Acctg & Tax", "greenleaf", 15),
    HuntressOrganization(40109, "Saint Mary's Parish School", "stmarys", 70, 0, 85),
    HuntressOrganization(40110, "Blue Sky Yoga Studio LLC", "blueskyyoga", 3),
    HuntressOrganization(40111, "Summit Ridge Law Partners", "summitridge", 22),
)
