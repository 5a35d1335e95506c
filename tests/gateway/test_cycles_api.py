"""Billing cycles over HTTP: a cycle closed through the tenant's own settings is listed,
its cards read back with the action taken on each, and it refuses actions; a viewer reads
it, another tenant sees nothing of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Databases
from tests.integration.test_reconciliation_flow import Stack, connectwise, stack
from tests.support import eventually
from trueup.devstack.psa_simulators.server import SimulatorServer

__all__ = ["connectwise"]


async def close_cycle_by_moving_its_start_day(s: Stack) -> str:
    """Move the tenant's cycle start day to today: the cycle open since the 1st closes
    (`d.turn_cycle`), exactly as it does when the month turns. Returns its start."""
    today = datetime.now(UTC).date()
    if today.day == 1:
        pytest.skip("on the 1st no start day closes the cycle that opened today")
    settings = (await s.client.get("/api/v1/settings/billing", headers=s.headers())).json()
    settings["cycle_start_day"] = min(today.day, 28)
    saved = await s.client.put("/api/v1/settings/billing", json=settings, headers=s.headers())
    assert saved.status_code == 200, saved.text
    return today.replace(day=1).isoformat()


async def pending_card(s: Stack) -> dict[str, Any]:
    async def found() -> list[dict[str, Any]] | None:
        return await s.cards(state="pending") or None

    return (await eventually(found, timeout=60, what="tenant A's cards"))[0]


class TestClosedCycles:
    async def test_a_closed_cycle_is_listed_read_back_and_read_only(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, other = tenant_ids
        async with stack(clean_nats, databases, tenant, other, connectwise) as s:
            card = await pending_card(s)
            opened = (await s.client.get("/api/v1/cycles", headers=s.headers())).json()
            start = opened["current"]["start"]
            dismissed = await s.client.post(
                f"/api/v1/cards/{card['card_id']}/dismiss",
                params={"cycle": start},
                json={"reason": "client asked to wait"},
                headers=s.headers(),
            )
            assert dismissed.status_code == 202, dismissed.text

            assert await close_cycle_by_moving_its_start_day(s) == start

            cycles = (await s.client.get("/api/v1/cycles", headers=s.headers())).json()
            (closed,) = cycles["closed"]
            assert (closed["start"], closed["closed"], closed["dismissed"]) == (start, True, 1)
            assert cycles["current"]["start"] > start
            page = await s.client.get(
                f"/api/v1/cycles/{start}/cards", params={"state": "dismissed"}, headers=s.headers()
            )
            assert page.status_code == 200, page.text
            (kept,) = page.json()["items"]
            assert kept["card_id"] == card["card_id"]
            assert kept["action"]["action"] == "dismiss"
            assert kept["action"]["reason"] == "client asked to wait"
            assert kept["action"]["actor"]["kind"] == "api_key"

            # From the closed cycle the card is read-only.
            refused = await s.client.post(
                f"/api/v1/cards/{card['card_id']}/dismiss",
                params={"cycle": start},
                json={},
                headers=s.headers(),
            )
            assert refused.status_code == 409, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "read-only" in refused.json()["detail"]
            bulk = await s.client.post(
                "/api/v1/cards/bulk",
                params={"cycle": start},
                json={"action": "dismiss", "card_ids": [card["card_id"]]},
                headers=s.headers(),
            )
            assert bulk.status_code == 409, bulk.text
            # Dismissed today, the live card stays hidden in the new cycle (which holds
            # today); there it still takes actions.
            live = {c["card_id"]: c for c in await s.cards(include_hidden="true")}
            assert live[card["card_id"]]["state"] == "dismissed"
            current = cycles["current"]["start"]
            restored = await s.client.post(
                f"/api/v1/cards/{card['card_id']}/restore",
                params={"cycle": current},
                headers=s.headers(),
            )
            assert restored.status_code == 202, restored.text

            # A viewer reads closed cycles.
            created = await s.client.post(
                "/api/v1/api-keys", json={"name": "v", "role": "viewer"}, headers=s.headers()
            )
            viewer = created.json()["key"]
            for path in ("/api/v1/cycles", f"/api/v1/cycles/{start}/cards"):
                response = await s.client.get(path, headers=s.headers(viewer))
                assert response.status_code == 200, (path, response.text)

            # Another tenant sees nothing of it.
            foreign = await s.client.get(
                f"/api/v1/cycles/{start}/cards", headers=s.headers(s.other_key)
            )
            assert foreign.status_code == 404
            assert card["card_id"] not in foreign.text
            theirs = (await s.client.get("/api/v1/cycles", headers=s.headers(s.other_key))).json()
            assert theirs["closed"] == []
            # An open or unknown cycle has no kept cards.
            unknown = await s.client.get(f"/api/v1/cycles/{current}/cards", headers=s.headers())
            assert unknown.status_code == 404
