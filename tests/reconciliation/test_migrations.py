"""Reconciliation's data migrations, run over rows an earlier release wrote."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from tests.reconciliation.conftest import Tenant
from tests.reconciliation.test_cards_queries import ENDPOINT, three_cards
from trueup.platform.migrations import downgrade, upgrade
from trueup.reconciliation import cards
from trueup.reconciliation.main import MIGRATIONS


async def migrate(tenant: Tenant, revision: str) -> None:
    url = tenant.database.url.render_as_string(hide_password=False)
    step = upgrade if revision == "head" else downgrade
    await asyncio.to_thread(step, MIGRATIONS, url, tenant.database.schema, revision=revision)
    # A service restarts after a migration; the pool's prepared statements know the old tables.
    await tenant.database.engine.dispose()


async def stored(tenant: Tenant) -> tuple[list[str], str]:
    """The account mappings' column names and the cards' contributions as stored text."""

    async def read(session: sa.ext.asyncio.AsyncSession) -> tuple[list[str], str]:
        mappings = await session.execute(sa.text("SELECT * FROM account_mappings"))
        text = await session.scalar(
            sa.text("SELECT CAST(contributions AS TEXT) FROM cards WHERE service_line = :s"),
            {"s": ENDPOINT},
        )
        return list(mappings.keys()), str(text)

    return await tenant.run(read)


class TestVendorAccountId:
    """0005: `vendor_account` becomes `vendor_account_id` in mappings and stored cards."""

    async def test_cards_written_before_read_the_same_after(self, tenant: Tenant) -> None:
        await three_cards(tenant)
        card_id = (await tenant.cards())[ENDPOINT].card_id

        async def details() -> object:
            return await tenant.run(lambda s: cards.card_details(s, tenant.tenant_id, card_id))

        expected = await details()
        await migrate(tenant, "0004")
        columns, contributions = await stored(tenant)
        assert "vendor_account" in columns
        assert '"vendor_account":' in contributions

        await migrate(tenant, "head")

        columns, contributions = await stored(tenant)
        assert "vendor_account_id" in columns
        assert "vendor_account" not in columns
        assert '"vendor_account_id":' in contributions
        assert '"vendor_account":' not in contributions
        assert await details() == expected
