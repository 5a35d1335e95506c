"""Reconciliation's data migrations, run over rows an earlier release wrote."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tests.reconciliation.conftest import Tenant
from tests.reconciliation.test_cards_queries import ENDPOINT, three_cards
from trueup.contracts import recon as r
from trueup.platform.migrations import downgrade, upgrade
from trueup.reconciliation import cards
from trueup.reconciliation.main import MIGRATIONS
from trueup.reconciliation.models import TenantSettingsRow
from trueup.reconciliation.repository import Repository


async def migrate(tenant: Tenant, revision: str) -> None:
    url = tenant.database.url.render_as_string(hide_password=False)
    step = upgrade if revision == "head" else downgrade
    await asyncio.to_thread(step, MIGRATIONS, url, tenant.database.schema, revision=revision)
    # A service restarts after a migration; the pool's prepared statements know the old tables.
    await tenant.database.engine.dispose()


async def stored(tenant: Tenant) -> tuple[list[str], str]:
    """The account mappings' column names and the cards' contributions as stored text."""

    async def read(session: AsyncSession) -> tuple[list[str], str]:
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


class TestSplitMappingThreshold:
    """0006: the one `auto_map_threshold` becomes `suggestion_threshold` (pre-selection) and
    `auto_apply_threshold` (mapping with nobody looking), each within its own bounds."""

    # Stored before: (pre-selection, auto-apply) after.
    CASES: ClassVar[dict[str | None, tuple[str | None, str | None]]] = {
        "97": ("97", "97"),
        "90": ("90", "90"),
        "79": ("79", None),  # pre-selects look-alikes for a person; maps none of them alone
        "30": ("50", None),
        None: (None, None),
    }

    async def test_the_value_is_carried_into_both_settings(self, tenant: Tenant) -> None:
        await migrate(tenant, "0005")
        tenants = {value: Tenant(tenant.database) for value in self.CASES}
        for value, each in tenants.items():
            await write_settings(each, {"cycle_start_day": 5, "auto_map_threshold": value})
        untouched = Tenant(tenant.database)
        await write_settings(untouched, {"rounding": "half_even"})

        await migrate(tenant, "head")

        for value, (suggestion, auto_apply) in self.CASES.items():
            each = tenants[value]
            settings = await billing_settings(each)
            assert settings.cycle_start_day == 5
            assert (settings.suggestion_threshold, settings.auto_apply_threshold) == (
                None if suggestion is None else Decimal(suggestion),
                None if auto_apply is None else Decimal(auto_apply),
            ), value
            assert "auto_map_threshold" not in await stored_settings(each)
        assert await billing_settings(untouched) == r.BillingSettings(rounding="half_even")

    async def test_a_downgrade_keeps_the_pre_selection_value(self, tenant: Tenant) -> None:
        saved = r.BillingSettings(
            suggestion_threshold=Decimal(80), auto_apply_threshold=Decimal(97)
        ).model_dump(mode="json")
        await write_settings(tenant, saved)

        await migrate(tenant, "0005")

        stored_before = await stored_settings(tenant)
        assert stored_before["auto_map_threshold"] == "80"
        assert "suggestion_threshold" not in stored_before
        assert "auto_apply_threshold" not in stored_before


class TestRoomForUpdatesInPlace:
    """0007: on PostgreSQL, `usage` and `cards` leave room on each page, so that an
    import's repeated updates of the same rows are written in place (less WAL)."""

    async def test_the_tables_leave_room_and_a_downgrade_fills_them_again(
        self, tenant: Tenant
    ) -> None:
        if not tenant.database.is_postgres:
            pytest.skip("fillfactor is a PostgreSQL setting")
        assert await fillfactors(tenant) == {"usage": "70", "cards": "70"}
        await migrate(tenant, "0006")
        assert await fillfactors(tenant) == {}
        await migrate(tenant, "head")
        assert await fillfactors(tenant) == {"usage": "70", "cards": "70"}


async def fillfactors(tenant: Tenant) -> dict[str, str]:
    """Each of the two tables' fillfactor where one is set."""

    async def read(session: AsyncSession) -> dict[str, str]:
        found: dict[str, str] = {}
        for table in ("usage", "cards"):
            options = await session.scalar(
                sa.text("SELECT reloptions FROM pg_class WHERE oid = to_regclass(:t)"),
                {"t": table},
            )
            for option in options or []:
                name, _, value = option.partition("=")
                if name == "fillfactor":
                    found[table] = value
        return found

    return await tenant.run(read)


async def billing_settings(tenant: Tenant) -> r.BillingSettings:
    return await tenant.run(lambda s: Repository(s, tenant.tenant_id).billing_settings())


async def write_settings(tenant: Tenant, settings: dict[str, Any]) -> None:
    async def write(session: AsyncSession) -> None:
        await session.merge(
            TenantSettingsRow(
                tenant_id=tenant.tenant_id, settings=settings, active_accounts=0, cards_version=0
            )
        )

    await tenant.run(write)


async def stored_settings(tenant: Tenant) -> dict[str, Any]:
    """The settings as stored, without the contract reading them."""

    async def read(session: AsyncSession) -> dict[str, Any]:
        row = await session.get(TenantSettingsRow, tenant.tenant_id)
        assert row is not None
        await session.refresh(row)
        return dict(row.settings)

    return await tenant.run(read)
