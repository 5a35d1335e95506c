"""Helpers for tests that run services in-process against real NATS and databases."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.conftest import Databases
from trueup.gateway.main import build as build_gateway
from trueup.gateway.settings import Settings as GatewaySettings
from trueup.platform.secrets import CredentialSealer
from trueup.platform.service import ServiceRuntime
from trueup.platform.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


TEST_CREDENTIAL_KEY = CredentialSealer.generate_key()


async def settings_for(
    settings_class: type[S], databases: Databases, nats_url: str, **overrides: Any
) -> S:
    """Settings of one service wired to the test's NATS and a fresh database of its own."""
    name = settings_class().service_name
    url, schema = await databases.for_service(name)
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "database_url": url,
        "database_schema": schema,
        "environment": "test",
        "outbox_poll_seconds": 0.2,
        "graceful_timeout_seconds": 5.0,
        # Simulators run on 127.0.0.1, which outbound calls refuse unless allowed.
        "outbound_allow": "127.0.0.0/8,::1",
        # Services that seal secrets need a keyring (psa_sync and writeback tests that
        # share credentials pass one key to both).
        "credential_keys": TEST_CREDENTIAL_KEY,
        **overrides,
    }
    if "jwt_secrets" in settings_class.model_fields:
        # The gateway refuses to start without a proper signing key: a fresh one per test.
        values.setdefault("jwt_secrets", secrets.token_urlsafe(32))
    return settings_class(**values)


@asynccontextmanager
async def running_service(
    build: Callable[[S], tuple[ServiceRuntime, FastAPI]], settings: S
) -> AsyncIterator[tuple[ServiceRuntime, FastAPI]]:
    """Migrate and start one service in this process for the duration of the block."""
    runtime, app = build(settings)
    await asyncio.to_thread(runtime.migrate)
    async with runtime.running():
        yield runtime, app


@dataclass(frozen=True)
class RunningGateway:
    """The gateway started in this process, and an HTTP client that reaches its app."""

    runtime: ServiceRuntime
    app: FastAPI
    client: httpx.AsyncClient


@asynccontextmanager
async def running_gateway(
    settings: GatewaySettings, *, base_url: str = "https://gateway.test", timeout: float = 30
) -> AsyncIterator[RunningGateway]:
    """Migrate and start the gateway in this process for the duration of the block.

    Its app's lifespan starts it, as uvicorn would (the gateway's runtime lives inside
    the app, unlike the other services'); the client calls the app in-process."""
    runtime, app = build_gateway(settings)
    await asyncio.to_thread(runtime.migrate)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=timeout
        ) as client,
    ):
        yield RunningGateway(runtime, app, client)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)
