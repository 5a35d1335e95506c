"""The HaloPSA client against its simulator (real HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.psa.demo_msp import DEMO
from trueup.psa import LineItemRef, PsaAuthError, PsaContractStatus, PsaNotFound, PsaUnsupported


class TestHalo:
    async def test_lists_everything(self, halo_sim_running: Any, make_halo: Any) -> None:
        async with make_halo(halo_sim_running) as client:
            accounts = [a async for a in client.list_accounts()]
            contracts = [c async for c in client.list_contracts()]
            items = [i async for i in client.list_line_items()]
            products = [p async for p in client.list_products()]
        assert len(accounts) == 48
        assert len(contracts) == len(DEMO.contracts)
        assert len(items) == len(DEMO.line_items)
        assert len(products) >= 15
        active = {c.id for c in contracts if c.status is PsaContractStatus.ACTIVE}
        assert active == {str(c.id) for c in DEMO.contracts if c.status == "active"}
        demo = {str(i.id): i for i in DEMO.line_items}
        for item in items:
            assert item.quantity == demo[item.id].quantity
            assert item.unit_price == demo[item.id].unit_price

    async def test_change_is_one_updatelines_call(
        self, halo_sim_running: Any, make_halo: Any
    ) -> None:
        item = DEMO.line_items[0]
        ref = LineItemRef(str(item.contract_id), str(item.id))
        async with make_halo(halo_sim_running) as client:
            result = await client.change_quantity(ref, Decimal(42), expected_quantity=item.quantity)
            reread = await client.get_line_item(ref.contract_id, ref.line_item_id)
        assert result.line_item is not None
        assert result.line_item.quantity == Decimal(42)
        assert reread.quantity == Decimal(42)
        writes = await halo_sim_running.control.writes()
        assert len(writes) == 1
        assert writes[0]["path"] == "/api/RecurringInvoice/updatelines"
        assert writes[0]["body"] == {"id": item.id, "ihid": item.contract_id, "qty_order": 42}

    async def test_add_line(self, halo_sim_running: Any, make_halo: Any) -> None:
        contract = str(DEMO.contracts[0].id)
        async with make_halo(halo_sim_running) as client:
            product = await anext(client.list_products())
            result = await client.add_line_item(
                contract, product, Decimal(3), Decimal("26.40"), Decimal(22)
            )
            items = [i async for i in client.list_line_items(contract_ids=[contract])]
        assert result.line_item is not None
        assert result.line_item.id in {i.id for i in items}
        assert len(items) == len(DEMO.by_contract[DEMO.contracts[0].id]) + 1

    async def test_refuses_what_halo_cannot_do(self, halo_sim_running: Any, make_halo: Any) -> None:
        item = DEMO.line_items[0]
        ref = LineItemRef(str(item.contract_id), str(item.id))
        future = datetime.now(UTC).date() + timedelta(days=5)
        async with make_halo(halo_sim_running) as client:
            assert not client.capabilities().proration
            with pytest.raises(PsaUnsupported):
                await client.change_quantity(ref, Decimal(2), prorate=True)
            with pytest.raises(PsaUnsupported):
                await client.change_quantity(ref, Decimal(2), effective_date=future)
            with pytest.raises(PsaUnsupported):
                await client.add_contract_note(ref.contract_id, "t", "x")
            with pytest.raises(PsaNotFound):
                await client.get_line_item(ref.contract_id, "31337")
        assert await halo_sim_running.control.writes() == []

    async def test_no_notes_and_no_cancel_and_add(
        self, halo_sim_running: Any, make_halo: Any
    ) -> None:
        item = DEMO.line_items[0]
        async with make_halo(halo_sim_running) as client:
            assert not await client.has_contract_note(str(item.contract_id), "TrueUp")
            with pytest.raises(PsaUnsupported):
                await client.cancel_line_item(
                    str(item.contract_id), str(item.id), datetime.now(UTC).date()
                )
        assert await halo_sim_running.control.writes() == []

    async def test_bad_secret_is_an_auth_error(self, halo_sim_running: Any, make_halo: Any) -> None:
        async with make_halo(halo_sim_running, client_secret="wrong") as client:
            with pytest.raises(PsaAuthError, match="Invalid client credentials"):
                await client.check_connection()

    async def test_revoked_token_is_renewed_once(
        self, halo_sim_running: Any, make_halo: Any
    ) -> None:
        async with make_halo(halo_sim_running) as client:
            await client.check_connection()
            halo_sim_running.store.tokens.clear()
            accounts = [a async for a in client.list_accounts()]
        assert len(accounts) == 48
        assert len(halo_sim_running.store.tokens) == 1
        assert (await halo_sim_running.control.stats())["statuses"]["401"] == 1
