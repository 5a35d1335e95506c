"""Tenant isolation and roles at the HTTP edge.

Tenant B's credential is sent to every endpoint with tenant A's ids: each answers 404 (or
refuses) and nothing of A's changes. A role matrix proves a viewer cannot action cards and
only an admin changes settings.
"""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Databases
from tests.integration.test_reconciliation_flow import Stack, connectwise, stack
from tests.support import eventually
from trueup.devstack.psa_simulators.server import SimulatorServer

__all__ = ["connectwise"]


async def _first_card(s: Stack) -> dict[str, Any]:
    async def found() -> list[dict[str, Any]] | None:
        return await s.cards() or None

    cards = await eventually(found, timeout=60, what="tenant A's cards")
    return cards[0]


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m_: values.get(m_.group(1), "x"), path)


async def _snapshot(s: Stack) -> list[tuple[str, str, bool]]:
    return sorted(
        (c["card_id"], c["state"], c["hidden"]) for c in await s.cards(include_hidden="true")
    )


class TestTenantIsolation:
    async def test_tenant_b_gets_404_on_every_endpoint_with_tenant_a_ids(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, other = tenant_ids
        async with stack(clean_nats, databases, tenant, other, connectwise) as s:
            card = await _first_card(s)
            ids = {
                "card_id": card["card_id"],
                "account_id": card["account_id"],
                "service_line_id": card["service_line_id"] or "x",
                "contract_id": card["contract_id"] or "x",
                "connection_id": "x",
                "user_id": "x",
                "key_id": "x",
                "import_id": "x",
                "endpoint_id": "x",
            }
            before = await _snapshot(s)
            schema = (await s.client.get("/openapi.json")).json()
            checked = 0
            for path, operations in schema["paths"].items():
                if (
                    "{" not in path
                    or not path.startswith("/api/v1/")
                    or "imports" in path
                    or "webhooks" in path
                ):
                    continue
                for method in operations:
                    url = _fill(path, ids)
                    response = await s.client.request(
                        method.upper(), url, json={}, headers=s.headers(s.other_key)
                    )
                    # 404: not found for this tenant; 422: the body is refused before any
                    # lookup. Never a success, never A's data.
                    assert response.status_code in (404, 422), (method, url, response.text)
                    # The answer may echo the id B sent, never anything B did not know.
                    assert card["account_name"] not in response.text
                    assert card["service_line"] not in response.text
                    checked += 1
            assert checked >= 10
            # Lists answer with B's own (empty) data only.
            for path in (
                "/api/v1/cards",
                "/api/v1/mappings/accounts",
                "/api/v1/service-lines",
                "/api/v1/unmapped",
                "/api/v1/activity",
            ):
                response = await s.client.get(path, headers=s.headers(s.other_key))
                assert response.status_code == 200, (path, response.text)
                assert card["card_id"] not in response.text
                assert card["account_name"] not in response.text
            assert await _snapshot(s) == before


class TestRoles:
    async def test_viewer_reads_billing_actions_admin_configures(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, other = tenant_ids
        async with stack(clean_nats, databases, tenant, other, connectwise) as s:
            card = await _first_card(s)
            keys: dict[str, str] = {}
            for role in ("viewer", "billing"):
                created = await s.client.post(
                    "/api/v1/api-keys", json={"name": role, "role": role}, headers=s.headers()
                )
                assert created.status_code == 201, created.text
                keys[role] = created.json()["key"]
            matrix: list[tuple[str, str, str, dict[str, Any], dict[str, int]]] = [
                ("GET", "/api/v1/cards", "read", {}, {"viewer": 200, "billing": 200}),
                (
                    "POST",
                    f"/api/v1/cards/{card['card_id']}/dismiss",
                    "action",
                    {},
                    {"viewer": 403, "billing": 202},
                ),
                (
                    "PUT",
                    "/api/v1/settings/billing",
                    "settings",
                    {"cycle_start_day": 1},
                    {"viewer": 403, "billing": 403},
                ),
                ("GET", "/api/v1/users", "users", {}, {"viewer": 403, "billing": 403}),
                (
                    "POST",
                    "/api/v1/api-keys",
                    "keys",
                    {"name": "x", "role": "admin"},
                    {"viewer": 403, "billing": 403},
                ),
            ]
            for method, url, _what, body, expected in matrix:
                for role, status in expected.items():
                    response = await s.client.request(
                        method,
                        url,
                        json=body or None,
                        headers={"Authorization": f"Bearer {keys[role]}"},
                    )
                    assert response.status_code == status, (role, method, url, response.text)
            admin = await s.client.put(
                "/api/v1/settings/billing", json={"cycle_start_day": 5}, headers=s.headers()
            )
            assert admin.status_code == 200, admin.text
            assert admin.json()["cycle_start_day"] == 5

            revoked = await s.client.get("/api/v1/api-keys", headers=s.headers())
            viewer_id = next(k["key_id"] for k in revoked.json() if k["name"] == "viewer")
            assert (
                await s.client.delete(f"/api/v1/api-keys/{viewer_id}", headers=s.headers())
            ).status_code == 204
            refused = await s.client.get(
                "/api/v1/cards", headers={"Authorization": f"Bearer {keys['viewer']}"}
            )
            assert refused.status_code == 401
