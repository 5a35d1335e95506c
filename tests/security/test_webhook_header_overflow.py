"""Issue #16 item 8: hostile headers and fields on webhooks and the push API answer 4xx.

Before the fix `webhook-timestamp: 1000000000000000` overflowed `datetime` and the
unauthenticated caller got a 500; so did a huge `content-length` and dates that cannot
be carried to UTC.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.vendor_ingestion import conftest as ingestion
from tests.vendor_ingestion.conftest import Stack
from trueup.vendors.webhooks import signed_headers

# vendor_ingestion and the gateway on real NATS: the fixture of tests/vendor_ingestion.
stack = ingestion.stack


async def _endpoint(stack: Stack) -> tuple[str, str]:
    created = await stack.api.post(
        "/api/v1/webhooks", json={"vendor": "edr", "name": "EDR"}, headers=stack.headers
    )
    assert created.status_code == 201, created.text
    issued: dict[str, Any] = created.json()
    return issued["endpoint"]["path"], issued["secret"]


def _batch(**record: Any) -> bytes:
    row = {"account_id": "org-1", "sku": "agent", "quantity": "1", **record}
    return json.dumps({"records": [row]}).encode()


def _is_problem(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == response.status_code


class TestHostileWebhookHeaders:
    @pytest.mark.parametrize(
        "timestamp",
        ["1000000000000000", "-1000000000000000", "9" * 5000, "\uff11\uff17\uff10", "1e9"],
    )
    async def test_an_impossible_timestamp_is_refused_not_a_server_error(
        self, stack: Stack, timestamp: str
    ) -> None:
        path, secret = await _endpoint(stack)
        body = _batch()
        # Bytes: httpx would refuse to encode the full-width digits itself.
        headers: dict[str, Any] = {
            **signed_headers(secret, body),
            "webhook-timestamp": timestamp.encode(),
        }
        response = await stack.webhooks.post(path, content=body, headers=headers)
        _is_problem(response, 400, 401)
        assert await stack.usage() == {}

    async def test_a_huge_content_length_is_refused(self, stack: Stack) -> None:
        path, secret = await _endpoint(stack)
        body = _batch()
        headers: dict[str, Any] = {**signed_headers(secret, body), "content-length": "9" * 5000}
        response = await stack.webhooks.post(path, content=body, headers=headers)
        _is_problem(response, 400, 413)

    async def test_an_overlong_webhook_id_is_refused(self, stack: Stack) -> None:
        path, secret = await _endpoint(stack)
        body = _batch()
        response = await stack.webhooks.post(
            path, content=body, headers=signed_headers(secret, body, webhook_id="m" * 5000)
        )
        _is_problem(response, 400)
        assert await stack.usage() == {}


class TestHostileBodyFields:
    @pytest.mark.parametrize(
        "observed_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
    )
    async def test_a_date_that_cannot_be_carried_to_utc_is_a_422(
        self, stack: Stack, observed_at: str
    ) -> None:
        path, secret = await _endpoint(stack)
        body = _batch(observed_at=observed_at)
        response = await stack.webhooks.post(
            path, content=body, headers=signed_headers(secret, body)
        )
        _is_problem(response, 422)
        assert await stack.usage() == {}

    async def test_the_push_api_refuses_the_same_dates(self, stack: Stack) -> None:
        path, secret = await _endpoint(stack)
        body = json.dumps(
            {
                "idempotency_key": "push-overflow-1",
                "accounts": [{"id": "a-1", "name": "Acme"}],
                "services": [{"id": "ws", "name": "Backup"}],
                "unit_counts": [{"account_id": "a-1", "service_id": "ws", "unit_count": "1"}],
                "observed_at": "0001-01-01T00:00:00+14:00",
            }
        ).encode()
        response = await stack.webhooks.post(
            path, content=body, headers=signed_headers(secret, body)
        )
        _is_problem(response, 422)
        assert await stack.usage() == {}
