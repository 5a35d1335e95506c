"""vendor_ingestion and the gateway in this process, on real NATS and real databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.conftest import Databases
from tests.support import eventually, running_gateway, running_service, settings_for
from trueup.gateway.settings import Settings as GatewaySettings
from trueup.platform.service import ServiceRuntime
from trueup.vendor_ingestion.main import build as build_ingestion
from trueup.vendor_ingestion.settings import Settings as IngestionSettings

API_KEY = "tu_test_ingestion_key_0123456789"
FIXTURES = Path(__file__).parent.parent / "vendors" / "fixtures"
FINAL = ("completed", "unchanged", "failed")


@dataclass
class Stack:
    """The gateway (API client) and vendor_ingestion (runtime, webhook client)."""

    api: httpx.AsyncClient
    headers: dict[str, str]
    ingestion: ServiceRuntime
    ingestion_app: FastAPI
    webhooks: httpx.AsyncClient
    gateway: ServiceRuntime
    tenant_id: str

    async def upload(
        self,
        name: str,
        content: bytes,
        vendor: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        data = {"vendor": vendor} if vendor else {}
        return await self.api.post(
            "/api/v1/imports",
            files={"file": (name, content, "text/csv")},
            data=data,
            headers=headers or self.headers,
        )

    async def commit(self, import_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.api.post(
            f"/api/v1/imports/{import_id}/commit", json=body, headers=self.headers
        )

    async def finished(self, import_id: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            response = await self.api.get(f"/api/v1/imports/{import_id}", headers=self.headers)
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            return job if job["status"] in FINAL else None

        return await eventually(probe, timeout=20, what=f"import {import_id} to finish")

    async def usage(self, vendor: str | None = None) -> dict[tuple[str, str], str]:
        params = {"vendor": vendor} if vendor else {}
        response = await self.api.get("/api/v1/usage", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        return {(u["vendor_account_id"], u["sku"]): u["quantity"] for u in response.json()["items"]}

    async def import_file(
        self, name: str, content: bytes, body: dict[str, Any], vendor: str | None = None
    ) -> dict[str, Any]:
        uploaded = await self.upload(name, content, vendor)
        assert uploaded.status_code == 201, uploaded.text
        committed = await self.commit(uploaded.json()["import_id"], body)
        assert committed.status_code == 202, committed.text
        return await self.finished(uploaded.json()["import_id"])


@pytest.fixture
async def stack(
    clean_nats: str, databases: Databases, tenant_ids: tuple[str, str], tmp_path: Path
) -> AsyncIterator[Stack]:
    tenant, _ = tenant_ids
    ingestion = await settings_for(
        IngestionSettings,
        databases,
        clean_nats,
        scratch_dir=tmp_path / "scratch",
        connector_tick_seconds=3600.0,
    )
    gateway = await settings_for(
        GatewaySettings,
        databases,
        clean_nats,
        bootstrap_tenant_id=tenant,
        bootstrap_api_key=SecretStr(API_KEY),
    )
    async with (
        running_service(build_ingestion, ingestion) as (ingestion_runtime, ingestion_app),
        running_gateway(gateway, base_url="http://gateway", timeout=60) as running,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=ingestion_app), base_url="http://ingestion"
        ) as hooks,
    ):
        yield Stack(
            api=running.client,
            headers={"Authorization": f"Bearer {API_KEY}"},
            ingestion=ingestion_runtime,
            ingestion_app=ingestion_app,
            webhooks=hooks,
            gateway=running.runtime,
            tenant_id=tenant,
        )
