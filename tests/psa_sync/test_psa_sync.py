"""psa_sync against the ConnectWise simulator and a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import nats
import pytest
import sqlalchemy as sa

from tests.conftest import Databases
from tests.support import eventually, running_service, settings_for
from trueup.contracts import Envelope, wrap
from trueup.contracts import messages as m
from trueup.devstack.psa_simulators import connectwise as cw_sim
from trueup.devstack.psa_simulators.common import iso
from trueup.devstack.psa_simulators.server import SimulatorControl, SimulatorServer
from trueup.platform.broker import ask, publish_envelope
from trueup.platform.secrets import CredentialSealer
from trueup.platform.tenants import SuspensionRepository
from trueup.psa_sync.main import build
from trueup.psa_sync.models import PsaContractRow, PsaLineItemRow
from trueup.psa_sync.repository import ConnectionRepository
from trueup.psa_sync.service import Syncer
from trueup.psa_sync.settings import Settings

ACTOR = m.Actor(kind="user", id="u1", name="Test")


@pytest.fixture(scope="module")
def connectwise() -> Iterator[SimulatorServer]:
    with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as server:
        yield server


def cw_credentials(url: str, private_key: str = "TrueUpDemoPrivateKey") -> dict[str, str]:
    return {
        "site": url,
        "company_id": "trueup_demo",
        "public_key": "TrueUpDemoPublicKey",
        "private_key": private_key,
        "client_id": "tests",
    }


async def _settings(databases: Databases, nats_url: str) -> Settings:
    return await settings_for(
        Settings,
        databases,
        nats_url,
        credential_keys=CredentialSealer.generate_key(),
        scheduler_tick_seconds=0.1,
        snapshot_batch_size=100,
        psa_retry_seconds=2.0,
    )


async def _query(runtime: Any, tenant: str, payload: m.Payload, reply: type[Any]) -> Any:
    subject = m.subject_for(type(payload), tenant)
    answer = await ask(runtime.broker, subject, wrap(payload, tenant_id=tenant), reply, timeout=30)
    return answer


async def _connect(runtime: Any, tenant: str, credentials: dict[str, str]) -> Any:
    """Save a ConnectWise connection for the tenant (its first sync starts at once)."""
    request = m.SavePsaConnection(
        psa="connectwise", name="CW", credentials=credentials, actor=ACTOR
    )
    return await _query(runtime, tenant, request, m.PsaConnectionStatus)


async def _first_sync(runtime: Any, tenant: str) -> m.SyncStatus:
    """The sync status once the tenant's first sync has finished well."""

    async def synced() -> m.SyncStatus | None:
        reply = await _query(runtime, tenant, m.GetSyncStatus(), m.SyncStatus)
        status: m.SyncStatus = reply.result
        return status if status.connections[0].status == "ok" else None

    return await eventually(synced, timeout=60, what="the first sync")


