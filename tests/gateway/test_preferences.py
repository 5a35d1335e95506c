"""Saved views: each signed-in user reads and writes their own, and nobody else's.

Only the gateway runs (real NATS, real database, PostgreSQL's row-level security when
configured). Two users of one tenant and a user of another tenant each sign in with their
own cookies; a refused write leaves what was saved as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.conftest import Databases
from tests.support import running_gateway, settings_for
from trueup.gateway.identity import service as identity
from trueup.gateway.identity.principal import Role
from trueup.gateway.preferences.schemas import MAX_BYTES, ListView
from trueup.gateway.settings import Settings

PASSWORD = "correct horse battery staple"
KEY = "tu_prefs_key_0123456789abcdefghij"
VIEW = "/api/v1/me/preferences/list-view"
DEFAULT = ListView().model_dump(mode="json")

SAVED: dict[str, Any] = {
    "group_by": "service_line",
    "hidden_columns": ["contract_name"],
    "column_widths": {"account_name": 260},
    "sorting": [{"id": "mrr_change", "desc": True}],
    "filters": [{"id": "account_name", "value": "Acme"}],
    "show_unchanged": True,
    "show_actioned": False,
}


@dataclass
class User:
    client: httpx.AsyncClient
    csrf: str

    async def get(self) -> httpx.Response:
        return await self.client.get(VIEW)

    async def put(self, body: Any, *, path: str = VIEW) -> httpx.Response:
        return await self.client.put(path, json=body, headers={"X-CSRF-Token": self.csrf})

    async def reset(self) -> httpx.Response:
        return await self.client.delete(VIEW, headers={"X-CSRF-Token": self.csrf})


@dataclass
class Users:
    ann: User
    """Tenant A's admin."""
    bob: User
    """Another user of tenant A."""
    cho: User
    """A user of tenant B."""
    key: httpx.AsyncClient
    """Tenant A's admin API key."""
    app: FastAPI


async def _signed_in(app: FastAPI, email: str, tenant_id: str) -> User:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://gateway.test"
    )
    answer = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "tenant_id": tenant_id}
    )
    assert answer.status_code == 200, answer.text
    return User(client, answer.json()["csrf_token"])


@pytest.fixture
async def users(
    clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
) -> AsyncIterator[Users]:
    tenant, other = tenant_ids
    settings = await settings_for(
        Settings,
        databases,
        clean_nats,
        bootstrap_tenant_id=tenant,
        bootstrap_email="ann@a.example",
        bootstrap_password=SecretStr(PASSWORD),
        bootstrap_api_key=SecretStr(KEY),
    )
    async with running_gateway(settings) as gateway:
        runtime, app = gateway.runtime, gateway.app
        async with runtime.database.transaction() as session:
            await identity.create_user(session, tenant, "bob@a.example", PASSWORD, Role.VIEWER)
            await identity.ensure_tenant(session, other, "Tenant B")
            await identity.create_user(session, other, "cho@b.example", PASSWORD, Role.ADMIN)
        ann = await _signed_in(app, "ann@a.example", tenant)
        bob = await _signed_in(app, "bob@a.example", tenant)
        cho = await _signed_in(app, "cho@b.example", other)
        key = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="https://gateway.test",
            headers={"Authorization": f"Bearer {KEY}"},
        )
        try:
            yield Users(ann, bob, cho, key, app)
        finally:
            for client in (ann.client, bob.client, cho.client, key):
                await client.aclose()


