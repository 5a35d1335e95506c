"""Fixtures: each PSA simulator served by a real uvicorn server or in-process (ASGI),
and clients with a fast retry policy so fault tests run in seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.psa.demo_msp import DEMO_TODAY
from trueup.devstack.psa_simulators import autotask as at_sim
from trueup.devstack.psa_simulators import connectwise as cw_sim
from trueup.devstack.psa_simulators import halo as halo_sim
from trueup.devstack.psa_simulators.server import SimulatorControl, SimulatorServer
from trueup.psa import (
    AutotaskClient,
    AutotaskCredentials,
    ConnectWiseClient,
    ConnectWiseCredentials,
    HaloClient,
    HaloCredentials,
    RetryPolicy,
)

FAST_RETRY = RetryPolicy(
    max_attempts=5, initial_backoff=0.01, max_backoff=0.05, jitter=0.01, max_retry_after=5
)


@dataclass
class Sim:
    """A running simulator: its app (for direct state checks), URL and control client."""

    app: FastAPI
    url: str
    transport: httpx.AsyncBaseTransport | None
    control: SimulatorControl

    @property
    def store(self) -> Any:
        return self.app.state.store

    @property
    def state(self) -> Any:
        return self.app.state.sim


def _start(app: FastAPI, mode: str) -> Iterator[Sim]:
    if mode == "asgi":
        transport = httpx.ASGITransport(app=app)
        yield Sim(
            app,
            "http://sim.test",
            transport,
            SimulatorControl("http://sim.test", transport=transport),
        )
        return
    with SimulatorServer(app) as server:
        yield Sim(app, server.url, None, SimulatorControl(server.url))


def _cw_app() -> FastAPI:
    return cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig(today=DEMO_TODAY))


@pytest.fixture(params=["uvicorn", "asgi"])
def cw_sim_running(request: pytest.FixtureRequest) -> Iterator[Sim]:
    """The ConnectWise simulator, once over real HTTP and once in-process."""
    yield from _start(_cw_app(), request.param)


@pytest.fixture
def cw_server() -> Iterator[Sim]:
    """The ConnectWise simulator on a real uvicorn server (needed for dropped connections)."""
    yield from _start(_cw_app(), "uvicorn")


@pytest.fixture
def at_sim_running() -> Iterator[Sim]:
    app = at_sim.create_app(at_sim.AutotaskSimulatorConfig(today=DEMO_TODAY))
    yield from _start(app, "uvicorn")


@pytest.fixture
def halo_sim_running() -> Iterator[Sim]:
    app = halo_sim.create_app(halo_sim.HaloSimulatorConfig(today=DEMO_TODAY))
    yield from _start(app, "uvicorn")


def cw_credentials(sim: Sim, **overrides: Any) -> ConnectWiseCredentials:
    values: dict[str, Any] = {
        "site": sim.url,
        "company_id": "trueup_demo",
        "public_key": "TrueUpDemoPublicKey",
        "private_key": "TrueUpDemoPrivateKey",
        "client_id": "0f3c1d2e-trueup-tests",
    }
    values.update(overrides)
    return ConnectWiseCredentials(**values)


def make_cw_client(sim: Sim, *, timeout: float = 5.0, retry: RetryPolicy = FAST_RETRY,
                   **overrides: Any) -> ConnectWiseClient:  # fmt: skip
    return ConnectWiseClient(
        cw_credentials(sim, **overrides), timeout=timeout, retry=retry, transport=sim.transport
    )


def make_at_client(
    sim: Sim, *, retry: RetryPolicy = FAST_RETRY, **overrides: Any
) -> AutotaskClient:
    values: dict[str, Any] = {
        "username": "trueup.demo@example.com",
        "secret": "TrueUpDemoSecret",
        "integration_code": "TRUEUPDEMOTRACKINGID",
        "zone_lookup_url": f"{sim.url}/atservicesrest/v1.0/zoneInformation",
    }
    values.update(overrides)
    return AutotaskClient(
        AutotaskCredentials(**values), timeout=5.0, retry=retry, transport=sim.transport
    )


def make_halo_client(sim: Sim, *, retry: RetryPolicy = FAST_RETRY, **overrides: Any) -> HaloClient:
    values: dict[str, Any] = {
        "base_url": sim.url,
        "client_id": "trueup-demo-client",
        "client_secret": "TrueUpDemoClientSecret",
        "tenant": "trueupdemo",
    }
    values.update(overrides)
    return HaloClient(HaloCredentials(**values), timeout=5.0, retry=retry, transport=sim.transport)


@pytest.fixture
async def cw_client(cw_sim_running: Sim) -> AsyncIterator[ConnectWiseClient]:
    async with make_cw_client(cw_sim_running) as client:
        yield client


@pytest.fixture
def make_cw() -> Any:
    """Factory: a ConnectWise client for a `Sim` (keyword overrides of the credentials)."""
    return make_cw_client


@pytest.fixture
def make_at() -> Any:
    """Factory: an Autotask client for a `Sim`."""
    return make_at_client


@pytest.fixture
def make_halo() -> Any:
    """Factory: a Halo client for a `Sim`."""
    return make_halo_client