async def _snapshots(nats_url: str, tenant: str) -> list[m.PsaSnapshot]:
    """Every snapshot the stream holds for the tenant."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        sub = await js.pull_subscribe(f"psa.{tenant}.snapshot.v1", stream="PSA")
        out: list[m.PsaSnapshot] = []
        while True:
            try:
                batch = await sub.fetch(100, timeout=1)
            except TimeoutError:
                break
            for msg in batch:
                out.append(Envelope[m.PsaSnapshot].model_validate_json(msg.data).payload)
                await msg.ack()
        return out
    finally:
        await connection.close()


async def _publish(runtime: Any, tenant: str, payload: m.Payload) -> None:
    envelope = wrap(payload, tenant_id=tenant)
    await publish_envelope(
        runtime.broker,
        m.subject_for(type(payload), tenant),
        envelope.model_dump_json().encode(),
        envelope.event_id,
        envelope.correlation_id,
    )


class TestFullSync:
    async def test_only_active_contracts_and_their_line_items_reach_reconciliation(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, other = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            saved = await _connect(runtime, tenant, cw_credentials(connectwise.url))
            assert saved.error is None
            connection_id = saved.result.connection_id

            status = await _first_sync(runtime, tenant)
            store = connectwise.app.state.store
            # The simulator's own truth: active agreements and their active accounts.
            agreements = [a for a in store.agreements.values() if a["agreementStatus"] == "Active"]
            active_accounts = {a["company"]["id"] for a in agreements}
            assert status.active_accounts == len(active_accounts)
            assert status.connections[0].contracts == len(agreements)
            assert status.connections[0].freshness_seconds is not None

            # The credentials never come back in clear.
            sealed = await _query(
                runtime,
                tenant,
                m.GetPsaConnection(connection_id=connection_id),
                m.PsaConnectionSealed,
            )
            assert "TrueUpDemoPrivateKey" not in sealed.result.sealed_credentials
            assert (
                settings.credential_sealer().open(sealed.result.sealed_credentials)["private_key"]
                == "TrueUpDemoPrivateKey"
            )

            # Another tenant sees none of it.
            foreign = await _query(
                runtime,
                other,
                m.GetPsaConnection(connection_id=connection_id),
                m.PsaConnectionSealed,
            )
            assert foreign.error is not None
            assert foreign.error.status == 404
            other_status = await _query(runtime, other, m.GetSyncStatus(), m.SyncStatus)
            assert other_status.result.connections == []

        snapshots = await _snapshots(clean_nats, tenant)
        published_contracts = {c.psa_id for s in snapshots for c in s.contracts}
        assert published_contracts == {str(a["id"]) for a in agreements}
        published_items = [li for s in snapshots for li in s.line_items]
        assert all(li.contract_psa_id in published_contracts for li in published_items)
        assert len(published_items) == len({li.psa_id for li in published_items})
        assert {a.psa_id for s in snapshots for a in s.accounts} == {
            str(i) for i in active_accounts
        }

    async def test_every_message_holds_at_most_a_batch_in_order(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        """A large MSP's accounts and contracts used to travel in one message, which passes
        the broker's 1 MB limit from a few thousand contracts on: the outbox could never
        send it and every later message waited behind it. A batch size of 10 shows the
        cut on the demo MSP."""
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        settings = settings.model_copy(update={"snapshot_batch_size": 10})
        async with running_service(build, settings) as (runtime, _app):
            await _connect(runtime, tenant, cw_credentials(connectwise.url))

            await _first_sync(runtime, tenant)

        snapshots = await _snapshots(clean_nats, tenant)
        kinds = [
            "accounts",
            "contracts",
            "line_items",
            "removed_contract_ids",
            "removed_line_item_ids",
        ]
        filled = [[k for k in kinds if getattr(s, k)] for s in snapshots]
        assert all(len(getattr(s, k)) <= 10 for s in snapshots for k in kinds)
        # (A step that found nothing, such as the first sync's removals, says so empty.)
        assert all(len(f) <= 1 for f in filled), "one kind of list a message"
        # Accounts before contracts before line items: each arrives after what it names.
        order = [kinds.index(f[0]) for f in filled if f]
        assert order[: order.index(2)] == sorted(order[: order.index(2)])
        assert [s.batch_no for s in snapshots] == list(range(len(snapshots)))
        store = connectwise.app.state.store
        active = [a for a in store.agreements.values() if a["agreementStatus"] == "Active"]
        assert len(active) > 10, "the demo MSP must need several messages of contracts"
        assert {c.psa_id for s in snapshots for c in s.contracts} == {str(a["id"]) for a in active}


class TestResilience:
    async def test_bad_credentials_are_a_status_not_a_crash(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            await _connect(runtime, tenant, cw_credentials(connectwise.url, private_key="wrong"))

            async def failed() -> m.PsaConnectionStatus | None:
                reply = await _query(runtime, tenant, m.GetSyncStatus(), m.SyncStatus)
                status: m.PsaConnectionStatus = reply.result.connections[0]
                return status if status.status == "bad_credentials" else None

            status = await eventually(failed, timeout=30, what="bad_credentials status")
            assert status.last_error
            assert "wrong" not in status.last_error

    async def test_a_sync_that_dies_part_way_is_completed_by_the_next_one(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
    ) -> None:
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        # A simulator of its own: the faults below must not leak into other tests.
        with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as sim:
            control = SimulatorControl(sim.url)
            # Every request fails after the first few: the first sync dies mid-paging.
            await control.set_faults(error_rate=1.0)
            async with running_service(build, settings) as (runtime, _app):
                await _connect(runtime, tenant, cw_credentials(sim.url))

                async def errored() -> bool | None:
                    reply = await _query(runtime, tenant, m.GetSyncStatus(), m.SyncStatus)
                    return reply.result.connections[0].status == "error" or None

                await eventually(errored, timeout=60, what="the failed sync")
                await control.set_faults()
                await _publish(runtime, tenant, m.SyncPsa(full=True))

                async def recovered() -> bool | None:
                    reply = await _query(runtime, tenant, m.GetSyncStatus(), m.SyncStatus)
                    return reply.result.connections[0].status == "ok" or None

                await eventually(recovered, timeout=60, what="the recovering sync")
                store = sim.app.state.store
                async with runtime.database.transaction(tenant) as session:
                    items = await session.scalar(
                        sa.select(sa.func.count()).select_from(PsaLineItemRow)
                    )
                    contracts = await session.scalar(
                        sa.select(sa.func.count()).select_from(PsaContractRow)
                    )
                assert items == len(store.additions)
                assert contracts == len(store.agreements)
        await asyncio.sleep(0)


class TestSuspendedTenant:
    async def test_its_syncs_are_skipped_until_it_is_resumed(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            saved = await _connect(runtime, tenant, cw_credentials(connectwise.url))
            connection_id = saved.result.connection_id
            # The scheduler's own syncer, driven directly: a slot it claims runs this.
            syncer = _syncer(runtime, settings)

            async def syncs_done() -> int:
                async with runtime.database.transaction(tenant) as session:
                    row = await ConnectionRepository(session, tenant).get(connection_id)
                    assert row is not None
                    return row.syncs_done

            async def suspended(expected: bool) -> bool | None:
                async with runtime.database.transaction(tenant) as session:
                    found = await SuspensionRepository(session, tenant).is_suspended()
                return found is expected or None

            async def synced_once() -> bool | None:
                return await syncs_done() == 1 or None

            await eventually(synced_once, timeout=60, what="the first sync")

            # The operator suspends the tenant: the status event reaches psa_sync's copy,
            # and a sync that falls due reads nothing from the PSA.
            await _publish(runtime, tenant, m.TenantStatusChanged(status="suspended", actor=ACTOR))
            await eventually(partial(suspended, True), timeout=30, what="the suspension")
            control = SimulatorControl(connectwise.url)
            requests = (await control.stats())["requests"]
            assert await syncer.run(tenant, connection_id, full=True) is None
            assert await syncs_done() == 1
            assert (await control.stats())["requests"] == requests

            await _publish(runtime, tenant, m.TenantStatusChanged(status="active", actor=ACTOR))
            await eventually(partial(suspended, False), timeout=30, what="the resumption")
            outcome = await syncer.run(tenant, connection_id, full=True)
            assert outcome is not None
            assert await syncs_done() == 2


class TestIncrementalSync:
    async def test_it_sends_on_only_what_differs_from_what_was_sent(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        # An incremental sync re-reads a few minutes before its watermark, and every
        # applied writeback asks for one: each used to send on everything it re-read.
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            saved = await _connect(runtime, tenant, cw_credentials(connectwise.url))
            await _first_sync(runtime, tenant)
            first = await _snapshots(clean_nats, tenant)
            billed = [item.psa_id for s in first for item in s.line_items][:5]
            additions = {str(a["id"]): a for a in connectwise.app.state.store.additions.values()}
            # Five additions the PSA stamps as just updated, one with a new quantity.
            for psa_id in billed:
                additions[psa_id]["_info"]["lastUpdated"] = iso(datetime.now(UTC))
            changed = additions[billed[0]]
            changed["quantity"] = changed["billedQuantity"] = changed["quantity"] + 3
            outcome = await _syncer(runtime, settings).run(
                tenant, saved.result.connection_id, full=False
            )
            assert outcome is not None
            assert not outcome.full

            async def relayed() -> list[m.PsaSnapshot] | None:
                found = (await _snapshots(clean_nats, tenant))[len(first) :]
                return found if len(found) == outcome.batches else None

            sent = await eventually(relayed, timeout=30, what="the sync's snapshots")
        assert [item.psa_id for s in sent for item in s.line_items] == [billed[0]]
        assert next(item for s in sent for item in s.line_items).quantity == Decimal(
            str(changed["quantity"])
        )
        assert not any(s.contracts or s.removed_line_item_ids for s in sent)


def _syncer(runtime: Any, settings: Settings) -> Syncer:
    """A syncer like the scheduler's, to run a sync of one's choosing directly."""
    return Syncer(
        runtime.database,
        settings.credential_sealer(),
        policy=settings.outbound_policy(),
        batch_size=settings.snapshot_batch_size,
        full_sync_after=settings.full_sync_after(),
        timeout=settings.psa_timeout_seconds,
        retry_seconds=settings.psa_retry_seconds,
    )


class TestFullSyncs:
    async def test_a_full_sync_is_due_by_the_age_of_the_last_not_by_how_many_ran(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        # Every applied writeback asks for a sync: counting syncs made every Nth of a
        # busy tenant's read its whole PSA again.
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        settings = settings.model_copy(update={"full_sync_every": 2})
        async with running_service(build, settings) as (runtime, _app):
            saved = await _connect(runtime, tenant, cw_credentials(connectwise.url))
            connection_id = saved.result.connection_id
            syncer = _syncer(runtime, settings)

            async def last_full_sync() -> datetime | None:
                async with runtime.database.transaction(tenant) as session:
                    row = await ConnectionRepository(session, tenant).get(connection_id)
                    assert row is not None
                    return row.last_full_sync_at if row.syncs_done else None

            await eventually(last_full_sync, timeout=60, what="the first (full) sync")
            first_full = await last_full_sync()
            kinds = []
            for _ in range(4):
                outcome = await syncer.run(tenant, connection_id, full=False)
                assert outcome is not None
                assert outcome.succeeded
                kinds.append(outcome.full)
            assert kinds == [False] * 4
            assert await last_full_sync() == first_full

            # Two sync intervals later, the next sync reads the whole PSA.
            async with runtime.database.transaction(tenant) as session:
                row = await ConnectionRepository(session, tenant).get(connection_id)
                assert row is not None
                assert row.last_full_sync_at is not None
                row.last_full_sync_at -= settings.full_sync_after()
            outcome = await syncer.run(tenant, connection_id, full=False)
            assert outcome is not None
            assert outcome.full
            later = await last_full_sync()
            assert first_full is not None
            assert later is not None
            assert later > first_full


def _applied(item: m.PsaLineItem, quantity: Decimal, *, n: int = 1) -> m.WritebackApplied:
    """The `n`th writeback's outcome: `item` set to `quantity`, undated."""
    return m.WritebackApplied(
        job_id=f"job-{n}",
        actor=ACTOR,
        idempotency_key=f"k-{n}",
        card_id=f"card-{n}",
        action_id=f"a-{n}",
        psa="connectwise",
        contract_psa_id=item.contract_psa_id,
        line_item_psa_id=item.psa_id,
        quantity_before=item.quantity,
        quantity_after=quantity,
        effective_date=None,
    )


