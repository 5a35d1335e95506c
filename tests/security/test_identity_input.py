"""Item 10 (identity part): emails are unique per tenant, names and emails carry no hidden
characters, and error answers from the edge carry the security headers too.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tests.conftest import Databases
from tests.security.conftest import (
    EMAIL,
    KEY,
    PASSWORD,
    Gateway,
    StartGateway,
    clear_of_a_rate_window_edge,
)
from trueup.gateway.identity import service
from trueup.gateway.identity.principal import Role
from trueup.gateway.main import MIGRATIONS
from trueup.platform.database import Database
from trueup.platform.migrations import upgrade

ADMIN = {"Authorization": f"Bearer {KEY}"}
OTHER_TENANT = "other-msp"
SHARED = "shared@security.example"


async def _user_in_other_tenant(gateway: Gateway, email: str, password: str) -> None:
    async with gateway.runtime.database.transaction() as session:
        await service.ensure_tenant(session, OTHER_TENANT, "Other MSP")
        await service.create_user(session, OTHER_TENANT, email, password, Role.ADMIN)


class TestEmailsAreUniquePerTenant:
    async def test_an_email_taken_in_another_tenant_is_not_revealed(self, gateway: Gateway) -> None:
        await _user_in_other_tenant(gateway, SHARED, "the other tenant's password")
        created = await gateway.client.post(
            "/api/v1/users",
            json={"email": SHARED, "password": "this tenant's password"},
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        again = await gateway.client.post(
            "/api/v1/users",
            json={"email": SHARED.upper(), "password": "this tenant's password"},
            headers=ADMIN,
        )
        assert again.status_code == 409

    async def test_login_picks_the_tenant_whose_password_matches(self, gateway: Gateway) -> None:
        await _user_in_other_tenant(gateway, SHARED, "the other tenant's password")
        await gateway.client.post(
            "/api/v1/users",
            json={"email": SHARED, "password": "this tenant's password", "role": "viewer"},
            headers=ADMIN,
        )
        async with gateway.browser() as browser:
            here = await gateway.login(browser, SHARED, "this tenant's password")
            assert here.status_code == 200, here.text
            assert here.json()["tenant_id"] == gateway.tenant_id
        async with gateway.browser() as browser:
            there = await gateway.login(browser, SHARED, "the other tenant's password")
            assert there.status_code == 200, there.text
            assert there.json()["tenant_id"] == OTHER_TENANT

    async def test_the_same_password_in_two_tenants_needs_the_tenant_named(
        self, gateway: Gateway
    ) -> None:
        await _user_in_other_tenant(gateway, EMAIL, PASSWORD)
        async with gateway.browser() as browser:
            ambiguous = await gateway.login(browser, EMAIL, PASSWORD)
            assert ambiguous.status_code == 409
            assert "tenant" in ambiguous.json()["detail"]
            assert "trueup_session" not in browser.cookies
            named = await browser.post(
                "/api/v1/auth/login",
                json={"email": EMAIL, "password": PASSWORD, "tenant_id": OTHER_TENANT},
            )
            assert named.status_code == 200
            assert named.json()["tenant_id"] == OTHER_TENANT

    async def test_the_demo_login_is_unchanged(self, gateway: Gateway) -> None:
        signed_in = await gateway.login(gateway.client, EMAIL.upper(), PASSWORD)
        assert signed_in.status_code == 200
        assert signed_in.json()["tenant_id"] == gateway.tenant_id


_INSERT_USER = sa.text(
    "INSERT INTO users (user_id, tenant_id, email, name, password_hash, role, active, "
    "created_at) VALUES (:id, :tenant, :email, '', 'x', 'admin', true, :now)"
)


class TestTheMigrationKeepsExistingUsers:
    async def test_users_stay_and_emails_become_unique_per_tenant(
        self, databases: Databases
    ) -> None:
        url, schema = await databases.for_service("gateway")
        await asyncio.to_thread(upgrade, MIGRATIONS, url, schema, revision="0001")
        database = Database(url, schema)
        now = datetime.now(UTC)
        try:
            async with database.transaction() as session:
                for tenant in ("a", "b"):
                    await session.execute(
                        sa.text("INSERT INTO tenants VALUES (:t, :t, :now)"),
                        {"t": tenant, "now": now},
                    )
                await session.execute(
                    _INSERT_USER, {"id": "u1", "tenant": "a", "email": SHARED, "now": now}
                )
            await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
            async with database.transaction() as session:
                assert await session.scalar(sa.text("SELECT email FROM users")) == SHARED
                await session.execute(
                    _INSERT_USER, {"id": "u2", "tenant": "b", "email": SHARED, "now": now}
                )
            with pytest.raises(IntegrityError):
                async with database.transaction() as session:
                    await session.execute(
                        _INSERT_USER, {"id": "u3", "tenant": "a", "email": SHARED, "now": now}
                    )
        finally:
            await database.dispose()


HIDDEN = ["\x00", "\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c"]


class TestHiddenCharactersAreRefused:
    @pytest.mark.parametrize("char", HIDDEN, ids=[f"U+{ord(c):04X}" for c in HIDDEN])
    async def test_in_a_new_users_name_and_email(self, gateway: Gateway, char: str) -> None:
        name = await gateway.client.post(
            "/api/v1/users",
            json={
                "email": "ok@security.example",
                "name": f"Ann{char}gpj.exe",
                "password": "x" * 12,
            },
            headers=ADMIN,
        )
        assert name.status_code == 422
        assert [e["field"] for e in name.json()["errors"]] == ["name"]
        email = await gateway.client.post(
            "/api/v1/users",
            json={"email": f"a{char}nn@security.example", "password": "x" * 12},
            headers=ADMIN,
        )
        assert email.status_code == 422
        assert [e["field"] for e in email.json()["errors"]] == ["email"]

    async def test_in_a_renamed_user_and_a_login(self, gateway: Gateway) -> None:
        users = (await gateway.client.get("/api/v1/users", headers=ADMIN)).json()
        renamed = await gateway.client.patch(
            f"/api/v1/users/{users[0]['user_id']}",
            json={"name": "Eve\u202etxt.exe"},
            headers=ADMIN,
        )
        assert renamed.status_code == 422
        assert "name" in renamed.json()["detail"]
        login = await gateway.client.post(
            "/api/v1/auth/login", json={"email": f"{EMAIL}\x00", "password": PASSWORD}
        )
        assert login.status_code == 422
        assert "email" in login.json()["detail"]

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", "/api/v1/api-keys", {"name": "nightly\x00export"}),
            ("POST", "/api/v1/webhooks", {"vendor": "huntress", "name": "EDR\u202egpj.exe"}),
            (
                "POST",
                "/api/v1/settings/psa",
                {"psa": "connectwise", "name": "CW\u061cx", "credentials": {}},
            ),
            ("PATCH", "/api/v1/import-profiles/any", {"name": "Pax8\u2066 export"}),
        ],
        ids=["api key", "webhook endpoint", "PSA connection", "import profile"],
    )
    async def test_in_the_names_of_keys_endpoints_connections_and_profiles(
        self, gateway: Gateway, method: str, path: str, body: dict[str, object]
    ) -> None:
        # On PostgreSQL a NUL in any of these names failed the insert: a 500.
        answer = await gateway.client.request(method, path, json=body, headers=ADMIN)
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == ["name"]


class TestNulIsRefusedInEveryJsonString:
    """PostgreSQL cannot store U+0000: a NUL in any string of any body is a 422 naming it."""

    @pytest.mark.parametrize(
        ("path", "body", "field"),
        [
            ("/api/v1/cards/any-card/dismiss", {"reason": "client\x00asked"}, "reason"),
            (
                "/api/v1/mappings/accounts",
                {"items": [{"vendor": "pax8", "vendor_account_id": "a\x00", "account_id": None}]},
                "items.0.vendor_account_id",
            ),
            ("/api/v1/cards/any-card/dismiss", {"reason": "ok", "x\x00": 1}, "x\x00"),
        ],
        ids=["a field", "a field in a list", "a key"],
    )
    async def test_the_field_is_named(
        self, gateway: Gateway, path: str, body: dict[str, object], field: str
    ) -> None:
        answer = await gateway.client.post(path, json=body, headers=ADMIN)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert [e["field"] for e in problem["errors"]] == [field]
        assert "U+0000" in problem["errors"][0]["message"]

    async def test_an_escaped_backslash_before_u0000_is_plain_text(self, gateway: Gateway) -> None:
        # The JSON text "\\u0000" is a backslash and five characters, not a NUL.
        answer = await gateway.client.post(
            "/api/v1/api-keys", json={"name": "literally \\u0000"}, headers=ADMIN
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["name"] == "literally \\u0000"


def _has_security_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["strict-transport-security"]


class TestErrorsFromTheEdgeCarrySecurityHeaders:
    async def test_413(self, start_gateway: StartGateway) -> None:
        async with start_gateway(max_request_bytes=2_000) as gateway:
            declared = await gateway.client.post(
                "/api/v1/auth/login",
                content=b'{"email": "' + b"a" * 5_000 + b'", "password": "x"}',
                headers={"content-type": "application/json"},
            )
            assert declared.status_code == 413
            _has_security_headers(declared)

            async def chunks():  # type: ignore[no-untyped-def]
                for _ in range(5):
                    yield b"a" * 1_000

            streamed = await gateway.client.post(
                "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
            )
            assert streamed.status_code == 413
            _has_security_headers(streamed)

    async def test_429(self, start_gateway: StartGateway) -> None:
        async with start_gateway(rate_limit_per_minute=3) as gateway:
            await clear_of_a_rate_window_edge()
            for _ in range(4):
                response = await gateway.client.get("/api/v1/nothing-here")
            assert response.status_code == 429
            _has_security_headers(response)
            for _ in range(4):
                response = await gateway.client.get("/api/v1/auth/me", headers=ADMIN)
            assert response.status_code == 429
            _has_security_headers(response)


async def test_every_operation_with_a_json_body_refuses_a_nul(gateway: Gateway) -> None:
    """The refusal is the app's, not each route's: a route added later is covered too."""
    schema = gateway.app.openapi()
    checked = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            url = path.replace("{", "").replace("}", "")  # any id: the body is read first
            answer = await gateway.client.request(method, url, json={"\x00": "\x00"}, headers=ADMIN)
            checked.append(f"{method.upper()} {path}")
            assert answer.status_code == 422, f"{method.upper()} {path}: {answer.text}"
            assert "U+0000" in answer.json()["errors"][0]["message"], f"{method} {path}"
    assert len(checked) >= 20, checked
