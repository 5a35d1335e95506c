"""What is previewed is what is written: steps, split usage, absurd input, undo, large changes.

Each test runs every service in-process against a real nats-server, real databases (SQLite,
and PostgreSQL when configured) and a PSA simulator (ConnectWise's; the preview-equals-write
test runs once per PSA), and goes through the gateway's HTTP API as the UI does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Databases
from tests.integration.test_reconciliation_flow import Stack, _billed_lines, _cards_for, stack
from tests.support import eventually
from trueup import domain as d
from trueup.contracts import messages as m
from trueup.devstack.psa_simulators import autotask as at_sim
from trueup.devstack.psa_simulators import connectwise as cw_sim
from trueup.devstack.psa_simulators import halo as halo_sim
from trueup.devstack.psa_simulators.common import SimulatorConfig
from trueup.devstack.psa_simulators.demo import (
    DemoAccount,
    DemoContract,
    DemoLineItem,
    build_demo_msp,
)
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


def _demo_line(psa: str, today: date) -> tuple[DemoAccount, DemoContract, DemoLineItem]:
    """A current line of an open-ended monthly contract of the demo MSP every simulator
    holds (a line item has the same id in each), whose steps `psa` accepts: on a prorating
    contract where the PSA can choose (ConnectWise), and on HaloPSA, which changes
    quantities from today on, in a period begun at least two days ago so that two earlier
    dates are still in it."""
    config = SimulatorConfig()
    msp = build_demo_msp(config.seed, config.accounts, config.line_items, config.today)
    accounts = {a.id: a for a in msp.accounts}
    contracts = {c.id: c for c in msp.contracts}
    for item in msp.line_items:
        contract = contracts[item.contract_id]
        if (
            contract.status != "active"
            or contract.end_date is not None
            or contract.billing_cycle != "monthly"
            or item.cancelled_date is not None
            or item.effective_date > today
            or item.product.kind == "gb"  # whole units: Autotask adjusts by integers
        ):
            continue
        if psa == "connectwise" and not contract.prorate:
            continue
        if psa == "halo":
            period = d.contract_period(
                d.Contract(
                    id=str(contract.id),
                    account_id=str(contract.account_id),
                    name=contract.name,
                    start=contract.start_date,
                ),
                today,
            )
            if period.start > today - timedelta(days=2):
                continue
        return accounts[contract.account_id], contract, item
    pytest.fail(f"the demo MSP has no line fit for {psa}")


@dataclass(frozen=True)
class Psa:
    """One PSA's simulator, and how its write log records the steps of a change."""

    name: str
    app: Callable[[], FastAPI]
    credentials: Callable[[str], dict[str, str]]

    def written(
        self, writes: list[dict[str, Any]], before: Decimal
    ) -> list[tuple[date | None, Decimal]]:
        """(effective date, quantity after) of each step the PSA received, in order; the
        date is None where the PSA takes none (HaloPSA changes a line from today on)."""
        if self.name == "connectwise":
            # Cancel-and-add: each step is a new addition from its date.
            return [
                (date.fromisoformat(w["body"]["effectiveDate"][:10]), D(str(w["body"]["quantity"])))
                for w in writes
                if w["entity"] == "AgreementAddition" and w["method"] == "POST"
            ]
        if self.name == "autotask":
            # An adjustment by the units each step adds, from its date.
            steps: list[tuple[date | None, Decimal]] = []
            for w in writes:
                if w["entity"] == "ContractServiceAdjustment":
                    before += D(str(w["body"]["unitChange"]))
                    steps.append((date.fromisoformat(w["body"]["effectiveDate"][:10]), before))
            return steps
        return [
            (None, D(str(w["body"]["qty_order"])))
            for w in writes
            if w["entity"] == "RecurringInvoiceLine"
        ]


PSAS = [
    Psa(
        "connectwise",
        lambda: cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig()),
        lambda url: {
            "site": url,
            "company_id": "trueup_demo",
            "public_key": "TrueUpDemoPublicKey",
            "private_key": "TrueUpDemoPrivateKey",
            "client_id": "tests",
        },
    ),
    Psa(
        "autotask",
        lambda: at_sim.create_app(at_sim.AutotaskSimulatorConfig()),
        lambda url: {
            "username": "trueup.demo@example.com",
            "secret": "TrueUpDemoSecret",
            "integration_code": "TRUEUPDEMOTRACKINGID",
            "zone_lookup_url": f"{url}/atservicesrest/v1.0/zoneInformation",
        },
    ),
    Psa(
        "halo",
        lambda: halo_sim.create_app(halo_sim.HaloSimulatorConfig()),
        lambda url: {
            "base_url": url,
            "client_id": "trueup-demo-client",
            "client_secret": "TrueUpDemoClientSecret",
            "tenant": "trueupdemo",
        },
    ),
]


