"""An audit service running in-process against the session's NATS and a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Databases
from tests.support import running_service, settings_for
from trueup.audit.main import build
from trueup.audit.settings import Settings
from trueup.platform.service import ServiceRuntime


@pytest.fixture
async def audit_settings(clean_nats: str, databases: Databases) -> Settings:
    # A long purge interval: tests that need the purge run it themselves, with a clock.
    return await settings_for(Settings, databases, clean_nats, purge_interval_seconds=3600.0)


@pytest.fixture
async def audit(audit_settings: Settings) -> AsyncIterator[ServiceRuntime]:
    async with running_service(build, audit_settings) as (runtime, _app):
        yield runtime
