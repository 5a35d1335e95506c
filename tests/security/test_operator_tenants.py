"""Tenants: the operator API admits only the operator's token, compared in constant time;
every change it makes names the operator who acted; an invite link works once and not
after it expires; a suspended tenant is refused everywhere, with its API keys, sessions
and sign-in."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from tests.security.conftest import EMAIL, KEY, PASSWORD, Gateway, StartGateway
from tests.support import eventually
from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.gateway.endpoints import operator as operator_endpoints
from trueup.gateway.main import build
from trueup.gateway.models import Invite
from trueup.gateway.settings import InsecureSecretError, Settings
from trueup.platform.messaging import outbox_table

OPERATOR_TOKEN = "op_" + "x" * 40
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
NEW_ADMIN = {
    "name": "Ada Admin",
    "email": "ada@new-msp.example",
    "password": "a long enough secret",
}


async def _create(gateway: Gateway, name: str = "New MSP") -> dict[str, Any]:
    created = await gateway.client.post(
        "/api/v1/operator/tenants", json={"name": name}, headers=OPERATOR
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def _token(invite_url: str) -> str:
    return invite_url.rsplit("/invite/", 1)[1]


class TestOperatorToken:
    async def test_without_a_configured_token_the_operator_api_does_not_exist(
        self, gateway: Gateway
    ) -> None:
        for headers in ({}, OPERATOR, {"Authorization": f"Bearer {KEY}"}):
            answer = await gateway.client.get("/api/v1/operator/tenants", headers=headers)
            assert answer.status_code == 404
            assert answer.headers["content-type"] == "application/problem+json"

    async def test_a_missing_or_wrong_token_is_refused(self, start_gateway: StartGateway) -> None:
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            for headers in (
                {},
                {"Authorization": f"Bearer {OPERATOR_TOKEN[:-1]}"},
                {"Authorization": f"Bearer {OPERATOR_TOKEN}x"},
                {"Authorization": OPERATOR_TOKEN},
            ):
                answer = await gateway.client.get("/api/v1/operator/tenants", headers=headers)
                assert answer.status_code == 401, headers
                assert answer.json()["status"] == 401
            assert (
                await gateway.client.get("/api/v1/operator/tenants", headers=OPERATOR)
            ).status_code == 200

    async def test_a_tenant_admins_key_or_session_does_not_reach_it(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            as_key = await gateway.client.get(
                "/api/v1/operator/tenants", headers={"Authorization": f"Bearer {KEY}"}
            )
            assert as_key.status_code == 401
            signed_in = await gateway.login(gateway.client)
            assert signed_in.json()["role"] == "admin"
            as_session = await gateway.client.post(
                "/api/v1/operator/tenants",
                json={"name": "Sneaky"},
                headers={"X-CSRF-Token": signed_in.json()["csrf_token"]},
            )
            assert as_session.status_code == 401

    async def test_the_token_is_compared_in_constant_time(
        self, start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        compared: list[tuple[bytes, bytes]] = []
        original = hmac.compare_digest

        def spy(a: bytes, b: bytes) -> bool:
            compared.append((a, b))
            return original(a, b)

        monkeypatch.setattr(operator_endpoints.hmac, "compare_digest", spy)
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            await gateway.client.get(
                "/api/v1/operator/tenants", headers={"Authorization": "Bearer guess"}
            )
        assert compared == [(b"guess", OPERATOR_TOKEN.encode())]

    async def test_a_short_token_stops_the_gateway_from_starting(self) -> None:
        settings = Settings(
            operator_token=SecretStr("short"), jwt_secrets=SecretStr("k" * 40), environment="test"
        )
        with pytest.raises(InsecureSecretError, match="OPERATOR_TOKEN"):
            build(settings)


class TestInvite:
    async def test_it_signs_the_new_admin_in_and_works_once(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            created = await _create(gateway)
            token = _token(created["invite"]["invite_url"])
            about = await gateway.client.get(f"/api/v1/auth/invites/{token}")
            assert about.json()["tenant_name"] == "New MSP"
            async with gateway.browser() as browser:
                accepted = await browser.post(f"/api/v1/auth/invites/{token}", json=NEW_ADMIN)
                assert accepted.status_code == 201, accepted.text
                me = await browser.get("/api/v1/auth/me")
                assert me.json()["tenant_id"] == created["tenant_id"]
                assert me.json()["role"] == "admin"
            async with gateway.browser() as again:
                second = await again.post(
                    f"/api/v1/auth/invites/{token}",
                    json={**NEW_ADMIN, "email": "eve@new-msp.example"},
                )
                assert second.status_code == 404
                assert "trueup_session" not in again.cookies
            assert (await gateway.client.get(f"/api/v1/auth/invites/{token}")).status_code == 404

    async def test_only_its_hash_is_stored(self, start_gateway: StartGateway) -> None:
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            token = _token((await _create(gateway))["invite"]["invite_url"])
            async with gateway.runtime.database.transaction(readonly=True) as session:
                hashes = list(await session.scalars(sa.select(Invite.token_hash)))
            assert hashes
            assert all(token not in stored for stored in hashes)

    async def test_it_expires(self, start_gateway: StartGateway) -> None:
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            created = await _create(gateway)
            expires = datetime.fromisoformat(created["invite"]["expires_at"])
            assert timedelta(hours=71) < expires - datetime.now(UTC) <= timedelta(hours=72)
            token = _token(created["invite"]["invite_url"])
            async with gateway.runtime.database.transaction() as session:
                await session.execute(
                    sa.update(Invite).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
            accepted = await gateway.client.post(f"/api/v1/auth/invites/{token}", json=NEW_ADMIN)
            assert accepted.status_code == 404


class TestSuspendedTenant:
    async def test_its_keys_sessions_and_sign_in_get_403_until_resumed(
        self, start_gateway: StartGateway
    ) -> None:
        async with (
            start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway,
            gateway.browser() as browser,
        ):
            signed_in = await gateway.login(browser)
            assert signed_in.status_code == 200
            suspended = await gateway.client.post(
                f"/api/v1/operator/tenants/{gateway.tenant_id}/suspend", headers=OPERATOR
            )
            assert suspended.json()["status"] == "suspended"
            answers = [
                await gateway.client.get(
                    "/api/v1/settings/billing", headers={"Authorization": f"Bearer {KEY}"}
                ),
                await browser.get("/api/v1/auth/me"),
                await browser.post(
                    "/api/v1/api-keys",
                    json={"name": "x"},
                    headers={"X-CSRF-Token": signed_in.json()["csrf_token"]},
                ),
            ]
            async with gateway.browser() as another:
                answers.append(await gateway.login(another, EMAIL, PASSWORD))
            for answer in answers:
                assert answer.status_code == 403, answer.request.url
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["type"].endswith("/tenant-suspended")

            resumed = await gateway.client.post(
                f"/api/v1/operator/tenants/{gateway.tenant_id}/resume", headers=OPERATOR
            )
            assert resumed.json()["status"] == "active"
            assert (await browser.get("/api/v1/auth/me")).status_code == 200

    async def test_suspension_is_announced_with_the_change(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            await gateway.client.post(
                f"/api/v1/operator/tenants/{gateway.tenant_id}/suspend", headers=OPERATOR
            )
            async with gateway.runtime.database.transaction(readonly=True) as session:
                subjects = list(await session.scalars(sa.select(outbox_table.c.subject)))
            assert f"tenant.{gateway.tenant_id}.status.changed.v1" in subjects

    async def test_an_unknown_tenant_is_404(self, start_gateway: StartGateway) -> None:
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            for path in ("nope/suspend", "nope/resume", "nope/invites"):
                answer = await gateway.client.post(
                    f"/api/v1/operator/tenants/{path}", headers=OPERATOR
                )
                assert answer.status_code == 404
            gone = await gateway.client.delete("/api/v1/operator/tenants/nope", headers=OPERATOR)
            assert gone.status_code == 404


async def _announced(gateway: Gateway, tenant_id: str, count: int) -> list[Envelope[Any]]:
    """The events the gateway published about the tenant, oldest first, once `count`."""
    connection = await nats.connect(gateway.settings.nats_url)
    try:
        js = connection.jetstream()

        async def published() -> list[Envelope[Any]] | None:
            reader = await js.pull_subscribe(f"tenant.{tenant_id}.>", stream="TENANT")
            try:
                found = await reader.fetch(count, timeout=1)
            except TimeoutError:
                return None
            finally:
                await reader.unsubscribe()
            if len(found) < count:
                return None
            return [Envelope[Any].model_validate_json(message.data) for message in found]

        return await eventually(published, what=f"{count} events about {tenant_id}")
    finally:
        await connection.close()


class TestOperatorIdentity:
    async def test_every_change_names_the_operator_who_made_it(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            ada = {**OPERATOR, "X-Operator": "ada@trueup.example"}
            bob = {**OPERATOR, "X-Operator": "bob"}
            created = await gateway.client.post(
                "/api/v1/operator/tenants", json={"name": "Named MSP"}, headers=ada
            )
            assert created.status_code == 201, created.text
            tenant_id = created.json()["tenant_id"]
            base = f"/api/v1/operator/tenants/{tenant_id}"
            for path, headers in (
                ("/invites", bob),
                ("/suspend", OPERATOR),
                ("/resume", ada),
            ):
                answer = await gateway.client.post(base + path, headers=headers)
                assert answer.status_code in (200, 201), answer.text
            assert (await gateway.client.delete(base, headers=bob)).status_code == 202

            events = await _announced(gateway, tenant_id, 6)
            assert [(e.type, e.payload["actor"]) for e in events] == [
                (m.TenantCreated.message_type, _operator("ada@trueup.example")),
                (m.TenantInviteIssued.message_type, _operator("ada@trueup.example")),
                (m.TenantInviteIssued.message_type, _operator("bob")),
                (m.TenantStatusChanged.message_type, _operator("operator token")),
                (m.TenantStatusChanged.message_type, _operator("ada@trueup.example")),
                (m.TenantDeleted.message_type, _operator("bob")),
            ]
            assert events[0].payload["tenant_name"] == "Named MSP"
            # An invite is announced without its link.
            invite = events[1].payload
            assert set(invite) == {"role", "expires_at", "actor"}
            assert invite["role"] == "admin"

    async def test_a_name_that_cannot_be_recorded_changes_nothing(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            for name in ("x" * 101, "   "):
                refused = await gateway.client.post(
                    "/api/v1/operator/tenants",
                    json={"name": "Unnamed MSP", "tenant_id": "unnamed"},
                    headers={**OPERATOR, "X-Operator": name},
                )
                assert refused.status_code == 422, name
                assert refused.headers["content-type"] == "application/problem+json"
            # The token is checked first: a stranger learns nothing from the header.
            stranger = await gateway.client.post(
                "/api/v1/operator/tenants",
                json={"name": "Unnamed MSP"},
                headers={"Authorization": "Bearer guess", "X-Operator": "x" * 101},
            )
            assert stranger.status_code == 401
            listed = await gateway.client.get("/api/v1/operator/tenants", headers=OPERATOR)
            assert "unnamed" not in {tenant["tenant_id"] for tenant in listed.json()}


def _operator(name: str) -> dict[str, str]:
    return {"kind": "system", "id": f"operator:{name}", "name": name}
