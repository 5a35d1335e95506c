"""Reconciliation: which cards a tenant's state produces, and that they are right."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trueup.domain import (
    Account,
    AccountMapping,
    AutoRule,
    BillingCycle,
    Card,
    CardKind,
    CardRecord,
    CardState,
    Contract,
    ContractStatus,
    LineItem,
    QuantityChange,
    ReconcileResult,
    RoundingRule,
    ServiceLine,
    ServiceMapping,
    TenantIndex,
    TenantSettings,
    TenantState,
    VendorUsage,
    line_item_card_id,
    new_revenue_card_id,
    preview_card_changes,
    reconcile,
    reconcile_account,
    summarise_money,
)
from trueup.domain.reconcile import USAGE_KEY_FIELDS

D = Decimal
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()

SERVICE_LINES = (
    ServiceLine(
        "m365", "Microsoft 365 Business Premium", "P-M365", "pax8", catalogue_unit_price=D("22.00")
    ),
    ServiceLine(
        "edr", "SentinelOne Complete", "P-EDR", "sentinelone", catalogue_unit_price=D("6.50")
    ),
    ServiceLine("backup", "Cloud backup per 100 GB", "P-BKP", "acronis", sales_unit="100 GB"),
)


def usage(
    vendor_account_id: str,
    sku: str,
    quantity: str | int,
    *,
    vendor: str = "pax8",
    source: str = "pax8-api",
    age: timedelta = timedelta(hours=1),
    name: str = "",
) -> VendorUsage:
    return VendorUsage(
        vendor, vendor_account_id, sku, source, D(quantity), NOW - age, vendor_account_name=name
    )


def tenant(
    *,
    line_items: tuple[LineItem, ...] = (
        LineItem("L1", "C1", "P-M365", D(10), D("22.00"), D("18.50")),
    ),
    usage_records: tuple[VendorUsage, ...] = (usage("px-acme", "M365BP", 12),),
    contracts: tuple[Contract, ...] = (Contract("C1", "A1", "Acme MSA", start=date(2025, 1, 1)),),
    accounts: tuple[Account, ...] = (Account("A1", "Acme"),),
    account_mappings: tuple[AccountMapping, ...] = (AccountMapping("pax8", "px-acme", "A1"),),
    service_mappings: tuple[ServiceMapping, ...] = (ServiceMapping("pax8", "M365BP", "m365"),),
    tenant_settings: TenantSettings | None = None,
    card_records: dict[str, CardRecord] | None = None,
) -> TenantState:
    return TenantState(
        tenant_id="t1",
        accounts=accounts,
        contracts=contracts,
        line_items=line_items,
        service_lines=SERVICE_LINES,
        usage=usage_records,
        account_mappings=account_mappings,
        service_mappings=service_mappings,
        card_records=card_records or {},
        settings=tenant_settings or TenantSettings(),
    )


def run(state: TenantState) -> ReconcileResult:
    return reconcile(state, today=TODAY, now=NOW)


def only_card(state: TenantState) -> Card:
    (card,) = run(state).cards
    return card


class TestCardKinds:
    def test_reconcile_card_when_quantities_differ(self) -> None:
        card = only_card(tenant())
        assert card.kind is CardKind.RECONCILE
        assert (card.psa_quantity, card.vendor_quantity, card.target_quantity) == (
            D(10),
            D(12),
            D(12),
        )
        assert card.delta == D(2)
        assert card.money is not None
        assert card.money.revenue_change.amount == D("44.00")
        assert card.money.unbilled_revenue.amount == D("44.00")
        assert card.vendors == ("pax8",)

    def test_no_change_card_when_quantities_agree(self) -> None:
        card = only_card(tenant(usage_records=(usage("px-acme", "M365BP", 10),)))
        assert card.kind is CardKind.NO_CHANGE
        assert card.delta == 0

    def test_decrease_is_a_reconcile_card_with_negative_money(self) -> None:
        card = only_card(tenant(usage_records=(usage("px-acme", "M365BP", 7),)))
        assert card.kind is CardKind.RECONCILE
        assert card.money is not None
        assert card.money.revenue_change.amount == D("-66.00")
        assert card.money.unbilled_revenue.is_zero()

    def test_reported_zero_proposes_zero(self) -> None:
        card = only_card(tenant(usage_records=(usage("px-acme", "M365BP", 0),)))
        assert (card.kind, card.target_quantity) == (CardKind.RECONCILE, D(0))

    def test_line_item_without_mapped_usage_is_no_change_without_vendor_quantity(self) -> None:
        card = only_card(tenant(usage_records=()))
        assert card.kind is CardKind.NO_CHANGE
        assert card.vendor_quantity is None
        assert card.target_quantity is None

    def test_new_revenue_for_usage_no_line_item_bills(self) -> None:
        state = tenant(
            usage_records=(
                usage("px-acme", "M365BP", 10),
                usage("s1-acme", "complete", 7, vendor="s1", source="s1-api"),
            ),
            account_mappings=(
                AccountMapping("pax8", "px-acme", "A1"),
                AccountMapping("s1", "s1-acme", "A1"),
            ),
            service_mappings=(
                ServiceMapping("pax8", "M365BP", "m365"),
                ServiceMapping("s1", "complete", "edr"),
            ),
        )
        cards = {c.kind: c for c in run(state).cards}
        assert set(cards) == {CardKind.NO_CHANGE, CardKind.NEW_REVENUE}
        new = cards[CardKind.NEW_REVENUE]
        assert new.id == new_revenue_card_id("t1", "A1", "edr")
        assert (new.service_line_id, new.vendor_quantity, new.target_quantity) == (
            "edr",
            D(7),
            D(7),
        )
        assert new.contract_id == "C1"  # the account's contract is suggested for Add
        assert new.line_item_id is None
        assert new.money is not None
        assert new.money.revenue_change.amount == D("45.50")  # 7 x catalogue 6.50
        assert new.money.margin_percent is None  # no catalogue cost: margin unknown

    def test_account_can_suppress_new_revenue(self) -> None:
        state = tenant(
            line_items=(),
            accounts=(Account("A1", "Acme", suppress_new_revenue=True),),
        )
        assert run(state).cards == ()

    def test_zero_usage_is_not_new_revenue(self) -> None:
        state = tenant(line_items=(), usage_records=(usage("px-acme", "M365BP", 0),))
        assert run(state).cards == ()


class TestActiveAccounts:
    @pytest.mark.parametrize(
        ("contract", "active"),
        [
            (Contract("C1", "A1", "ok", start=date(2025, 1, 1)), True),
            (Contract("C1", "A1", "ends today", start=date(2025, 1, 1), end=TODAY), True),
            (
                Contract(
                    "C1", "A1", "ended", start=date(2025, 1, 1), end=TODAY - timedelta(days=1)
                ),
                False,
            ),
            (Contract("C1", "A1", "future", start=TODAY + timedelta(days=1)), False),
            (
                Contract(
                    "C1", "A1", "cancelled", start=date(2025, 1, 1), status=ContractStatus.CANCELLED
                ),
                False,
            ),
            (
                Contract(
                    "C1", "A1", "inactive", start=date(2025, 1, 1), status=ContractStatus.INACTIVE
                ),
                False,
            ),
            (
                Contract(
                    "C1", "A1", "expired", start=date(2025, 1, 1), status=ContractStatus.EXPIRED
                ),
                False,
            ),
        ],
    )
    def test_only_active_contracts_take_part(self, contract: Contract, active: bool) -> None:
        result = run(tenant(contracts=(contract,)))
        assert result.active_accounts == (1 if active else 0)
        assert len(result.cards) == (1 if active else 0)

    def test_active_accounts_counts_accounts_not_contracts(self) -> None:
        state = tenant(
            accounts=(Account("A1", "Acme"), Account("A2", "Beta"), Account("A3", "Gamma")),
            contracts=(
                Contract("C1", "A1", "one", start=date(2025, 1, 1)),
                Contract("C2", "A1", "two", start=date(2025, 1, 1)),
                Contract("C3", "A2", "three", start=date(2025, 1, 1)),
                Contract(
                    "C4", "A3", "gone", start=date(2025, 1, 1), status=ContractStatus.CANCELLED
                ),
            ),
        )
        assert run(state).active_accounts == 2

    @pytest.mark.parametrize(
        ("effective", "cancelled", "counted"),
        [
            (None, None, True),
            (TODAY, None, True),
            (TODAY + timedelta(days=1), None, False),
            (None, TODAY, False),
            (None, TODAY + timedelta(days=1), True),
        ],
    )
    def test_only_current_line_items_take_part(
        self, effective: date | None, cancelled: date | None, counted: bool
    ) -> None:
        item = LineItem(
            "L1", "C1", "P-M365", D(10), D(22), D(18), effective=effective, cancelled=cancelled
        )
        cards = run(tenant(line_items=(item,))).cards
        kinds = [c.kind for c in cards]
        assert kinds == ([CardKind.RECONCILE] if counted else [CardKind.NEW_REVENUE])

    def test_mapped_usage_of_an_inactive_account_makes_no_card(self) -> None:
        state = tenant(
            contracts=(
                Contract("C1", "A1", "x", start=date(2025, 1, 1), status=ContractStatus.EXPIRED),
            )
        )
        result = run(state)
        assert result.cards == ()
        assert result.unmapped_accounts == ()


class TestUnmappedQueue:
    def test_vendor_account_without_mapping_is_listed_with_source_and_count(self) -> None:
        state = tenant(
            usage_records=(
                usage("px-acme", "M365BP", 12),
                usage("px-new", "M365BP", 3, name="Newco LLC"),
                usage("px-new", "EXCH", 2, source="pax8-csv", name="Newco LLC"),
            )
        )
        result = run(state)
        (unmapped,) = result.unmapped_accounts
        assert (unmapped.vendor, unmapped.vendor_account_id, unmapped.name) == (
            "pax8",
            "px-new",
            "Newco LLC",
        )
        assert unmapped.sources == ("pax8-api", "pax8-csv")
        assert unmapped.usage_count == 2
        (sku,) = result.unmapped_skus
        assert (sku.vendor, sku.sku, sku.usage_count) == ("pax8", "EXCH", 1)

    def test_unmapped_usage_makes_no_card(self) -> None:
        state = tenant(line_items=(), account_mappings=())
        assert run(state).cards == ()
        assert len(run(state).unmapped_accounts) == 1

    def test_excluded_vendor_account_is_neither_listed_nor_counted(self) -> None:
        state = tenant(
            usage_records=(usage("px-acme", "M365BP", 12), usage("px-internal", "OTHER", 40)),
            account_mappings=(
                AccountMapping("pax8", "px-acme", "A1"),
                AccountMapping("pax8", "px-internal", None, excluded=True),
            ),
        )
        result = run(state)
        assert result.unmapped_accounts == ()
        assert result.unmapped_skus == ()  # the SKU only appears under an excluded account

    def test_excluded_sku_is_not_listed_and_feeds_nothing(self) -> None:
        state = tenant(
            usage_records=(usage("px-acme", "M365BP", 12), usage("px-acme", "TRIAL", 25)),
            service_mappings=(
                ServiceMapping("pax8", "M365BP", "m365"),
                ServiceMapping("pax8", "TRIAL", None, excluded=True),
            ),
        )
        result = run(state)
        assert result.unmapped_skus == ()
        assert [c.vendor_quantity for c in result.cards] == [D(12)]

    def test_clearing_the_queue_turns_usage_into_cards(self) -> None:
        state = tenant(account_mappings=())
        (card,) = run(state).cards
        assert (card.kind, card.vendor_quantity) == (CardKind.NO_CHANGE, None)
        mapped = replace(state, account_mappings=(AccountMapping("pax8", "px-acme", "A1"),))
        assert [c.kind for c in run(mapped).cards] == [CardKind.RECONCILE]
        assert run(mapped).unmapped_accounts == ()


class TestStaleUsage:
    @pytest.mark.parametrize(
        ("age", "window", "stale"),
        [
            (timedelta(hours=20), timedelta(days=1), False),
            (timedelta(days=2), timedelta(days=1), True),
            (timedelta(days=30), None, False),  # default window: 35 days
            (timedelta(days=40), None, True),
        ],
    )
    def test_usage_older_than_its_source_window_flags_the_card(
        self, age: timedelta, window: timedelta | None, stale: bool
    ) -> None:
        freshness = {} if window is None else {"pax8-api": window}
        state = tenant(
            usage_records=(usage("px-acme", "M365BP", 12, age=age),),
            tenant_settings=TenantSettings(freshness=freshness),
        )
        card = only_card(state)
        assert card.stale is stale
        assert card.usage_as_of == NOW - age

    def test_one_stale_source_makes_the_card_stale(self) -> None:
        state = tenant(
            usage_records=(
                usage("px-acme", "M365BP", 6),
                usage("px-acme", "M365BP", 6, source="pax8-csv", age=timedelta(days=3)),
            ),
            tenant_settings=TenantSettings(freshness={"pax8-csv": timedelta(days=2)}),
        )
        assert only_card(state).stale


class TestSeveralSourcesAndUnits:
    def test_records_of_one_key_add_up(self) -> None:
        state = tenant(usage_records=(usage("px-acme", "M365BP", 5), usage("px-acme", "M365BP", 7)))
        card = only_card(state)
        assert card.vendor_quantity == D(12)
        assert card.contributions[0].record_count == 2

    def test_interleaved_records_of_one_key_from_two_sources_add_up(self) -> None:
        records = (
            usage("px-acme", "M365BP", 5),
            usage("px-acme", "M365BP", 2, source="pax8-csv", age=timedelta(days=40)),
            usage("px-acme", "M365BP", 7),
            usage("px-acme", "M365BP", 1, source="pax8-csv", age=timedelta(days=3)),
        )
        card = only_card(tenant(usage_records=records))
        assert card.vendor_quantity == D(15)
        (contribution,) = card.contributions
        assert contribution.record_count == 4
        assert contribution.sources == ("pax8-api", "pax8-csv")
        assert contribution.oldest_as_of == NOW - timedelta(days=40)
        assert card.stale  # the CSV's oldest record is past its 35-day window

    def test_usage_is_grouped_by_the_leading_fields_of_a_record(self) -> None:
        # Reconciliation reads the grouping key as one slice of each record.
        assert VendorUsage._fields[: len(USAGE_KEY_FIELDS)] == USAGE_KEY_FIELDS

    def test_several_vendors_feeding_one_service_line_add_up(self) -> None:
        state = tenant(
            usage_records=(
                usage("px-acme", "M365BP", 8),
                usage("sw-acme", "SPB", 4, vendor="sherweb", source="sherweb-api"),
            ),
            account_mappings=(
                AccountMapping("pax8", "px-acme", "A1"),
                AccountMapping("sherweb", "sw-acme", "A1"),
            ),
            service_mappings=(
                ServiceMapping("pax8", "M365BP", "m365"),
                ServiceMapping("sherweb", "SPB", "m365"),
            ),
        )
        card = only_card(state)
        assert card.vendor_quantity == D(12)
        assert card.vendors == ("pax8", "sherweb")

    def test_several_vendor_accounts_of_one_account_add_up(self) -> None:
        state = tenant(
            usage_records=(usage("px-acme", "M365BP", 8), usage("px-acme-2", "M365BP", 3)),
            account_mappings=(
                AccountMapping("pax8", "px-acme", "A1"),
                AccountMapping("pax8", "px-acme-2", "A1"),
            ),
        )
        assert only_card(state).vendor_quantity == D(11)

    def test_one_sku_feeds_several_service_lines(self) -> None:
        state = tenant(
            line_items=(
                LineItem("L1", "C1", "P-M365", D(10), D(22), D(18)),
                LineItem("L2", "C1", "P-EDR", D(10), D(6), D(4)),
            ),
            usage_records=(usage("px-acme", "BUNDLE", 11),),
            service_mappings=(
                ServiceMapping("pax8", "BUNDLE", "m365"),
                ServiceMapping("pax8", "BUNDLE", "edr"),
            ),
        )
        assert [(c.line_item_id, c.vendor_quantity) for c in run(state).cards] == [
            ("L1", D(11)),
            ("L2", D(11)),
        ]

    @pytest.mark.parametrize(
        ("reported", "factor", "rounding", "expected"),
        [
            ("250", "100", RoundingRule.UP, "3"),  # 250 GB billed per started 100 GB
            ("250", "100", RoundingRule.DOWN, "2"),
            ("250", "100", RoundingRule.HALF_UP, "3"),
            ("249", "100", RoundingRule.HALF_UP, "2"),
            ("250", "100", RoundingRule.EXACT, "2.5"),
            ("11", "5", RoundingRule.UP, "3"),  # users in packs of five
            ("10", "5", RoundingRule.UP, "2"),
            ("300", "100", RoundingRule.UP, "3"),
        ],
    )
    def test_sales_unit_factor_and_rounding(
        self, reported: str, factor: str, rounding: RoundingRule, expected: str
    ) -> None:
        state = tenant(
            line_items=(LineItem("L1", "C1", "P-BKP", D(1), D(10), D(5)),),
            usage_records=(
                usage(
                    "ac-acme", "pck_per_gigabyte", reported, vendor="acronis", source="acronis-api"
                ),
            ),
            account_mappings=(AccountMapping("acronis", "ac-acme", "A1"),),
            service_mappings=(
                ServiceMapping(
                    "acronis", "pck_per_gigabyte", "backup", factor=D(factor), rounding=rounding
                ),
            ),
        )
        card = only_card(state)
        assert card.vendor_quantity == D(expected)
        assert card.contributions[0].vendor_quantity == D(reported)

    def test_factor_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            ServiceMapping("v", "s", "x", factor=D(0))


class TestSeveralLineItemsForOneServiceLine:
    def test_first_line_item_carries_the_difference(self) -> None:
        state = tenant(
            line_items=(
                LineItem("L1", "C1", "P-M365", D(10), D(22), D(18)),
                LineItem("L2", "C1", "P-M365", D(5), D(22), D(18)),
            ),
            usage_records=(usage("px-acme", "M365BP", 18),),
        )
        first, second = run(state).cards
        assert (first.line_item_id, first.kind, first.target_quantity, first.billed_elsewhere) == (
            "L1",
            CardKind.RECONCILE,
            D(13),
            D(5),
        )
        assert (second.line_item_id, second.kind, second.target_quantity) == (
            "L2",
            CardKind.NO_CHANGE,
            D(5),
        )

    def test_unbilled_revenue_is_counted_once(self) -> None:
        state = tenant(
            line_items=(
                LineItem("L1", "C1", "P-M365", D(10), D(22), D(18)),
                LineItem("L2", "C1", "P-M365", D(5), D(22), D(18)),
            ),
            usage_records=(usage("px-acme", "M365BP", 18),),
        )
        first, second = run(state).cards
        assert first.money is not None
        assert second.money is not None
        assert first.primary
        assert not second.primary
        # 18 used, 15 billed across both lines: 3 x 22.00 unbilled, on the first card only.
        assert first.money.unbilled_revenue.amount == D("66.00")
        assert second.money.unbilled_revenue.is_zero()
        assert summarise_money([first.money, second.money])["USD"].unbilled_mrr.amount == D("66.00")

    def test_target_never_goes_below_zero(self) -> None:
        state = tenant(
            line_items=(
                LineItem("L1", "C1", "P-M365", D(2), D(22), D(18)),
                LineItem("L2", "C1", "P-M365", D(5), D(22), D(18)),
            ),
            usage_records=(usage("px-acme", "M365BP", 3),),
        )
        assert run(state).cards[0].target_quantity == D(0)


class TestCardIdentityAndState:
    def test_card_ids_are_stable_across_recomputes(self) -> None:
        first = run(tenant())
        changed = run(tenant(usage_records=(usage("px-acme", "M365BP", 15),)))
        assert (
            [c.id for c in first.cards]
            == [c.id for c in changed.cards]
            == [line_item_card_id("t1", "L1")]
        )

    def test_actioned_card_stays_hidden_this_cycle(self) -> None:
        record = CardRecord(CardState.DISMISSED, actioned_on=TODAY - timedelta(days=3))
        card = only_card(tenant(card_records={line_item_card_id("t1", "L1"): record}))
        assert (card.state, card.hidden, card.actioned_on) == (
            CardState.DISMISSED,
            True,
            record.actioned_on,
        )

    def test_actioned_card_comes_back_next_cycle_if_still_different(self) -> None:
        record = CardRecord(CardState.APPLIED, actioned_on=date(2026, 10, 20))
        card = only_card(tenant(card_records={line_item_card_id("t1", "L1"): record}))
        assert (card.kind, card.state, card.hidden) == (
            CardKind.RECONCILE,
            CardState.PENDING,
            False,
        )

    def test_cycle_start_day_is_the_tenants(self) -> None:
        record = CardRecord(CardState.DISMISSED, actioned_on=date(2026, 11, 5))
        state = tenant(
            card_records={line_item_card_id("t1", "L1"): record},
            tenant_settings=TenantSettings(cycle_start_day=10),
        )
        assert only_card(state).hidden is False  # the cycle started on the 10th

    def test_rule_marks_auto_approval_with_reason(self) -> None:
        rules = (AutoRule("small M365 growth", max_units=D(5), service_line_id="m365"),)
        card = only_card(tenant(tenant_settings=TenantSettings(rules=rules)))
        assert card.auto_approval is not None
        assert card.auto_approval.explanation == "auto-approved by rule 'small M365 growth': +2 ≤ 5"
        assert card.state is CardState.PENDING  # the service approves; reconcile only computes

    def test_stale_card_is_never_auto_approved(self) -> None:
        rules = (AutoRule("any", max_units=D(5)),)
        state = tenant(
            usage_records=(usage("px-acme", "M365BP", 12, age=timedelta(days=90)),),
            tenant_settings=TenantSettings(rules=rules),
        )
        assert only_card(state).auto_approval is None

    def test_preview_for_a_card(self) -> None:
        state = tenant()
        card = only_card(state)
        preview = preview_card_changes(
            card,
            state.contracts[0],
            [QuantityChange(date(2026, 11, 16), D(12))],
            today=TODAY,
            settings=state.settings,
        )
        assert preview.total.amount == D("22.00")


class TestIncremental:
    def test_reconcile_account_matches_the_full_run(self) -> None:
        state = tenant(
            accounts=(Account("A1", "Acme"), Account("A2", "Beta")),
            contracts=(
                Contract("C1", "A1", "a", start=date(2025, 1, 1)),
                Contract("C2", "A2", "b", start=date(2025, 1, 1)),
            ),
            line_items=(
                LineItem("L1", "C1", "P-M365", D(10), D(22), D(18)),
                LineItem("L2", "C2", "P-M365", D(4), D(22), D(18)),
            ),
            usage_records=(usage("px-acme", "M365BP", 12), usage("px-beta", "M365BP", 4)),
            account_mappings=(
                AccountMapping("pax8", "px-acme", "A1"),
                AccountMapping("pax8", "px-beta", "A2"),
            ),
        )
        full = run(state).cards
        for account_id in ("A1", "A2"):
            part = reconcile_account(state, account_id, today=TODAY, now=NOW)
            assert part.active
            assert part.cards == tuple(c for c in full if c.account_id == account_id)

    def test_replacing_usage_recomputes_only_the_mapped_account(self) -> None:
        index = TenantIndex(tenant())
        affected = index.replace_usage("pax8", "px-acme", [usage("px-acme", "M365BP", 10)])
        assert affected == frozenset({"A1"})
        (card,) = index.reconcile_account("A1", today=TODAY, now=NOW).cards
        assert card.kind is CardKind.NO_CHANGE
        assert index.replace_usage("pax8", "px-unknown", []) == frozenset()

    def test_usage_of_a_vendor_account_is_what_replaced_it_last(self) -> None:
        index = TenantIndex(tenant())
        report = [usage("px-acme", "M365BP", 10), usage("px-acme", "OTHER", 3)]
        index.replace_usage("pax8", "px-acme", report)
        assert sorted(index.usage_of("pax8", "px-acme")) == sorted(report)
        index.replace_usage("pax8", "px-acme", [])
        assert index.usage_of("pax8", "px-acme") == []
        assert index.usage_of("pax8", "px-unknown") == []

    def test_changing_a_mapping_names_old_and_new_account(self) -> None:
        state = tenant(accounts=(Account("A1", "Acme"), Account("A2", "Beta")))
        index = TenantIndex(state)
        assert index.set_account_mapping(AccountMapping("pax8", "px-acme", "A2")) == {"A1", "A2"}
        assert index.remove_account_mapping("pax8", "px-acme") == {"A2"}
        assert index.set_service_mappings("pax8", "M365BP", []) == frozenset()

    def test_unknown_account_is_inactive(self) -> None:
        assert not reconcile_account(tenant(), "nope", today=TODAY, now=NOW).active

    def test_replacing_an_account_equals_building_the_index_anew(self) -> None:
        # A line item stored for a contract the PSA had not (yet) sent: when the contract
        # then arrives with it, it must be there once (it was counted twice).
        orphan = LineItem("L9", "C9", "P-M365", D(3), D(22), D(18))
        index = TenantIndex(tenant(line_items=(*tenant().line_items, orphan)))
        contracts = (
            Contract("C1", "A1", "Acme MSA", start=date(2025, 1, 1)),
            Contract("C9", "A1", "Acme extra", start=date(2025, 1, 1)),
        )
        items = (*tenant().line_items, orphan)
        index.replace_account(Account("A1", "Acme"), contracts, items)
        anew = TenantIndex(tenant(contracts=contracts, line_items=items))
        assert index.reconcile(today=TODAY, now=NOW) == anew.reconcile(today=TODAY, now=NOW)

    @pytest.mark.parametrize("first", ["A1", "A2"])
    def test_a_contract_that_moves_between_accounts_is_the_new_ones(self, first: str) -> None:
        before = tenant(accounts=(Account("A1", "Acme"), Account("A2", "Beta")))
        index = TenantIndex(before)
        moved = Contract("C1", "A2", "Acme MSA", start=date(2025, 1, 1))
        state_of = {
            "A1": (Account("A1", "Acme"), (), ()),
            "A2": (Account("A2", "Beta"), (moved,), before.line_items),
        }
        for account_id in (first, ({"A1", "A2"} - {first}).pop()):
            index.replace_account(*state_of[account_id])
        anew = TenantIndex(replace(before, contracts=(moved,)))
        assert index.reconcile(today=TODAY, now=NOW) == anew.reconcile(today=TODAY, now=NOW)
        assert [c.account_id for c in index.reconcile(today=TODAY, now=NOW).cards] == ["A2"]


# -- properties over generated tenants ---------------------------------------------------

PRODUCTS = ("P-M365", "P-EDR", "P-BKP", "P-NONE")
SKUS = (
    ("pax8", "M365BP"),
    ("pax8", "BUNDLE"),
    ("s1", "complete"),
    ("acronis", "gb"),
    ("pax8", "NEW"),
)
quantities = st.integers(min_value=0, max_value=60).map(D)


@st.composite
def tenants(draw: st.DrawFn) -> TenantState:
    account_ids = [f"A{i}" for i in range(draw(st.integers(1, 4)))]
    accounts = tuple(
        Account(a, f"Client {a}", suppress_new_revenue=draw(st.booleans())) for a in account_ids
    )
    contracts: list[Contract] = []
    items: list[LineItem] = []
    for account_id in account_ids:
        for n in range(draw(st.integers(0, 2))):
            cid = f"{account_id}-C{n}"
            status = draw(
                st.sampled_from(
                    [ContractStatus.ACTIVE, ContractStatus.ACTIVE, ContractStatus.EXPIRED]
                )
            )
            cycle = draw(st.sampled_from(list(BillingCycle)))
            contracts.append(
                Contract(
                    cid, account_id, cid, start=date(2025, 1, 1), status=status, billing_cycle=cycle
                )
            )
            for m in range(draw(st.integers(0, 3))):
                price = draw(st.decimals(min_value=0, max_value=100, places=2))
                items.append(
                    LineItem(
                        f"{cid}-L{m}",
                        cid,
                        draw(st.sampled_from(PRODUCTS)),
                        draw(quantities),
                        price,
                        price / 2,
                    )
                )
    vendor_accounts = [
        (v, f"{v}-{a}") for a in [*account_ids, "X"] for v in ("pax8", "s1", "acronis")
    ]
    mappings = tuple(
        AccountMapping(v, va, draw(st.sampled_from(account_ids)))
        for v, va in vendor_accounts
        if draw(st.booleans())
    )
    service_mappings = (
        ServiceMapping("pax8", "M365BP", "m365"),
        ServiceMapping("pax8", "BUNDLE", "m365"),
        ServiceMapping("pax8", "BUNDLE", "edr"),
        ServiceMapping("s1", "complete", "edr"),
        ServiceMapping(
            "acronis",
            "gb",
            "backup",
            factor=D(100),
            rounding=draw(st.sampled_from(list(RoundingRule))),
        ),
    )
    records = tuple(
        VendorUsage(
            v,
            f"{v}-{a}",
            sku,
            f"{v}-src",
            draw(quantities) * (7 if v == "acronis" else 1),
            NOW - timedelta(days=draw(st.integers(0, 60))),
        )
        for a in [*account_ids, "X"]
        for v, sku in SKUS
        if (draw(st.integers(0, 2)) and v != "s1") or (v == "s1" and draw(st.booleans()))
        for _ in range(draw(st.integers(1, 2)))
    )
    return TenantState(
        tenant_id="t1",
        accounts=accounts,
        contracts=tuple(contracts),
        line_items=tuple(items),
        service_lines=SERVICE_LINES,
        usage=records,
        account_mappings=mappings,
        service_mappings=service_mappings,
    )


def apply_every_approval(state: TenantState, cards: tuple[Card, ...]) -> TenantState:
    """What writeback does: write each target quantity, add each New Revenue line item."""
    targets = {
        c.line_item_id: c.target_quantity
        for c in cards
        if c.kind is CardKind.RECONCILE and c.target_quantity is not None
    }
    items = [
        replace(item, quantity=targets[item.id]) if item.id in targets else item
        for item in state.line_items
    ]
    products = {s.id: s.product_id for s in SERVICE_LINES}
    for card in cards:
        if card.kind is CardKind.NEW_REVENUE:
            assert card.contract_id is not None
            assert card.service_line_id is not None
            assert card.target_quantity is not None
            items.append(
                LineItem(
                    f"new-{card.id}",
                    card.contract_id,
                    products[card.service_line_id],
                    card.target_quantity,
                    D(1),
                    D(0),
                )
            )
    return replace(state, line_items=tuple(items))


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class TestReconcileProperties:
    @PROPERTY_SETTINGS
    @given(tenants())
    def test_after_every_approval_only_no_change_remains(self, state: TenantState) -> None:
        first = run(state)
        second = run(apply_every_approval(state, first.cards))
        assert {c.kind for c in second.cards} <= {CardKind.NO_CHANGE}
        assert second.active_accounts == first.active_accounts

    @PROPERTY_SETTINGS
    @given(tenants())
    def test_totals_equal_the_sum_of_their_lines(self, state: TenantState) -> None:
        cards = run(state).cards
        summaries = summarise_money(c.money for c in cards)
        for currency, summary in summaries.items():
            priced = [
                c.money for c in cards if c.money is not None and c.money.currency == currency
            ]
            assert summary.card_count == len(priced)
            for name in ("mrr_change", "mrr_cost_change", "mrr_profit_change", "unbilled_mrr"):
                assert getattr(summary, name).amount == sum(
                    (getattr(m, name).amount for m in priced), D(0)
                )

    @PROPERTY_SETTINGS
    @given(tenants())
    def test_each_account_alone_gives_its_cards_of_the_full_run(self, state: TenantState) -> None:
        full = run(state)
        index = TenantIndex(state)
        active = 0
        for account in state.accounts:
            part = index.reconcile_account(account.id, today=TODAY, now=NOW)
            active += part.active
            assert part.cards == tuple(c for c in full.cards if c.account_id == account.id)
        assert active == full.active_accounts

    @PROPERTY_SETTINGS
    @given(tenants(), st.data())
    def test_map_then_unmap_restores_the_previous_cards(
        self, state: TenantState, data: st.DataObject
    ) -> None:
        before = run(state)
        index = TenantIndex(state)
        candidates = [(u.vendor, u.vendor_account_id) for u in before.unmapped_accounts]
        if not candidates:
            candidates = [("pax8", "never-seen")]
        vendor, vendor_account_id = data.draw(st.sampled_from(candidates))
        account_id = data.draw(st.sampled_from([a.id for a in state.accounts]))
        index.set_account_mapping(AccountMapping(vendor, vendor_account_id, account_id))
        index.remove_account_mapping(vendor, vendor_account_id)
        after = index.reconcile(today=TODAY, now=NOW)
        assert after == before

    @PROPERTY_SETTINGS
    @given(tenants(), st.data())
    def test_remapping_a_sku_and_back_restores_the_previous_cards(
        self, state: TenantState, data: st.DataObject
    ) -> None:
        before = run(state)
        index = TenantIndex(state)
        vendor, sku = data.draw(st.sampled_from(SKUS))
        original = [m for m in state.service_mappings if (m.vendor, m.sku) == (vendor, sku)]
        index.set_service_mappings(
            vendor,
            sku,
            [ServiceMapping(vendor, sku, data.draw(st.sampled_from(["m365", "edr", "backup"])))],
        )
        index.set_service_mappings(vendor, sku, original)
        assert index.reconcile(today=TODAY, now=NOW) == before

    @PROPERTY_SETTINGS
    @given(tenants())
    def test_reconcile_is_deterministic_and_ids_are_unique(self, state: TenantState) -> None:
        first = run(state)
        shuffled = replace(
            state, usage=tuple(reversed(state.usage)), line_items=tuple(reversed(state.line_items))
        )
        assert run(shuffled) == first
        ids = [c.id for c in first.cards]
        assert len(ids) == len(set(ids))
