"""Builds the psa_sync service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from trueup.platform.service import ServiceRuntime
from trueup.psa_sync.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    return runtime, runtime.http_app()
