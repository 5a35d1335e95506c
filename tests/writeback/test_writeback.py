"""The writeback service against real NATS, real databases and the PSA simulators."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tests.support import running_service
from tests.writeback.conftest import Sim
from tests.writeback.harness import (
    ACTOR,
    AT_CONNECTION,
    CW_CONNECTION,
    TODAY,
    Commands,
    Outcomes,
    PsaSyncConnectionsStandIn,
    approve,
    demo_line_items,
    halo_credentials,
)
from trueup.contracts import new_id
from trueup.contracts.messages import ApplyWriteback, ProratedChange
from trueup.devstack.psa_simulators import halo as halo_sim
from trueup.devstack.psa_simulators.server import SimulatorControl, SimulatorServer
from trueup.platform.service import ServiceRuntime
from trueup.writeback.main import WritebackRuntime, build
from trueup.writeback.models import Job
from trueup.writeback.repository import JobRepository
from trueup.writeback.settings import Settings

APPLIED = "writeback.applied.v1"
CONFLICT = "writeback.conflict.v1"
FAILED = "writeback.failed.v1"


async def job_by_key(runtime: ServiceRuntime, tenant: str, key: str) -> Job | None:
    async with runtime.database.transaction(tenant) as session:
        return await JobRepository(session, tenant).get_by_key(key)


async def jobs_of(runtime: ServiceRuntime, tenant: str) -> list[Job]:
    async with runtime.database.transaction(tenant) as session:
        return await JobRepository(session, tenant).list_all()


def quantity_writes(writes: list[dict[str, Any]], line_item_id: str) -> list[dict[str, Any]]:
    """PATCHes of one addition's quantity."""
    return [
        w
        for w in writes
        if w["entity"] == "AgreementAddition"
        and w["method"] == "PATCH"
        and w["entity_id"] == line_item_id
        and any(op.get("path") == "quantity" for op in w["body"])
    ]


def cw_quantity(cw: Sim, line_item_id: Any) -> Decimal:
    return Decimal(str(cw.store.additions[int(line_item_id)]["quantity"]))


