"""Stopping a service always ends: a step that hangs is logged and left behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import structlog
from nats.errors import ConnectionReconnectingError

from tests.conftest import Databases
from tests.support import settings_for
from trueup.vendor_ingestion.main import build as build_ingestion
from trueup.vendor_ingestion.settings import Settings as IngestionSettings


async def test_a_hanging_stop_hook_does_not_hold_the_stop(
    clean_nats: str, databases: Databases, tmp_path: Path
) -> None:
    settings = await settings_for(
        IngestionSettings,
        databases,
        clean_nats,
        scratch_dir=tmp_path / "scratch",
        connector_tick_seconds=3600.0,
        graceful_timeout_seconds=0.5,
    )
    runtime, _ = build_ingestion(settings)
    await asyncio.to_thread(runtime.migrate)
    hung = asyncio.Event()

    async def hang() -> None:
        hung.set()
        await asyncio.Event().wait()

    runtime.on_stop(hang)
    await runtime.start()
    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(runtime.stop(), timeout=60)
    assert hung.is_set()
    assert time.monotonic() - started < 30
    events = [(e["event"], e.get("step")) for e in logs]
    assert ("stop step did not finish in time; going on", "stop hook") in events
    assert ("service stopped", None) in events


async def test_a_broker_that_fails_to_drain_does_not_keep_the_database_open(
    clean_nats: str, databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on Ctrl-C of the whole stack: NATS stops first, and the drain raises.
    settings = await settings_for(
        IngestionSettings,
        databases,
        clean_nats,
        scratch_dir=tmp_path / "scratch",
        connector_tick_seconds=3600.0,
        graceful_timeout_seconds=0.5,
    )
    runtime, _ = build_ingestion(settings)
    await asyncio.to_thread(runtime.migrate)
    await runtime.start()
    real_stop = runtime.broker.stop

    async def failing_stop(*args: object, **kwargs: object) -> None:
        await real_stop()
        raise ConnectionReconnectingError

    disposed: list[bool] = []
    real_dispose = runtime.database.dispose

    async def counted_dispose() -> None:
        disposed.append(True)
        await real_dispose()

    monkeypatch.setattr(runtime.broker, "stop", failing_stop)
    monkeypatch.setattr(runtime.database, "dispose", counted_dispose)
    with structlog.testing.capture_logs() as logs:
        await runtime.stop()
    assert disposed == [True]
    events = [(e["event"], e.get("step")) for e in logs]
    assert ("stop step failed; going on", "broker") in events
    assert ("service stopped", None) in events
