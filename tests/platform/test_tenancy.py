"""Tenant isolation at the database: row-level security on PostgreSQL as the backstop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.conftest import Databases
from trueup.platform.database import Database
from trueup.platform.migrations import upgrade
from trueup.reconciliation.main import MIGRATIONS
from trueup.reconciliation.models import Usage


def _usage(tenant_id: str) -> Usage:
    return Usage(
        tenant_id=tenant_id,
        vendor="pax8",
        vendor_account_id="acme",
        sku="M365-BP",
        vendor_account_name="Acme",
        sku_name="M365",
        quantity=Decimal("12.5"),
        as_of=datetime.now(UTC),
        source="csv",
        batch_id="b",
    )


class TestRowLevelSecurity:
    async def test_each_tenant_sees_only_its_rows_and_no_tenant_sees_none(
        self, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        if not databases.is_postgres:
            pytest.skip("row-level security is a PostgreSQL feature")
        url, schema = await databases.for_service("reconciliation")
        await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
        database = Database(url, schema)
        tenant_a, tenant_b = tenant_ids
        try:
            for tenant in (tenant_a, tenant_b):
                async with database.transaction(tenant) as session:
                    session.add(_usage(tenant))

            # The query below forgets its tenant filter on purpose.
            everything = sa.select(Usage.tenant_id)
            async with database.transaction(tenant_a) as session:
                assert (await session.scalars(everything)).all() == [tenant_a]
            async with database.transaction() as session:
                assert (await session.scalars(everything)).all() == []

            with pytest.raises(sa.exc.DBAPIError, match="row-level security"):
                async with database.transaction(tenant_a) as session:
                    session.add(_usage(tenant_b))
        finally:
            await database.dispose()

    async def test_a_transaction_acting_for_one_tenant_after_another_touches_only_it(
        self, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        if not databases.is_postgres:
            pytest.skip("row-level security is a PostgreSQL feature")
        url, schema = await databases.for_service("reconciliation")
        await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
        database = Database(url, schema)
        tenant_a, tenant_b = tenant_ids
        everything = sa.select(Usage.tenant_id)
        try:
            # A batched consumer applies each tenant's part of a batch in turn.
            async with database.transaction() as session:
                await database.act_for_tenant(session, tenant_a)
                session.add(_usage(tenant_a))
                await session.flush()
                await database.act_for_tenant(session, tenant_b)
                assert (await session.scalars(everything)).all() == []
                session.add(_usage(tenant_b))
                await session.flush()
                assert (await session.scalars(everything)).all() == [tenant_b]

            async def add_after_acting_for(tenants: list[str], row_tenant: str) -> None:
                async with database.transaction() as session:
                    for tenant in tenants:
                        await database.act_for_tenant(session, tenant)
                    session.add(_usage(row_tenant))

            with pytest.raises(sa.exc.DBAPIError, match="row-level security"):
                await add_after_acting_for([tenant_a, tenant_b], tenant_a)
        finally:
            await database.dispose()

    async def test_the_service_role_is_not_a_superuser(self, databases: Databases) -> None:
        if not databases.is_postgres:
            pytest.skip("roles are a PostgreSQL feature")
        url, schema = await databases.for_service("reconciliation")
        database = Database(url, schema)
        try:
            async with database.transaction() as session:
                row = (
                    await session.execute(
                        sa.text(
                            "SELECT rolsuper, rolbypassrls FROM pg_roles"
                            " WHERE rolname = current_user"
                        )
                    )
                ).one()
            assert tuple(row) == (False, False)
        finally:
            await database.dispose()


class TestDecimalColumns:
    async def test_money_round_trips_exactly(self, databases: Databases) -> None:
        url, schema = await databases.for_service("reconciliation")
        await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
        database = Database(url, schema)
        try:
            async with database.transaction("t1") as session:
                row = _usage("t1")
                row.quantity = Decimal("1234567890.123456")
                session.add(row)
            async with database.transaction("t1") as session:
                stored = await session.scalar(sa.select(Usage.quantity))
            assert stored == Decimal("1234567890.123456")
            assert isinstance(stored, Decimal)
        finally:
            await database.dispose()
