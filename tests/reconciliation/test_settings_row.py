"""A tenant's settings row is created once, however many writers find it missing at once.

The live and bulk lanes (or two replicas) may both take a new tenant's first inputs: each
finds no settings row and creates one. On PostgreSQL both transactions run together, and
the second insert used to fail on the primary key (the message was then delivered again,
after an error with a traceback in the log)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.reconciliation.conftest import Tenant
from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.reconciliation import inputs
from trueup.reconciliation.repository import Repository

SYNC_COMPLETED = m.PsaSyncCompleted(
    connection_id="c1",
    sync_id="s1",
    full=True,
    batches=0,
    accounts=0,
    contracts=0,
    line_items=0,
    active_accounts=0,
)


class TestTwoWritersOnANewTenant:
    async def test_both_commit_and_one_row_exists(
        self, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if not tenant.database.is_postgres:
            pytest.skip("SQLite has one writer at a time: its transactions cannot overlap")
        # Both transactions read "no settings row" before either writes one.
        both_looked = asyncio.Barrier(2)
        waited: set[int] = set()
        original = Repository.settings_row

        async def settings_row_then_wait(self: Repository) -> object:
            row = await original(self)
            if row is None and id(self.session) not in waited:
                waited.add(id(self.session))
                await asyncio.wait_for(both_looked.wait(), timeout=10)
            return row

        monkeypatch.setattr(Repository, "settings_row", settings_row_then_wait)

        async def apply(at: datetime) -> None:
            envelope = wrap(SYNC_COMPLETED, tenant_id=tenant.tenant_id)
            envelope = envelope.model_copy(update={"occurred_at": at})
            await tenant.run(lambda s: inputs.apply_sync_completed(s, envelope))

        first, second = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
        results = await asyncio.gather(apply(first), apply(second), return_exceptions=True)

        assert [r for r in results if isinstance(r, BaseException)] == []
        monkeypatch.setattr(Repository, "settings_row", original)
        row = await tenant.run(lambda s: Repository(s, tenant.tenant_id).settings_row())
        assert row is not None
        assert row.last_sync_at in (first, second)
