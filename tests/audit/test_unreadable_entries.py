"""One stored entry, however odd, never breaks reading the activity log or its export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tests.audit.helpers import approve, event
from tests.audit.test_queries import _page, _record
from trueup.audit.models import Entry
from trueup.platform.service import ServiceRuntime


def _odd_row(tenant: str, **columns: Any) -> dict[str, Any]:
    now = datetime.now(UTC) - timedelta(hours=1)
    return {
        "tenant_id": tenant,
        "entry_id": uuid.uuid4().hex,
        "event_type": "writeback.failed.v1",
        "occurred_at": now,
        "recorded_at": now,
        "actor_kind": "user",
        "actor_id": "u-1",
        "actor_name": "Jane",
        "action_type": "writeback",
        "outcome": "failed",
        "summary": "Writing to the PSA failed",
        "correlation_id": uuid.uuid4().hex,
        "prorated_lines": [],
        **columns,
    }


class TestAnyStoredRowIsReadable:
    async def test_absurd_quantities_and_broken_lines_do_not_fail_the_page(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        await _record(audit, event(approve(), tenant))
        odd = [
            # What a writeback failure of "1e400" left before quantities were bounded.
            _odd_row(tenant, quantity_after=Decimal("999999999999999999.999999")),
            _odd_row(
                tenant,
                prorated_lines=[
                    {"effective_date": "9999-12-31", "quantity": "1e400"},
                    {"effective_date": "not a date", "quantity": "3"},
                    {"quantity": "3"},
                    "a string where a line belongs",
                ],
            ),
            _odd_row(tenant, actor_kind="robot"),
        ]
        async with audit.database.transaction(tenant) as session:
            columns = {c.name for c in Entry.__table__.columns}
            for row in odd:
                await session.execute(
                    sa.insert(Entry).values({k: v for k, v in row.items() if k in columns})
                )

        page = await _page(audit, tenant, limit=50)

        assert len(page.items) == 4
        by_id = {item.entry_id: item for item in page.items}
        first, second, third = (by_id[row["entry_id"]] for row in odd)
        assert first.summary == "Writing to the PSA failed"
        assert first.quantity_after == Decimal("999999999999999999.999999")
        # The readable step of the broken list survives as stored; the rest are left out.
        assert [(s.effective_date.year, s.quantity) for s in second.prorated_lines] == [
            (9999, Decimal("1e400"))
        ]
        assert third.actor.kind == "system"
        assert third.actor.id == "u-1"
