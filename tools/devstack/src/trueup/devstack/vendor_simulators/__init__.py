"""Vendor API simulators holding a demo MSP: Pax8, NinjaOne and Huntress.

Each module has `create_app(...)` returning a FastAPI app, and runs on its own:
`python -m trueup.devstack.vendor_simulators.pax8 --port 8111` (NinjaOne 8112, Huntress 8113).
"""

from __future__ import annotations


def demo_connectors(urls: dict[str, str]) -> dict[str, dict[str, str]]:
    """vendor_ingestion's `demo_connectors` setting for simulators at `urls` (vendor → URL):
    each vendor's address and the simulator's demo credentials."""
    # Imported here, not at the top: `python -m ...vendor_simulators.pax8` imports this
    # package first, and a package that had already imported pax8 makes runpy warn that
    # the module it is about to run is in sys.modules.
    from trueup.devstack.vendor_simulators import huntress, ninjaone, pax8

    credentials = {
        "pax8": {"client_id": pax8.DEFAULT_CLIENT_ID, "client_secret": pax8.DEFAULT_CLIENT_SECRET},
        "ninjaone": {
            "client_id": ninjaone.DEFAULT_CLIENT_ID,
            "client_secret": ninjaone.DEFAULT_CLIENT_SECRET,
        },
        "huntress": {
            "api_key": huntress.DEFAULT_API_KEY,
            "api_secret": huntress.DEFAULT_API_SECRET,
        },
    }
    return {vendor: {"base_url": url, **credentials[vendor]} for vendor, url in urls.items()}