class TestResyncAfterWriteback:
    async def test_an_applied_writeback_reads_only_its_contract_again(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        # A sync after every writeback read every agreement's additions (ConnectWise has
        # no listing across agreements): thousands of requests per approval on a large
        # MSP. Only the written contract changed.
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            await _connect(runtime, tenant, cw_credentials(connectwise.url))
            await _first_sync(runtime, tenant)
            first = await _snapshots(clean_nats, tenant)
            by_contract: dict[str, list[m.PsaLineItem]] = {}
            for sent_item in (i for s in first for i in s.line_items):
                by_contract.setdefault(sent_item.contract_psa_id, []).append(sent_item)
            item, deleted = next(items for items in by_contract.values() if len(items) > 1)[:2]
            control = SimulatorControl(connectwise.url)
            # The writeback's change, as the PSA now holds it; and someone deleted another
            # addition of the agreement in the PSA.
            await control.edit(item.psa_id, "quantity", int(item.quantity) + 4)
            store = connectwise.app.state.store
            del store.additions[int(deleted.psa_id)]
            store.by_agreement[int(deleted.contract_psa_id)].remove(int(deleted.psa_id))
            requests = (await control.stats())["requests"]
            await _publish(runtime, tenant, _applied(item, item.quantity + 4))

            async def refreshed() -> list[m.PsaSnapshot] | None:
                sent = (await _snapshots(clean_nats, tenant))[len(first) :]
                return sent if any(s.removed_line_item_ids for s in sent) else None

            sent = await eventually(refreshed, timeout=60, what="the contract read again")
            assert [(i.psa_id, i.quantity) for s in sent for i in s.line_items] == [
                (item.psa_id, item.quantity + 4)
            ]
            assert [i for s in sent for i in s.removed_line_item_ids] == [deleted.psa_id]
            agreements = len(connectwise.app.state.store.agreements)
            assert (await control.stats())["requests"] - requests <= 2 < agreements

    async def test_the_writebacks_of_a_moment_share_one_read(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        # Each writeback read its contract again at once: a tenant approving cards one by
        # one cost a refresh, and a batch for reconciliation to apply, per approval.
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            await _connect(runtime, tenant, cw_credentials(connectwise.url))
            await _first_sync(runtime, tenant)
            first = await _snapshots(clean_nats, tenant)
            one_per_contract = {i.contract_psa_id: i for s in first for i in s.line_items}
            items = list(one_per_contract.values())[:2]
            control = SimulatorControl(connectwise.url)
            for n, item in enumerate(items):
                # The writeback's change, as the PSA now holds it.
                await control.edit(item.psa_id, "quantity", int(item.quantity) + 1)
                await _publish(runtime, tenant, _applied(item, item.quantity + 1, n=n))
                await asyncio.sleep(0.3)

            async def read_again() -> list[m.PsaSnapshot] | None:
                sent = (await _snapshots(clean_nats, tenant))[len(first) :]
                contracts = {i.contract_psa_id for s in sent for i in s.line_items}
                return sent if contracts >= {i.contract_psa_id for i in items} else None

            sent = await eventually(read_again, timeout=60, what="both contracts read again")
            assert len({s.sync_id for s in sent}) == 1

    async def test_a_conflict_reads_the_psa_again(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        """A conflict means the PSA holds what the projection does not: the card must show
        the PSA's quantity again before anyone approves it anew."""
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            saved = await _connect(runtime, tenant, cw_credentials(connectwise.url))
            connection_id = saved.result.connection_id

            async def syncs_done(expected: int) -> bool | None:
                async with runtime.database.transaction(tenant) as session:
                    row = await ConnectionRepository(session, tenant).get(connection_id)
                    assert row is not None
                    return row.syncs_done == expected or None

            await eventually(partial(syncs_done, 1), timeout=60, what="the first sync")
            conflict = m.WritebackConflict(
                job_id="job-1",
                actor=ACTOR,
                idempotency_key="k-1",
                card_id="card-1",
                action_id="a-1",
                psa="connectwise",
                contract_psa_id="1",
                line_item_psa_id="1",
                quantity_before=None,
                quantity_after=None,
                effective_date=None,
                expected_quantity=Decimal(10),
                found_quantity=Decimal(11),
            )
            await _publish(runtime, tenant, conflict)

            await eventually(partial(syncs_done, 2), timeout=60, what="the sync after a conflict")
