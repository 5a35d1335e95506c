"""schemathesis against the gateway's own OpenAPI schema, on the running stack.

Every operation is called with generated inputs (the demo API key as credential): the
gateway must never answer 5xx (503, a service that does not answer in time, included),
and what it answers must match the schema it publishes. Sign-in, sessions and settings
are fuzzed too. Left out: connecting another PSA (its credentials could not be put back),
valid rule sets (a rule would approve the demo's cards while the fuzzing runs) and the
live event stream (it never ends). Billing settings and rules are put back afterwards,
and connectors the fuzzing manages to create (they may name any address the outbound
policy allows, loopback included on the embedded stack) are deleted, so the browser tests
keep their demo. Each case comes from an address of its own (`X-Forwarded-For`, trusted
from the local proxy address), so sign-in attempts with made-up emails never lock the
demo's own address out.

The webhook receiver is not in this schema; `tests/vendor_ingestion/test_webhook_fuzz.py`
fuzzes it on both databases.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.support import Stack

pytestmark = pytest.mark.e2e

# Reading SSE forever; a second PSA connection.
SKIPPED = {("GET", "/api/v1/events"), ("POST", "/api/v1/settings/psa")}
# Valid rules would approve the demo's cards; invalid ones are refused before anything.
SKIPPED_WHEN_VALID = {("PUT", "/api/v1/settings/rules")}


@pytest.fixture
def settings_restored(stack: Stack) -> Iterator[None]:
    with stack.api() as client:
        billing = client.get("/api/v1/settings/billing")
        assert billing.status_code == 200, billing.text
    yield
    with stack.api() as client:
        restored = client.put("/api/v1/settings/billing", json=billing.json())
        assert restored.status_code == 200, restored.text


@pytest.fixture
def connectors_restored(stack: Stack) -> Iterator[None]:
    with stack.api() as client:
        before = {c["connector_id"] for c in _connectors(client)}
    yield
    with stack.api() as client:
        for connector in _connectors(client):
            if connector["connector_id"] not in before:
                client.delete(f"/api/v1/connectors/{connector['connector_id']}")


def _connectors(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/api/v1/connectors")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.usefixtures("connectors_restored", "settings_restored")
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_server_error_and_answers_match_the_schema(stack: Stack, mode: GenerationMode) -> None:
    """Valid inputs (positive) and inputs the schema forbids (negative: wrong types,
    out-of-range numbers, missing fields): never a 5xx; valid ones also match the schema."""
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    addresses = (f"198.18.{n // 250}.{n % 250 + 1}" for n in itertools.count())
    failures: dict[str, str] = {}
    operations = unsatisfiable = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if not operation.path.startswith("/api/") or key in SKIPPED:
            continue
        if mode is GenerationMode.POSITIVE and key in SKIPPED_WHEN_VALID:
            continue
        operations += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=stack.base_url,
                headers={**headers, "X-Forwarded-For": next(addresses)},
                checks=[not_a_server_error]
                if mode is GenerationMode.NEGATIVE
                else [not_a_server_error, response_schema_conformance],
                timeout=30,
            )

        try:
            check()
        except Unsatisfiable:
            # Negative mode: an operation with nothing a schema can forbid (no parameters,
            # or only a free-form path id) has no invalid input to send.
            unsatisfiable += 1
        except Exception as exc:  # report every operation, not just the first
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:2000]
    assert operations >= 30
    assert operations - unsatisfiable >= 20, "too few operations were fuzzed"
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
