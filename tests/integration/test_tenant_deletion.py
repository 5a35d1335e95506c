"""Deleting a tenant removes its rows from every table of every service, and leaves another
tenant's untouched; the audit log keeps the operator's records of the tenants (created,
invited, suspended, resumed, deleted), naming the operator who acted.

Every service runs on its own database against a real nats-server; the two tenants get
data the way they would in use: an invite accepted, a PSA connection synced from the
ConnectWise simulator (cards follow), a signed vendor webhook, a writeback job.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from tests.conftest import Databases
from tests.support import eventually, running_gateway, running_service, settings_for
from trueup.audit.main import build as build_audit
from trueup.audit.models import Entry
from trueup.audit.models import metadata as audit_tables
from trueup.audit.settings import Settings as AuditSettings
from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.devstack.psa_simulators import connectwise as cw_sim
from trueup.devstack.psa_simulators.server import SimulatorServer
from trueup.gateway.identity.principal import Role
from trueup.gateway.identity.service import create_api_key
from trueup.gateway.models import metadata as gateway_tables
from trueup.gateway.settings import Settings as GatewaySettings
from trueup.platform.broker import publish_envelope
from trueup.platform.database import Database
from trueup.platform.secrets import CredentialSealer
from trueup.platform.service import ServiceRuntime
from trueup.platform.tenants import OPERATOR_SCOPE, tenant_tables
from trueup.psa_sync.main import build as build_psa_sync
from trueup.psa_sync.models import metadata as psa_sync_tables
from trueup.psa_sync.settings import Settings as PsaSyncSettings
from trueup.reconciliation.main import build as build_reconciliation
from trueup.reconciliation.models import metadata as reconciliation_tables
from trueup.reconciliation.settings import Settings as ReconciliationSettings
from trueup.vendor_ingestion.main import build as build_ingestion
from trueup.vendor_ingestion.models import metadata as ingestion_tables
from trueup.vendor_ingestion.settings import Settings as IngestionSettings
from trueup.vendors.webhooks import signed_headers
from trueup.writeback.main import build as build_writeback
from trueup.writeback.models import metadata as writeback_tables
from trueup.writeback.settings import Settings as WritebackSettings

OPERATOR_TOKEN = "op_integration_" + "z" * 32
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture(scope="module")
def connectwise() -> Iterator[SimulatorServer]:
    with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as server:
        yield server


@dataclass
class Service:
    name: str
    database: Database
    tables: sa.MetaData


@dataclass
class Stack:
    gateway: httpx.AsyncClient
    ingestion: httpx.AsyncClient
    gateway_runtime: ServiceRuntime
    services: list[Service]

    async def rows(self, tenant_id: str) -> dict[str, int]:
        """`service.table` → rows of the tenant, over every table of every service."""
        counts: dict[str, int] = {}
        for service in self.services:
            async with service.database.transaction(tenant_id, readonly=True) as session:
                for table in tenant_tables(service.tables):
                    counts[f"{service.name}.{table.name}"] = int(
                        await session.scalar(
                            sa.select(sa.func.count())
                            .select_from(table)
                            .where(table.c.tenant_id == tenant_id)
                        )
                        or 0
                    )
        return counts


@asynccontextmanager
async def stack(
    nats_url: str, databases: Databases, connectwise: SimulatorServer
) -> AsyncIterator[Stack]:
    async with AsyncExitStack() as exits:
        keys = CredentialSealer.generate_key()
        built: list[tuple[str, ServiceRuntime, sa.MetaData]] = []
        for name, build, settings_class, tables, extra in (
            (
                "reconciliation",
                build_reconciliation,
                ReconciliationSettings,
                reconciliation_tables,
                {},
            ),
            (
                "psa_sync",
                build_psa_sync,
                PsaSyncSettings,
                psa_sync_tables,
                {"scheduler_tick_seconds": 0.1},
            ),
            (
                "writeback",
                build_writeback,
                WritebackSettings,
                writeback_tables,
                {"writeback_poll_seconds": 0.2},
            ),
            ("audit", build_audit, AuditSettings, audit_tables, {}),
        ):
            settings = await settings_for(
                settings_class, databases, nats_url, credential_keys=keys, **extra
            )
            runtime, _app = await exits.enter_async_context(running_service(build, settings))
            built.append((name, runtime, tables))
        ingestion_settings = await settings_for(
            IngestionSettings, databases, nats_url, connector_tick_seconds=3600.0
        )
        ingestion_runtime, ingestion_app = await exits.enter_async_context(
            running_service(build_ingestion, ingestion_settings)
        )
        built.append(("vendor_ingestion", ingestion_runtime, ingestion_tables))
        gateway_settings = await settings_for(
            GatewaySettings,
            databases,
            nats_url,
            bootstrap_tenant_id="bootstrap",
            operator_token=SecretStr(OPERATOR_TOKEN),
        )
        running = await exits.enter_async_context(
            running_gateway(gateway_settings, base_url="https://gateway")
        )
        gateway_runtime, gateway = running.runtime, running.client
        built.append(("gateway", gateway_runtime, gateway_tables))
        ingestion = await exits.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=ingestion_app), base_url="http://ingestion"
            )
        )
        services = [Service(name, runtime.database, tables) for name, runtime, tables in built]
        yield Stack(gateway, ingestion, gateway_runtime, services)


async def _tenant_in_use(s: Stack, name: str, connectwise: SimulatorServer) -> str:
    """A tenant with data in every service; its id."""
    created = await s.gateway.post(
        "/api/v1/operator/tenants", json={"name": name}, headers=OPERATOR
    )
    assert created.status_code == 201, created.text
    tenant_id: str = created.json()["tenant_id"]
    token = created.json()["invite"]["invite_url"].rsplit("/", 1)[1]
    admin = {"name": "Admin", "email": f"admin@{tenant_id}.example", "password": "x" * 16}
    accepted = await s.gateway.post(f"/api/v1/auth/invites/{token}", json=admin)
    assert accepted.status_code == 201, accepted.text
    s.gateway.cookies.clear()
    async with s.gateway_runtime.database.transaction() as session:
        _row, key = await create_api_key(session, tenant_id, "script", Role.ADMIN)
    auth = {"Authorization": f"Bearer {key}"}

    saved = await s.gateway.post(
        "/api/v1/settings/psa",
        headers=auth,
        json={
            "psa": "connectwise",
            "name": "CW",
            "credentials": {
                "site": connectwise.url,
                "company_id": "trueup_demo",
                "public_key": "TrueUpDemoPublicKey",
                "private_key": "TrueUpDemoPrivateKey",
                "client_id": "tests",
            },
        },
    )
    assert saved.status_code == 200, saved.text
    connection_id = saved.json()["connection_id"]

    endpoint = await s.gateway.post(
        "/api/v1/webhooks", json={"vendor": "edr", "name": "EDR"}, headers=auth
    )
    assert endpoint.status_code == 201, endpoint.text
    body = json.dumps(
        {
            "records": [
                {"account_id": "org-1", "account_name": "Acme", "sku": "agent", "quantity": "3"}
            ]
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        **signed_headers(endpoint.json()["secret"], body),
    }
    hooked = await s.ingestion.post(
        endpoint.json()["endpoint"]["path"], content=body, headers=headers
    )
    assert hooked.status_code == 202, hooked.text

    command = m.ApplyWriteback(
        idempotency_key=f"{tenant_id}-job",
        card_id="card-1",
        action_id="action-1",
        action="approve",
        actor=m.Actor(kind="user", id="u1", name="Tester"),
        connection_id=connection_id,
        psa="connectwise",
        contract_psa_id="999999",
        line_item_psa_id="999999",
        expected_quantity=Decimal(1),
        changes=[m.ProratedChange(effective_date=date.today(), quantity=Decimal(2))],
    )
    envelope = wrap(command, tenant_id=tenant_id)
    await publish_envelope(
        s.gateway_runtime.broker,
        m.subject_for(m.ApplyWriteback, tenant_id),
        envelope.model_dump_json().encode(),
        envelope.event_id,
        envelope.correlation_id,
    )
    return tenant_id


def _by_service(rows: dict[str, int]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for key, count in rows.items():
        service = key.split(".", 1)[0]
        totals[service] = totals.get(service, 0) + count
    return totals


async def _has_data_everywhere(s: Stack, tenant_id: str) -> dict[str, int] | None:
    rows = await s.rows(tenant_id)
    expected = (
        "gateway.users",
        "gateway.invites",
        "gateway.api_keys",
        "psa_sync.psa_line_items",
        "reconciliation.cards",
        "vendor_ingestion.raw_usage",
        "writeback.jobs",
        "audit.activity_entries",
    )
    return rows if all(rows[table] > 0 for table in expected) else None


class TestTenantDeletion:
    async def test_every_service_deletes_the_tenants_rows_and_keeps_the_others(
        self, clean_nats: str, databases: Databases, connectwise: SimulatorServer
    ) -> None:
        async with stack(clean_nats, databases, connectwise) as s:
            doomed = await _tenant_in_use(s, "Doomed MSP", connectwise)
            kept = await _tenant_in_use(s, "Kept MSP", connectwise)
            await eventually(
                lambda: _has_data_everywhere(s, doomed), timeout=60, what="the doomed tenant's data"
            )
            before = await eventually(
                lambda: _has_data_everywhere(s, kept), timeout=60, what="the kept tenant's data"
            )

            # Suspending and resuming the other tenant is the operator's record too.
            for change in ("suspend", "resume"):
                answer = await s.gateway.post(
                    f"/api/v1/operator/tenants/{kept}/{change}", headers=OPERATOR
                )
                assert answer.status_code == 200, answer.text

            deleted = await s.gateway.delete(
                f"/api/v1/operator/tenants/{doomed}", headers={**OPERATOR, "X-Operator": "ada"}
            )
            assert deleted.status_code == 202

            async def gone() -> dict[str, int] | None:
                rows = await s.rows(doomed)
                return rows if not any(rows.values()) else {}

            try:
                await eventually(gone, timeout=60, what="every service to delete the tenant")
            except AssertionError:
                left = {table: n for table, n in (await s.rows(doomed)).items() if n}
                raise AssertionError(f"rows left for the deleted tenant: {left}") from None

            after = await s.rows(kept)
            assert set(_by_service(after)) == set(_by_service(before))
            for table, count in before.items():
                assert after[table] >= count, table
            listed = await s.gateway.get("/api/v1/operator/tenants", headers=OPERATOR)
            assert doomed not in {t["tenant_id"] for t in listed.json()}
            assert kept in {t["tenant_id"] for t in listed.json()}

            audit = next(service for service in s.services if service.name == "audit")

            async def operator_records() -> list[Entry] | None:
                async with audit.database.transaction(OPERATOR_SCOPE, readonly=True) as session:
                    records = list(
                        await session.scalars(
                            sa.select(Entry)
                            .where(Entry.tenant_id == OPERATOR_SCOPE)
                            .order_by(Entry.occurred_at)
                        )
                    )
                return records if len(records) == 7 else None

            records = await eventually(operator_records, what="the operator's audit records")
            assert [(r.event_type, r.account_id, r.actor_name) for r in records] == [
                (m.TenantCreated.message_type, doomed, "operator token"),
                (m.TenantInviteIssued.message_type, doomed, "operator token"),
                (m.TenantCreated.message_type, kept, "operator token"),
                (m.TenantInviteIssued.message_type, kept, "operator token"),
                (m.TenantStatusChanged.message_type, kept, "operator token"),
                (m.TenantStatusChanged.message_type, kept, "operator token"),
                (m.TenantDeleted.message_type, doomed, "ada"),
            ]
            assert [r.summary.split()[-1] for r in records[4:]] == ["suspended", "resumed", "data"]
            assert "Doomed MSP" in records[-1].summary

            # The operator reads the same records through the gateway, newest first; any
            # other credential is refused.
            page = await s.gateway.get("/api/v1/operator/activity", headers=OPERATOR)
            assert page.status_code == 200, page.text
            assert [e["summary"] for e in page.json()["items"]] == [
                r.summary for r in reversed(records)
            ]
            refused = await s.gateway.get(
                "/api/v1/operator/activity", headers={"Authorization": "Bearer not-the-token"}
            )
            assert refused.status_code == 401
