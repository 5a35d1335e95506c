"""Connectors, webhook endpoints and the push API key managed through the gateway's API.

Issue #19 item 2: connectors are created, changed, tested, run and deleted over HTTP;
credentials go in and never come back out; addresses pass the outbound policy; viewers
read only; another tenant's ids are 404.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Databases
from tests.support import eventually, running_service, settings_for
from tests.vendor_ingestion.conftest import Stack
from tests.vendor_ingestion.test_connectors import simulators
from tests.vendor_ingestion.test_webhooks import _batch, _endpoint, _post
from trueup.audit.main import build as build_audit
from trueup.audit.settings import Settings as AuditSettings
from trueup.devstack.vendor_simulators import huntress, pax8
from trueup.gateway.identity import service as identity
from trueup.gateway.identity.principal import Role
from trueup.vendor_ingestion.models import ConnectorRow
from trueup.vendor_ingestion.repository import ScheduleRepository

OVERLONG_HOST = "a" * 64 + ".example.com"


@pytest.fixture
async def urls() -> AsyncIterator[dict[str, str]]:
    async with simulators() as found:
        yield found


def _pax8(urls: dict[str, str], **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Pax8 production",
        "kind": "pax8",
        "base_url": urls["pax8"],
        "credentials": {
            "client_id": pax8.DEFAULT_CLIENT_ID,
            "client_secret": pax8.DEFAULT_CLIENT_SECRET,
        },
        **overrides,
    }


async def _create(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    created = await stack.api.post("/api/v1/connectors", json=body, headers=stack.headers)
    assert created.status_code == 201, created.text
    view: dict[str, Any] = created.json()
    return view


async def _key(stack: Stack, role: str) -> dict[str, str]:
    created = await stack.api.post(
        "/api/v1/api-keys", json={"name": role, "role": role}, headers=stack.headers
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def _foreign_admin(stack: Stack, tenant_id: str) -> dict[str, str]:
    async with stack.gateway.database.transaction() as session:
        await identity.ensure_tenant(session, tenant_id, "Another MSP")
        _row, key = await identity.create_api_key(session, tenant_id, "b", Role.ADMIN)
    return {"Authorization": f"Bearer {key}"}


class TestConnectorCrud:
    async def test_create_list_change_delete_and_credentials_never_come_back(
        self, stack: Stack, urls: dict[str, str]
    ) -> None:
        secret = pax8.DEFAULT_CLIENT_SECRET
        created = await _create(stack, _pax8(urls, every_seconds=3600))
        connector_id = created["connector_id"]
        assert created["name"] == "Pax8 production"
        assert created["kind"] == created["vendor"] == "pax8"
        assert created["base_url"] == urls["pax8"]
        assert created["every_seconds"] == 3600
        assert created["enabled"] is True
        assert created["credential_fields"] == ["client_id", "client_secret"]
        assert created["created_at"] is not None
        assert created["last_run_at"] is None
        assert created["last_error"] is None
        assert "credentials" not in created

        listed = await stack.api.get("/api/v1/connectors", headers=stack.headers)
        assert listed.status_code == 200, listed.text
        assert [c["connector_id"] for c in listed.json()["items"]] == [connector_id]
        assert secret not in listed.text
        assert pax8.DEFAULT_CLIENT_ID not in listed.text

        changed = await stack.api.patch(
            f"/api/v1/connectors/{connector_id}",
            json={
                "name": "Pax8 (EU)",
                "every_seconds": 7200,
                "enabled": False,
                "credentials": {"client_id": "other", "client_secret": "s3cr3t-never-shown"},
            },
            headers=stack.headers,
        )
        assert changed.status_code == 200, changed.text
        view = changed.json()
        assert (view["name"], view["every_seconds"], view["enabled"]) == ("Pax8 (EU)", 7200, False)
        assert view["base_url"] == urls["pax8"]  # kept: credentials replace credentials only
        assert "s3cr3t-never-shown" not in changed.text

        # At rest the configuration is sealed: no secret in the row either.
        async with stack.ingestion.database.transaction(stack.tenant_id) as session:
            row = await session.scalar(
                sa.select(ConnectorRow).where(ConnectorRow.connector_id == connector_id)
            )
        assert row is not None
        assert "s3cr3t-never-shown" not in json.dumps(row.config)

        deleted = await stack.api.delete(
            f"/api/v1/connectors/{connector_id}", headers=stack.headers
        )
        assert deleted.status_code == 204
        again = await stack.api.delete(f"/api/v1/connectors/{connector_id}", headers=stack.headers)
        assert again.status_code == 404
        assert again.headers["content-type"] == "application/problem+json"
        listed = await stack.api.get("/api/v1/connectors", headers=stack.headers)
        assert listed.json()["items"] == []

    async def test_a_paused_connector_is_not_due_and_resuming_makes_it_due(
        self, stack: Stack, urls: dict[str, str]
    ) -> None:
        created = await _create(stack, _pax8(urls))
        connector_id = created["connector_id"]
        path = f"/api/v1/connectors/{connector_id}"

        async def due() -> dict[str, Any]:
            async with stack.ingestion.database.transaction() as session:
                return await ScheduleRepository(session).next_runs(stack.tenant_id)

        assert connector_id in await due()
        paused = await stack.api.patch(path, json={"enabled": False}, headers=stack.headers)
        assert paused.status_code == 200, paused.text
        assert paused.json()["next_run_at"] is None
        # Not left among the due rows, where it would take a place every tick.
        assert connector_id not in await due()
        ran = await stack.api.post(f"{path}/run", headers=stack.headers)
        assert ran.status_code == 409
        resumed = await stack.api.patch(path, json={"enabled": True}, headers=stack.headers)
        assert resumed.json()["next_run_at"] is not None
        assert connector_id in await due()

    async def test_missing_or_foreign_credential_fields_are_422_naming_the_field(
        self, stack: Stack, urls: dict[str, str]
    ) -> None:
        missing = await stack.api.post(
            "/api/v1/connectors",
            json=_pax8(urls, credentials={"client_id": "x"}),
            headers=stack.headers,
        )
        assert missing.status_code == 422, missing.text
        assert missing.json()["detail"] == "credentials.client_secret: required"
        foreign = await stack.api.post(
            "/api/v1/connectors",
            json=_pax8(urls, kind="huntress"),
            headers=stack.headers,
        )
        assert foreign.status_code == 422, foreign.text
        assert foreign.json()["detail"].startswith("credentials.client_id: not a huntress")


class TestConnectorAddresses:
    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("http://169.254.169.254", "not a public address"),
            ("http://10.0.0.7:8080", "not a public address"),
            (f"https://{OVERLONG_HOST}", "not a valid host name"),
            ("ftp://vendor.example.com", "only https or http"),
        ],
    )
    async def test_an_address_the_policy_refuses_is_a_422_naming_the_field(
        self, stack: Stack, urls: dict[str, str], url: str, reason: str
    ) -> None:
        refused = await stack.api.post(
            "/api/v1/connectors", json=_pax8(urls, base_url=url), headers=stack.headers
        )
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["title"] == "Connector address not allowed"
        assert problem["detail"].startswith("base_url: ")
        assert reason in problem["detail"]
        listed = await stack.api.get("/api/v1/connectors", headers=stack.headers)
        assert listed.json()["items"] == []

    async def test_changing_to_a_refused_address_changes_nothing(
        self, stack: Stack, urls: dict[str, str]
    ) -> None:
        created = await _create(stack, _pax8(urls))
        path = f"/api/v1/connectors/{created['connector_id']}"
        refused = await stack.api.patch(
            path, json={"base_url": f"https://{OVERLONG_HOST}/v1"}, headers=stack.headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"].startswith("base_url: ")
        listed = await stack.api.get("/api/v1/connectors", headers=stack.headers)
        assert listed.json()["items"][0]["base_url"] == urls["pax8"]


class TestConnectionTestAndRun:
    async def test_the_simulator_answers_and_nothing_is_recorded(
        self, stack: Stack, urls: dict[str, str]
    ) -> None:
        created = await _create(stack, _pax8(urls))
        tested = await stack.api.post(
            f"/api/v1/connectors/{created['connector_id']}/test", headers=stack.headers
        )
        assert tested.status_code == 200, tested.text
        result = tested.json()
        assert result["ok"] is True, result
        assert result["records"] > 0
        assert await stack.usage("pax8") == {}

    async def test_a_bad_address_or_credentials_fail_cleanly_without_the_vendor_answer(
        self, stack: Stack, urls: dict[str, str]
    ) -> None:
        wrong_path = await _create(stack, _pax8(urls, base_url=urls["pax8"] + "/nowhere"))
        wrong_key = await _create(
            stack,
            {
                "name": "Huntress",
                "kind": "huntress",
                "base_url": urls["huntress"],
                "credentials": {"api_key": huntress.DEFAULT_API_KEY, "api_secret": "wrong"},
            },
        )
        for connector, status in ((wrong_path, "HTTP 404"), (wrong_key, "HTTP 401")):
            tested = await stack.api.post(
                f"/api/v1/connectors/{connector['connector_id']}/test", headers=stack.headers
            )
            assert tested.status_code == 200, tested.text
            result = tested.json()
            assert result["ok"] is False
            assert status in result["detail"]
            # The simulators answer problem JSON; none of it is echoed.
            assert "{" not in result["detail"]
            assert "Not Found" not in result["detail"]

    async def test_run_now_polls_in_the_background_and_records_usage(
        self, stack: Stack, urls: dict[str, str]
    ) -> None:
        created = await _create(stack, _pax8(urls))
        run = await stack.api.post(
            f"/api/v1/connectors/{created['connector_id']}/run", headers=stack.headers
        )
        assert run.status_code == 202, run.text

        async def polled() -> dict[str, Any] | None:
            listed = await stack.api.get("/api/v1/connectors", headers=stack.headers)
            item: dict[str, Any] = listed.json()["items"][0]
            return item if item["last_run_at"] else None

        item = await eventually(polled, timeout=20, what="the connector's run")
        assert item["last_status"] == "ok", item
        assert item["last_error"] is None
        assert item["last_records"] > 0
        assert await eventually(lambda: stack.usage("pax8"), timeout=20, what="pax8 usage")

    async def test_a_failed_run_shows_its_error(self, stack: Stack, urls: dict[str, str]) -> None:
        created = await _create(stack, _pax8(urls, base_url=urls["pax8"] + "/nowhere"))
        run = await stack.api.post(
            f"/api/v1/connectors/{created['connector_id']}/run", headers=stack.headers
        )
        assert run.status_code == 202, run.text

        async def failed() -> dict[str, Any] | None:
            listed = await stack.api.get("/api/v1/connectors", headers=stack.headers)
            item: dict[str, Any] = listed.json()["items"][0]
            return item if item["last_run_at"] else None

        item = await eventually(failed, timeout=20, what="the failed run")
        assert item["last_status"] == "failed"
        assert "HTTP 404" in item["last_error"]


class TestRolesAndTenants:
    async def test_viewers_read_and_every_change_is_403(
        self, stack: Stack, urls: dict[str, str]
    ) -> None:
        created = await _create(stack, _pax8(urls))
        viewer = await _key(stack, "viewer")
        listed = await stack.api.get("/api/v1/connectors", headers=viewer)
        assert listed.status_code == 200
        assert [c["connector_id"] for c in listed.json()["items"]] == [created["connector_id"]]
        path = f"/api/v1/connectors/{created['connector_id']}"
        for method, url, body in (
            ("POST", "/api/v1/connectors", _pax8(urls)),
            ("PATCH", path, {"name": "mine"}),
            ("DELETE", path, None),
            ("POST", f"{path}/test", None),
            ("POST", f"{path}/run", None),
            ("POST", "/api/v1/webhooks", {"vendor": "edr"}),
            ("POST", "/api/v1/push-key/rotate", None),
        ):
            response = await stack.api.request(method, url, json=body, headers=viewer)
            assert response.status_code == 403, (method, url, response.text)
        listed = await stack.api.get("/api/v1/connectors", headers=stack.headers)
        assert listed.json()["items"][0]["name"] == "Pax8 production"

    async def test_another_tenant_gets_404_for_every_connector_id_and_an_empty_list(
        self, stack: Stack, urls: dict[str, str], tenant_ids: tuple[str, str]
    ) -> None:
        created = await _create(stack, _pax8(urls))
        issued = await _endpoint(stack)
        other = await _foreign_admin(stack, tenant_ids[1])
        path = f"/api/v1/connectors/{created['connector_id']}"
        for method, url, body in (
            ("PATCH", path, {"name": "taken"}),
            ("DELETE", path, None),
            ("POST", f"{path}/test", None),
            ("POST", f"{path}/run", None),
            ("DELETE", f"/api/v1/webhooks/{issued['endpoint']['endpoint_id']}", None),
            ("POST", f"/api/v1/webhooks/{issued['endpoint']['endpoint_id']}/rotate", None),
        ):
            response = await stack.api.request(method, url, json=body, headers=other)
            assert response.status_code == 404, (method, url, response.text)
            assert "Pax8 production" not in response.text
        listed = await stack.api.get("/api/v1/connectors", headers=other)
        assert listed.status_code == 200
        assert listed.json()["items"] == []
        mine = await stack.api.get("/api/v1/connectors", headers=stack.headers)
        assert mine.json()["items"][0]["name"] == "Pax8 production"


class TestWebhookEndpointsAndPushKey:
    async def test_rotation_retires_the_old_secret_and_delete_retires_the_endpoint(
        self, stack: Stack
    ) -> None:
        issued = await _endpoint(stack)
        endpoint_id, path, old = (
            issued["endpoint"]["endpoint_id"],
            issued["endpoint"]["path"],
            issued["secret"],
        )
        rotated = await stack.api.post(
            f"/api/v1/webhooks/{endpoint_id}/rotate",
            json={"grace_seconds": 0},
            headers=stack.headers,
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old
        assert new.startswith("whsec_")
        assert (await _post(stack, path, _batch("1"), old)).status_code == 401
        assert (await _post(stack, path, _batch("2"), new)).status_code == 202
        listed = await stack.api.get("/api/v1/webhooks", headers=stack.headers)
        assert new not in listed.text
        assert old not in listed.text

        deleted = await stack.api.delete(f"/api/v1/webhooks/{endpoint_id}", headers=stack.headers)
        assert deleted.status_code == 204, deleted.text
        assert (await _post(stack, path, _batch("3"), new)).status_code == 404
        listed = await stack.api.get("/api/v1/webhooks", headers=stack.headers)
        assert listed.json()["items"] == []
        again = await stack.api.delete(f"/api/v1/webhooks/{endpoint_id}", headers=stack.headers)
        assert again.status_code == 404

    async def test_the_push_key_is_shown_once_and_rotation_retires_the_old_one(
        self, stack: Stack
    ) -> None:
        status = await stack.api.get("/api/v1/push-key", headers=stack.headers)
        assert status.status_code == 200, status.text
        assert status.json() == {"exists": False, "key_id": None, "created_at": None}

        first = await stack.api.post("/api/v1/push-key/rotate", headers=stack.headers)
        assert first.status_code == 200, first.text
        old = first.json()["key"]
        old_auth = {"Authorization": f"Bearer {old}"}
        assert (await stack.api.get("/api/v1/usage", headers=old_auth)).status_code == 200
        status = await stack.api.get("/api/v1/push-key", headers=stack.headers)
        assert status.json()["exists"] is True
        assert status.json()["key_id"] == first.json()["key_id"]
        assert old not in status.text

        second = await stack.api.post("/api/v1/push-key/rotate", headers=stack.headers)
        new = second.json()["key"]
        assert new != old
        assert (await stack.api.get("/api/v1/usage", headers=old_auth)).status_code == 401
        new_auth = {"Authorization": f"Bearer {new}"}
        assert (await stack.api.get("/api/v1/usage", headers=new_auth)).status_code == 200


class TestActivityLog:
    async def test_integration_changes_are_logged_with_who_made_them(
        self, stack: Stack, urls: dict[str, str], databases: Databases, clean_nats: str
    ) -> None:
        audit_settings = await settings_for(AuditSettings, databases, clean_nats)
        async with running_service(build_audit, audit_settings):
            created = await _create(stack, _pax8(urls))
            path = f"/api/v1/connectors/{created['connector_id']}"
            changed = await stack.api.patch(path, json={"name": "Pax8 EU"}, headers=stack.headers)
            assert changed.status_code == 200, changed.text
            assert (await stack.api.delete(path, headers=stack.headers)).status_code == 204
            issued = await _endpoint(stack)
            endpoint_id = issued["endpoint"]["endpoint_id"]
            rotated = await stack.api.post(
                f"/api/v1/webhooks/{endpoint_id}/rotate",
                json={"grace_seconds": 0},
                headers=stack.headers,
            )
            assert rotated.status_code == 200, rotated.text
            pushed = await stack.api.post("/api/v1/push-key/rotate", headers=stack.headers)
            assert pushed.status_code == 200, pushed.text
            expected = [
                "Integrations: Added the Pax8 connector “Pax8 production”",
                "Integrations: Changed the Pax8 connector “Pax8 EU”",
                "Integrations: Deleted the Pax8 connector “Pax8 EU”",
                "Integrations: Added a webhook endpoint for edr",
                "Integrations: Rotated the signing secret of the edr webhook endpoint;"
                " the previous one stops working now",
                "Integrations: Created the push API key",
            ]

            async def logged() -> list[dict[str, Any]] | None:
                answer = await stack.api.get("/api/v1/activity", headers=stack.headers)
                assert answer.status_code == 200, answer.text
                items: list[dict[str, Any]] = answer.json()["items"]
                return items if len(items) >= len(expected) else None

            entries = await eventually(logged, timeout=20, what="the activity entries")
        assert sorted(e["summary"] for e in entries) == sorted(expected)
        assert {(e["actor"]["kind"], e["actor"]["name"]) for e in entries} == {
            ("api_key", "bootstrap")
        }
        assert all(pax8.DEFAULT_CLIENT_SECRET not in e["summary"] for e in entries)
