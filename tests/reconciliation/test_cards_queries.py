"""Card queries: filters, sort and paging of the list, its totals, one card's details,
and the preview of what approving would write."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.reconciliation.conftest import USER, Tenant
from trueup.contracts import recon as r
from trueup.platform import paging
from trueup.platform.broker import QueryFailedError
from trueup.reconciliation import actions, cards

D = Decimal
ENDPOINT = "Managed Endpoint"
BACKUP = "Cloud Backup 1TB"
EDR = "EDR Agent"


async def listed(tenant: Tenant, **query: object) -> r.CardList:
    q = r.ListCardsQuery.model_validate(query)
    return await tenant.run(lambda s: cards.list_cards(s, tenant.tenant_id, q))


async def three_cards(tenant: Tenant) -> None:
    """Endpoint 10 -> 14 (+4), Backup 10 -> 10 (agrees), EDR 10 -> 1 (-9)."""
    await tenant.synced({"P1": 10, "P2": 10, "P3": 10}, {"P1": 14, "P2": 10, "P3": 1})


class TestFilters:
    async def test_state_and_kind_select_the_cards_that_differ(self, tenant: Tenant) -> None:
        await three_cards(tenant)

        page = await listed(tenant, filter={"state": "pending", "kind": "reconcile"})

        assert [c.service_line for c in page.items] == [EDR, ENDPOINT]

    async def test_the_search_matches_the_service_line(self, tenant: Tenant) -> None:
        await three_cards(tenant)

        page = await listed(tenant, filter={"q": "BACKUP"})

        assert [c.service_line for c in page.items] == [BACKUP]

    async def test_hidden_cards_are_listed_only_when_asked(self, tenant: Tenant) -> None:
        await three_cards(tenant)
        endpoint = (await tenant.cards())[ENDPOINT]
        query = r.ActionQuery(
            card_id=endpoint.card_id, action="dismiss", actor=USER, idempotency_key="d1"
        )
        await tenant.run(lambda s: actions.act(s, tenant.tenant_id, query))

        shown = await listed(tenant)
        everything = await listed(tenant, filter={"include_hidden": True})

        assert [c.service_line for c in shown.items] == [BACKUP, EDR]
        assert [c.service_line for c in everything.items] == [BACKUP, EDR, ENDPOINT]


class TestSortAndPaging:
    async def test_delta_sorts_the_largest_change_first(self, tenant: Tenant) -> None:
        await three_cards(tenant)

        page = await listed(tenant, sort="delta")

        assert [(c.service_line, c.delta) for c in page.items] == [
            (EDR, D(-9)),
            (ENDPOINT, D(4)),
            (BACKUP, D(0)),
        ]

    async def test_the_cursor_pages_through_a_stable_order(self, tenant: Tenant) -> None:
        await three_cards(tenant)

        first = await listed(tenant, limit=2)
        second = await listed(tenant, limit=2, cursor=first.next_cursor)

        assert [c.service_line for c in first.items] == [BACKUP, EDR]
        assert first.next_cursor == "2"
        assert [c.service_line for c in second.items] == [ENDPOINT]
        assert second.next_cursor is None
        # Totals are of the whole filter, not of the page.
        assert first.totals.cards == second.totals.cards == 3

    async def test_a_page_too_large_for_one_answer_is_cut_and_continues(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # 5,000 cards of a large tenant pass the broker's 1 MB message limit: the answer
        # was refused (413) instead of a shorter page. Here a page holds about two cards.
        await three_cards(tenant)
        one_card = len((await listed(tenant, limit=1)).items[0].model_dump_json())
        monkeypatch.setattr(paging, "PAGE_BYTES", 2 * one_card + 10)

        first = await listed(tenant, limit=3)
        second = await listed(tenant, limit=3, cursor=first.next_cursor)

        assert len(first.items) == 2
        assert first.next_cursor == "2"
        assert [c.service_line for c in [*first.items, *second.items]] == [BACKUP, EDR, ENDPOINT]
        assert second.next_cursor is None


class TestTotals:
    async def test_pending_totals_add_the_monthly_money_of_cards_that_differ(
        self, tenant: Tenant
    ) -> None:
        await three_cards(tenant)

        totals = await tenant.run(lambda s: cards.pending_totals(s, tenant.tenant_id))

        # (+4 - 9) units at 12.50, cost 7.00.
        assert totals.cards == 2
        assert [
            (t.currency, t.cards, t.mrr_change, t.mrr_cost_change, t.mrr_profit_change)
            for t in totals.by_currency
        ] == [("USD", 2, D("-62.50"), D("-35.00"), D("-27.50"))]


class TestCardDetails:
    async def test_details_name_the_contract_and_the_vendor_account(self, tenant: Tenant) -> None:
        await three_cards(tenant)
        card_id = (await tenant.cards())[ENDPOINT].card_id

        details = await tenant.run(lambda s: cards.card_details(s, tenant.tenant_id, card_id))

        assert details.contract is not None
        assert (details.contract.name, details.contract.currency) == ("Contract A", "USD")
        assert [(v.name, v.mapping) for v in details.names.vendor_accounts] == [
            ("Account A", "automatic")
        ]
        change = details.change
        assert (change.psa_quantity, change.vendor_quantity, change.target_quantity) == (
            D(10),
            D(14),
            D(14),
        )
        assert (change.unit_price, change.unit_cost) == (D("12.50"), D("7.00"))

    async def test_an_unknown_card_is_404(self, tenant: Tenant) -> None:
        await three_cards(tenant)
        with pytest.raises(QueryFailedError) as raised:
            await tenant.run(lambda s: cards.card_details(s, tenant.tenant_id, "nope"))
        assert raised.value.status == 404


class TestPreview:
    async def test_the_preview_shows_the_step_and_its_monthly_effect(self, tenant: Tenant) -> None:
        await three_cards(tenant)
        card_id = (await tenant.cards())[ENDPOINT].card_id
        query = r.PreviewQuery(card_id=card_id)

        preview = await tenant.run(lambda s: cards.preview(s, tenant.tenant_id, query))

        assert [(s.quantity_before, s.quantity_after) for s in preview.steps] == [(D(10), D(14))]
        assert (preview.mrr_change, preview.currency) == (D("50.00"), "USD")
        # (14 x 12.50 - 14 x 7.00) / (14 x 12.50)
        assert preview.margin == D("44.00")
        assert preview.large_change is None

    async def test_a_large_change_is_named_in_the_preview(self, tenant: Tenant) -> None:
        await three_cards(tenant)
        card_id = (await tenant.cards())[ENDPOINT].card_id
        query = r.PreviewQuery(card_id=card_id, change=r.ChangeRequest(quantity=D(500)))

        preview = await tenant.run(lambda s: cards.preview(s, tenant.tenant_id, query))

        assert preview.large_change is not None
        assert [s.quantity_after for s in preview.steps] == [D(500)]