class TestWhatIsPreviewedIsWritten:
    @pytest.mark.parametrize("psa", PSAS, ids=[p.name for p in PSAS])
    async def test_main_and_prorated_steps_reach_preview_psa_and_activity_alike(
        self, psa: Psa, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        today = datetime.now(UTC).date()
        account, _contract, item = _demo_line(psa.name, today)
        before = item.quantity
        with SimulatorServer(psa.app()) as sim:
            control = SimulatorControl(sim.url)
            async with stack(
                clean_nats,
                databases,
                tenant,
                other,
                sim,
                with_writeback=True,
                psa_name=psa.name,
                credentials=psa.credentials(sim.url),
            ) as s:
                await eventually(lambda: _cards_for(s, str(item.id)), timeout=60)
                await s.publish(
                    m.UsageReported(
                        vendor="pax8",
                        source=m.UsageSource.CONNECTOR,
                        batch_id="steps",
                        records=[
                            m.UsageRecord(
                                vendor_account_id="steps-acct",
                                vendor_account_name=account.name,
                                sku=item.product.identifier,
                                sku_name=item.product.name,
                                quantity=before + 4,
                                as_of=datetime.now(UTC),
                            )
                        ],
                    )
                )
                card = await _reconcile_card(s, item.id)
                details = (
                    await s.client.get(f"/api/v1/cards/{card['card_id']}", headers=s.headers())
                ).json()
                assert D(details["change"]["psa_quantity"]) == before
                prorates = details["change"]["proration_allowed"]
                assert prorates is (psa.name != "halo")
                if details["contract"]["dated_changes"]:
                    # From the default date on (the next period, billed in advance).
                    start = date.fromisoformat(details["change"]["default_effective_date"])
                    later, latest = start + timedelta(days=10), start + timedelta(days=18)
                else:
                    # HaloPSA cannot schedule a change: every date is today or earlier.
                    start = today - timedelta(days=2)
                    later, latest = today - timedelta(days=1), today
                # The UI's request: the main change, then two prorated lines out of order.
                body = {
                    "quantity": str(before + 2),
                    "effective_date": start.isoformat(),
                    "prorated_changes": [
                        {"effective_date": latest.isoformat(), "quantity": str(before + 4)},
                        {"effective_date": later.isoformat(), "quantity": str(before + 3)},
                    ],
                }
                expected = [
                    (start, before, before + 2),
                    (later, before + 2, before + 3),
                    (latest, before + 3, before + 4),
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
                # The preview's lines bill each step in turn (a step's lines are adjacent).
                lines: list[tuple[date, Decimal, Decimal]] = []
                for x in preview.json()["lines"]:
                    line = (
                        date.fromisoformat(x["effective_date"]),
                        D(x["quantity_before"]),
                        D(x["quantity_after"]),
                    )
                    if not lines or lines[-1][1:] != line[1:]:
                        lines.append(line)
                assert [x[1:] for x in lines] == [x[1:] for x in steps]

                await control.clear_writes()
                approved = await s.client.post(
                    f"/api/v1/cards/{card['card_id']}/approve", json=body, headers=s.headers()
                )
                assert approved.status_code == 202, approved.text
                assert (await _final(s, card["card_id"]))["state"] == "applied"

                # The PSA received the previewed steps, in the same order, each from the
                # date its preview lines bill it from where the contract prorates.
                written = psa.written(await control.writes(), before)
                assert [q for _, q in written] == [q for _, _, q in steps]
                assert [q for _, _, q in lines] == [q for _, q in written]
                if psa.name != "halo":
                    assert [x for x, _ in written] == [x for x, _, _ in steps]
                    assert [x for x, _, _ in lines] == [x for x, _ in written]

                # And the activity log tells the same story.
                entries = await _activity(s, card["card_id"], 2)
                approval = next(e for e in entries if e["action_type"] == "approve")
                chain = " → ".join(str(q) for q in (before, before + 2, before + 3, before + 4))
                assert chain in approval["summary"]
                assert [
                    (date.fromisoformat(x["effective_date"]), D(x["quantity"]))
                    for x in approval["prorated_lines"]
                ] == [(x, q) for x, _, q in steps]


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
