"""Vendor API simulators holding a demo MSP: Pax8, NinjaOne and Huntress.

Each module has `create_app(...)` returning a FastAPI app, and runs on its own:
`python -m trueup.vendors.simulators.pax8 --port 8111` (NinjaOne 8112, Huntress 8113).
"""
