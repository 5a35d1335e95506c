"""PSA sync, usage and mapping become cards that a script can action through the gateway.

psa_sync reads the ConnectWise simulator, usage arrives on the usage stream, and
reconciliation computes cards with the domain library; the gateway serves and actions
them. Every service on its own database, talking only through a real nats-server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import nats
import pytest
from pydantic import SecretStr

from tests.conftest import Databases
from tests.support import eventually, running_gateway, running_service, settings_for
from trueup.audit.main import build as build_audit
from trueup.audit.settings import Settings as AuditSettings
from trueup.contracts import Envelope, wrap
from trueup.contracts import messages as m
from trueup.devstack.psa_simulators import connectwise as cw_sim
from trueup.devstack.psa_simulators.server import SimulatorControl, SimulatorServer
from trueup.gateway.identity.principal import Role
from trueup.gateway.identity.service import create_api_key, ensure_tenant
from trueup.gateway.settings import Settings as GatewaySettings
from trueup.platform.broker import ask, publish_envelope
from trueup.platform.secrets import CredentialSealer
from trueup.psa_sync.main import build as build_psa_sync
from trueup.psa_sync.settings import Settings as PsaSyncSettings
from trueup.reconciliation.main import build as build_reconciliation
from trueup.reconciliation.settings import Settings as ReconciliationSettings
from trueup.vendor_ingestion.main import build as build_ingestion
from trueup.vendor_ingestion.settings import Settings as IngestionSettings
from trueup.writeback.main import build as build_writeback
from trueup.writeback.settings import Settings as WritebackSettings

API_KEY = "tu_test_flow_key_0123456789abcdef"
ACTOR = m.Actor(kind="user", id="u1", name="Tester")


@pytest.fixture(scope="module")
def connectwise() -> Iterator[SimulatorServer]:
    with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as server:
        yield server


@dataclass
class Stack:
    tenant: str
    client: httpx.AsyncClient
    nats_url: str
    broker: Any
    other_key: str
    viewer_key: str = ""
    """A viewer's key of `tenant` (read-only)."""

    def headers(self, key: str = API_KEY) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    async def publish(self, payload: m.Payload) -> None:
        envelope = wrap(payload, tenant_id=self.tenant)
        await publish_envelope(
            self.broker,
            m.subject_for(type(payload), self.tenant),
            envelope.model_dump_json().encode(),
            envelope.event_id,
            envelope.correlation_id,
        )

    async def cards(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/api/v1/cards", params={"limit": 5000, **params}, headers=self.headers()
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@asynccontextmanager
async def stack(
    nats_url: str,
    databases: Databases,
    tenant: str,
    other: str,
    connectwise: SimulatorServer,
    *,
    with_writeback: bool = False,
    psa_name: str = "connectwise",
    credentials: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """Every service in-process, the tenant connected to the simulator `connectwise`
    serves: ConnectWise's unless `psa_name` and its `credentials` name another PSA."""
    async with AsyncExitStack() as exit_stack:
        credential_keys = CredentialSealer.generate_key()
        recon = await settings_for(ReconciliationSettings, databases, nats_url)
        await exit_stack.enter_async_context(running_service(build_reconciliation, recon))
        psa = await settings_for(
            PsaSyncSettings,
            databases,
            nats_url,
            credential_keys=credential_keys,
            scheduler_tick_seconds=0.1,
        )
        psa_runtime, _ = await exit_stack.enter_async_context(running_service(build_psa_sync, psa))
        if with_writeback:
            writeback = await settings_for(
                WritebackSettings,
                databases,
                nats_url,
                credential_keys=credential_keys,
                writeback_poll_seconds=0.2,
                writeback_retry_base_seconds=0.2,
            )
            await exit_stack.enter_async_context(running_service(build_writeback, writeback))
        audit = await settings_for(AuditSettings, databases, nats_url)
        await exit_stack.enter_async_context(running_service(build_audit, audit))
        ingestion = await settings_for(IngestionSettings, databases, nats_url)
        await exit_stack.enter_async_context(running_service(build_ingestion, ingestion))
        gateway = await settings_for(
            GatewaySettings,
            databases,
            nats_url,
            bootstrap_tenant_id=tenant,
            bootstrap_api_key=SecretStr(API_KEY),
        )
        running = await exit_stack.enter_async_context(
            running_gateway(gateway, base_url="http://gateway")
        )
        gateway_runtime, client = running.runtime, running.client
        async with gateway_runtime.database.transaction() as session:
            await ensure_tenant(session, other, "Other MSP")
            _row, other_key = await create_api_key(session, other, "k", Role.ADMIN)
            _row, viewer_key = await create_api_key(session, tenant, "stack viewer", Role.VIEWER)
        saved = await ask(
            psa_runtime.broker,
            m.subject_for(m.SavePsaConnection, tenant),
            wrap(
                m.SavePsaConnection(
                    psa=psa_name,  # type: ignore[arg-type]
                    name="CW" if psa_name == "connectwise" else psa_name,
                    actor=ACTOR,
                    credentials=credentials
                    or {
                        "site": connectwise.url,
                        "company_id": "trueup_demo",
                        "public_key": "TrueUpDemoPublicKey",
                        "private_key": "TrueUpDemoPrivateKey",
                        "client_id": "tests",
                    },
                ),
                tenant_id=tenant,
            ),
            m.PsaConnectionStatus,
            timeout=10,
        )
        assert saved.error is None
        yield Stack(tenant, client, nats_url, psa_runtime.broker, other_key, viewer_key)


def _billed_line(store: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """An active agreement's current addition, with its company: what usage will match."""
    return _billed_lines(store)[0]


def _billed_lines(store: Any) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Active agreements' current additions (one product per agreement), with companies."""
    found = []
    today = datetime.now(UTC).date().isoformat()
    for addition in sorted(store.additions.values(), key=lambda a: a["id"]):
        agreement = store.agreements[addition["agreementId"]]
        if agreement["agreementStatus"] != "Active" or addition["cancelledDate"]:
            continue
        if (addition["effectiveDate"] or "")[:10] > today:
            continue
        if agreement["endDate"] and agreement["endDate"][:10] < today:
            continue
        siblings = [
            a
            for a in store.additions.values()
            if a["agreementId"] == agreement["id"]
            and a["product"]["id"] == addition["product"]["id"]
        ]
        if len(siblings) == 1:
            found.append((agreement, addition, store.companies[agreement["company"]["id"]]))
    assert found, "the demo MSP has no active line item"
    return found


async def _commands(nats_url: str, tenant: str) -> list[m.ApplyWriteback]:
    connection = await nats.connect(nats_url)
    try:
        sub = await connection.jetstream().pull_subscribe(
            f"cmd.writeback.{tenant}.apply.v1", stream="COMMANDS"
        )
        try:
            msgs = await sub.fetch(50, timeout=2)
        except TimeoutError:
            return []
        return [Envelope[m.ApplyWriteback].model_validate_json(msg.data).payload for msg in msgs]
    finally:
        await connection.close()


class TestReconciliationFlow:
    async def test_usage_above_the_psa_becomes_a_card_that_approves_into_a_writeback(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, other = tenant_ids
        agreement, addition, company = _billed_line(connectwise.app.state.store)
        psa_quantity = Decimal(str(addition["quantity"]))
        async with stack(clean_nats, databases, tenant, other, connectwise) as s:
            line_item_cards = await eventually(
                lambda: _cards_for(s, str(addition["id"])), timeout=60, what="the PSA's cards"
            )
            assert (
                line_item_cards[0]["kind"] == "reconcile"
                or line_item_cards[0]["kind"] == "no_change"
            )
            # The vendor reports three more seats, under a name the PSA spells the same.
            await s.publish(
                m.UsageReported(
                    vendor="pax8",
                    source=m.UsageSource.CONNECTOR,
                    batch_id="b1",
                    records=[
                        m.UsageRecord(
                            vendor_account_id="pax8-co-1",
                            vendor_account_name=company["name"],
                            sku=addition["product"]["identifier"],
                            sku_name=addition["description"],
                            quantity=psa_quantity + 3,
                            as_of=datetime.now(UTC),
                        )
                    ],
                )
            )

            async def reconciled() -> dict[str, Any] | None:
                cards = await _cards_for(s, str(addition["id"]))
                found = cards[0] if cards else None
                return found if found and found["vendor_quantity"] is not None else None

            card = await eventually(reconciled, timeout=30, what="the usage to reach the card")
            assert card["kind"] == "reconcile"
            assert Decimal(card["psa_quantity"]) == psa_quantity
            assert Decimal(card["vendor_quantity"]) == psa_quantity + 3
            assert Decimal(card["delta"]) == 3
            assert card["vendors"] == ["pax8"]
            assert card["account_name"] == company["name"]
            price = Decimal(str(addition["unitPrice"]))
            assert Decimal(card["mrr_change"]) > 0
            assert Decimal(card["period_change"]) >= Decimal(3) * price

            # Details: the four quadrants' facts.
            details = await s.client.get(f"/api/v1/cards/{card['card_id']}", headers=s.headers())
            assert details.status_code == 200, details.text
            body = details.json()
            assert body["contract"]["contract_id"] == str(agreement["id"])
            assert body["names"]["vendor_accounts"][0]["mapping"] == "automatic"
            assert Decimal(body["change"]["vendor_quantity"]) == psa_quantity + 3

            # A preview writes nothing and prices the change.
            first_of_month = date.today().replace(day=1)
            preview = await s.client.post(
                f"/api/v1/cards/{card['card_id']}/preview",
                json={
                    "quantity": str(psa_quantity + 3),
                    "effective_date": first_of_month.isoformat(),
                },
                headers=s.headers(),
            )
            assert preview.status_code == 200, preview.text
            assert preview.json()["lines"][0]["quantity_after"] == str(psa_quantity + 3)
            stepped = await s.client.post(
                f"/api/v1/cards/{card['card_id']}/preview",
                json={
                    "prorated_changes": [
                        {
                            "effective_date": first_of_month.isoformat(),
                            "quantity": str(psa_quantity + 1),
                        },
                        {
                            "effective_date": (first_of_month.replace(day=15)).isoformat(),
                            "quantity": str(psa_quantity + 3),
                        },
                    ]
                },
                headers=s.headers(),
            )
            assert stepped.status_code == 200, stepped.text
            assert [line["quantity_after"] for line in stepped.json()["lines"]] == [
                str(psa_quantity + 1),
                str(psa_quantity + 3),
            ]

            # Tenant B cannot see or act on tenant A's card.
            foreign = await s.client.get(
                f"/api/v1/cards/{card['card_id']}", headers=s.headers(s.other_key)
            )
            assert foreign.status_code == 404
            foreign_approve = await s.client.post(
                f"/api/v1/cards/{card['card_id']}/approve",
                json={},
                headers=s.headers(s.other_key),
            )
            assert foreign_approve.status_code == 404

            # Approve, twice with the same key: one action, one writeback command.
            headers = {**s.headers(), "Idempotency-Key": "approve-1"}
            first = await s.client.post(
                f"/api/v1/cards/{card['card_id']}/approve", json={}, headers=headers
            )
            again = await s.client.post(
                f"/api/v1/cards/{card['card_id']}/approve", json={}, headers=headers
            )
            assert first.status_code == 202, first.text
            assert again.json() == first.json()
            assert first.json()["state"] == "approved"
            commands = await _commands(clean_nats, tenant)
            assert len(commands) == 1
            command = commands[0]
            assert command.line_item_psa_id == str(addition["id"])
            assert command.expected_quantity == psa_quantity
            assert command.changes[-1].quantity == psa_quantity + 3

            # The actioned card is hidden until the next cycle; a second approve conflicts.
            assert await _cards_for(s, str(addition["id"])) == []
            conflict = await s.client.post(
                f"/api/v1/cards/{card['card_id']}/approve", json={}, headers=s.headers()
            )
            assert conflict.status_code == 409
            assert conflict.headers["content-type"] == "application/problem+json"

            # The writeback outcome moves it on.
            await s.publish(
                m.WritebackApplied(
                    job_id="j1",
                    actor=ACTOR,
                    idempotency_key=command.idempotency_key,
                    card_id=card["card_id"],
                    action_id=command.action_id,
                    psa="connectwise",
                    contract_psa_id=command.contract_psa_id,
                    line_item_psa_id=command.line_item_psa_id,
                    quantity_before=psa_quantity,
                    quantity_after=psa_quantity + 3,
                    effective_date=command.changes[0].effective_date,
                )
            )

            async def applied() -> bool | None:
                cards = await _cards_for(s, str(addition["id"]), include_hidden="true")
                return (cards and cards[0]["state"] == "applied") or None

            await eventually(applied, timeout=15, what="the applied state")


async def _cards_for(s: Stack, line_item_id: str, **params: Any) -> list[dict[str, Any]]:
    return [c for c in await s.cards(**params) if c["line_item_id"] == line_item_id]


def _other_product(store: Any, agreement: dict[str, Any]) -> dict[str, Any]:
    """A product the agreement's account is not billed for anywhere (for New Revenue)."""
    company_id = agreement["company"]["id"]
    billed = {
        a["product"]["id"]
        for a in store.additions.values()
        if store.agreements[a["agreementId"]]["company"]["id"] == company_id
    }
    for addition in sorted(store.additions.values(), key=lambda a: a["id"]):
        if addition["product"]["id"] not in billed:
            return addition
    raise AssertionError("every product is billed to this account")


class TestMappingAndNewRevenue:
    async def test_a_suggested_mapping_turns_unmapped_usage_into_cards_and_new_revenue(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, other = tenant_ids
        store = connectwise.app.state.store
        agreement, addition, company = _billed_line(store)
        unbilled = _other_product(store, agreement)
        async with stack(clean_nats, databases, tenant, other, connectwise) as s:
            await eventually(
                lambda: _cards_for(s, str(addition["id"])), timeout=60, what="the PSA's cards"
            )
            variant = company["name"].upper() + " INCORPORATED"
            quantity = Decimal(str(addition["quantity"])) + 1
            await s.publish(
                m.UsageReported(
                    vendor="pax8",
                    source=m.UsageSource.CSV,
                    batch_id="b2",
                    records=[
                        m.UsageRecord(
                            vendor_account_id="v-1",
                            vendor_account_name=variant,
                            sku=addition["product"]["identifier"],
                            sku_name=addition["description"],
                            quantity=quantity,
                            as_of=datetime.now(UTC),
                        ),
                        m.UsageRecord(
                            vendor_account_id="v-1",
                            vendor_account_name=variant,
                            sku=unbilled["product"]["identifier"],
                            sku_name=unbilled["description"],
                            quantity=Decimal(4),
                            as_of=datetime.now(UTC),
                        ),
                    ],
                )
            )

            async def suggested() -> dict[str, Any] | None:
                response = await s.client.get(
                    "/api/v1/mappings/accounts",
                    params={"status": "unmapped"},
                    headers=s.headers(),
                )
                assert response.status_code == 200, response.text
                items = [i for i in response.json()["items"] if i["vendor_account_id"] == "v-1"]
                # /api/v1 still serves the field's deprecated name beside the new one.
                assert all(i["vendor_account"] == i["vendor_account_id"] for i in items)
                return items[0] if items else None

            item = await eventually(suggested, timeout=30, what="the unmapped vendor account")
            best = item["suggestions"][0]
            assert best["account_id"] == str(company["id"])
            assert Decimal(best["score"]) >= 80
            assert best["reason"]
            unmapped = (await s.client.get("/api/v1/unmapped", headers=s.headers())).json()
            assert any(a["key"] == "v-1" for a in unmapped["accounts"])
            assert unmapped["count"] >= 1

            before = await _cards_for(s, str(addition["id"]))
            mapped = await s.client.post(
                "/api/v1/mappings/accounts",
                json={
                    "items": [
                        {
                            "vendor": "pax8",
                            "vendor_account_id": "v-1",
                            "action": "map",
                            "account_id": best["account_id"],
                        }
                    ]
                },
                headers=s.headers(),
            )
            assert mapped.status_code == 200, mapped.text
            after = await _cards_for(s, str(addition["id"]))
            assert Decimal(after[0]["vendor_quantity"]) == quantity
            new = [
                c
                for c in await s.cards(kind="new_revenue")
                if c["account_id"] == str(company["id"])
                and c["service_line_id"] == str(unbilled["product"]["id"])
            ]
            assert len(new) == 1
            assert new[0]["is_new"] is True
            assert Decimal(new[0]["vendor_quantity"]) == 4

            contracts = await s.client.get(
                f"/api/v1/accounts/{company['id']}/contracts", headers=s.headers()
            )
            assert str(agreement["id"]) in [c["contract_id"] for c in contracts.json()["items"]]
            # Added at 2,000 a unit, 4 units are 8,000 a period: past the default money limit
            # of 5,000, whatever the catalogue price. The preview and the add both say so.
            card_url = f"/api/v1/cards/{new[0]['card_id']}"
            dear = await s.client.post(
                f"{card_url}/preview", json={"unit_price": "2000"}, headers=s.headers()
            )
            assert dear.status_code == 200, dear.text
            assert dear.json()["large_change"] == "8000 per period > 5000"
            unconfirmed = await s.client.post(
                f"{card_url}/add",
                json={"contract_id": str(agreement["id"]), "unit_price": "2000"},
                headers=s.headers(),
            )
            assert unconfirmed.status_code == 409, unconfirmed.text
            added = await s.client.post(
                f"/api/v1/cards/{new[0]['card_id']}/add",
                json={"contract_id": str(agreement["id"]), "unit_price": "9.50"},
                headers=s.headers(),
            )
            assert added.status_code == 202, added.text
            command = next(
                c for c in await _commands(s.nats_url, tenant) if c.card_id == new[0]["card_id"]
            )
            assert command.action == "add"
            assert command.line_item_psa_id is None
            assert command.contract_psa_id == str(agreement["id"])
            assert command.unit_price == Decimal("9.50")
            assert command.changes[0].quantity == 4
            assert (command.account_id, command.contract_name) == (
                str(company["id"]),
                agreement["name"],
            )

            # Unmapping restores the cards as they were before the mapping.
            unmap = await s.client.post(
                "/api/v1/mappings/accounts",
                # Under the field's deprecated name, as a client written before the rename.
                json={"items": [{"vendor": "pax8", "vendor_account": "v-1", "action": "unmap"}]},
                headers=s.headers(),
            )
            assert unmap.status_code == 200
            restored = await _cards_for(s, str(addition["id"]))
            assert restored[0]["vendor_quantity"] == before[0]["vendor_quantity"]
            assert restored[0]["kind"] == before[0]["kind"]

            # The activity log names both sides of each mapping and the add, files them
            # under the PSA account, and finds them by part of its name in another case.
            account = company["name"]
            part = account.swapcase()[1:-1]

            async def named_entries() -> list[dict[str, Any]] | None:
                response = await s.client.get(
                    "/api/v1/activity", params={"account": part}, headers=s.headers()
                )
                assert response.status_code == 200, response.text
                items: list[dict[str, Any]] = response.json()["items"]
                kinds = [i["action_type"] for i in items]
                return items if kinds.count("mapping") == 2 and "add" in kinds else None

            entries = await eventually(named_entries, timeout=30, what="the named entries")
            summaries = {e["summary"] for e in entries if e["action_type"] != "writeback"}
            assert summaries == {
                f"Mapped Pax8 {variant} → {account}",
                f"Added {new[0]['service_line']} to {account} at quantity 4 "
                f"on contract “{agreement['name']}”",
                f"Unmapped Pax8 {variant} from {account}",
            }
            # The add's entry has its price in the currency of the contract it went to.
            (contract,) = [
                c for c in contracts.json()["items"] if c["contract_id"] == str(agreement["id"])
            ]
            (add_entry,) = [e for e in entries if e["action_type"] == "add"]
            assert (add_entry["price_after"], add_entry["currency"]) == (
                "9.5",
                contract["currency"],
            )


class TestActions:
    async def test_dismiss_restore_bulk_and_rules(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, other = tenant_ids
        _agreement, addition, company = _billed_line(connectwise.app.state.store)
        async with stack(clean_nats, databases, tenant, other, connectwise) as s:
            cards = await eventually(lambda: s.cards(), timeout=60, what="cards")
            # Cards of other line items: the rule below needs this one still pending.
            first, second = [c for c in cards if c["line_item_id"] != str(addition["id"])][:2]
            dismissed = await s.client.post(
                f"/api/v1/cards/{first['card_id']}/dismiss",
                json={"reason": "later"},
                headers=s.headers(),
            )
            assert dismissed.status_code == 202
            assert first["card_id"] not in [c["card_id"] for c in await s.cards()]
            restored = await s.client.post(
                f"/api/v1/cards/{first['card_id']}/restore", headers=s.headers()
            )
            assert restored.status_code == 202
            assert restored.json()["state"] == "pending"
            assert first["card_id"] in [c["card_id"] for c in await s.cards()]

            bulk = await s.client.post(
                "/api/v1/cards/bulk",
                json={
                    "action": "dismiss",
                    "card_ids": [first["card_id"], second["card_id"], "nope"],
                },
                headers=s.headers(),
            )
            assert bulk.status_code == 200, bulk.text
            result = bulk.json()
            assert sorted(a["card_id"] for a in result["accepted"]) == sorted(
                [first["card_id"], second["card_id"]]
            )
            assert result["rejected"] == [
                {"card_id": "nope", "status": 404, "detail": "No card nope."}
            ]

            # A rule approves small growth on its own, and says so.
            rules = await s.client.put(
                "/api/v1/settings/rules",
                json=[{"name": "small growth", "max_units": "5", "direction": "increase"}],
                headers=s.headers(),
            )
            assert rules.status_code == 200, rules.text
            await s.publish(
                m.UsageReported(
                    vendor="pax8",
                    source=m.UsageSource.CONNECTOR,
                    batch_id="b3",
                    records=[
                        m.UsageRecord(
                            vendor_account_id="c-1",
                            vendor_account_name=company["name"],
                            sku=addition["product"]["identifier"],
                            sku_name=addition["description"],
                            quantity=Decimal(str(addition["quantity"])) + 2,
                            as_of=datetime.now(UTC),
                        )
                    ],
                )
            )

            async def auto_approved() -> m.ApplyWriteback | None:
                for command in await _commands(s.nats_url, tenant):
                    if command.line_item_psa_id == str(addition["id"]):
                        return command
                return None

            command = await eventually(auto_approved, timeout=30, what="the rule's approval")
            assert command.actor.kind == "rule"
            assert command.actor.id == "small growth"
            assert "+2" in command.actor.name
            hidden = await _cards_for(s, str(addition["id"]), include_hidden="true")
            assert hidden[0]["state"] == "approved"
            assert "small growth" in (hidden[0]["auto_approval"] or "")

            async def settings_logged() -> list[dict[str, Any]] | None:
                response = await s.client.get(
                    "/api/v1/activity", params={"action_type": "settings"}, headers=s.headers()
                )
                items: list[dict[str, Any]] = response.json()["items"]
                return items or None

            (changed, *_) = await eventually(settings_logged, timeout=30, what="the settings")
            assert changed["summary"] == (
                "Billing settings: cycle starts day 1, actual-days proration, 1 rule(s)"
            )


class TestWritebackEndToEnd:
    async def test_an_approval_reaches_the_psa_once_and_a_concurrent_edit_conflicts(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        # A simulator of its own: this test writes to it.
        with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as sim:
            control = SimulatorControl(sim.url)
            lines = _billed_lines(sim.app.state.store)
            (_a_agreement, a_item, a_company), (b_agreement, b_item, b_company) = (
                lines[0],
                next(line for line in lines[1:] if line[2]["id"] != lines[0][2]["id"]),
            )
            # The store's dicts are live: take the quantities before anything writes.
            a_quantity = Decimal(str(a_item["quantity"]))
            b_quantity = Decimal(str(b_item["quantity"]))
            async with stack(clean_nats, databases, tenant, other, sim, with_writeback=True) as s:
                await eventually(lambda: _cards_for(s, str(a_item["id"])), timeout=60, what="cards")
                records = []
                for i, (item, company) in enumerate(((a_item, a_company), (b_item, b_company))):
                    records.append(
                        m.UsageRecord(
                            vendor_account_id=f"acct-{i}",
                            vendor_account_name=company["name"],
                            sku=item["product"]["identifier"],
                            sku_name=item["description"],
                            quantity=(a_quantity, b_quantity)[i] + 2,
                            as_of=datetime.now(UTC),
                        )
                    )
                await s.publish(
                    m.UsageReported(
                        vendor="pax8",
                        source=m.UsageSource.CONNECTOR,
                        batch_id="wb",
                        records=records,
                    )
                )

                async def reconcile_cards() -> list[dict[str, Any]] | None:
                    cards = [
                        c
                        for item in (a_item, b_item)
                        for c in await _cards_for(s, str(item["id"]))
                        if c["kind"] == "reconcile"
                    ]
                    return cards if len(cards) == 2 else None

                a_card, b_card = await eventually(reconcile_cards, timeout=30, what="cards")
                await control.clear_writes()

                # Someone edits B in the PSA after the card was computed.
                edited = b_quantity + 7
                await control.edit(str(b_item["id"]), "quantity", int(edited))
                today = date.today().isoformat()
                for card in (a_card, b_card):
                    approved = await s.client.post(
                        f"/api/v1/cards/{card['card_id']}/approve",
                        json={"effective_date": today},
                        headers=s.headers(),
                    )
                    assert approved.status_code == 202, approved.text

                async def final(card_id: str) -> dict[str, Any] | None:
                    cards = await s.cards(include_hidden="true")
                    found = next((c for c in cards if c["card_id"] == card_id), None)
                    if found and found["state"] in ("applied", "conflict", "failed"):
                        return found
                    return None

                a_final = await eventually(lambda: final(a_card["card_id"]), timeout=60, what="A")
                b_final = await eventually(lambda: final(b_card["card_id"]), timeout=60, what="B")
                assert a_final["state"] == "applied"
                assert b_final["state"] == "conflict"
                assert str(edited) in (b_final["error"] or "")

                writes = await control.writes()
                touched = {w["path"] for w in writes}
                assert any(
                    f"/additions/{a_item['id']}" in path
                    or f"/agreements/{a_item['agreementId']}/additions" in path
                    for path in touched
                )
                assert not any(f"/additions/{b_item['id']}" in path for path in touched)
                store = sim.app.state.store
                target = a_quantity + 2
                billed = [
                    Decimal(str(add["quantity"]))
                    for add in store.additions.values()
                    if add["agreementId"] == a_item["agreementId"]
                    and add["product"]["id"] == a_item["product"]["id"]
                    and not add["cancelledDate"]
                ]
                assert billed == [target]
                assert len(writes) == 1

                # The activity log has the approval and the writeback outcomes.
                async def logged() -> list[dict[str, Any]] | None:
                    response = await s.client.get("/api/v1/activity", headers=s.headers())
                    items: list[dict[str, Any]] = response.json()["items"]
                    outcomes = {i["outcome"] for i in items if i["action_type"] == "writeback"}
                    return items if {"applied", "conflict"} <= outcomes else None

                entries = await eventually(logged, timeout=30, what="the activity log")
                assert sum(1 for e in entries if e["action_type"] == "approve") == 2
                refused = next(e for e in entries if e["outcome"] == "conflict")
                assert refused["summary"] == (
                    f"Not written: {b_card['service_line']} for {b_company['name']} is "
                    f"{edited} in ConnectWise contract “{b_agreement['name']}”, "
                    f"the card showed {b_quantity}"
                )
