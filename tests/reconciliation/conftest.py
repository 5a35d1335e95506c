"""A migrated reconciliation database per test, and a tenant that speaks to the use cases
directly: the PSA state and usage of one account, and what the outbox staged."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Databases
from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.platform.database import Database
from trueup.platform.messaging import outbox_table
from trueup.platform.migrations import upgrade
from trueup.reconciliation import index_cache, inputs
from trueup.reconciliation.index_cache import TenantIndexCache
from trueup.reconciliation.main import MIGRATIONS
from trueup.reconciliation.models import CardRow
from trueup.reconciliation.repository import Repository

T = TypeVar("T")
D = Decimal
USER = m.Actor(kind="user", id="u-1", name="Dana")
PRODUCTS = {"P1": "Managed Endpoint", "P2": "Cloud Backup 1TB", "P3": "EDR Agent"}


class Tenant:
    """One tenant of a fresh database, with its own index cache."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.tenant_id = f"t{uuid.uuid4().hex[:10]}"
        self.batches = 0

    @contextlib.contextmanager
    def statements(self) -> Iterator[list[str]]:
        """The SQL statements the tenant's database runs inside the block, in order, each
        on one line."""
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            seen.append(" ".join(statement.split()))

        engine = self.database.engine.sync_engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)

    async def run(self, use_case: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a use case in one committed transaction, as a handler does."""
        async with self.database.transaction(self.tenant_id) as session:
            return await use_case(session)

    def snapshot(
        self,
        quantities: dict[str, int],
        *,
        full: bool = False,
        account_name: str = "Account A",
        currency: str = "USD",
    ) -> m.PsaSnapshot:
        """Account A with one active monthly contract, a line per product at 12.50 (cost 7)."""
        today = datetime.now(UTC).date()
        return m.PsaSnapshot(
            connection_id="conn",
            psa="connectwise",
            sync_id="s1",
            batch_no=0,
            full=full,
            accounts=[m.PsaAccount(psa_id="A", name=account_name)],
            contracts=[
                m.PsaContract(
                    psa_id="C-A",
                    account_psa_id="A",
                    name="Contract A",
                    status="active",
                    start_date=today - timedelta(days=400),
                    billing_cycle="monthly",
                    currency=currency,
                )
            ],
            line_items=[
                m.PsaLineItem(
                    psa_id=f"L-A-{product}",
                    contract_psa_id="C-A",
                    product_id=product,
                    product_name=PRODUCTS[product],
                    quantity=D(quantity),
                    unit_price=D("12.50"),
                    unit_cost=D("7.00"),
                )
                for product, quantity in quantities.items()
            ],
        )

    def usage(self, quantities: dict[str, int]) -> m.UsageReported:
        """Vendor usage of account A (named as in the PSA, so it maps itself)."""
        self.batches += 1
        return m.UsageReported(
            vendor="pax8",
            source=m.UsageSource.WEBHOOK,
            batch_id=f"b{self.batches}",
            records=[
                m.UsageRecord(
                    vendor_account_id="v-A",
                    vendor_account_name="Account A",
                    sku=f"sku-{product}",
                    sku_name=PRODUCTS[product],
                    quantity=D(quantity),
                    as_of=datetime.now(UTC),
                )
                for product, quantity in quantities.items()
            ],
            replaces_accounts=["v-A"],
        )

    async def synced(self, psa: dict[str, int], vendor: dict[str, int]) -> dict[str, CardRow]:
        """The PSA lines and vendor usage applied; the cards by service line name."""
        snapshot = wrap(self.snapshot(psa), tenant_id=self.tenant_id)
        await self.run(lambda s: inputs.apply_snapshot(s, snapshot))
        usage = wrap(self.usage(vendor), tenant_id=self.tenant_id)
        await self.run(lambda s: inputs.apply_usage(s, usage))
        return await self.cards()

    async def cards(self) -> dict[str, CardRow]:
        rows = await self.run(lambda s: Repository(s, self.tenant_id).all_of(CardRow))
        return {row.service_line: row for row in rows}

    async def staged(self) -> list[tuple[str, dict[str, Any]]]:
        """(subject kind, payload) of every staged event, oldest first; the subject's
        tenant part is dropped."""

        async def read(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
            rows = await session.execute(
                sa.select(outbox_table.c.subject, outbox_table.c.body)
                .where(outbox_table.c.tenant_id == self.tenant_id)
                .order_by(outbox_table.c.id)
            )
            return [
                (subject.replace(f".{self.tenant_id}.", ".*.", 1), json.loads(body)["payload"])
                for subject, body in rows
            ]

        return await self.run(read)


@pytest.fixture
async def tenant(databases: Databases) -> AsyncIterator[Tenant]:
    url, schema = await databases.for_service("reconciliation")
    await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
    saved = index_cache.INDEXES
    # A cache of its own: what an earlier test left in memory must not serve this one.
    index_cache.INDEXES = TenantIndexCache(budget=1_000_000)
    t = Tenant(Database(url, schema))
    try:
        yield t
    finally:
        index_cache.INDEXES = saved
        await t.database.dispose()
