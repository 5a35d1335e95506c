"""Reconciliation's copy of the PSA: snapshot batches insert new rows and update known ones.

Run against the service's own migrated database (SQLite, and PostgreSQL where configured)
by calling its use cases inside the transactions its handlers open.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from tests.conftest import Databases
from tests.support import running_service, settings_for
from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.reconciliation import inputs
from trueup.reconciliation.main import build
from trueup.reconciliation.models import AccountRow, ContractRow, LineItemRow, ServiceLineRow
from trueup.reconciliation.settings import Settings

TENANT = "t-projection"


def snapshot(name: str, quantity: int, price: str, *, batch_no: int = 0) -> m.PsaSnapshot:
    return m.PsaSnapshot(
        connection_id="cw",
        psa="connectwise",
        sync_id="s1",
        batch_no=batch_no,
        full=False,
        accounts=[m.PsaAccount(psa_id="A1", name=name)],
        contracts=[
            m.PsaContract(
                psa_id="C1",
                account_psa_id="A1",
                name="MSA",
                status="active",
                start_date=date(2025, 1, 1),
            )
        ],
        line_items=[
            m.PsaLineItem(
                psa_id="L1",
                contract_psa_id="C1",
                product_id="P1",
                product_name="M365",
                quantity=Decimal(quantity),
                unit_price=Decimal(price),
                unit_cost=Decimal("18"),
            ),
            # The same line item twice in one batch: the later entry wins.
            m.PsaLineItem(
                psa_id="L2",
                contract_psa_id="C1",
                product_id="P2",
                product_name="EDR",
                quantity=Decimal(1),
                unit_price=Decimal("5"),
                unit_cost=Decimal("3"),
            ),
            m.PsaLineItem(
                psa_id="L2",
                contract_psa_id="C1",
                product_id="P2",
                product_name="EDR",
                quantity=Decimal(quantity),
                unit_price=Decimal("5"),
                unit_cost=Decimal("3"),
            ),
        ],
    )


async def test_snapshots_insert_then_update_and_keep_trueup_own_columns(
    databases: Databases, nats_url: str
) -> None:
    settings = await settings_for(Settings, databases, nats_url)
    async with running_service(build, settings) as (runtime, _app):
        database = runtime.database

        async def apply(payload: m.PsaSnapshot) -> None:
            async with database.transaction(TENANT) as session:
                await inputs.apply_snapshot(session, wrap(payload, tenant_id=TENANT))

        await apply(snapshot("Acme", 10, "22"))
        async with database.transaction(TENANT) as session:
            account = await session.get(AccountRow, (TENANT, "A1"))
            assert account is not None
            account.suppress_new_revenue = True  # a person's choice in TrueUp

        await apply(snapshot("Acme Ltd", 12, "25", batch_no=1))

        async with database.transaction(TENANT, readonly=True) as session:
            account = await session.get(AccountRow, (TENANT, "A1"))
            assert account is not None
            assert (account.name, account.suppress_new_revenue) == ("Acme Ltd", True)
            contracts = (await session.scalars(sa.select(ContractRow))).all()
            assert [(c.contract_id, c.psa) for c in contracts] == [("C1", "connectwise")]
            items = {
                i.line_item_id: i.quantity
                for i in (await session.scalars(sa.select(LineItemRow))).all()
            }
            assert items == {"L1": Decimal(12), "L2": Decimal(12)}
            line = await session.get(ServiceLineRow, (TENANT, "P1"))
            assert line is not None
            # The first price seen stays the catalogue price.
            assert line.catalogue_unit_price == Decimal(22)
