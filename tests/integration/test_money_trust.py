"""What is previewed is what is written: steps, split usage, absurd input, undo, large changes.

Each test runs every service in-process against a real nats-server, real databases (SQLite,
and PostgreSQL when configured) and the ConnectWise simulator, and goes through the
gateway's HTTP API as the UI does.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import Databases
from tests.integration.test_reconciliation_flow import Stack, _billed_lines, _cards_for, stack
from tests.support import eventually
from trueup.contracts import messages as m
from trueup.devstack.psa_simulators import connectwise as cw_sim
from trueup.devstack.psa_simulators.server import SimulatorControl, SimulatorServer

D = Decimal


async def _report(s: Stack, lines: list[tuple[dict[str, Any], Decimal]], batch: str) -> None:
    """The vendor reports `quantity` for each (addition, quantity) under the PSA's names."""
    store_records = []
    for i, (addition, quantity) in enumerate(lines):
        store_records.append(
            m.UsageRecord(
                vendor_account_id=f"{batch}-acct-{i}",
                vendor_account_name=addition["_company_name"],
                sku=addition["product"]["identifier"],
                sku_name=addition["description"],
                quantity=quantity,
                as_of=datetime.now(UTC),
            )
        )
    await s.publish(
        m.UsageReported(
            vendor="pax8", source=m.UsageSource.CONNECTOR, batch_id=batch, records=store_records
        )
    )


def _named(addition: dict[str, Any], company: dict[str, Any]) -> dict[str, Any]:
    return {**addition, "_company_name": company["name"]}


async def _reconcile_card(s: Stack, line_item_id: Any) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        cards = await _cards_for(s, str(line_item_id))
        return cards[0] if cards and cards[0]["vendor_quantity"] is not None else None

    return await eventually(found, timeout=45, what=f"line item {line_item_id}'s card")


async def _final(s: Stack, card_id: str) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        for card in await s.cards(include_hidden="true"):
            if card["card_id"] == card_id and card["state"] in ("applied", "conflict", "failed"):
                return card
        return None

    return await eventually(settled, timeout=60, what="the writeback outcome")


