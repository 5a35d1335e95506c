"""A real gateway (real NATS, real database) per test, started with the settings a test needs.

The same harness as `tests/gateway/test_edges.py`: `settings_for` wires the test's NATS and
a fresh database, the app runs in-process and is called over ASGI.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.conftest import Databases
from tests.support import running_gateway, settings_for
from trueup.gateway.settings import Settings
from trueup.platform.service import ServiceRuntime

EMAIL = "admin@security.example"
PASSWORD = "correct horse battery staple"
KEY = "tu_security_key_0123456789abcdefghij"


@dataclass
class Gateway:
    """A running gateway, its settings, and a way to open more browsers against it."""

    app: FastAPI
    runtime: ServiceRuntime
    settings: Settings
    client: httpx.AsyncClient
    tenant_id: str

    def browser(self) -> httpx.AsyncClient:
        """Another client with its own cookie jar (the caller closes it)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="https://gateway.test"
        )

    async def login(
        self, client: httpx.AsyncClient, email: str = EMAIL, password: str = PASSWORD
    ) -> httpx.Response:
        return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def clear_of_a_rate_window_edge(seconds: float = 15.0) -> None:
    """Wait, if needed, until a new minute has just begun.

    The rate limiter's windows are whole minutes of the clock, and a burst that straddles
    two of them is partly forgiven; a test that counts requests starts well inside one.
    """
    left = 60 - time.time() % 60
    if left < seconds:
        await asyncio.sleep(left + 0.05)


StartGateway = Callable[..., AbstractAsyncContextManager[Gateway]]


@pytest.fixture
def start_gateway(
    clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
) -> StartGateway:
    """Start a gateway with these setting overrides for the duration of a block."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Gateway]:
        values: dict[str, Any] = {
            "bootstrap_tenant_id": tenant_ids[0],
            "bootstrap_email": EMAIL,
            "bootstrap_password": SecretStr(PASSWORD),
            "bootstrap_api_key": SecretStr(KEY),
            "query_timeout_seconds": 0.5,
            "jwt_secrets": SecretStr(secrets.token_urlsafe(32)),
            **overrides,
        }
        settings = await settings_for(Settings, databases, clean_nats, **values)
        async with running_gateway(settings) as running:
            yield Gateway(running.app, running.runtime, settings, running.client, tenant_ids[0])

    return start


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> AsyncIterator[Gateway]:
    """A gateway on default limits."""
    async with start_gateway() as running:
        yield running
