"""Signed webhooks and the push API, on vendor_ingestion's own HTTP app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import httpx
import pytest

from tests.support import eventually
from tests.vendor_ingestion.conftest import Stack
from trueup.gateway.tenants import service as tenants
from trueup.vendors.webhooks import signed_headers


async def _endpoint(stack: Stack, vendor: str = "edr") -> dict[str, Any]:
    created = await stack.api.post(
        "/api/v1/webhooks", json={"vendor": vendor, "name": "EDR console"}, headers=stack.headers
    )
    assert created.status_code == 201, created.text
    issued: dict[str, Any] = created.json()
    assert issued["secret"].startswith("whsec_")
    return issued


def _batch(quantity: str, account: str = "org-1") -> bytes:
    return json.dumps(
        {
            "records": [
                {
                    "account_id": account,
                    "account_name": "Acme",
                    "sku": "agent",
                    "quantity": quantity,
                }
            ]
        }
    ).encode()


async def _post(
    stack: Stack, path: str, body: bytes, secret: str, **signing: Any
) -> httpx.Response:
    headers = {"content-type": "application/json", **signed_headers(secret, body, **signing)}
    return await stack.webhooks.post(path, content=body, headers=headers)


class TestSignedWebhooks:
    async def test_a_signed_batch_is_accepted_and_becomes_usage(self, stack: Stack) -> None:
        issued = await _endpoint(stack)
        path, secret = issued["endpoint"]["path"], issued["secret"]
        response = await _post(stack, path, _batch("42"), secret)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "accepted"
        assert await stack.usage("edr") == {("org-1", "agent"): "42"}

    async def test_bad_signatures_stale_timestamps_and_big_bodies_change_nothing(
        self, stack: Stack
    ) -> None:
        issued = await _endpoint(stack)
        path, secret = issued["endpoint"]["path"], issued["secret"]
        wrong = await _post(stack, path, _batch("1"), "whsec_" + "A" * 44)
        assert wrong.status_code == 401
        assert wrong.json()["code"] == "invalid_signature"
        stale = await _post(
            stack, path, _batch("1"), secret, timestamp=datetime.now(UTC) - timedelta(minutes=6)
        )
        assert stale.status_code == 401
        assert stale.json()["code"] == "stale_timestamp"
        unsigned = await stack.webhooks.post(path, content=_batch("1"))
        assert unsigned.status_code == 401
        huge = json.dumps({"records": [], "pad": "x" * (1024 * 1024)}).encode()
        too_big = await _post(stack, path, huge, secret)
        assert too_big.status_code == 413
        invalid = await _post(stack, path, _batch("-3"), secret)
        assert invalid.status_code == 422
        assert "quantity" in invalid.json()["detail"]
        unknown = await _post(stack, f"{stack.tenant_id}.nope", _batch("1"), secret)
        assert unknown.status_code == 404
        assert await stack.usage() == {}

    async def test_a_nul_in_a_name_is_refused_naming_the_field(self, stack: Stack) -> None:
        # Accepted, it failed every later transaction that stored it on PostgreSQL.
        issued = await _endpoint(stack)
        path, secret = issued["endpoint"]["path"], issued["secret"]
        refused = await _post(stack, path, _batch("3", account="org\x001"), secret)
        assert refused.status_code == 422, refused.text
        assert "records.0.account_id" in refused.json()["detail"]
        assert "U+0000" in refused.json()["detail"]
        assert await stack.usage() == {}

    async def test_a_replayed_id_is_ignored(self, stack: Stack) -> None:
        issued = await _endpoint(stack)
        path, secret = issued["endpoint"]["path"], issued["secret"]
        first = await _post(stack, path, _batch("5"), secret, webhook_id="msg_replayed_1")
        assert first.json()["status"] == "accepted"
        replay = await _post(stack, path, _batch("9"), secret, webhook_id="msg_replayed_1")
        assert replay.status_code == 202
        assert replay.json()["status"] == "duplicate"
        assert await stack.usage("edr") == {("org-1", "agent"): "5"}

    async def test_a_database_outage_asks_the_sender_to_retry_and_records_nothing(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A cold cache (a restarted replica) reads the endpoint from the database: with the
        # database away (a restart), the sender must hear "try again", not a bare 500.
        issued = await _endpoint(stack)
        path, secret = issued["endpoint"]["path"], issued["secret"]
        receiver = stack.ingestion_app.state.receiver
        receiver.forget(issued["endpoint"]["endpoint_id"])
        database = receiver.database

        class Away:
            def transaction(self, *args: Any, **kwargs: Any) -> Any:
                raise ConnectionRefusedError(111, "Connect call failed")

        monkeypatch.setattr(receiver, "database", Away())
        body = _batch("7")
        headers = {"content-type": "application/json", **signed_headers(secret, body)}
        away = await stack.webhooks.post(path, content=body, headers=headers)
        assert away.status_code == 503, away.text
        assert away.headers["content-type"] == "application/problem+json"
        assert away.headers["retry-after"] == "1"
        assert away.json()["title"] == "Try again"
        assert await stack.usage("edr") == {}

        monkeypatch.setattr(receiver, "database", database)
        again = await stack.webhooks.post(path, content=body, headers=headers)
        assert again.status_code == 202, again.text
        assert again.json()["status"] == "accepted"
        assert await stack.usage("edr") == {("org-1", "agent"): "7"}

    async def test_both_secrets_work_during_a_rotation_then_only_the_new_one(
        self, stack: Stack
    ) -> None:
        issued = await _endpoint(stack)
        endpoint_id, path, old = (
            issued["endpoint"]["endpoint_id"],
            issued["endpoint"]["path"],
            issued["secret"],
        )
        rotated = await stack.api.post(
            f"/api/v1/webhooks/{endpoint_id}/rotate", json={}, headers=stack.headers
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert len(rotated.json()["endpoint"]["secrets"]) == 2
        assert (await _post(stack, path, _batch("1"), old)).status_code == 202
        assert (await _post(stack, path, _batch("2"), new)).status_code == 202
        # Rotating again with no grace: only the newest secret is valid.
        final = await stack.api.post(
            f"/api/v1/webhooks/{endpoint_id}/rotate",
            json={"grace_seconds": 0},
            headers=stack.headers,
        )
        newest = final.json()["secret"]
        assert (await _post(stack, path, _batch("3"), new)).status_code == 401
        assert (await _post(stack, path, _batch("4"), newest)).status_code == 202
        listed = await stack.api.get("/api/v1/webhooks", headers=stack.headers)
        assert [e["endpoint_id"] for e in listed.json()["items"]] == [endpoint_id]
        assert "secret" not in json.dumps(listed.json()["items"][0]["secrets"]).replace(
            "secret_id", ""
        )

    async def test_the_push_api_sets_unit_counts_once_per_idempotency_key(
        self, stack: Stack
    ) -> None:
        issued = await _endpoint(stack, vendor="backup")
        path, secret = issued["endpoint"]["path"], issued["secret"]
        push = {
            "idempotency_key": "nightly-2026-11-27",
            "accounts": [{"id": "a-1", "name": "Acme, Inc."}, {"id": "a-2", "name": "Contoso"}],
            "services": [{"id": "ws", "name": "Workstation backup"}],
            "unit_counts": [
                {"account_id": "a-1", "service_id": "ws", "unit_count": "12"},
                {"account_id": "a-2", "service_id": "ws", "unit_count": "3.5"},
            ],
        }
        body = json.dumps(push).encode()
        assert (await _post(stack, path, body, secret)).json()["status"] == "accepted"
        retried = await _post(stack, path, body, secret)
        assert retried.json()["status"] == "duplicate"
        usage = await stack.usage("backup")
        assert {k: Decimal(v) for k, v in usage.items()} == {
            ("a-1", "ws"): Decimal(12),
            ("a-2", "ws"): Decimal("3.5"),
        }


class TestSuspendedTenant:
    async def test_its_webhooks_are_refused_until_it_is_resumed(self, stack: Stack) -> None:
        issued = await _endpoint(stack)
        path, secret = issued["endpoint"]["path"], issued["secret"]
        assert (await _post(stack, path, _batch("1"), secret)).status_code == 202

        async def operator_sets(status: Literal["active", "suspended"]) -> None:
            async with stack.gateway.database.transaction() as session:
                await tenants.set_status(
                    session, stack.tenant_id, status, actor=tenants.operator_actor("tests")
                )
            stack.gateway.relay.notify()

        await operator_sets("suspended")

        async def refused() -> httpx.Response | None:
            answer = await _post(stack, path, _batch("2"), secret)
            return answer if answer.status_code == 403 else None

        answer = await eventually(refused, what="the suspension to reach ingestion")
        assert answer.json()["code"] == "tenant_suspended"
        # A sender without the secret learns nothing about the tenant.
        unsigned = await stack.webhooks.post(path, content=_batch("3"))
        assert unsigned.status_code == 401

        await operator_sets("active")

        async def accepted() -> bool:
            return (await _post(stack, path, _batch("4"), secret)).status_code == 202

        await eventually(accepted, what="the resumption to reach ingestion")
        assert await stack.usage("edr") == {("org-1", "agent"): "4"}