class TestApproveWritesOnce:
    async def test_approve_changes_the_quantity_in_connectwise_exactly_once(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1)[0]
        target = item.quantity + 3
        async with running_service(build, settings):
            command = approve(item, target).model_copy(
                update={
                    "account_name": "Acme, Inc.",
                    "account_id": "company-17",
                    "contract_name": "Managed Services",
                }
            )
            await commands.send(command)
            events = await outcomes.wait_for(1)
        assert [e["type"] for e in events] == [APPLIED]
        applied = events[0]["payload"]
        assert Decimal(applied["quantity_before"]) == item.quantity
        assert Decimal(applied["quantity_after"]) == target
        # The outcome names what it wrote, for an activity log that may see it first.
        assert {
            key: applied[key]
            for key in ("action", "account_name", "account_id", "service_line", "contract_name")
        } == {
            "action": "approve",
            "account_name": "Acme, Inc.",
            "account_id": "company-17",
            "service_line": item.product.name,
            "contract_name": "Managed Services",
        }
        assert applied["psa_record_url"].endswith(f"type=Agreement&id={item.contract_id}")
        assert applied["idempotency_key"] == command.idempotency_key
        assert cw_quantity(cw, item.id) == target
        assert len(quantity_writes(await cw.writes(), str(item.id))) == 1
        assert len(await cw.writes()) == 1  # ConnectWise's audit trail is the note

    async def test_an_approval_reads_the_line_item_to_check_and_to_verify_and_no_more(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        first, second = demo_line_items(2, skip=22)
        async with running_service(build, settings):
            # The first job opens the connection; the second is counted alone.
            await commands.send(approve(first, first.quantity + 1))
            await outcomes.wait_for(1)
            before = (await cw.control.stats())["requests"]
            await commands.send(approve(second, second.quantity + 1))
            events = await outcomes.wait_for(2)
            requests = (await cw.control.stats())["requests"] - before
        assert [e["type"] for e in events] == [APPLIED, APPLIED]
        # The check's read is handed to the write: a read, the PATCH, the verifying read.
        assert requests == 3
        assert cw_quantity(cw, second.id) == second.quantity + 1

    async def test_autotask_gets_one_adjustment_and_a_contract_note(
        self, settings: Settings, at: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=1)[0]
        target = item.quantity + 2
        async with running_service(build, settings):
            await commands.send(approve(item, target, psa="autotask", connection_id=AT_CONNECTION))
            events = await outcomes.wait_for(1)
        assert events[0]["type"] == APPLIED
        adjustments = await at.writes("ContractServiceAdjustment")
        assert len(adjustments) == 1
        assert adjustments[0]["body"]["unitChange"] == 2
        notes = [
            w for w in await at.writes("ContractNote") if "TrueUp" in w["body"].get("title", "")
        ]
        assert len(notes) == 1
        assert events[0]["payload"]["psa_record_url"].endswith(
            f"/Contracts/{item.contract_id}/Notes"
        )

    async def test_halo_gets_one_line_update(
        self,
        settings: Settings,
        psa_sync: PsaSyncConnectionsStandIn,
        commands: Commands,
        outcomes: Outcomes,
        tenant: str,
    ) -> None:
        item = demo_line_items(1, skip=20)[0]
        halo = halo_sim.create_app(halo_sim.HaloSimulatorConfig(today=TODAY))
        with SimulatorServer(halo) as server:
            psa_sync.connections["conn-halo"] = ("halo", halo_credentials(server.url))
            async with running_service(build, settings):
                await commands.send(
                    approve(item, item.quantity + 2, psa="halo", connection_id="conn-halo")
                )
                events = await outcomes.wait_for(1)
            writes = await SimulatorControl(server.url).writes()
        assert events[0]["type"] == APPLIED, events
        assert len(writes) == 1
        assert writes[0]["entity"] == "RecurringInvoiceLine"
        assert writes[0]["body"]["qty_order"] == int(item.quantity) + 2

    async def test_several_prorated_changes_are_written_in_date_order(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=2)[0]
        later, sooner = TODAY + timedelta(days=10), TODAY + timedelta(days=3)
        first, second = item.quantity + 1, item.quantity + 4
        # Given out of order: the later change must be written last.
        command = approve(item, second, changes=[(later, second), (sooner, first)], prorate=True)
        async with running_service(build, settings):
            await commands.send(command)
            events = await outcomes.wait_for(1)
        assert events[0]["type"] == APPLIED, events
        posts = [w for w in await cw.writes("AgreementAddition") if w["method"] == "POST"]
        assert [p["body"]["quantity"] for p in posts] == [int(first), int(second)]
        assert all(p["body"]["prorateCurrentPeriodFlag"] for p in posts)
        final_id = events[0]["payload"]["line_item_psa_id"]
        assert final_id == posts[1]["entity_id"]
        assert cw_quantity(cw, final_id) == second
        assert cw.store.additions[int(item.id)]["cancelledDate"] is not None
        assert len(events[0]["payload"]["written_ids"]) == 4  # two adds, two cancels


class TestConflict:
    async def test_an_out_of_band_edit_is_a_conflict_and_nothing_is_written(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=3)[0]
        # Someone changed the quantity in the PSA after the card was computed.
        await cw.control.edit(str(item.id), "quantity", int(item.quantity) + 10)
        async with running_service(build, settings) as (runtime, _app):
            await commands.send(approve(item, item.quantity + 1))
            events = await outcomes.wait_for(1)
            jobs = await jobs_of(runtime, tenant)
        assert [e["type"] for e in events] == [CONFLICT]
        conflict = events[0]["payload"]
        assert Decimal(conflict["expected_quantity"]) == item.quantity
        assert Decimal(conflict["found_quantity"]) == item.quantity + 10
        assert await cw.writes() == []
        assert cw_quantity(cw, item.id) == item.quantity + 10
        assert [(j.status, j.phase) for j in jobs] == [("conflict", "reported")]


class TestRepeatedCommands:
    async def test_a_repeated_command_with_the_same_key_writes_once(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=4)[0]
        command = approve(item, item.quantity + 1)
        async with running_service(build, settings) as (runtime, _app):
            # The gateway's client retried: a new envelope, the same idempotency key.
            await commands.send(command)
            await commands.send(command)
            await outcomes.wait_for(1)
            await _settle(runtime)
            jobs = await jobs_of(runtime, tenant)
        assert len(jobs) == 1
        assert len(outcomes.of_type(APPLIED)) == 1
        assert len(quantity_writes(await cw.writes(), str(item.id))) == 1

    async def test_a_redelivered_envelope_writes_once(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=5)[0]
        async with running_service(build, settings) as (runtime, _app):
            envelope = await commands.send(approve(item, item.quantity + 1))
            await outcomes.wait_for(1)
            # The same envelope again, past the stream's duplicate window (as after a
            # consumer's NAK or a stream restore): the inbox knows it.
            await commands.send(envelope.payload, envelope=envelope, msg_id="redelivery")
            await _settle(runtime)
            jobs = await jobs_of(runtime, tenant)
        assert len(jobs) == 1
        assert len(outcomes.of_type(APPLIED)) == 1
        assert len(quantity_writes(await cw.writes(), str(item.id))) == 1


async def _settle(runtime: ServiceRuntime) -> None:
    """Let the consumer see everything sent, then wait for the worker to go idle."""
    await asyncio.sleep(0.5)
    assert isinstance(runtime, WritebackRuntime)
    await runtime.worker.run_until_idle()


class SimulatedCrash(BaseException):
    """Stops a job's task dead, like a SIGKILL: nothing after it runs, nothing is committed.

    A BaseException, so the service's own error handling does not catch it, as it could
    not catch a kill.
    """


async def _crash_then_resume(
    settings: Settings,
    tenant: str,
    commands: Commands,
    command: Any,
    arm: Any,
) -> tuple[Job, Job]:
    """Run the command until `arm`'s trap fires, stop the process, start a fresh one.

    Returns the job as the crash left it and as the second process finished it.
    """
    crashed = asyncio.Event()
    async with running_service(build, settings) as (runtime, _app):
        assert isinstance(runtime, WritebackRuntime)
        client = await runtime.clients.client_for(tenant, command.connection_id)
        arm(client, crashed)
        await commands.send(command)
        await asyncio.wait_for(crashed.wait(), timeout=20)
        await asyncio.sleep(0.2)
    # The first process is gone; its job never reached a final state.
    async with running_service(build, settings) as (runtime, _app):
        assert isinstance(runtime, WritebackRuntime)
        left = await job_by_key(runtime, tenant, command.idempotency_key)
        assert left is not None
        await runtime.worker.run_until_idle()
        done = await job_by_key(runtime, tenant, command.idempotency_key)
        assert done is not None
    return left, done


class TestCrashResumesWithoutSendingTwice:
    async def test_crash_after_the_patch_before_recording_it(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=6)[0]
        command = approve(item, item.quantity + 2)

        def arm(client: Any, crashed: Any) -> None:
            write = client.change_quantity

            async def write_then_die(*args: Any, **kwargs: Any) -> Any:
                await write(*args, **kwargs)
                crashed.set()
                raise SimulatedCrash

            client.change_quantity = write_then_die

        left, done = await _crash_then_resume(settings, tenant, commands, command, arm)
        assert (left.status, left.phase) == ("active", "sending")
        assert (done.status, done.phase) == ("applied", "reported")
        assert len(quantity_writes(await cw.writes(), str(item.id))) == 1
        assert cw_quantity(cw, item.id) == item.quantity + 2
        assert len(await outcomes.wait_for(1)) == 1

    async def test_crash_before_the_patch_left(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=7)[0]
        command = approve(item, item.quantity + 1)

        def arm(client: Any, crashed: Any) -> None:
            async def die(*args: Any, **kwargs: Any) -> Any:
                crashed.set()
                raise SimulatedCrash

            client.change_quantity = die

        left, done = await _crash_then_resume(settings, tenant, commands, command, arm)
        assert left.phase == "sending"
        assert done.status == "applied"
        assert len(quantity_writes(await cw.writes(), str(item.id))) == 1
        assert cw_quantity(cw, item.id) == item.quantity + 1

    async def test_crash_between_the_add_and_the_cancel_of_cancel_and_add(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=8)[0]
        target = item.quantity + 5
        command = approve(item, target, changes=[(TODAY, target)], prorate=True)

        def arm(client: Any, crashed: Any) -> None:
            request = client._request

            async def die_before_cancel(method: str, path: str, **kwargs: Any) -> Any:
                body = kwargs.get("json_body")
                if method == "PATCH" and isinstance(body, list) and "cancelledDate" in str(body):
                    crashed.set()
                    raise SimulatedCrash
                return await request(method, path, **kwargs)

            client._request = die_before_cancel

        left, done = await _crash_then_resume(settings, tenant, commands, command, arm)
        assert left.phase == "sending"
        assert done.status == "applied"
        writes = await cw.writes("AgreementAddition")
        posts = [w for w in writes if w["method"] == "POST"]
        cancels = [w for w in writes if w["method"] == "PATCH"]
        assert len(posts) == 1, writes
        assert len(cancels) == 1, writes
        assert cancels[0]["entity_id"] == str(item.id)
        assert done.line_item_id == posts[0]["entity_id"]
        assert cw_quantity(cw, posts[0]["entity_id"]) == target
        assert cw.store.additions[int(item.id)]["cancelledDate"] is not None

    async def test_crash_after_adding_a_new_line_item(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=9)[0]
        command = ApplyWriteback(
            idempotency_key=new_id(),
            card_id="card-new-revenue",
            action_id=new_id(),
            action="add",
            actor=ACTOR,
            connection_id=CW_CONNECTION,
            psa="connectwise",
            contract_psa_id=str(item.contract_id),
            line_item_psa_id=None,
            product_id=str(item.product.id),
            product_name=item.product.name,
            expected_quantity=None,
            changes=[ProratedChange(effective_date=TODAY, quantity=Decimal(7))],
            unit_price=Decimal("12.50"),
            unit_cost=Decimal("8.00"),
        )

        def arm(client: Any, crashed: Any) -> None:
            add = client.add_line_item

            async def add_then_die(*args: Any, **kwargs: Any) -> Any:
                await add(*args, **kwargs)
                crashed.set()
                raise SimulatedCrash

            client.add_line_item = add_then_die

        left, done = await _crash_then_resume(settings, tenant, commands, command, arm)
        assert left.phase == "sending"
        assert done.status == "applied"
        posts = [w for w in await cw.writes("AgreementAddition") if w["method"] == "POST"]
        assert len(posts) == 1
        assert done.line_item_id == posts[0]["entity_id"]
        assert cw_quantity(cw, posts[0]["entity_id"]) == Decimal(7)

    async def test_crash_after_the_autotask_note_before_reporting(
        self, settings: Settings, at: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=21)[0]
        command = approve(item, item.quantity + 3, psa="autotask", connection_id=AT_CONNECTION)

        def arm(client: Any, crashed: Any) -> None:
            note = client.add_contract_note

            async def note_then_die(*args: Any, **kwargs: Any) -> Any:
                await note(*args, **kwargs)
                crashed.set()
                raise SimulatedCrash

            client.add_contract_note = note_then_die

        left, done = await _crash_then_resume(settings, tenant, commands, command, arm)
        assert left.phase == "verified"
        assert done.status == "applied"
        assert len(await at.writes("ContractServiceAdjustment")) == 1
        assert len(await at.writes("ContractNote")) == 1


class TestPsaFaults:
    async def test_a_429_storm_is_waited_out(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=10)[0]
        await cw.control.set_faults(rate_limit_next=8, retry_after=0)
        async with running_service(build, settings):
            await commands.send(approve(item, item.quantity + 1))
            events = await outcomes.wait_for(1)
        assert events[0]["type"] == APPLIED
        assert (await cw.control.stats())["statuses"]["429"] == 8
        assert len(quantity_writes(await cw.writes(), str(item.id))) == 1

    async def test_a_500_storm_is_retried_until_applied(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        items = demo_line_items(8, skip=11)
        await cw.control.set_faults(fail_next=6, error_rate=0.3)
        async with running_service(build, settings):
            for item in items:
                await commands.send(approve(item, item.quantity + 1))
            events = await outcomes.wait_for(len(items), timeout=40)
        assert {e["type"] for e in events} == {APPLIED}
        writes = await cw.writes()
        for item in items:
            assert len(quantity_writes(writes, str(item.id))) == 1
            assert cw_quantity(cw, item.id) == item.quantity + 1
        assert (await cw.control.stats())["statuses"]["500"] >= 6

    async def test_persistent_failure_is_dead_lettered_and_a_retry_applies_it(
        self, settings: Settings, cw: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=19)[0]
        await cw.control.set_faults(fail_writes_next=1000)
        async with running_service(build, settings) as (runtime, _app):
            command = approve(item, item.quantity + 4)
            await commands.send(command)
            events = await outcomes.wait_for(1, timeout=30)
            failed = events[0]
            assert failed["type"] == FAILED
            assert failed["payload"]["dead_lettered"] is True
            assert failed["payload"]["attempts"] == settings.writeback_max_attempts
            assert "500" in failed["payload"]["error"]
            job = await job_by_key(runtime, tenant, command.idempotency_key)
            assert job is not None
            assert job.status == "dead_lettered"
            assert await cw.writes() == []

            # The PSA recovers; a person retries from the card.
            await cw.control.set_faults()
            await commands.retry(job.job_id)
            events = await outcomes.wait_for(2)
        assert events[1]["type"] == APPLIED
        assert len(quantity_writes(await cw.writes(), str(item.id))) == 1
        assert cw_quantity(cw, item.id) == item.quantity + 4


class TestRecordFirst:
    async def test_the_inbox_entry_commits_only_with_the_job(
        self, settings: Settings, tenant: str
    ) -> None:
        """A failure after the inbox entry rolls it back with everything else, so the
        redelivered command is recorded then (SQLite included: see writeback.sqlite)."""
        from trueup.contracts import wrap
        from trueup.platform.messaging import first_delivery, inbox_table
        from trueup.writeback import service

        item = demo_line_items(1)[0]
        envelope = wrap(approve(item, item.quantity + 1), tenant_id=tenant)
        runtime, _app = build(settings)
        await asyncio.to_thread(runtime.migrate)
        try:
            with contextlib.suppress(RuntimeError):
                async with runtime.database.transaction(tenant) as session:
                    assert await first_delivery(session, "writeback-apply", envelope)
                    assert await service.record_job(session, envelope) is not None
                    raise RuntimeError("killed before the commit")
            async with runtime.database.transaction(tenant) as session:
                inbox = (await session.execute(sa.select(inbox_table))).all()
                assert inbox == []
                assert await JobRepository(session, tenant).list_all() == []
                # The redelivery records it.
                assert await first_delivery(session, "writeback-apply", envelope)
                assert await service.record_job(session, envelope) is not None
            assert len(await jobs_of(runtime, tenant)) == 1
        finally:
            await runtime.database.dispose()


class TestStepsAsPreviewed:
    """The steps an approval sends are the steps the preview showed (`change_steps`), and
    each PSA receives them in that order."""

    @staticmethod
    def _steps(before: Decimal, wanted: list[tuple[Any, Decimal]]) -> list[tuple[Any, Decimal]]:
        from trueup.domain import QuantityChange, change_steps

        steps = change_steps(before, [QuantityChange(d, q) for d, q in wanted])
        return [(s.effective, s.quantity) for s in steps]

    async def test_autotask_gets_one_adjustment_per_step_in_date_order(
        self, settings: Settings, at: Sim, commands: Commands, outcomes: Outcomes, tenant: str
    ) -> None:
        item = demo_line_items(1, skip=5)[0]
        main = TODAY + timedelta(days=2)
        steps = self._steps(
            item.quantity,
            [
                (main + timedelta(days=9), item.quantity + 5),
                (main, item.quantity + 2),
                (main + timedelta(days=4), item.quantity + 3),
            ],
        )
        command = approve(
            item,
            steps[-1][1],
            psa="autotask",
            connection_id=AT_CONNECTION,
            changes=steps,
            prorate=True,
        )
        async with running_service(build, settings):
            await commands.send(command)
            events = await outcomes.wait_for(1)
        assert events[0]["type"] == APPLIED, events
        adjustments = await at.writes("ContractServiceAdjustment")
        written = [
            (a["body"]["effectiveDate"][:10], Decimal(str(a["body"]["unitChange"])))
            for a in adjustments
        ]
        before = item.quantity
        expected = []
        for effective, quantity in steps:
            expected.append((effective.isoformat(), quantity - before))
            before = quantity
        assert written == expected

    async def test_halo_gets_each_step_as_a_line_update_in_order(
        self,
        settings: Settings,
        psa_sync: PsaSyncConnectionsStandIn,
        commands: Commands,
        outcomes: Outcomes,
        tenant: str,
    ) -> None:
        # Halo cannot schedule a later change, so the preview only offers today or earlier.
        item = demo_line_items(1, skip=21)[0]
        steps = self._steps(
            item.quantity,
            [(TODAY, item.quantity + 4), (TODAY - timedelta(days=1), item.quantity + 1)],
        )
        halo = halo_sim.create_app(halo_sim.HaloSimulatorConfig(today=TODAY))
        with SimulatorServer(halo) as server:
            psa_sync.connections["conn-halo"] = ("halo", halo_credentials(server.url))
            async with running_service(build, settings):
                await commands.send(
                    approve(
                        item,
                        steps[-1][1],
                        psa="halo",
                        connection_id="conn-halo",
                        changes=steps,
                    )
                )
                events = await outcomes.wait_for(1)
            writes = await SimulatorControl(server.url).writes()
        assert events[0]["type"] == APPLIED, events
        assert [Decimal(str(w["body"]["qty_order"])) for w in writes] == [q for _, q in steps]
