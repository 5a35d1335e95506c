"""The ConnectWise client against its simulator, over real HTTP and in-process."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.psa.demo_msp import DEMO
from trueup.psa import (
    ConnectWiseClient,
    LineItemRef,
    PsaAuthError,
    PsaBillingCycle,
    PsaConflict,
    PsaContractStatus,
    PsaNotFound,
    PsaRequestError,
    PsaResponseError,
)


class TestReadsTheDemoMsp:
    async def test_lists_every_account_contract_and_line_item(
        self, cw_client: ConnectWiseClient
    ) -> None:
        accounts = [a async for a in cw_client.list_accounts()]
        contracts = [c async for c in cw_client.list_contracts()]
        items = [i async for i in cw_client.list_line_items()]
        assert len(accounts) == len(DEMO.accounts) == 48
        assert len(contracts) == len(DEMO.contracts) >= 100
        assert len(items) == len(DEMO.line_items) >= 500
        assert {a.id for a in accounts} == {str(a.id) for a in DEMO.accounts}
        assert len({i.product.id for i in items}) >= 15

    async def test_normalises_contracts(self, cw_client: ConnectWiseClient) -> None:
        contracts = {c.id: c async for c in cw_client.list_contracts()}
        for demo in DEMO.contracts:
            got = contracts[str(demo.id)]
            assert got.status.value == demo.status
            assert got.account_id == str(demo.account_id)
            assert got.start_date == demo.start_date
            assert got.end_date == demo.end_date
            assert got.billing_cycle is PsaBillingCycle(demo.billing_cycle)
            assert got.prorate is demo.prorate
            assert got.bill_in_advance is demo.bill_in_advance
            assert got.currency == demo.currency
        statuses = {c.status for c in contracts.values()}
        assert {
            PsaContractStatus.ACTIVE,
            PsaContractStatus.CANCELLED,
            PsaContractStatus.EXPIRED,
        } <= statuses
        active_accounts = {c.account_id for c in contracts.values() if c.is_active}
        assert len(active_accounts) < len(DEMO.accounts)  # some accounts have no active contract

    async def test_line_items_carry_decimal_money(self, cw_client: ConnectWiseClient) -> None:
        demo_by_id = {str(i.id): i for i in DEMO.line_items}
        async for item in cw_client.list_line_items():
            demo = demo_by_id[item.id]
            assert isinstance(item.quantity, Decimal)
            assert item.quantity == demo.quantity
            assert item.unit_price == demo.unit_price
            assert item.unit_cost == demo.unit_cost
            assert item.product.identifier == demo.product.identifier
            assert item.cancelled_date == demo.cancelled_date

    async def test_small_pages_follow_link_headers(self, cw_sim_running: Any, make_cw: Any) -> None:
        client: ConnectWiseClient = make_cw(cw_sim_running)
        client._page_size = 7
        async with client:
            accounts = [a async for a in client.list_accounts()]
        assert len(accounts) == 48
        assert len({a.id for a in accounts}) == 48
        stats = await cw_sim_running.control.stats()
        assert stats["requests"] >= 48 // 7 + 1

    async def test_line_items_of_chosen_contracts(self, cw_client: ConnectWiseClient) -> None:
        chosen = [str(c.id) for c in DEMO.contracts[:3]]
        items = [i async for i in cw_client.list_line_items(contract_ids=chosen)]
        expected = sum(len(DEMO.by_contract[c.id]) for c in DEMO.contracts[:3])
        assert len(items) == expected
        assert {i.contract_id for i in items} == set(chosen)

    async def test_changed_since_filters_on_last_updated(
        self, cw_client: ConnectWiseClient
    ) -> None:
        since = sorted(a.updated_at for a in DEMO.accounts)[30]
        accounts = [a async for a in cw_client.list_accounts(changed_since=since)]
        expected = {str(a.id) for a in DEMO.accounts if a.updated_at > since}
        assert {a.id for a in accounts} == expected
        assert 0 < len(expected) < 48

    async def test_incremental_line_items_see_a_new_change(
        self, cw_client: ConnectWiseClient
    ) -> None:
        before = datetime.now(UTC) - timedelta(seconds=2)
        target = DEMO.line_items[10]
        await cw_client.change_quantity(
            LineItemRef(str(target.contract_id), str(target.id)), target.quantity + 1
        )
        changed = [
            i
            async for i in cw_client.list_line_items(before, contract_ids=[str(target.contract_id)])
        ]
        assert [i.id for i in changed] == [str(target.id)]

    async def test_get_missing_line_item_is_not_found(self, cw_client: ConnectWiseClient) -> None:
        with pytest.raises(PsaNotFound):
            await cw_client.get_line_item("1000", "123456789")

    async def test_discovers_codebase(self, cw_sim_running: Any, make_cw: Any) -> None:
        async with make_cw(cw_sim_running, codebase=None) as client:
            await client.check_connection()
            assert client._codebase == "v4_6_release/"


class TestWritesQuantities:
    async def test_plain_change_is_one_json_patch(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item = DEMO.line_items[0]
        ref = LineItemRef(str(item.contract_id), str(item.id))
        result = await cw_client.change_quantity(ref, Decimal(27), expected_quantity=item.quantity)
        assert result.line_item is not None
        assert result.line_item.quantity == Decimal(27)
        assert result.record_ids == (str(item.id),)
        writes = await cw_sim_running.control.writes()
        assert len(writes) == 1
        assert writes[0]["method"] == "PATCH"
        assert writes[0]["path"].endswith(
            f"/finance/agreements/{item.contract_id}/additions/{item.id}"
        )
        assert writes[0]["body"] == [{"op": "replace", "path": "quantity", "value": 27}]
        reread = await cw_client.get_line_item(ref.contract_id, ref.line_item_id)
        assert reread.quantity == Decimal(27)

    async def test_fractional_quantity_keeps_its_digits(self, cw_client: ConnectWiseClient) -> None:
        item = next(i for i in DEMO.line_items if i.product.identifier == "BKP-GB")
        ref = LineItemRef(str(item.contract_id), str(item.id))
        result = await cw_client.change_quantity(ref, Decimal("1234.5"))
        assert result.line_item is not None
        assert result.line_item.quantity == Decimal("1234.5")

    async def test_dated_prorated_change_cancels_and_adds(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item = DEMO.line_items[1]
        ref = LineItemRef(str(item.contract_id), str(item.id))
        effective = date.today() + timedelta(days=5)
        result = await cw_client.change_quantity(
            ref, item.quantity + 3, effective_date=effective, prorate=True
        )
        new = result.line_item
        assert new is not None
        assert new.id != str(item.id)
        assert new.quantity == item.quantity + 3
        assert new.effective_date == effective
        assert [r.action for r in result.records] == ["created", "cancelled"]
        old = await cw_client.get_line_item(ref.contract_id, ref.line_item_id)
        assert old.cancelled_date == effective - timedelta(days=1)
        assert old.quantity == item.quantity
        writes = await cw_sim_running.control.writes()
        assert [w["method"] for w in writes] == ["POST", "PATCH"]
        assert writes[0]["body"]["prorateCurrentPeriodFlag"] is True
        assert writes[0]["body"]["effectiveDate"] == f"{effective.isoformat()}T00:00:00Z"
        assert writes[0]["body"]["product"] == {"id": item.product.id}

    async def test_conflict_when_quantity_moved(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item = DEMO.line_items[2]
        await cw_sim_running.control.edit(str(item.id), "quantity", 999)
        with pytest.raises(PsaConflict, match="999"):
            await cw_client.change_quantity(
                LineItemRef(str(item.contract_id), str(item.id)),
                Decimal(5),
                expected_quantity=item.quantity,
            )
        assert await cw_sim_running.control.writes() == []

    async def test_a_line_item_just_checked_is_not_read_again(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item = DEMO.line_items[2]
        ref = LineItemRef(str(item.contract_id), str(item.id))
        checked = await cw_client.get_line_item(ref.contract_id, ref.line_item_id)
        before = (await cw_sim_running.control.stats())["requests"]
        result = await cw_client.change_quantity(
            ref, checked.quantity + 1, expected_quantity=checked.quantity, checked=checked
        )
        # The PATCH alone reached the PSA.
        assert (await cw_sim_running.control.stats())["requests"] - before == 1
        assert result.line_item is not None
        assert result.line_item.quantity == checked.quantity + 1

    async def test_a_checked_line_item_is_compared_with_the_expected_quantity(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item = DEMO.line_items[2]
        ref = LineItemRef(str(item.contract_id), str(item.id))
        checked = await cw_client.get_line_item(ref.contract_id, ref.line_item_id)
        with pytest.raises(PsaConflict):
            await cw_client.change_quantity(
                ref, Decimal(5), expected_quantity=checked.quantity + 1, checked=checked
            )
        assert await cw_sim_running.control.writes() == []

    async def test_a_checked_line_item_of_another_line_is_refused(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item, other = DEMO.line_items[2], DEMO.line_items[3]
        other_item = await cw_client.get_line_item(str(other.contract_id), str(other.id))
        with pytest.raises(PsaRequestError, match=f"line item {other.id} is not"):
            await cw_client.change_quantity(
                LineItemRef(str(item.contract_id), str(item.id)), Decimal(5), checked=other_item
            )
        assert await cw_sim_running.control.writes() == []

    async def test_add_line_item(self, cw_client: ConnectWiseClient, cw_sim_running: Any) -> None:
        products = {p.identifier: p async for p in cw_client.list_products()}
        assert len(products) >= 15
        contract = str(DEMO.contracts[0].id)
        result = await cw_client.add_line_item(
            contract, products["HUNTRESS-EDR"], Decimal(12), Decimal("4.50"), Decimal("2.50")
        )
        assert result.line_item is not None
        items = [i async for i in cw_client.list_line_items(contract_ids=[contract])]
        added = next(i for i in items if i.id == result.line_item.id)
        assert added.quantity == Decimal(12)
        assert added.unit_price == Decimal("4.5")
        assert len(await cw_sim_running.control.writes()) == 1

    async def test_note_and_audit_trail(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item = DEMO.line_items[3]
        await cw_client.change_quantity(
            LineItemRef(str(item.contract_id), str(item.id)), Decimal(4)
        )
        note = await cw_client.add_contract_note(
            str(item.contract_id), "TrueUp", "Set to 4 from Pax8"
        )
        assert note.entity == "CompanyNote"
        audit = cw_sim_running.store.audit[("Agreement", item.contract_id)]
        assert any("quantity changed from" in e["text"] and "to 4" in e["text"] for e in audit)
        url = cw_client.contract_audit_url(str(item.contract_id))
        assert url.endswith(f"/system/audittrail?type=Agreement&id={item.contract_id}")

    async def test_a_note_is_found_by_its_agreement_and_text(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        # Two agreements of one company: a company note counts for the one it names.
        account = Counter(c.account_id for c in DEMO.contracts).most_common(1)[0][0]
        first, second = [str(c.id) for c in DEMO.contracts if c.account_id == account][:2]
        assert not await cw_client.has_contract_note(first, "TrueUp 0123456789")
        await cw_client.add_contract_note(first, "TrueUp", "Set to 4 (TrueUp 0123456789)")
        assert await cw_client.has_contract_note(first, "TrueUp 0123456789")
        assert not await cw_client.has_contract_note(first, "TrueUp 9876543210")
        assert not await cw_client.has_contract_note(second, "TrueUp 0123456789")
        assert [w["entity"] for w in await cw_sim_running.control.writes()] == ["CompanyNote"]


class TestRefusesBadInput:
    async def test_bad_credentials_are_an_auth_error_not_retried(
        self, cw_sim_running: Any, make_cw: Any
    ) -> None:
        async with make_cw(cw_sim_running, private_key="wrong") as client:
            with pytest.raises(PsaAuthError) as raised:
                await client.check_connection()
        assert raised.value.status_code == 401
        assert "Authentication failed" in str(raised.value)
        stats = await cw_sim_running.control.stats()
        assert stats["statuses"]["401"] == 1  # one try; the other request found the codebase

    async def test_missing_client_id_is_refused(self, cw_sim_running: Any, make_cw: Any) -> None:
        async with make_cw(cw_sim_running, client_id="") as client:
            with pytest.raises(PsaAuthError, match="clientId"):
                await client.check_connection()

    async def test_corrupt_field_names_endpoint_and_field(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item = DEMO.line_items[4]
        await cw_sim_running.control.edit(str(item.id), "quantity", "lots")
        with pytest.raises(PsaResponseError) as raised:
            await cw_client.get_line_item(str(item.contract_id), str(item.id))
        message = str(raised.value)
        assert (
            f"GET /v4_6_release/apis/3.0/finance/agreements/{item.contract_id}/additions/{item.id}"
            in message
        )
        assert "field quantity" in message
        assert "'lots'" in message

    async def test_corrupt_row_in_a_list_names_its_index(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        contract = DEMO.contracts[0]
        victim = DEMO.by_contract[contract.id][1]
        await cw_sim_running.control.edit(str(victim.id), "product", None)
        with pytest.raises(PsaResponseError, match=r"field \[1\]\.product"):
            _ = [i async for i in cw_client.list_line_items(contract_ids=[str(contract.id)])]

    async def test_negative_quantity_is_refused_before_sending(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item = DEMO.line_items[0]
        with pytest.raises(PsaRequestError, match="negative"):
            await cw_client.change_quantity(
                LineItemRef(str(item.contract_id), str(item.id)), Decimal(-1)
            )
        assert (await cw_sim_running.control.stats())["requests"] == 0


class TestFinishesAHalfDoneCancelAndAdd:
    async def test_cancel_line_item_sets_the_last_billed_day(
        self, cw_client: ConnectWiseClient, cw_sim_running: Any
    ) -> None:
        item = DEMO.line_items[6]
        last_day = date.today() + timedelta(days=3)
        result = await cw_client.cancel_line_item(str(item.contract_id), str(item.id), last_day)
        again = await cw_client.cancel_line_item(str(item.contract_id), str(item.id), last_day)
        assert result.line_item is not None
        assert result.line_item.cancelled_date == last_day
        assert again.line_item == result.line_item or again.line_item is not None
        writes = await cw_sim_running.control.writes()
        assert [w["body"] for w in writes] == [
            [{"op": "replace", "path": "cancelledDate", "value": f"{last_day}T00:00:00Z"}]
        ] * 2
