"""Fixtures: real simulators over HTTP, real NATS, the writeback service in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.conftest import Databases
from tests.support import settings_for
from tests.writeback.harness import (
    AT_CONNECTION,
    CW_CONNECTION,
    TODAY,
    Commands,
    Outcomes,
    PsaSyncConnectionsStandIn,
    at_credentials,
    cw_credentials,
)
from trueup.devstack.psa_simulators import autotask as at_sim
from trueup.devstack.psa_simulators import connectwise as cw_sim
from trueup.devstack.psa_simulators.server import SimulatorControl, SimulatorServer
from trueup.platform.secrets import CredentialSealer
from trueup.writeback.settings import Settings


@dataclass
class Sim:
    app: FastAPI
    url: str
    control: SimulatorControl

    @property
    def store(self) -> Any:
        return self.app.state.store

    async def writes(self, entity: str | None = None) -> list[dict[str, Any]]:
        found = await self.control.writes()
        return [w for w in found if entity is None or w["entity"] == entity]


def _serve(app: FastAPI) -> Iterator[Sim]:
    with SimulatorServer(app) as server:
        yield Sim(app, server.url, SimulatorControl(server.url))


@pytest.fixture
def cw() -> Iterator[Sim]:
    yield from _serve(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig(today=TODAY)))


@pytest.fixture
def at() -> Iterator[Sim]:
    yield from _serve(at_sim.create_app(at_sim.AutotaskSimulatorConfig(today=TODAY)))


@pytest.fixture
def credential_key() -> str:
    return CredentialSealer.generate_key()


@pytest.fixture
def tenant(tenant_ids: tuple[str, str]) -> str:
    return tenant_ids[0]


@pytest.fixture
async def psa_sync(
    clean_nats: str, credential_key: str, cw: Sim, at: Sim
) -> AsyncIterator[PsaSyncConnectionsStandIn]:
    connections = {
        CW_CONNECTION: ("connectwise", cw_credentials(cw.url)),
        AT_CONNECTION: ("autotask", at_credentials(at.url)),
    }
    async with PsaSyncConnectionsStandIn(
        clean_nats, CredentialSealer([credential_key]), connections
    ) as stand_in:
        yield stand_in


@pytest.fixture
async def settings(
    databases: Databases, clean_nats: str, credential_key: str, psa_sync: Any
) -> Settings:
    """Fast retries and short leases, so fault tests take seconds."""
    return await settings_for(
        Settings,
        databases,
        clean_nats,
        credential_keys=SecretStr(credential_key),
        writeback_retry_base_seconds=0.05,
        writeback_retry_max_seconds=0.3,
        writeback_max_attempts=6,
        writeback_lease_seconds=2.0,
        writeback_poll_seconds=0.2,
        psa_max_attempts=2,
        psa_initial_backoff_seconds=0.01,
        psa_max_backoff_seconds=0.05,
        psa_timeout_seconds=5.0,
    )


@pytest.fixture
async def commands(clean_nats: str, tenant: str) -> AsyncIterator[Commands]:
    async with Commands(clean_nats, tenant) as sender:
        yield sender


@pytest.fixture
async def outcomes(clean_nats: str, tenant: str) -> AsyncIterator[Outcomes]:
    async with Outcomes(clean_nats, tenant) as collected:
        yield collected
