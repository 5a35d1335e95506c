"""Builds the reconciliation service: consumers, query responders, probes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from trueup.platform.service import ServiceRuntime
from trueup.reconciliation import index_cache
from trueup.reconciliation.handlers import events, queries, schedule
from trueup.reconciliation.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    index_cache.INDEXES.budget = settings.index_budget_rows
    events.register(runtime, settings.usage_lanes)
    queries.register(runtime)
    schedule.register(runtime, settings.cycle_tick_seconds)
    return runtime, runtime.http_app()
