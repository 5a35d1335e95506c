"""Builds the vendor_ingestion service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from trueup.platform.service import ServiceRuntime
from trueup.vendor_ingestion.demo import seed_demo_usage
from trueup.vendor_ingestion.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    demo_tenant = settings.demo_tenant_id
    if demo_tenant:

        async def seed() -> None:
            await seed_demo_usage(runtime, demo_tenant)

        runtime.on_start(seed)
    return runtime, runtime.http_app()
