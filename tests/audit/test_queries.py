"""ListActivity over real NATS request-reply: filters, cursor pagination, tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from tests.audit.helpers import JANE, RULE, applied, approve, at, event, mapping_changed
from trueup.audit import service
from trueup.audit.models import Entry
from trueup.audit.repository import EntryRepository
from trueup.contracts import Envelope, Payload, wrap
from trueup.contracts.envelope import Reply
from trueup.contracts.messages import (
    ActionRecorded,
    ActivityEntry,
    ActivityPage,
    ListActivity,
    subject_for,
)
from trueup.platform import paging
from trueup.platform.broker import ask
from trueup.platform.service import ServiceRuntime

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


async def _record(audit: ServiceRuntime, *envelopes: Envelope[Any]) -> list[str]:
    for envelope in envelopes:
        async with audit.database.transaction(envelope.tenant_id) as session:
            await service.record_event(session, envelope, now=datetime.now(UTC))
    return [envelope.event_id for envelope in envelopes]


async def _ask(audit: ServiceRuntime, tenant: str, **filters: Any) -> Reply[ActivityPage]:
    query = wrap(ListActivity(**filters), tenant_id=tenant)
    return await ask(audit.broker, subject_for(ListActivity, tenant), query, ActivityPage)


async def _page(audit: ServiceRuntime, tenant: str, **filters: Any) -> ActivityPage:
    reply = await _ask(audit, tenant, **filters)
    assert reply.error is None, reply.error
    assert reply.result is not None
    return reply.result


async def _ids(audit: ServiceRuntime, tenant: str, **filters: Any) -> list[str]:
    return [item.entry_id for item in (await _page(audit, tenant, **filters)).items]


def _dismiss(card_id: str, account: str, service_line: str) -> Payload:
    return ActionRecorded(
        action_id=f"act-{card_id}",
        card_id=card_id,
        action="dismiss",
        actor=RULE,
        account_name=account,
        service_line=service_line,
        contract_psa_id="900",
    )


FILTER_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["mapping", "dismiss", "applied", "approve"]),
    ({"actor_id": RULE.id}, ["dismiss"]),
    ({"actor_id": JANE.id}, ["mapping", "applied", "approve"]),
    ({"account": "Acme, Inc."}, ["applied", "approve"]),
    ({"service_line": "Backup"}, ["dismiss"]),
    ({"contract_psa_id": "4711"}, ["applied", "approve"]),
    ({"card_id": "card-1"}, ["applied", "approve"]),
    ({"action_type": "writeback"}, ["applied"]),
    ({"action_type": "mapping"}, ["mapping"]),
    ({"outcome": "applied"}, ["mapping", "dismiss", "applied"]),
    ({"outcome": "conflict"}, []),
    ({"since": BASE + timedelta(minutes=1)}, ["mapping", "dismiss", "applied"]),
    ({"until": BASE + timedelta(minutes=1)}, ["approve"]),
    (
        {"since": BASE + timedelta(minutes=1), "until": BASE + timedelta(hours=2)},
        ["dismiss", "applied"],
    ),
    ({"account": "Acme, Inc.", "action_type": "approve"}, ["approve"]),
    # Part of the name in any case, as a person types it in the search box.
    ({"account": "acme"}, ["applied", "approve"]),
    ({"account": "ACME, inc"}, ["applied", "approve"]),
    ({"account": " lobe "}, ["dismiss"]),
    ({"account": "Initech"}, []),
    # The account's id matches exactly, never in part.
    ({"account": "company-17"}, ["applied", "approve"]),
    ({"account": "company-1"}, []),
    # "%" and "_" are the characters themselves, not patterns.
    ({"account": "%"}, []),
    ({"account": "A_me"}, []),
]


class TestFilters:
    @pytest.fixture
    async def log(self, audit: ServiceRuntime, tenant_ids: tuple[str, str]) -> dict[str, str]:
        tenant, _ = tenant_ids
        envelopes = {
            "approve": at(event(approve(), tenant), BASE),
            "applied": at(event(applied(), tenant), BASE + timedelta(minutes=1)),
            "dismiss": at(
                event(_dismiss("card-7", "Globex", "Backup"), tenant), BASE + timedelta(hours=1)
            ),
            "mapping": at(event(mapping_changed(), tenant), BASE + timedelta(hours=2)),
        }
        await _record(audit, *envelopes.values())
        return {name: envelope.event_id for name, envelope in envelopes.items()}

    async def test_each_filter_selects_exactly_its_entries_newest_first(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str], log: dict[str, str]
    ) -> None:
        # One service for every case: starting one per case would dominate the run time.
        tenant, _ = tenant_ids
        for filters, expected in FILTER_CASES:
            found = await _ids(audit, tenant, **filters)
            assert found == [log[name] for name in expected], filters

    async def test_an_entry_travels_with_exact_decimals_and_its_psa_trail(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str], log: dict[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        page = await _page(audit, tenant, card_id="card-1", action_type="writeback")
        (written,) = page.items
        assert written.psa_record_url is not None
        assert written.psa_record_url.startswith("https://cw.example/")
        assert written.quantity_after == Decimal(30)
        assert written.price_after == Decimal(22)
        assert [line.quantity for line in written.prorated_lines] == [Decimal("27.5"), Decimal(30)]
        wire = page.model_dump_json()
        # Money and quantities stay strings on the wire, never floats, and never "30.000000".
        assert '"quantity_after":"30"' in wire
        assert '"price_after":"22"' in wire


class TestAccountFilterOnOlderEntries:
    async def test_an_entry_stored_before_account_ids_is_found_by_part_of_its_name(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        # As an earlier audit service stored an add's outcome: no account id, and the
        # summary of its time, which is history and shown as it was written.
        old = {
            "tenant_id": tenant,
            "entry_id": "old-entry",
            "event_type": "writeback.applied.v1",
            "occurred_at": BASE,
            "recorded_at": BASE,
            "actor_kind": "user",
            "actor_id": JANE.id,
            "actor_name": JANE.name,
            "action_type": "writeback",
            "outcome": "applied",
            "summary": "Wrote ? → 20 to connectwise contract 4711",
            "account_name": "Acme, Inc.",
            "service_line": "Backup",
            "quantity_after": Decimal(20),
            "prorated_lines": [],
            "correlation_id": "c-old",
        }
        async with audit.database.transaction(tenant) as session:
            assert await EntryRepository(session, tenant).add(old)
        (entry,) = (await _page(audit, tenant, account="acme")).items
        assert (entry.entry_id, entry.account_name, entry.account_id) == (
            "old-entry",
            "Acme, Inc.",
            None,
        )
        assert entry.quantity_before is None
        assert (await _page(audit, tenant, account="company-17")).items == []


class TestCursorPagination:
    async def test_pages_cover_every_entry_once_in_order_even_with_equal_times(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        # Three entries share one instant: the entry id breaks the tie, so none is skipped
        # or repeated at a page boundary.
        moments = [BASE, BASE, BASE, BASE + timedelta(seconds=1), BASE + timedelta(seconds=2)]
        moments += [BASE + timedelta(seconds=3), BASE - timedelta(seconds=1)]
        await _record(audit, *(at(event(mapping_changed(), tenant), m) for m in moments))

        everything = (await _page(audit, tenant, limit=100)).items
        assert len(everything) == 7
        keys = [(item.occurred_at, item.entry_id) for item in everything]
        assert keys == sorted(keys, reverse=True)

        seen: list[ActivityEntry] = []
        cursor: str | None = None
        sizes: list[int] = []
        while True:
            page = await _page(audit, tenant, limit=3, cursor=cursor)
            sizes.append(len(page.items))
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sizes == [3, 3, 1]
        assert [item.entry_id for item in seen] == [item.entry_id for item in everything]

    async def test_a_page_too_large_for_one_answer_is_cut_and_continues(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # 1,000 entries with long reasons pass the broker's 1 MB message limit: the answer
        # was refused (413). Here a page holds about two entries.
        tenant, _ = tenant_ids
        moments = [BASE + timedelta(seconds=n) for n in range(5)]
        await _record(audit, *(at(event(mapping_changed(), tenant), m) for m in moments))
        one = len((await _page(audit, tenant, limit=1)).items[0].model_dump_json())
        monkeypatch.setattr(paging, "PAGE_BYTES", 2 * one + 10)

        seen: list[str] = []
        sizes: list[int] = []
        cursor: str | None = None
        while True:
            page = await _page(audit, tenant, limit=5, cursor=cursor)
            sizes.append(len(page.items))
            seen += [item.entry_id for item in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        monkeypatch.undo()
        assert sizes == [2, 2, 1]
        assert seen == [item.entry_id for item in (await _page(audit, tenant, limit=5)).items]

    async def test_a_full_last_page_has_no_next_cursor(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        await _record(audit, *(event(mapping_changed(), tenant) for _ in range(2)))
        page = await _page(audit, tenant, limit=2)
        assert (len(page.items), page.next_cursor) == (2, None)

    async def test_a_forged_cursor_is_a_precise_error(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        reply = await _ask(audit, tenant, cursor="not-a-cursor")
        assert reply.error is not None
        assert (reply.error.status, reply.error.title) == (400, "Invalid cursor")


class TestTenantIsolation:
    async def test_tenant_a_never_sees_tenant_b_entries(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant_a, tenant_b = tenant_ids
        (a_entry,) = await _record(audit, event(approve(), tenant_a))
        (b_entry,) = await _record(audit, event(approve(), tenant_b))

        assert await _ids(audit, tenant_a) == [a_entry]
        assert await _ids(audit, tenant_b) == [b_entry]
        # Same card and contract ids in both tenants: the filters never cross tenants.
        assert await _ids(audit, tenant_a, card_id="card-1", contract_psa_id="4711") == [a_entry]

    async def test_a_query_for_another_tenant_subject_is_refused(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant_a, tenant_b = tenant_ids
        await _record(audit, event(approve(), tenant_b))
        forged = wrap(ListActivity(), tenant_id=tenant_a)
        reply = await ask(audit.broker, subject_for(ListActivity, tenant_b), forged, ActivityPage)
        assert reply.result is None
        assert reply.error is not None
        assert reply.error.status == 403

    async def test_the_database_hides_other_tenants_rows_from_an_unfiltered_query(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant_a, tenant_b = tenant_ids
        if not audit.database.is_postgres:
            pytest.skip("row-level security is a PostgreSQL feature")
        await _record(audit, event(approve(), tenant_a), event(approve(), tenant_b))
        everything = sa.select(Entry.tenant_id)  # no tenant filter, on purpose
        async with audit.database.transaction(tenant_a) as session:
            assert (await session.scalars(everything)).all() == [tenant_a]
        async with audit.database.transaction() as session:
            assert (await session.scalars(everything)).all() == []
