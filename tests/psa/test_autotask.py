"""The Autotask client against its simulator (real HTTP)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.psa.demo_msp import DEMO, DEMO_TODAY
from trueup.psa import (
    LineItemRef,
    PsaAuthError,
    PsaConflict,
    PsaContractStatus,
    PsaNotFound,
    PsaResponseError,
    PsaServerError,
    PsaUnsupported,
)

TODAY = DEMO_TODAY


CONTRACT_END = {c.id: c.end_date for c in DEMO.contracts}


def _current_quantity(item: Any) -> Decimal:
    # Nothing bills after a cancelled service or after its contract ended.
    ends = [d for d in (item.cancelled_date, CONTRACT_END[item.contract_id]) if d is not None]
    if any(d < TODAY for d in ends):
        return Decimal(0)
    return item.quantity


class TestReadsTheDemoMsp:
    async def test_discovers_zone_and_lists_everything(
        self, at_sim_running: Any, make_at: Any
    ) -> None:
        async with make_at(at_sim_running) as client:
            accounts = [a async for a in client.list_accounts()]
            contracts = [c async for c in client.list_contracts()]
            items = [i async for i in client.list_line_items()]
            assert client._zone_url == f"{at_sim_running.url}/ATServicesRest/"
        assert len(accounts) == 48
        assert len(contracts) == len(DEMO.contracts)
        assert len(items) == len(DEMO.line_items)  # 600 items: two pages of 500
        statuses = {c.status for c in contracts}
        assert {
            PsaContractStatus.ACTIVE,
            PsaContractStatus.EXPIRED,
            PsaContractStatus.INACTIVE,
        } <= statuses

    async def test_quantity_is_the_unit_row_covering_today(
        self, at_sim_running: Any, make_at: Any
    ) -> None:
        demo = {str(i.id): i for i in DEMO.line_items}
        async with make_at(at_sim_running) as client:
            items = [i async for i in client.list_line_items()]
        for item in items:
            expected = demo[item.id]
            assert item.quantity == _current_quantity(expected), item.id
            assert item.unit_price == expected.unit_price
            assert item.product.name == expected.product.name
        # History rows (one unit fewer) exist, so picking the wrong row would fail above.
        rows = at_sim_running.store.tables["ContractServiceUnits"]
        assert len(rows) > len(DEMO.line_items)

    async def test_line_items_of_chosen_contracts(self, at_sim_running: Any, make_at: Any) -> None:
        chosen = DEMO.contracts[5:9]
        async with make_at(at_sim_running) as client:
            items = [
                i async for i in client.list_line_items(contract_ids=[str(c.id) for c in chosen])
            ]
        assert len(items) == sum(len(DEMO.by_contract[c.id]) for c in chosen)

    async def test_missing_line_item(self, at_sim_running: Any, make_at: Any) -> None:
        async with make_at(at_sim_running) as client:
            with pytest.raises(PsaNotFound):
                await client.get_line_item("1000", "424242")


class TestAdjustments:
    async def test_change_posts_one_adjustment_with_the_delta(
        self, at_sim_running: Any, make_at: Any
    ) -> None:
        item = next(i for i in DEMO.line_items if i.cancelled_date is None)
        ref = LineItemRef(str(item.contract_id), str(item.id))
        notes_before = len(at_sim_running.store.tables["ContractNotes"])
        async with make_at(at_sim_running) as client:
            result = await client.change_quantity(
                ref, item.quantity + 4, effective_date=TODAY, prorate=True,
                expected_quantity=item.quantity,
            )  # fmt: skip
            reread = await client.get_line_item(ref.contract_id, ref.line_item_id)
        assert reread.quantity == item.quantity + 4
        assert reread.effective_date == TODAY
        assert result.records[0].entity == "ContractServiceAdjustment"
        assert result.records[1].entity == "ContractServiceUnit"
        writes = await at_sim_running.control.writes()
        assert len(writes) == 1
        assert writes[0]["path"] == "/ATServicesRest/V1.0/ContractServiceAdjustments"
        body = writes[0]["body"]
        assert body["unitChange"] == 4
        assert body["contractServiceID"] == item.id
        assert body["serviceID"] == item.product.id
        assert body["effectiveDate"] == f"{TODAY.isoformat()}T00:00:00Z"
        # Autotask writes the contract note itself.
        notes = at_sim_running.store.tables["ContractNotes"]
        assert len(notes) == notes_before + 1
        assert "effective" in list(notes.values())[-1]["description"]

    async def test_future_change_keeps_today_and_splits_the_row(
        self, at_sim_running: Any, make_at: Any
    ) -> None:
        item = next(i for i in DEMO.line_items if i.cancelled_date is None)
        ref = LineItemRef(str(item.contract_id), str(item.id))
        later = TODAY + timedelta(days=10)
        async with make_at(at_sim_running) as client:
            await client.change_quantity(ref, item.quantity - 1, effective_date=later, prorate=True)
            today_view = await client.get_line_item(ref.contract_id, ref.line_item_id)
        assert today_view.quantity == item.quantity
        rows = [
            r for r in at_sim_running.store.tables["ContractServiceUnits"].values()
            if r["contractServiceID"] == item.id
        ]  # fmt: skip
        assert any(
            r["startDate"].startswith(later.isoformat()) and r["units"] == item.quantity - 1
            for r in rows
        )
        assert (await at_sim_running.control.writes())[0]["body"]["unitChange"] == -1

    async def test_unchanged_quantity_writes_nothing(
        self, at_sim_running: Any, make_at: Any
    ) -> None:
        item = next(i for i in DEMO.line_items if i.cancelled_date is None)
        async with make_at(at_sim_running) as client:
            result = await client.change_quantity(
                LineItemRef(str(item.contract_id), str(item.id)), item.quantity,
                effective_date=TODAY, prorate=True,
            )  # fmt: skip
        assert result.records == ()
        assert await at_sim_running.control.writes() == []

    async def test_refuses_what_autotask_cannot_do(self, at_sim_running: Any, make_at: Any) -> None:
        item = next(i for i in DEMO.line_items if i.cancelled_date is None)
        ref = LineItemRef(str(item.contract_id), str(item.id))
        async with make_at(at_sim_running) as client:
            with pytest.raises(PsaUnsupported, match="whole units"):
                await client.change_quantity(
                    ref, item.quantity + Decimal("0.5"), effective_date=TODAY, prorate=True
                )
            with pytest.raises(PsaUnsupported, match="prorate"):
                await client.change_quantity(
                    ref, item.quantity + 1, effective_date=TODAY, prorate=False
                )
        assert await at_sim_running.control.writes() == []

    async def test_conflict_after_an_out_of_band_edit(
        self, at_sim_running: Any, make_at: Any
    ) -> None:
        item = next(i for i in DEMO.line_items if i.cancelled_date is None)
        await at_sim_running.control.edit(str(item.id), "units", 77)
        async with make_at(at_sim_running) as client:
            with pytest.raises(PsaConflict):
                await client.change_quantity(
                    LineItemRef(str(item.contract_id), str(item.id)), Decimal(3),
                    effective_date=TODAY, prorate=True, expected_quantity=item.quantity,
                )  # fmt: skip
        assert await at_sim_running.control.writes() == []

    async def test_add_line_item_and_note(self, at_sim_running: Any, make_at: Any) -> None:
        contract = str(DEMO.contracts[0].id)
        async with make_at(at_sim_running) as client:
            products = [p async for p in client.list_products()]
            product = next(p for p in products if p.name == "SentinelOne Complete")
            result = await client.add_line_item(
                contract, product, Decimal(25), Decimal("6.00"), Decimal("3.20"),
                effective_date=TODAY, prorate=True,
            )  # fmt: skip
            note = await client.add_contract_note(contract, "TrueUp", "Added SentinelOne x25")
        assert result.line_item is not None
        assert result.line_item.quantity == Decimal(25)
        assert [w["entity"] for w in await at_sim_running.control.writes()] == [
            "ContractService", "ContractServiceAdjustment", "ContractNote",
        ]  # fmt: skip
        assert (
            at_sim_running.store.tables["ContractNotes"][int(note.id)]["description"]
            == "Added SentinelOne x25"
        )

    async def test_a_note_is_found_by_its_text(self, at_sim_running: Any, make_at: Any) -> None:
        contract, other = (str(c.id) for c in DEMO.contracts[:2])
        async with make_at(at_sim_running) as client:
            assert not await client.has_contract_note(contract, "TrueUp 0123456789")
            await client.add_contract_note(contract, "TrueUp", "Set to 4 (TrueUp 0123456789)")
            assert await client.has_contract_note(contract, "TrueUp 0123456789")
            assert not await client.has_contract_note(contract, "TrueUp 9876543210")
            assert not await client.has_contract_note(other, "TrueUp 0123456789")
        assert [w["entity"] for w in await at_sim_running.control.writes()] == ["ContractNote"]

    async def test_a_contract_service_is_never_cancelled_and_replaced(
        self, at_sim_running: Any, make_at: Any
    ) -> None:
        item = DEMO.line_items[0]
        async with make_at(at_sim_running) as client:
            with pytest.raises(PsaUnsupported):
                await client.cancel_line_item(str(item.contract_id), str(item.id), TODAY)
        assert await at_sim_running.control.writes() == []


class TestRefusesBadInput:
    async def test_bad_secret_is_an_auth_error(self, at_sim_running: Any, make_at: Any) -> None:
        async with make_at(at_sim_running, secret="nope") as client:
            with pytest.raises(PsaAuthError) as raised:
                await client.check_connection()
        assert raised.value.status_code == 401
        assert "not authorized" in str(raised.value)

    async def test_unknown_user_is_an_auth_error_not_a_crash_loop(
        self, at_sim_running: Any, make_at: Any
    ) -> None:
        async with make_at(at_sim_running, username="ghost@example.com") as client:
            with pytest.raises(PsaAuthError, match="no zone"):
                await client.check_connection()
        assert (await at_sim_running.control.stats())["statuses"]["500"] == 2

    async def test_corrupt_units_name_the_row(self, at_sim_running: Any, make_at: Any) -> None:
        item = next(i for i in DEMO.line_items if i.cancelled_date is None)
        await at_sim_running.control.edit(str(item.id), "units", "many")
        async with make_at(at_sim_running) as client:
            with pytest.raises(PsaResponseError) as raised:
                await client.get_line_item(str(item.contract_id), str(item.id))
        assert "POST /ATServicesRest/V1.0/ContractServiceUnits/query" in str(raised.value)
        assert "units" in str(raised.value)
        assert "'many'" in str(raised.value)

    async def test_500s_are_retried(self, at_sim_running: Any, make_at: Any) -> None:
        async with make_at(at_sim_running) as client:
            await client.check_connection()
            await at_sim_running.control.set_faults(fail_next=2)
            accounts = [a async for a in client.list_accounts()]
        assert len(accounts) == 48
        assert (await at_sim_running.control.stats())["statuses"]["500"] == 2

    async def test_500_on_adjustment_is_not_resent(self, at_sim_running: Any, make_at: Any) -> None:
        item = next(i for i in DEMO.line_items if i.cancelled_date is None)
        async with make_at(at_sim_running) as client:
            ref = LineItemRef(str(item.contract_id), str(item.id))
            await client.get_line_item(ref.contract_id, ref.line_item_id)
            await at_sim_running.control.set_faults(fail_writes_next=1)
            with pytest.raises(PsaServerError):
                await client.change_quantity(
                    ref, item.quantity + 1, effective_date=TODAY, prorate=True
                )
        assert await at_sim_running.control.writes() == []
        assert (await at_sim_running.control.stats())["statuses"]["500"] == 1


def test_demo_today_is_real_today() -> None:
    assert DEMO.today == date.today() or DEMO.today == TODAY


class TestZoneMoves:
    async def test_a_401_from_the_old_zone_rediscovers_and_resends(
        self, at_sim_running: Any, make_at: Any
    ) -> None:
        from trueup.devstack.psa_simulators.autotask import AutotaskSimulatorConfig, create_app
        from trueup.devstack.psa_simulators.server import SimulatorServer

        # The old zone no longer knows this database: it refuses the credentials.
        old_zone = create_app(AutotaskSimulatorConfig(secret="someone-else", today=DEMO_TODAY))
        with SimulatorServer(old_zone) as old:
            async with make_at(at_sim_running, zone_url=f"{old.url}/ATServicesRest/") as client:
                accounts = [a async for a in client.list_accounts()]
                assert client._zone_url == f"{at_sim_running.url}/ATServicesRest/"
        assert len(accounts) == 48
        assert old_zone.state.sim.statuses[401] == 1