class TestEachUserHasTheirOwnView:
    async def test_a_saved_view_is_read_back_by_its_user_and_nobody_else(
        self, users: Users
    ) -> None:
        assert (await users.ann.get()).json() == DEFAULT
        saved = await users.ann.put(SAVED)
        assert saved.status_code == 200, saved.text
        assert (await users.ann.get()).json() == SAVED

        for someone in (users.bob, users.cho):
            assert (await someone.get()).json() == DEFAULT
        assert (await users.key.get(VIEW)).json() == DEFAULT

    async def test_writes_and_resets_of_others_leave_a_users_view_alone(self, users: Users) -> None:
        assert (await users.ann.put(SAVED)).status_code == 200
        theirs = {"group_by": "none", "hidden_columns": ["vendor"]}
        for someone in (users.bob, users.cho):
            assert (await someone.put(theirs)).status_code == 200
            assert (await someone.get()).json()["group_by"] == "none"
            assert (await someone.reset()).status_code == 204
        assert (await users.key.put(VIEW, json=theirs)).status_code == 200
        assert (await users.ann.get()).json() == SAVED

    async def test_reset_brings_back_the_default(self, users: Users) -> None:
        assert (await users.ann.put(SAVED)).status_code == 200
        assert (await users.ann.reset()).status_code == 204
        assert (await users.ann.get()).json() == DEFAULT
        # Resetting what is not saved is no error: the outcome is the same.
        assert (await users.ann.reset()).status_code == 204

    async def test_the_defaults_fill_in_what_a_view_leaves_out(self, users: Users) -> None:
        assert (await users.ann.put({"group_by": "none"})).status_code == 200
        view = (await users.ann.get()).json()
        assert view["group_by"] == "none"
        assert view["hidden_columns"] == []
        assert view["show_actioned"] is False


class TestRefusedWritesChangeNothing:
    async def test_without_a_session_or_the_csrf_header_nothing_is_written(
        self, users: Users
    ) -> None:
        assert (await users.ann.put(SAVED)).status_code == 200
        forged = await users.ann.client.put(VIEW, json={"group_by": "none"})
        assert forged.status_code == 403
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=users.app), base_url="https://gateway.test"
        ) as nobody:
            assert (await nobody.put(VIEW, json={"group_by": "none"})).status_code == 401
        assert (await users.ann.get()).json() == SAVED

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"colour": "blue"}, "colour"),
            ({"group_by": "vendor_secret"}, "group_by"),
            ({"hidden_columns": [f"c{i}" for i in range(41)]}, "hidden_columns"),
            ({"hidden_columns": ["Robert'); DROP TABLE preferences"]}, "hidden_columns.0"),
            ({"column_widths": {"account_name": 99_999}}, "column_widths.account_name"),
            ({"sorting": [{"id": "delta", "desc": True, "nulls": "last"}]}, "sorting.0.nulls"),
            ({"filters": [{"id": "account_name", "value": "x" * 201}]}, "filters.0.value"),
            ({"filters": [{"id": "account_name", "value": "Ann\u202egpj"}]}, "filters.0.value"),
        ],
    )
    async def test_an_invalid_view_is_a_422_naming_the_field(
        self, users: Users, change: dict[str, Any], field: str
    ) -> None:
        assert (await users.ann.put(SAVED)).status_code == 200
        refused = await users.ann.put({**SAVED, **change})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert field in {error["field"] for error in refused.json()["errors"]}
        assert (await users.ann.get()).json() == SAVED

    async def test_an_oversize_body_is_a_413_even_when_it_would_validate(
        self, users: Users
    ) -> None:
        assert (await users.ann.put(SAVED)).status_code == 200
        padded = b'{"group_by": "none"' + b" " * MAX_BYTES + b"}"
        refused = await users.ann.client.put(
            VIEW,
            content=padded,
            headers={"X-CSRF-Token": users.ann.csrf, "Content-Type": "application/json"},
        )
        assert refused.status_code == 413, refused.text
        assert str(MAX_BYTES) in refused.json()["detail"]
        assert (await users.ann.get()).json() == SAVED

    async def test_only_known_view_names_are_stored(self, users: Users) -> None:
        unknown = "/api/v1/me/preferences/anything-else"
        assert (await users.ann.put(SAVED, path=unknown)).status_code == 422
        assert (await users.ann.client.get(unknown)).status_code == 422