async def _activity(s: Stack, card_id: str, count: int) -> list[dict[str, Any]]:
    async def logged() -> list[dict[str, Any]] | None:
        response = await s.client.get(
            "/api/v1/activity", params={"card_id": card_id}, headers=s.headers()
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items if len(items) >= count else None

    return await eventually(logged, timeout=30, what="the activity entries")


def _prorating_line(store: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A monthly agreement that prorates, billed in advance, with one addition per product."""
    for agreement, addition, company in _billed_lines(store):
        cycle = (agreement.get("billingCycle") or {}).get("name", "")
        if (
            agreement.get("prorateFlag")
            and cycle.lower() == "monthly"
            and not agreement.get("endDate")
        ):
            return agreement, addition, company
    pytest.fail("the demo MSP has no prorating monthly agreement")


class TestWhatIsPreviewedIsWritten:
    async def test_main_and_prorated_steps_reach_preview_psa_and_activity_alike(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as sim:
            control = SimulatorControl(sim.url)
            _agreement, addition, company = _prorating_line(sim.app.state.store)
            before = D(str(addition["quantity"]))
            async with stack(clean_nats, databases, tenant, other, sim, with_writeback=True) as s:
                await eventually(lambda: _cards_for(s, str(addition["id"])), timeout=60)
                await _report(s, [(_named(addition, company), before + 4)], "steps")
                card = await _reconcile_card(s, addition["id"])
                details = (
                    await s.client.get(f"/api/v1/cards/{card['card_id']}", headers=s.headers())
                ).json()
                assert details["change"]["proration_allowed"] is True
                start = date.fromisoformat(details["change"]["default_effective_date"])
                # The UI's request: 45-like main change, then two prorated lines.
                body = {
                    "quantity": str(before + 2),
                    "effective_date": start.isoformat(),
                    "prorated_changes": [
                        {
                            "effective_date": (start + timedelta(days=18)).isoformat(),
                            "quantity": str(before + 4),
                        },
                        {
                            "effective_date": (start + timedelta(days=10)).isoformat(),
                            "quantity": str(before + 3),
                        },
                    ],
                }
                expected = [
                    (start, before, before + 2),
                    (start + timedelta(days=10), before + 2, before + 3),
                    (start + timedelta(days=18), before + 3, before + 4),
                ]

                preview = await s.client.post(
                    f"/api/v1/cards/{card['card_id']}/preview", json=body, headers=s.headers()
                )
                assert preview.status_code == 200, preview.text
                steps = [
                    (
                        date.fromisoformat(x["effective_date"]),
                        D(x["quantity_before"]),
                        D(x["quantity_after"]),
                    )
                    for x in preview.json()["steps"]
                ]
                assert steps == expected
                # Every step bills something: the preview's lines start at each step.
                line_starts = {
                    (date.fromisoformat(x["effective_date"]), D(x["quantity_after"]))
                    for x in preview.json()["lines"]
                }
                assert {(d, q) for d, _, q in expected} <= line_starts

                await control.clear_writes()
                approved = await s.client.post(
                    f"/api/v1/cards/{card['card_id']}/approve", json=body, headers=s.headers()
                )
                assert approved.status_code == 202, approved.text
                assert (await _final(s, card["card_id"]))["state"] == "applied"

                # The PSA received the same steps, in the same order (cancel-and-add).
                posts = [
                    w
                    for w in await control.writes()
                    if w["entity"] == "AgreementAddition" and w["method"] == "POST"
                ]
                assert [
                    (
                        date.fromisoformat(p["body"]["effectiveDate"][:10]),
                        D(str(p["body"]["quantity"])),
                    )
                    for p in posts
                ] == [(d, q) for d, _, q in expected]

                # And the activity log tells the same story.
                entries = await _activity(s, card["card_id"], 2)
                approval = next(e for e in entries if e["action_type"] == "approve")
                chain = " → ".join(str(q) for q in (before, before + 2, before + 3, before + 4))
                assert chain in approval["summary"]
                assert [
                    (date.fromisoformat(x["effective_date"]), D(x["quantity"]))
                    for x in approval["prorated_lines"]
                ] == [(d, q) for d, _, q in expected]


class TestSharedUsage:
    async def test_card_details_and_approve_agree_on_the_target_and_explain_the_split(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as sim:
            store = sim.app.state.store
            _agreement, first, company = _billed_lines(store)[0]
            # A second line of the same product on the same agreement: 5 agents billed there.
            second = copy.deepcopy(first)
            second["id"] = max(store.additions) + 1000
            second["quantity"] = 5
            store.additions[second["id"]] = second
            store.by_agreement[first["agreementId"]].append(second["id"])
            billed_first = D(str(first["quantity"]))
            in_use = billed_first + 5 - 2  # two fewer agents than the two lines bill together
            async with stack(clean_nats, databases, tenant, other, sim, with_writeback=True) as s:
                await eventually(lambda: _cards_for(s, str(second["id"])), timeout=60)
                await _report(s, [(_named(first, company), in_use)], "split")
                carrier = await _reconcile_card(s, first["id"])
                keeper = await _reconcile_card(s, second["id"])

                # The first line carries the difference; the second keeps its 5.
                assert D(carrier["target_quantity"]) == billed_first - 2
                assert D(carrier["billed_elsewhere"]) == 5
                assert carrier["carries_difference"] is True
                assert keeper["kind"] == "no_change"
                assert keeper["carries_difference"] is False
                assert D(keeper["target_quantity"]) == 5

                details = (
                    await s.client.get(f"/api/v1/cards/{carrier['card_id']}", headers=s.headers())
                ).json()
                assert D(details["change"]["target_quantity"]) == D(carrier["target_quantity"])
                assert [
                    (x["line_item_id"], D(x["psa_quantity"]))
                    for x in details["change"]["shared_with"]
                ] == [(str(second["id"]), D(5))]

                # One-click Approve (an empty body) writes exactly the card's target.
                approved = await s.client.post(
                    f"/api/v1/cards/{carrier['card_id']}/approve", json={}, headers=s.headers()
                )
                assert approved.status_code == 202, approved.text
                assert (await _final(s, carrier["card_id"]))["state"] == "applied"
                billed = sorted(
                    D(str(a["quantity"]))
                    for a in store.additions.values()
                    if a["agreementId"] == first["agreementId"]
                    and a["product"]["id"] == first["product"]["id"]
                    and not a["cancelledDate"]
                )
                assert billed == sorted([billed_first - 2, D(5)])
                assert sum(billed) == in_use


class TestUndoAndLargeChanges:
    async def test_restore_is_logged_and_large_changes_need_a_confirmation(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as sim:
            lines = _billed_lines(sim.app.state.store)
            (_a, small, small_co), (_b, big, big_co) = (
                lines[0],
                next(line for line in lines[1:] if line[2]["id"] != lines[0][2]["id"]),
            )
            async with stack(clean_nats, databases, tenant, other, sim) as s:
                await eventually(lambda: _cards_for(s, str(big["id"])), timeout=60)
                await _report(
                    s,
                    [
                        (_named(small, small_co), D(str(small["quantity"])) + 1),
                        (_named(big, big_co), D(str(big["quantity"])) + 1237),
                    ],
                    "undo",
                )
                quiet = await _reconcile_card(s, small["id"])
                large = await _reconcile_card(s, big["id"])
                assert quiet["large_change"] is None
                jump = D(large["target_quantity"]) - D(large["psa_quantity"])
                assert jump > 100
                assert f"+{int(jump)} units > 100" in large["large_change"]

                # Dismiss, then undo: both are activity entries, and the card is back.
                for action in ("dismiss", "restore"):
                    done = await s.client.post(
                        f"/api/v1/cards/{quiet['card_id']}/{action}", headers=s.headers()
                    )
                    assert done.status_code == 202, done.text
                entries = await _activity(s, quiet["card_id"], 2)
                assert [e["action_type"] for e in entries] == ["restore", "dismiss"]
                assert "dismissal undone" in entries[0]["summary"]
                assert (await _reconcile_card(s, small["id"]))["state"] == "pending"

                # Bulk dismiss has its undo too.
                ids = {"card_ids": [quiet["card_id"]]}
                bulk = await s.client.post(
                    "/api/v1/cards/bulk", json={"action": "dismiss", **ids}, headers=s.headers()
                )
                assert [a["state"] for a in bulk.json()["accepted"]] == ["dismissed"]
                undo = await s.client.post(
                    "/api/v1/cards/bulk", json={"action": "restore", **ids}, headers=s.headers()
                )
                assert [a["state"] for a in undo.json()["accepted"]] == ["pending"]

                # A large change is refused without a confirmation, and nothing is written.
                url = f"/api/v1/cards/{large['card_id']}"
                preview = await s.client.post(f"{url}/preview", json={}, headers=s.headers())
                assert preview.json()["large_change"] == large["large_change"]
                refused = await s.client.post(f"{url}/approve", json={}, headers=s.headers())
                assert refused.status_code == 409, refused.text
                assert "confirm" in refused.json()["detail"]
                assert (await _reconcile_card(s, big["id"]))["state"] == "pending"
                in_bulk = await s.client.post(
                    "/api/v1/cards/bulk",
                    json={"action": "approve", "card_ids": [large["card_id"]]},
                    headers=s.headers(),
                )
                assert [r["status"] for r in in_bulk.json()["rejected"]] == [409]
                confirmed = await s.client.post(
                    f"{url}/approve", json={"confirm": True}, headers=s.headers()
                )
                assert confirmed.status_code == 202, confirmed.text
