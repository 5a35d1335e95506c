"""The message catalogue says who consumes and who produces each message; the services'
own registrations are the truth. Building each service (no broker connection, no
database) lists the message types its consumers and query responders take, and the
catalogue must name exactly those services as consumers. A producer must at least name
the message in its own code."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from trueup.contracts.catalogue import CATALOGUE
from trueup.platform.broker import consumed_messages
from trueup.platform.secrets import CredentialSealer

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "psa_sync", "vendor_ingestion", "reconciliation", "writeback", "audit")
# Messages a producer sends through a contracts helper that picks the type, so its own
# code names the helper instead.
CHOSEN_BY = {"UsageImported": "usage_event_model"}


@pytest.fixture(scope="module")
def consumed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, frozenset[str]]:
    """Per service, the names of the message types it registers consumers for."""
    patch = pytest.MonkeyPatch()
    patch.setenv("TRUEUP_DATA_DIR", str(tmp_path_factory.mktemp("catalogue")))
    patch.setenv("TRUEUP_JWT_SECRET", "catalogue-test-" + "k" * 32)
    patch.setenv("TRUEUP_CREDENTIAL_KEYS", CredentialSealer.generate_key())
    found: dict[str, frozenset[str]] = {}
    try:
        for service in SERVICES:
            main = importlib.import_module(f"trueup.{service}.main")
            settings = importlib.import_module(f"trueup.{service}.settings").Settings()
            runtime, _app = main.build(settings)
            found[service] = frozenset(m.__name__ for m in consumed_messages(runtime.broker))
    finally:
        patch.undo()
    return found


def test_the_catalogue_names_exactly_the_consumers_the_services_register(
    consumed: dict[str, frozenset[str]],
) -> None:
    wrong = []
    for spec in CATALOGUE:
        name = spec.model.__name__
        registered = {service for service, models in consumed.items() if name in models}
        if registered != set(spec.consumers):
            wrong.append(
                f"{name}: catalogue says {sorted(spec.consumers)}, services register "
                f"{sorted(registered)}"
            )
    assert not wrong, "\n".join(wrong)


def test_every_consumed_message_is_in_the_catalogue(
    consumed: dict[str, frozenset[str]],
) -> None:
    catalogued = {spec.model.__name__ for spec in CATALOGUE}
    stray = {
        f"{service}: {name}" for service, names in consumed.items() for name in names - catalogued
    }
    assert not stray


def test_every_producer_names_its_message_in_its_own_code() -> None:
    sources = {
        service: "\n".join(
            path.read_text() for path in (ROOT / "services" / service / "src").rglob("*.py")
        )
        for service in SERVICES
    }
    missing = [
        f"{spec.model.__name__} (producer {spec.producer})"
        for spec in CATALOGUE
        if not re.search(
            rf"\b{CHOSEN_BY.get(spec.model.__name__, spec.model.__name__)}\b",
            sources[spec.producer],
        )
    ]
    assert not missing, "\n".join(missing)
