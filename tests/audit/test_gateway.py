"""The activity endpoints of the gateway, through HTTP, NATS and the audit service."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.audit.helpers import JANE, applied, approve, at, event, publish, stored
from tests.conftest import Databases
from tests.support import eventually, running_gateway, running_service, settings_for
from trueup.audit import service
from trueup.audit.main import build as build_audit
from trueup.audit.settings import Settings as AuditSettings
from trueup.contracts import Payload
from trueup.contracts.messages import ActionRecorded, Actor
from trueup.gateway.endpoints import activity
from trueup.gateway.identity.principal import Role
from trueup.gateway.identity.service import create_api_key, ensure_tenant
from trueup.gateway.settings import Settings as GatewaySettings
from trueup.platform.service import ServiceRuntime

ADMIN_KEY = "tu_test_activity_admin_key_0123456789"


@dataclass
class Stack:
    tenant: str
    other_tenant: str
    audit: ServiceRuntime
    client: httpx.AsyncClient
    admin: dict[str, str]
    viewer: dict[str, str]
    other: dict[str, str]


@pytest.fixture
async def stack(
    clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
) -> AsyncIterator[Stack]:
    tenant, other_tenant = tenant_ids
    audit_settings = await settings_for(AuditSettings, databases, clean_nats)
    gateway_settings = await settings_for(
        GatewaySettings,
        databases,
        clean_nats,
        bootstrap_tenant_id=tenant,
        bootstrap_api_key=SecretStr(ADMIN_KEY),
    )
    async with (
        running_service(build_audit, audit_settings) as (audit, _app),
        running_gateway(gateway_settings, base_url="http://gateway") as running,
    ):
        gateway, client = running.runtime, running.client
        async with gateway.database.transaction() as session:
            _row, viewer_key = await create_api_key(session, tenant, "viewer", Role.VIEWER)
            await ensure_tenant(session, other_tenant, "Other MSP")
            _row, other_key = await create_api_key(session, other_tenant, "k", Role.ADMIN)
        yield Stack(
            tenant=tenant,
            other_tenant=other_tenant,
            audit=audit,
            client=client,
            admin=_bearer(ADMIN_KEY),
            viewer=_bearer(viewer_key),
            other=_bearer(other_key),
        )


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _record(stack: Stack, *payloads: Payload, tenant: str | None = None) -> list[str]:
    ids = []
    now = datetime.now(UTC)
    for offset, payload in enumerate(payloads):
        # One second apart, oldest first, so the newest-first order is known.
        envelope = at(
            event(payload, tenant or stack.tenant), now - timedelta(seconds=len(payloads) - offset)
        )
        async with stack.audit.database.transaction(envelope.tenant_id) as session:
            await service.record_event(session, envelope, now=now)
        ids.append(envelope.event_id)
    return ids


def _csv(response: httpx.Response) -> list[dict[str, str]]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff"), "a BOM lets spreadsheets detect UTF-8"
    return list(csv.DictReader(io.StringIO(text[1:])))


class TestListActivity:
    async def test_an_event_published_by_a_service_is_served_with_its_values(
        self, stack: Stack
    ) -> None:
        await publish(stack.audit, event(approve(), stack.tenant))

        async def entries() -> list[dict[str, Any]] | None:
            response = await stack.client.get("/api/v1/activity", headers=stack.viewer)
            assert response.status_code == 200, response.text
            items: list[dict[str, Any]] = response.json()["items"]
            return items or None

        (entry,) = await eventually(entries, what="the entry over HTTP")
        assert entry["action_type"] == "approve"
        assert entry["actor"] == {"kind": "user", "id": JANE.id, "name": JANE.name}
        assert (entry["quantity_before"], entry["quantity_after"]) == ("25", "30")
        assert (entry["price_before"], entry["price_after"]) == ("20", "22")
        assert entry["prorated_lines"] == [
            {"effective_date": "2026-11-01", "quantity": "27.5"},
            {"effective_date": "2026-11-16", "quantity": "30"},
        ]

    async def test_prices_are_served_and_exported_with_their_currency(self, stack: Stack) -> None:
        # The writeback outcome carries no currency: it has its action's, as its prices.
        await _record(stack, approve(currency="CAD"), applied(), approve("act-2", "card-2"))

        response = await stack.client.get("/api/v1/activity", headers=stack.viewer)
        export = await stack.client.get("/api/v1/activity/export", headers=stack.viewer)

        items = response.json()["items"]
        assert [(e["action_type"], e["price_after"], e["currency"]) for e in items] == [
            ("approve", "22", None),  # from a producer that did not say
            ("writeback", "22", "CAD"),
            ("approve", "22", "CAD"),
        ]
        rows = _csv(export)
        assert [(row["price_before"], row["price_after"], row["currency"]) for row in rows] == [
            ("20", "22", ""),
            ("20", "22", "CAD"),
            ("20", "22", "CAD"),
        ]

    async def test_filters_and_cursor_pages_through_http(self, stack: Stack) -> None:
        ids = await _record(
            stack, approve(), applied(), approve("act-2", "card-2"), applied("act-2", "card-2")
        )
        first = await stack.client.get(
            "/api/v1/activity", params={"limit": 1, "card_id": "card-1"}, headers=stack.viewer
        )
        assert first.status_code == 200
        body = first.json()
        assert [item["entry_id"] for item in body["items"]] == [ids[1]]
        second = await stack.client.get(
            "/api/v1/activity",
            params={"limit": 1, "card_id": "card-1", "cursor": body["next_cursor"]},
            headers=stack.viewer,
        )
        assert [item["entry_id"] for item in second.json()["items"]] == [ids[0]]
        assert second.json()["next_cursor"] is None

        writes = await stack.client.get(
            "/api/v1/activity",
            params={"contract_psa_id": "4711", "outcome": "applied", "action_type": "writeback"},
            headers=stack.viewer,
        )
        assert [item["entry_id"] for item in writes.json()["items"]] == [ids[3], ids[1]]

        by_part_of_name = await stack.client.get(
            "/api/v1/activity",
            params={"account": "acme, INC", "action_type": "approve"},
            headers=stack.viewer,
        )
        assert [item["entry_id"] for item in by_part_of_name.json()["items"]] == [ids[2], ids[0]]

    async def test_bad_filters_are_precise_problems(self, stack: Stack) -> None:
        wrong_outcome = await stack.client.get(
            "/api/v1/activity", params={"outcome": "maybe"}, headers=stack.viewer
        )
        assert wrong_outcome.status_code == 422
        assert wrong_outcome.headers["content-type"] == "application/problem+json"
        assert wrong_outcome.json()["errors"][0]["field"] == "query.outcome"

        backwards = await stack.client.get(
            "/api/v1/activity",
            params={"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
            headers=stack.viewer,
        )
        assert backwards.status_code == 422
        assert "since" in backwards.json()["detail"]

        forged = await stack.client.get(
            "/api/v1/activity", params={"cursor": "bm9wZQ"}, headers=stack.viewer
        )
        assert forged.status_code == 400
        assert forged.json()["title"] == "Invalid cursor"

    async def test_another_tenant_sees_none_of_these_entries(self, stack: Stack) -> None:
        await _record(stack, approve())
        (theirs,) = await _record(stack, approve(), tenant=stack.other_tenant)
        mine = await stack.client.get("/api/v1/activity", headers=stack.viewer)
        other = await stack.client.get("/api/v1/activity", headers=stack.other)
        assert theirs not in [item["entry_id"] for item in mine.json()["items"]]
        assert [item["entry_id"] for item in other.json()["items"]] == [theirs]
        export = await stack.client.get("/api/v1/activity/export", headers=stack.other)
        assert [row["entry_id"] for row in _csv(export)] == [theirs]

    async def test_entries_cannot_be_edited_or_deleted_through_the_api(self, stack: Stack) -> None:
        (entry_id,) = await _record(stack, approve())
        for method in ("PUT", "PATCH", "DELETE"):
            for path in ("/api/v1/activity", f"/api/v1/activity/{entry_id}"):
                response = await stack.client.request(method, path, headers=stack.admin)
                assert response.status_code in (404, 405), (method, path)
        assert len(await stored(stack.audit, stack.tenant)) == 1

    async def test_no_credential_is_unauthorized(self, stack: Stack) -> None:
        response = await stack.client.get("/api/v1/activity")
        assert response.status_code == 401


class TestExport:
    async def test_formula_cells_are_neutralised_and_numbers_stay_numbers(
        self, stack: Stack
    ) -> None:
        hostile = {
            '=HYPERLINK("http://evil","x")': '\'=HYPERLINK("http://evil","x")',
            "+1+cmd|' /C calc'!A0": "'+1+cmd|' /C calc'!A0",
            "-2+3": "'-2+3",
            "@SUM(A1)": "'@SUM(A1)",
            "\t=1+1": "'\t=1+1",
            "\r=1+1": "'\r=1+1",
            "\n=1+1": "'\n=1+1",
            "\uff1dSUM(A1)": "'\uff1dSUM(A1)",  # full-width equals, evaluated by some
        }
        payloads = [
            ActionRecorded(
                action_id=f"act-{n}",
                card_id=f"card-{n}",
                action="dismiss",
                actor=Actor(kind="user", id=f"u{n}", name="=cmd"),
                account_name=name,
                service_line="Backup",
            )
            for n, name in enumerate(hostile)
        ]
        await _record(stack, *payloads, approve())
        response = await stack.client.get("/api/v1/activity/export", headers=stack.viewer)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"].startswith("attachment; filename=")
        rows = _csv(response)
        assert len(rows) == len(hostile) + 1
        by_account = {row["account"]: row for row in rows}
        assert set(by_account) == set(hostile.values()) | {"Acme, Inc."}
        for row in rows:
            for column, cell in row.items():
                assert not cell.startswith(("=", "+", "@", "\t", "\r", "\n", "\uff1d")), (
                    column,
                    cell,
                )
                if cell.startswith("-"):
                    float(cell)  # only a plain number may start with a minus sign
        dismissals = [row for row in rows if row["action_type"] == "dismiss"]
        assert {row["actor_name"] for row in dismissals} == {"'=cmd"}
        approval = by_account["Acme, Inc."]
        assert (approval["quantity_before"], approval["quantity_after"]) == ("25", "30")
        assert approval["prorated_lines"] == "2026-11-01: 27.5; 2026-11-16: 30"

    async def test_the_export_streams_every_page_and_honours_filters(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(activity, "EXPORT_PAGE_SIZE", 2)
        ids = await _record(stack, *(approve(f"act-{n}", f"card-{n}") for n in range(5)))
        await _record(stack, applied())
        response = await stack.client.get(
            "/api/v1/activity/export", params={"action_type": "approve"}, headers=stack.viewer
        )
        assert [row["entry_id"] for row in _csv(response)] == list(reversed(ids))


class TestRetentionSetting:
    async def test_an_admin_sets_it_and_the_change_is_logged(self, stack: Stack) -> None:
        response = await stack.client.put(
            "/api/v1/settings/activity-retention", json={"days": 30}, headers=stack.admin
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"days": 30}
        logged = await stack.client.get(
            "/api/v1/activity", params={"action_type": "settings"}, headers=stack.viewer
        )
        (entry,) = logged.json()["items"]
        assert entry["summary"].endswith("set to 30 days (was 14)")
        assert entry["actor"]["kind"] == "api_key"

    async def test_only_an_admin_may_and_only_within_bounds(self, stack: Stack) -> None:
        as_viewer = await stack.client.put(
            "/api/v1/settings/activity-retention", json={"days": 30}, headers=stack.viewer
        )
        assert as_viewer.status_code == 403
        for days in (0, 3651, "14.5"):
            invalid = await stack.client.put(
                "/api/v1/settings/activity-retention", json={"days": days}, headers=stack.admin
            )
            assert invalid.status_code == 422, days
        assert await stored(stack.audit, stack.tenant) == []
