"""Builds the audit service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from trueup.audit.settings import Settings
from trueup.platform.service import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    return runtime, runtime.http_app()
